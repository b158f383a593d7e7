"""tfrnn.engine.cudnn checked on a CPU (CudnnRNNV3 has GPU kernels only):
packing against tf_keras's, a numpy model of cuDNN's equations fed the packed
buffer, and the traced GPU graph."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import function_def_to_graph
from tf_keras.src.layers.rnn import gru_lstm_utils
from tolerances import OUTPUT_TOL

import tfrnn
from tfrnn.engine import cudnn
from tfrnn.layers import cudnn_layer_mixin, cudnn_selection

SIZES = [(1, 1), (3, 5), (7, 2), (16, 9)]


def _keras_lstm_params(kernel, recurrent_kernel, bias):
    """tf_keras lstm.gpu_lstm's packing."""
    weights = tf.split(kernel, 4, axis=1) + tf.split(recurrent_kernel, 4, axis=1)
    full_bias = tf.concat((tf.zeros_like(bias), bias), 0)
    return gru_lstm_utils.canonical_to_params(
        weights, tf.split(full_bias, 8), shape=tf.constant([-1]), transpose_weights=True
    )


def _keras_gru_params(kernel, recurrent_kernel, bias):
    """tf_keras gru.gpu_gru's packing (CUDA build: z/r swapped)."""
    weights = tf.split(kernel, 3, axis=1) + tf.split(recurrent_kernel, 3, axis=1)
    biases = tf.split(tf.reshape(bias, [-1]), 6)
    weights[0], weights[1] = weights[1], weights[0]
    weights[3], weights[4] = weights[4], weights[3]
    biases[0], biases[1] = biases[1], biases[0]
    biases[3], biases[4] = biases[4], biases[3]
    return gru_lstm_utils.canonical_to_params(
        weights, biases, shape=tf.constant([-1]), transpose_weights=True
    )


def _keras_cudnn_layer_params(mode, kernel, recurrent_kernel, bias, units):
    """tf_keras CuDNNLSTM/CuDNNGRU._process_batch's packing."""
    g = 4 if mode == "lstm" else 3
    ks = [kernel[:, i * units : (i + 1) * units] for i in range(g)]
    rs = [recurrent_kernel[:, i * units : (i + 1) * units] for i in range(g)]
    bs = [bias[i * units : (i + 1) * units] for i in range(2 * g)]
    if mode == "gru":
        ks = [ks[1], ks[0], ks[2]]
        rs = [rs[1], rs[0], rs[2]]
        bs = [bs[1], bs[0], bs[2], bs[4], bs[3], bs[5]]
    return gru_lstm_utils.canonical_to_params(ks + rs, bs, shape=tf.constant([-1]))


@pytest.mark.parametrize("units,input_dim", SIZES)
def test_packing_equals_tf_keras_bit_for_bit(rng, units, input_dim):
    def w(*shape):
        return tf.constant(rng.normal(size=shape).astype("float32"))

    k4, r4, b4 = w(input_dim, 4 * units), w(units, 4 * units), w(4 * units)
    np.testing.assert_array_equal(
        cudnn.lstm_params(k4, r4, b4).numpy(), _keras_lstm_params(k4, r4, b4).numpy()
    )
    k3, r3, b3 = w(input_dim, 3 * units), w(units, 3 * units), w(2, 3 * units)
    np.testing.assert_array_equal(
        cudnn.gru_params(k3, r3, b3).numpy(), _keras_gru_params(k3, r3, b3).numpy()
    )
    b8, b6 = w(8 * units), w(6 * units)
    for mode, k, r, b in (("lstm", k4, r4, b8), ("gru", k3, r3, b6)):
        np.testing.assert_array_equal(
            cudnn.cudnn_layer_params(mode, k, r, b).numpy(),
            _keras_cudnn_layer_params(mode, k, r, b, units).numpy(),
        )
    n = 4 * units * (input_dim + units + 2)
    assert cudnn.lstm_params(k4, r4, b4).shape == (n,)


# ----------------------------------------------------------- numpy cuDNN model
def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _unpack(mode, params, units, input_dim):
    g = 4 if mode == "lstm" else 3
    off, W, R = 0, [], []
    for _ in range(g):
        W.append(params[off : off + units * input_dim].reshape(units, input_dim))
        off += units * input_dim
    for _ in range(g):
        R.append(params[off : off + units * units].reshape(units, units))
        off += units * units
    bW = [params[off + i * units : off + (i + 1) * units] for i in range(g)]
    bR = [params[off + (g + i) * units : off + (g + i + 1) * units] for i in range(g)]
    assert off + 2 * g * units == params.size
    return W, R, bW, bR


def _cell(mode, weights, x, h, c):
    """cuDNN's documented equations (LSTM i,f,c,o; GRU r,z,h with reset after)."""
    W, R, bW, bR = weights
    pre = [W[k] @ x + bW[k] for k in range(len(W))]
    rec = [R[k] @ h + bR[k] for k in range(len(W))]
    if mode == "lstm":
        i, f, o = (_sigmoid(pre[k] + rec[k]) for k in (0, 1, 3))
        c = f * c + i * np.tanh(pre[2] + rec[2])
        return o * np.tanh(c), c
    r = _sigmoid(pre[0] + rec[0])
    z = _sigmoid(pre[1] + rec[1])
    return (1 - z) * np.tanh(pre[2] + r * rec[2]) + z * h, c


def numpy_cudnn(mode, x, h0, c0, params, lengths, reverse=False):
    """One direction of cuDNN over time-major ``x``; zeros after each length.

    ``reverse``: the backward direction of a bidirectional call (reads each
    sequence's valid part from its end; outputs time-aligned).
    """
    steps, batch, input_dim = x.shape
    units = h0.shape[-1]
    weights = _unpack(mode, params, units, input_dim)
    out = np.zeros((steps, batch, units), np.float64)
    h_n, c_n = h0.astype(np.float64).copy(), c0.astype(np.float64).copy()
    for b in range(batch):
        h, c = h_n[b], c_n[b]
        order = range(lengths[b] - 1, -1, -1) if reverse else range(lengths[b])
        for t in order:
            h, c = _cell(mode, weights, x[t, b], h, c)
            out[t, b] = h
        h_n[b], c_n[b] = h, c
    return out, h_n, c_n


def _fake_call_op(inputs, states, params, mode, lengths, time_major, direction):
    """CudnnRNNV3 replaced by the numpy model, with the op's shapes."""
    seq_axis = 0 if time_major else 1

    def run(x, h0, c0, p, ls):
        if not time_major:
            x = x.transpose(1, 0, 2)
        if direction == "bidirectional":
            p_f, p_b = np.split(p, 2)
            o_f, h_f, c_f = numpy_cudnn(mode, x, h0[0], c0[0], p_f, ls)
            o_b, h_b, c_b = numpy_cudnn(mode, x, h0[1], c0[1], p_b, ls, reverse=True)
            o, h, c = np.concatenate([o_f, o_b], -1), np.stack([h_f, h_b]), np.stack([c_f, c_b])
        else:
            o, h, c = numpy_cudnn(mode, x, h0[0], c0[0], p, ls)
            h, c = h[None], c[None]
        if not time_major:
            o, h, c = o.transpose(1, 0, 2), h.transpose(1, 0, 2), c.transpose(1, 0, 2)
        return o.astype(np.float32), h.astype(np.float32), c.astype(np.float32)

    h0 = states[0] if direction == "bidirectional" else tf.expand_dims(states[0], seq_axis)
    c0 = (
        (states[1] if direction == "bidirectional" else tf.expand_dims(states[1], seq_axis))
        if mode == "lstm"
        else tf.zeros_like(h0)
    )
    if not time_major:
        h0, c0 = tf.transpose(h0, [1, 0, 2]), tf.transpose(c0, [1, 0, 2])
    return tf.numpy_function(run, [inputs, h0, c0, params, lengths], [tf.float32] * 3)


MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_numpy_cudnn_model_reproduces_layer_cpu_output(
    monkeypatch, rng, mode, masked, go_backwards
):
    monkeypatch.setattr(cudnn, "_call_op", _fake_call_op)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = MASK if masked else None
    cls = tfrnn.LSTM if mode == "lstm" else tfrnn.GRU
    layer = cls(
        6,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        bias_initializer="random_normal",
        use_cudnn=False,
    )
    expected = layer(x, mask=mask)
    cell = layer.cell
    pack = cudnn.lstm_params if mode == "lstm" else cudnn.gru_params
    states = [rng.normal(size=(3, 6)).astype("float32") for _ in expected[1:]]
    expected = layer(x, mask=mask, initial_state=states)
    for time_major in (False, True):
        xin = x.transpose(1, 0, 2) if time_major else x
        m = None if mask is None else (mask.T if time_major else mask)
        got = cudnn.cudnn_rnn(
            tf.constant(xin),
            [tf.constant(s) for s in states],
            pack(cell.kernel, cell.recurrent_kernel, cell.bias),
            mode=mode,
            mask=m,
            go_backwards=go_backwards,
            time_major=time_major,
        )
        outputs = got.outputs.numpy()
        if time_major:
            outputs = outputs.transpose(1, 0, 2)
        np.testing.assert_allclose(outputs, expected[0], atol=OUTPUT_TOL)
        for s_got, s_exp in zip(got.states, expected[1:]):
            np.testing.assert_allclose(s_got, s_exp, atol=OUTPUT_TOL)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("masked", [False, True])
def test_numpy_cudnn_model_bidirectional_matches_two_engine_layers(monkeypatch, rng, mode, masked):
    monkeypatch.setattr(cudnn, "_call_op", _fake_call_op)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = MASK if masked else None
    cls = tfrnn.LSTM if mode == "lstm" else tfrnn.GRU
    pack = cudnn.lstm_params if mode == "lstm" else cudnn.gru_params
    fw = cls(6, return_sequences=True, return_state=True, bias_initializer="random_normal")
    bw = cls(
        6,
        return_sequences=True,
        return_state=True,
        go_backwards=True,
        bias_initializer="random_normal",
    )
    fw(x), bw(x)
    bw.set_weights([w * 0.5 + 0.1 for w in fw.get_weights()])
    fw_out, bw_out = fw(x, mask=mask), bw(x, mask=mask)
    n = len(fw_out) - 1
    zeros = [tf.zeros((3, 6))] * n
    got_f, got_b = cudnn.cudnn_bidirectional(
        tf.constant(x),
        zeros,
        zeros,
        pack(fw.cell.kernel, fw.cell.recurrent_kernel, fw.cell.bias),
        pack(bw.cell.kernel, bw.cell.recurrent_kernel, bw.cell.bias),
        mode=mode,
        mask=mask,
    )
    np.testing.assert_allclose(got_f.outputs, fw_out[0], atol=OUTPUT_TOL)
    # the backward layer's outputs come in processing order; cuDNN's are time-aligned
    np.testing.assert_allclose(got_b.outputs[:, ::-1], bw_out[0], atol=OUTPUT_TOL)
    for got, exp in zip(got_f.states + got_b.states, list(fw_out[1:]) + list(bw_out[1:])):
        np.testing.assert_allclose(got, exp, atol=OUTPUT_TOL)


LEFT_PADDED = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]], bool)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Eager calls take the layers' GPU path, with CudnnRNNV3 replaced by the numpy model."""
    monkeypatch.setattr(cudnn, "_call_op", _fake_call_op)
    monkeypatch.setattr(cudnn_selection, "eager_cudnn_device", lambda: True)
    monkeypatch.setattr(cudnn_layer_mixin, "eager_cudnn_device", lambda: True)


def _flat(outputs):
    return [np.asarray(t) for t in tf.nest.flatten(outputs)]


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask", [None, MASK, LEFT_PADDED], ids=["none", "right", "left"])
def test_layer_gpu_path_gives_the_engine_numbers(fake_gpu, rng, name, go_backwards, mask):
    """The layer's whole GPU path (packing, lengths, direction, carry-forward, and
    the engine fallback for a left-padded mask) against use_cudnn=False."""
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    gpu, engine = getattr(tfrnn, name)(6, **kw), getattr(tfrnn, name)(6, use_cudnn=False, **kw)
    gpu(x), engine(x)
    gpu.set_weights([rng.normal(size=w.shape).astype("float32") for w in gpu.get_weights()])
    engine.set_weights(gpu.get_weights())
    for got, want in zip(_flat(gpu(x, mask=mask)), _flat(engine(x, mask=mask))):
        np.testing.assert_allclose(got, want, atol=OUTPUT_TOL)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", None])
@pytest.mark.parametrize("mask", [None, MASK, LEFT_PADDED], ids=["none", "right", "left"])
def test_bidirectional_gpu_path_gives_the_engine_numbers(fake_gpu, rng, name, merge_mode, mask):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    states = [rng.normal(size=(3, 6)).astype("float32") for _ in range(4 if name == "LSTM" else 2)]
    for return_sequences in (True, False):
        kw = dict(return_sequences=return_sequences, return_state=True)
        gpu = tfrnn.Bidirectional(getattr(tfrnn, name)(6, **kw), merge_mode=merge_mode)
        engine = tfrnn.Bidirectional(
            getattr(tfrnn, name)(6, use_cudnn=False, **kw), merge_mode=merge_mode
        )
        gpu(x), engine(x)
        gpu.set_weights([rng.normal(size=w.shape).astype("float32") for w in gpu.get_weights()])
        engine.set_weights(gpu.get_weights())
        for initial_state in (None, states):
            got = gpu(x, mask=mask, initial_state=initial_state)
            want = engine(x, mask=mask, initial_state=initial_state)
            for g, w in zip(_flat(got), _flat(want)):
                np.testing.assert_allclose(g, w, atol=OUTPUT_TOL)


@pytest.mark.parametrize("cls", [tfrnn.CuDNNLSTM, tfrnn.CuDNNGRU])
def test_cudnn_layer_gpu_path_gives_the_engine_numbers(monkeypatch, rng, cls):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    layer = cls(6, return_sequences=True, return_state=True, go_backwards=True)
    layer(x)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    want = _flat(layer(x))
    monkeypatch.setattr(cudnn, "_call_op", _fake_call_op)
    monkeypatch.setattr(cudnn_layer_mixin, "eager_cudnn_device", lambda: True)
    for got, w in zip(_flat(layer(x)), want):
        np.testing.assert_allclose(got, w, atol=OUTPUT_TOL)


# ----------------------------------------------------------- the traced GPU graph
@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_gpu_graph_has_cudnn_op_with_attributes_shapes_and_gradient(mode):
    units, input_dim, steps, batch = 6, 4, 5, 3
    g = 4 if mode == "lstm" else 3
    graph = tf.Graph()
    with graph.as_default(), tf.device("/GPU:0"):
        x = tf.compat.v1.placeholder(tf.float32, [batch, steps, input_dim])
        mask = tf.compat.v1.placeholder(tf.bool, [batch, steps])
        kernel = tf.compat.v1.placeholder(tf.float32, [input_dim, g * units])
        recurrent = tf.compat.v1.placeholder(tf.float32, [units, g * units])
        if mode == "lstm":
            bias = tf.compat.v1.placeholder(tf.float32, [g * units])
            params = cudnn.lstm_params(kernel, recurrent, bias)
        else:
            bias = tf.compat.v1.placeholder(tf.float32, [2, g * units])
            params = cudnn.gru_params(kernel, recurrent, bias)
        states = [tf.zeros([batch, units])] * (2 if mode == "lstm" else 1)
        result = cudnn.cudnn_rnn(x, states, params, mode=mode, mask=mask, go_backwards=True)
        grads = tf.gradients(tf.reduce_sum(result.outputs), [x, kernel, recurrent, bias])
    (op,) = [o for o in graph.get_operations() if o.type == "CudnnRNNV3"]
    assert op.get_attr("rnn_mode") == mode.encode()
    assert op.get_attr("direction") == b"unidirectional"
    assert op.get_attr("input_mode") == b"linear_input"
    assert op.get_attr("time_major") is False
    assert op.get_attr("is_training") is True
    assert "GPU" in op.device
    assert op.inputs[0].shape.as_list() == [batch, steps, input_dim]
    assert op.inputs[1].shape.as_list() == [batch, 1, units]
    assert op.inputs[3].shape.as_list() == [g * units * (input_dim + units + 2)]
    assert op.inputs[4].shape.as_list() == [batch]
    assert result.outputs.shape.as_list() == [batch, steps, units]
    assert all(gr is not None for gr in grads)
    assert any(o.type == "CudnnRNNBackpropV3" for o in graph.get_operations())


def _reachable(library, name):
    """Functions ``name`` calls, directly or through nested calls and branches."""
    by_name = {f.signature.name: f for f in library}
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in by_name:
            continue
        seen.add(current)
        for node in by_name[current].node_def:
            todo += [a.func.name for a in node.attr.values() if a.func.name]
            todo += [node.op] if node.op in by_name else []
    return [by_name[n] for n in seen]


def _ops(functions):
    return {n.op for f in functions for n in f.node_def}


def _implementations(library, prefix):
    """The api_implements pair: {device: [its inference, forward, backward functions]}."""
    impls = [f for f in library if f.attr["api_implements"].s.decode().startswith(prefix)]
    assert len({f.attr["api_implements"].s for f in impls}) == 1
    pair = {}
    for f in impls:
        pair.setdefault(f.attr["api_preferred_device"].s.decode(), []).append(f)
    return pair


@pytest.mark.parametrize(
    "cls,prefix,masked",
    [
        (tfrnn.LSTM, "lstm_", False),
        (tfrnn.LSTM, "lstm_", True),
        (tfrnn.GRU, "gru_", False),
        (tfrnn.GRU, "gru_", True),
        (tfrnn.CuDNNLSTM, "tfrnn_cudnn_lstm_", False),  # CuDNN layers take no mask
        (tfrnn.CuDNNGRU, "tfrnn_cudnn_gru_", False),
    ],
)
def test_traced_under_gpu_registers_cudnn_function_and_runs_on_cpu(cls, prefix, masked, rng):
    """The layer calls the engine function and registers its cuDNN twin (same
    api_implements, api_preferred_device GPU) with its gradient functions;
    the graph runs on this CPU machine."""
    tf.config.set_soft_device_placement(True)
    steps, features, units = 4, 3, 5
    x = rng.normal(size=(2, steps, features)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    layer = cls(units, return_sequences=True)
    layer(x)

    @tf.function
    def train_step(inputs, mask):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs, mask=mask if masked else None))
        return loss, tape.gradient(loss, layer.trainable_weights)

    with tf.device("/GPU:0"):
        concrete = train_step.get_concrete_function(
            tf.TensorSpec([None, steps, features]), tf.TensorSpec([None, steps], tf.bool)
        )
    library = concrete.graph.as_graph_def().library.function
    pair = _implementations(library, prefix)
    assert sorted(pair) == ["CPU", "GPU"]
    cpu_ops = _ops(f for c in pair["CPU"] for f in _reachable(library, c.signature.name))
    gpu_ops = _ops(f for g in pair["GPU"] for f in _reachable(library, g.signature.name))
    assert not any(op.startswith("Cudnn") for op in cpu_ops)
    assert {"CudnnRNNV3", "CudnnRNNBackpropV3"} <= gpu_ops
    # a mask cuDNN cannot take falls back to the engine inside the GPU function
    assert ("While" in gpu_ops or "StatelessWhile" in gpu_ops) == masked

    # the called and the registered function take and return the same tensors
    def inference(device):
        (f,) = [
            f
            for f in pair[device]
            if "forward" not in f.signature.name and "backward" not in f.signature.name
        ]
        return f

    cpu_fn, gpu_fn = inference("CPU"), inference("GPU")
    for args in ("input_arg", "output_arg"):
        assert [a.type for a in getattr(cpu_fn.signature, args)] == [
            a.type for a in getattr(gpu_fn.signature, args)
        ]
    graph = function_def_to_graph.function_def_to_graph(
        next(f for f in _reachable(library, gpu_fn.signature.name) if "CudnnRNNV3" in _ops([f]))
    )
    (op,) = [o for o in graph.get_operations() if o.type == "CudnnRNNV3"]
    g = 4 if "lstm" in prefix else 3
    assert op.get_attr("rnn_mode") == (b"lstm" if g == 4 else b"gru")
    assert op.get_attr("direction") == b"unidirectional"
    assert op.get_attr("time_major") is True
    assert op.inputs[0].shape.as_list() == [steps, None, features]
    assert op.inputs[1].shape.as_list() == [1, None, units]
    assert op.inputs[3].shape.as_list() == [g * units * (features + units + 2)]

    loss, grads = train_step(x, mask)  # on this CPU machine the engine runs
    assert np.isfinite(loss.numpy()) and all(gr is not None for gr in grads)
    np.testing.assert_allclose(concrete(tf.constant(x), tf.constant(mask))[0], loss, rtol=1e-6)
    expected = layer(x, mask=mask if masked else None)  # eager: the engine, no functions
    np.testing.assert_allclose(loss, tf.reduce_sum(expected), rtol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional_traced_under_gpu_registers_one_bidirectional_cudnn_call(rng, name, masked):
    tf.config.set_soft_device_placement(True)
    steps, features, units = 4, 3, 5
    x = rng.normal(size=(2, steps, features)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    kw = dict(return_sequences=True, return_state=True)
    layer = tfrnn.Bidirectional(getattr(tfrnn, name)(units, **kw))
    reference = tfrnn.Bidirectional(getattr(tfrnn, name)(units, use_cudnn=False, **kw))
    layer(x), reference(x)
    reference.set_weights(layer.get_weights())

    def train_step_of(wrapper):
        @tf.function
        def train_step(inputs, mask):
            with tf.GradientTape() as tape:
                outputs = wrapper(inputs, mask=mask if masked else None)
                loss = tf.add_n([tf.reduce_sum(o) for o in outputs])
            return outputs, tape.gradient(loss, wrapper.trainable_weights)

        return train_step

    train_step = train_step_of(layer)
    with tf.device("/GPU:0"):
        concrete = train_step.get_concrete_function(
            tf.TensorSpec([None, steps, features]), tf.TensorSpec([None, steps], tf.bool)
        )
    library = concrete.graph.as_graph_def().library.function
    pair = _implementations(library, f"tfrnn_bidirectional_{name.lower()}_")
    assert sorted(pair) == ["CPU", "GPU"]
    assert not any(f.attr["api_implements"].s.startswith(b"lstm_") for f in library)
    assert not any(f.attr["api_implements"].s.startswith(b"gru_") for f in library)
    with_cudnn = [f for f in library if "CudnnRNNV3" in _ops([f])]
    assert with_cudnn and all(
        [n.attr["direction"].s for n in f.node_def if n.op == "CudnnRNNV3"] == [b"bidirectional"]
        for f in with_cudnn
    )
    gpu_ops = _ops(f for g in pair["GPU"] for f in _reachable(library, g.signature.name))
    assert "CudnnRNNBackpropV3" in gpu_ops
    cpu_ops = _ops(f for c in pair["CPU"] for f in _reachable(library, c.signature.name))
    assert not any(op.startswith("Cudnn") for op in cpu_ops)

    # on this CPU machine: the numbers (and gradients) of two engine layers
    got, want = train_step(x, mask), train_step_of(reference)(x, mask)
    for g, w in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
        np.testing.assert_allclose(g, w, atol=OUTPUT_TOL)


def test_mask_supported_and_sequence_lengths():
    right = np.array([[1, 1, 0], [1, 1, 1]], bool)
    assert bool(cudnn.mask_supported(right, time_major=False))
    assert bool(cudnn.mask_supported(right.T, time_major=True))
    assert not bool(cudnn.mask_supported(np.array([[0, 1, 1], [1, 1, 1]], bool), False))
    assert not bool(cudnn.mask_supported(np.array([[0, 0, 0], [1, 1, 1]], bool), False))
    np.testing.assert_array_equal(cudnn.sequence_lengths(right, time_major=False), [2, 3])


@pytest.mark.parametrize(
    "make,lstm_functions",
    [
        (lambda: tfrnn.LSTM(5, return_sequences=True), 1),
        (lambda: tfrnn.GRU(5, return_sequences=True), 0),
        (lambda: tfrnn.Bidirectional(tfrnn.LSTM(5, return_sequences=True)), 2),
        (lambda: tfrnn.Bidirectional(tfrnn.GRU(5, return_sequences=True)), 0),
    ],
    ids=["LSTM", "GRU", "Bidirectional(LSTM)", "Bidirectional(GRU)"],
)
def test_traced_without_a_gpu_only_lstms_keep_their_swappable_function(rng, make, lstm_functions):
    """With no GPU to swap cuDNN in (none visible, no GPU scope, no SavedModel
    being written), a GRU calls the engine without the api_implements
    function around it (a function call per run), and a Bidirectional runs
    its halves one by one (no bidirectional cuDNN function); each LSTM keeps
    its own function for TFLite's converter. The numbers are the eager ones."""
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = make()
    eager = layer(x)
    traced = tf.function(lambda inputs: layer(inputs)).get_concrete_function(
        tf.TensorSpec([None, 4, 3])
    )
    library = traced.graph.as_graph_def().library.function
    implements = {f.attr["api_implements"].s for f in library if f.attr["api_implements"].s}
    assert len(implements) == lstm_functions
    assert all(name.startswith(b"lstm_") for name in implements)
    assert not any(f.attr["api_preferred_device"].s == b"GPU" for f in library)
    np.testing.assert_allclose(traced(tf.constant(x)), eager, atol=OUTPUT_TOL)
