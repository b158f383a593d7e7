"""Behaviour a drop-in user relies on, found by running tf_keras's own RNN tests
against tfrnn (scripts/peer_suite.py); each case compared with tf_keras."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from custom_cells import ConstantsCell, PairCell, StatelessCell
from tf_keras.src.layers.rnn import dropout_rnn_cell_mixin
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn

LAYERS = {
    "LSTM": lambda m: m.LSTM(4, return_sequences=True),
    "GRU": lambda m: m.GRU(4, return_sequences=True),
    "SimpleRNN": lambda m: m.SimpleRNN(4, return_sequences=True),
    "Bidirectional": lambda m: m.Bidirectional(m.LSTM(4, return_sequences=True)),
    "RNN(cells)": lambda m: m.RNN([m.GRUCell(3), m.LSTMCell(4)], return_sequences=True),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("training", [None, True])
def test_symbolic_outputs_keep_the_static_time_length(name, masked, training):
    shapes = []
    for module in (tf_keras.layers, tfrnn):
        x = tf_keras.Input((3, 5))
        if masked:
            x = tf_keras.layers.Masking()(x)
        shapes.append(tuple(LAYERS[name](module)(x, training=training).shape))
    assert shapes[1] == shapes[0] == (None, 3, shapes[0][-1])


def test_conv_lstm_sequence_keeps_the_static_time_length():
    x = tf_keras.Input((3, 6, 6, 2))
    got = tfrnn.ConvLSTM2D(4, 3, padding="same", return_sequences=True)(x)
    assert tuple(got.shape) == (None, 3, 6, 6, 4)


def test_return_sequences_then_flatten_dense_trains():
    model = tf_keras.Sequential(
        [
            tf_keras.Input((3, 5)),
            tfrnn.LSTM(4, return_sequences=True),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(1),
        ]
    )
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 3, 5)), np.ones((4, 1)), verbose=0, epochs=2)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_size", [10, 5])
def test_one_unit_layers_train_like_tf_keras(kind, batch_size, rng):
    """SimpleRNN(1) once tripped a oneDNN MatMul+Add fusion in its gradient."""
    x = rng.normal(size=(10, 3, 6)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    models = []
    for module in (tf_keras.layers, tfrnn):
        model = tf_keras.Sequential([tf_keras.Input((3, 6)), getattr(module, kind)(1)])
        model.compile(tf_keras.optimizers.SGD(0.1), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    for want, got in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kind", ["SimpleRNNCell", "GRUCell", "LSTMCell"])
def test_cells_called_directly_return_states_as_tf_keras(kind, rng):
    x = rng.normal(size=(2, 3)).astype("float32")
    cells = [getattr(module, kind)(4) for module in (tf_keras.layers, tfrnn)]
    for cell in cells:
        cell.build(x.shape)
    cells[1].set_weights(cells[0].get_weights())
    results = []
    for cell in cells:
        initial = cell.get_initial_state(batch_size=2, dtype=tf.float32)
        as_list = initial if kind == "LSTMCell" else [initial]
        results.append((initial, cell(x, initial), cell(x, as_list)))
    (want_init, *want_calls), (got_init, *got_calls) = results
    assert type(got_init) is type(want_init)
    for (want_out, want_states), (got_out, got_states) in zip(want_calls, got_calls):
        assert type(got_states) is type(want_states)
        np.testing.assert_allclose(got_out, want_out, atol=1e-6)
        for want, got in zip(tf.nest.flatten(want_states), tf.nest.flatten(got_states)):
            np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError):
        cells[0].get_initial_state(None, None, None)
    with pytest.raises(ValueError, match="batch_size"):
        cells[1].get_initial_state(None, None, None)


def _copy_weights(source, target):
    target.set_weights(source.get_weights())


@pytest.mark.parametrize("wrapper", ["RNN", "Bidirectional"])
@pytest.mark.parametrize("symbolic", [True, False])
def test_constants_given_as_one_tensor(wrapper, symbolic, rng):
    x = tf.constant(rng.normal(size=(2, 4, 5)), tf.float32)
    c = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    outputs = []
    for module in (tf_keras.layers, tfrnn):
        layer = module.RNN(ConstantsCell(4))
        if wrapper == "Bidirectional":
            layer = module.Bidirectional(layer)
        if symbolic:
            xs, cs = tf_keras.Input((4, 5)), tf_keras.Input((3,))
            model = tf_keras.Model([xs, cs], layer(xs, constants=cs))
            assert len(layer.input) == 2  # the constants are an input of the layer
        else:
            layer(x, constants=c)
        outputs.append((model if symbolic else layer, layer))
    _copy_weights(outputs[0][1], outputs[1][1])
    want, got = (
        (run.predict([x, c], verbose=0) if symbolic else run(x, constants=c)) for run, _ in outputs
    )
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_stacked_cells_ignore_constants_they_do_not_take(rng):
    x = tf.constant(rng.normal(size=(2, 4, 5)), tf.float32)
    c = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    layers = [module.RNN([module.GRUCell(3)]) for module in (tf_keras.layers, tfrnn)]
    want = layers[0](x, constants=[c])
    layers[1](x, constants=[c])
    _copy_weights(layers[0], layers[1])
    np.testing.assert_allclose(layers[1](x, constants=[c]), want, atol=1e-5)


@pytest.mark.parametrize("wrapper", ["LSTM", "Bidirectional"])
def test_symbolic_initial_states_are_inputs_of_the_layer(wrapper, rng, tmp_path):
    x = rng.normal(size=(2, 3, 5)).astype("float32")
    count = 4 if wrapper == "Bidirectional" else 2
    states = [rng.normal(size=(2, 4)).astype("float32") for _ in range(count)]
    models = []
    for module in (tf_keras.layers, tfrnn):
        layer = module.LSTM(4)
        if wrapper == "Bidirectional":
            layer = module.Bidirectional(layer)
        inputs = [tf_keras.Input((3, 5))] + [tf_keras.Input((4,)) for _ in range(count)]
        output = layer(inputs[0], initial_state=inputs[1:])
        assert len(layer.input) == 1 + count
        models.append(tf_keras.Model(inputs, output))
    _copy_weights(models[0], models[1])
    want = models[0].predict([x, *states], verbose=0)
    np.testing.assert_allclose(models[1].predict([x, *states], verbose=0), want, atol=1e-5)
    models[1].save(tmp_path / "m.keras")
    reloaded = tf_keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict([x, *states], verbose=0), want, atol=1e-5)


class OnesStateCell(tf_keras.layers.Layer):
    """A cell whose own get_initial_state starts from ones; it passes its state on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.state_size = 2

    def call(self, inputs, states):
        return states[0] + 0.0 * tf.reduce_sum(inputs), [states[0]]

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        return tf.ones([batch_size, 2], dtype)


class NumpyOnesStateCell(OnesStateCell):
    """OnesStateCell whose get_initial_state gives a numpy array (float16)."""

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        return np.ones((batch_size, 2), np.float16)


@pytest.mark.parametrize("cell", [OnesStateCell, NumpyOnesStateCell])
def test_stateful_layer_starts_from_the_cells_initial_state(cell):
    got = []
    for module in (tf_keras.layers, tfrnn):
        layer = module.RNN(cell(), stateful=True)
        model = tf_keras.Sequential([tf_keras.Input((3, 1), batch_size=2), layer])
        model.predict(np.zeros((2, 3, 1)), verbose=0)
        got.append([np.asarray(s) for s in layer.states])
    np.testing.assert_array_equal(got[1], got[0])
    np.testing.assert_array_equal(got[1][0], np.ones((2, 2)))


def test_reverse_state_order_lists_states_last_cell_first(rng):
    x = tf.constant(rng.normal(size=(2, 4, 5)), tf.float32)
    shapes = []
    for module in (tf_keras.layers, tfrnn):
        cells = module.StackedRNNCells(
            [module.LSTMCell(3), module.GRUCell(2)], reverse_state_order=True
        )
        layer = module.RNN(cells, return_state=True)
        shapes.append([tuple(s) for s in layer.compute_output_shape((None, 4, 5))])
    assert shapes[1] == shapes[0] == [(None, 2), (None, 2), (None, 3), (None, 3)]
    natural = tfrnn.RNN(tfrnn.StackedRNNCells([tfrnn.LSTMCell(3), tfrnn.GRUCell(2)]))
    output, gru_state, (lstm_h, lstm_c) = layer(x)
    natural(x)
    natural.set_weights(layer.get_weights())
    np.testing.assert_allclose(natural(x), output, atol=1e-6)
    np.testing.assert_allclose(gru_state, output, atol=1e-6)
    assert lstm_h.shape == lstm_c.shape == (2, 3)
    config = tf_keras.layers.serialize(layer)
    assert tf_keras.layers.deserialize(config).cell.reverse_state_order


def test_tf_keras_only_arguments_are_accepted_and_kept():
    for module in (tf_keras.layers, tfrnn):
        layer = module.SimpleRNN(5, input_length=10)
        assert layer.get_config()["batch_input_shape"] == (None, 10, None)
        lstm = module.LSTM(3, enable_caching_device=False)
        config = lstm.get_config()
        assert config["enable_caching_device"] is False
        assert "enable_caching_device" not in module.LSTM(3).get_config()
        assert type(lstm).from_config(config).get_config() == config


def test_a_single_symbolic_initial_state_tensor():
    x, state = tf_keras.Input((3, 5)), tf_keras.Input((4,))
    layer = tfrnn.GRU(4)
    layer(x, initial_state=state)
    assert len(layer.input) == 2


def _pair_cells(stacked: bool):
    if not stacked:
        return PairCell(3, 2, 2)
    return [PairCell(3, 2, 2, named_states=True), PairCell(4, 2, 3)]


def _run_twin_layers(make, inputs, rng, **call_kwargs):
    """Outputs and gradients of ``make(module)`` from tf_keras and from tfrnn,
    tfrnn's given tf_keras's weights."""
    results = []
    layers = [make(module) for module in (tf_keras.layers, tfrnn)]
    for layer in layers:
        layer(inputs, **call_kwargs)
    layers[1].set_weights(layers[0].get_weights())
    for layer in layers:
        with tf.GradientTape() as tape:
            outputs = layer(inputs, **call_kwargs)
            loss = sum(tf.reduce_sum(o * o) for o in tf.nest.flatten(outputs))
        results.append((outputs, tape.gradient(loss, layer.trainable_weights)))
    return results


def _assert_same_structure_and_values(got, want):
    """Same nesting and container types (list vs tuple), and the same numbers."""
    assert tf.nest.map_structure(lambda _: 0, got) == tf.nest.map_structure(lambda _: 0, want)
    for g, w in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
        np.testing.assert_allclose(g, w, atol=OUTPUT_TOL)


NESTED_OPTIONS = {
    "last": {},
    "sequences+state": {"return_sequences": True, "return_state": True},
    "backwards": {"go_backwards": True, "return_state": True},  # tf_keras cannot unroll these
    "masked": {"return_sequences": True, "masked": True},
}


@pytest.mark.parametrize("stacked", [False, True], ids=["cell", "stacked"])
@pytest.mark.parametrize("option", sorted(NESTED_OPTIONS))
def test_nested_cells_give_tf_keras_structures_and_numbers(stacked, option, rng):
    """A cell whose inputs, outputs and states are nested, alone and stacked:
    outputs come back as lists where tf_keras gives lists, numbers and
    gradients as tf_keras's."""
    options = dict(NESTED_OPTIONS[option])
    masked = options.pop("masked", False)
    inputs = (
        tf.constant(rng.normal(size=(2, 4, 3)), tf.float32),
        tf.constant(rng.normal(size=(2, 4, 2, 2)), tf.float32),
    )
    call_kwargs = {}
    if masked:
        call_kwargs["mask"] = tf.constant([[True, True, True, False], [True, False, False, False]])
    (want, want_grads), (got, got_grads) = _run_twin_layers(
        lambda module: module.RNN(_pair_cells(stacked), **options), inputs, rng, **call_kwargs
    )
    _assert_same_structure_and_values(got, want)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, atol=GRAD_TOL)


@pytest.mark.parametrize("stacked", [False, True], ids=["cell", "stacked"])
def test_nested_cells_in_a_model_as_tf_keras(stacked, rng):
    x = [rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 2, 2))]
    last = (4, 2, 3) if stacked else (3, 2, 2)
    y = [rng.normal(size=(4, 5, last[0])), rng.normal(size=(4, 5, *last[1:]))]
    models = []
    for module in (tf_keras.layers, tfrnn):
        inputs = [tf_keras.Input((5, 3)), tf_keras.Input((5, 2, 2))]
        layer = module.RNN(_pair_cells(stacked), return_sequences=True, return_state=True)
        outputs = layer(tuple(inputs))
        model = tf_keras.Model(inputs, outputs[:2])
        model.compile(tf_keras.optimizers.SGD(0.1), "mse")
        models.append(model)
    assert models[1].output_shape == models[0].output_shape
    models[1].set_weights(models[0].get_weights())
    losses = [model.train_on_batch(x, y) for model in models]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    for want, got in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(got, want, atol=GRAD_TOL)


@pytest.mark.parametrize(
    "options",
    [{}, {"return_sequences": True, "return_state": True}, {"go_backwards": True, "unroll": True}],
    ids=["last", "sequences+state", "backwards+unroll"],
)
def test_cells_without_states_run_as_in_tf_keras(options, rng):
    x = tf.constant(rng.normal(size=(2, 4, 5)), tf.float32)
    mask = tf.constant([[True, True, False, False], [True, True, True, True]])
    (want, want_grads), (got, got_grads) = _run_twin_layers(
        lambda module: module.RNN(StatelessCell(3), **options), x, rng, mask=mask
    )
    _assert_same_structure_and_values(got, want)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, atol=GRAD_TOL)


def test_stateless_cell_with_none_initial_states_trains_as_tf_keras(rng):
    x, y = rng.normal(size=(6, 5, 5)), rng.normal(size=(6, 3))
    models = []
    for module in (tf_keras.layers, tfrnn):
        cell = StatelessCell(3)
        inputs = tf_keras.Input((None, 5))
        initial_state = tf.nest.map_structure(lambda _: None, cell.state_size)
        model = tf_keras.Model(inputs, module.RNN(cell)(inputs, initial_state=initial_state))
        model.compile(tf_keras.optimizers.SGD(0.1), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    losses = [model.train_on_batch(x, y) for model in models]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


@pytest.fixture(scope="module")
def tf1_graph_report():
    """tests/tf1_graph_run.py's report: eager execution is disabled for a
    whole process, so it runs in one of its own."""
    script = os.path.join(os.path.dirname(__file__), "tf1_graph_run.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM", "Bidirectional"])
def test_stateful_predict_in_a_tf1_graph_as_tf_keras(kind, tf1_graph_report):
    """predict twice (states carried), reset_states, predict: tf_keras's numbers."""
    result = tf1_graph_report[f"stateful_predict[{kind}]"]
    assert "error" not in result, result
    assert result["outputs"] < OUTPUT_TOL
    assert result["carried"] > 1e-3  # the second predict started from the first's states
    assert result["reset"] < OUTPUT_TOL


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_fit_in_the_tf1_default_graph_as_tf_keras(kind, tf1_graph_report):
    result = tf1_graph_report[f"fit_in_default_graph[{kind}]"]
    assert "error" not in result, result
    assert result["weights"] < GRAD_TOL


@pytest.mark.parametrize("kind", ["GRU", "LSTM", "GRUCell", "LSTMCell", "SimpleRNNCell"])
def test_force_generator_is_accepted_where_tf_keras_accepts_it(kind, rng):
    """tf_keras's switch of its random-number generator: accepted, left out of
    the config as tf_keras leaves it, the numbers unchanged."""
    x = tf.constant(rng.normal(size=(2, 3, 4)), tf.float32)
    layers = []
    for module in (tf_keras.layers, tfrnn):
        layer = getattr(module, kind)(3, dropout=0.5, force_generator=True)
        layers.append(module.RNN(layer) if kind.endswith("Cell") else layer)
        assert "force_generator" not in layer.get_config()
        layers[-1](x)
    _copy_weights(layers[0], layers[1])
    np.testing.assert_allclose(layers[1](x), layers[0](x), atol=OUTPUT_TOL)
    assert layers[1](x, training=True).shape == (2, 3)


def _gate_mask(ones: tf.Tensor, rate: float, gate: int) -> tf.Tensor:
    """A fixed dropout mask for gate ``gate`` (another pattern for each gate),
    scaled like dropout's."""
    index = tf.reshape(tf.range(tf.size(ones)), tf.shape(ones))
    kept = tf.cast((index * 7 + 3 * gate) % 5 < 3, ones.dtype)
    return ones * kept / (1.0 - rate)


@pytest.fixture
def per_gate_masks(monkeypatch):
    """``use(gates)``: both libraries' recurrent dropout masks from
    ``_gate_mask``, mask i of a draw for gate i (tfrnn draws its ``gates``
    masks one by one, tf_keras all at once)."""

    def use(gates: int) -> None:
        drawn = []

        def tfrnn_dropout(ones, rate, **_):
            drawn.append(None)
            return _gate_mask(ones, rate, (len(drawn) - 1) % gates)

        def keras_masks(generator, ones, rate, training=None, count=1):
            return [_gate_mask(ones, rate, gate) for gate in range(count)]

        monkeypatch.setattr(tf.nn, "dropout", tfrnn_dropout)
        monkeypatch.setattr(dropout_rnn_cell_mixin, "_generate_dropout_mask", keras_masks)

    return use


@pytest.mark.parametrize("kind,gates", [("LSTM", 4), ("GRU", 3)])
def test_recurrent_dropout_implementation_1_draws_tf_keras_masks(kind, gates, per_gate_masks, rng):
    """tf_keras forces implementation 1 (a recurrent mask per gate) whenever
    recurrent_dropout > 0; tfrnn keeps the implementation it is given
    (2 by default: one mask, Keras 2.0-2.3's behaviour, which the hand-written
    gradient serves) and with implementation=1 trains as tf_keras does."""
    per_gate_masks(gates)
    x = tf.constant(rng.normal(size=(2, 4, 3)), tf.float32)
    assert getattr(tf_keras.layers, kind)(2, recurrent_dropout=0.1).implementation == 1
    assert getattr(tfrnn, kind)(2, recurrent_dropout=0.1).implementation == 2
    (want, want_grads), (got, got_grads) = _run_twin_layers(
        lambda module: getattr(module, kind)(
            3, recurrent_dropout=0.4, implementation=1, return_sequences=True
        ),
        x,
        rng,
        training=True,
    )
    np.testing.assert_allclose(got, want, atol=OUTPUT_TOL)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, atol=GRAD_TOL)
