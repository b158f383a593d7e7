"""Old Keras files of every generation load and predict what the old layers computed."""

import json

import h5py
import numpy as np
import pytest
from error_log import record
from legacy_fixtures import HDF5_OBJECT_HEADER_LIMIT, write_keras0, write_named
from legacy_reference import conv_lstm, cudnn_lstm, gru, gru_reset_after, lstm, simple_rnn
from tfrnn.compat import (
    convert_layer_weights,
    detect_generation,
    load_legacy_model,
    load_legacy_weights,
)
from tfrnn.compat.hdf5 import read_named

import tfrnn

TOL = 1e-5
B, T, D, U = 2, 5, 3, 4


def per_gate(rng, gates, d=D, u=U):
    return {
        g: (rng.normal(0, 0.5, (d, u)), rng.normal(0, 0.5, (u, u)), rng.normal(0, 0.5, u))
        for g in gates
    }


def flat(g, order):
    return [w for gate in order for w in g[gate]]


def fused(g, order):
    return [np.concatenate([g[k][p] for k in order], axis=-1) for p in range(3)]


def predict(model, x):
    return np.asarray(model.predict(x, verbose=0))


def check(model, x, expected, label):
    """Assert the prediction is within TOL of ``expected``; record the error under
    ``label`` ('generation | layer | variant') for the summary table."""
    got = predict(model, x)
    assert got.shape == np.shape(expected), (got.shape, np.shape(expected))
    err = float(np.max(np.abs(got - expected)))
    record(label, err)
    assert err < TOL, err
    return err


# ---------------------------------------------------------------- file layouts
def test_fixture_layouts_follow_the_writers(tmp_path, rng):
    """Where each generation put its attributes (Keras 1 Container.save_weights /
    save_model; Keras 2 save_weights_to_hdf5_group / save_model), so the tests
    read files shaped like the real ones."""
    w = [("lstm_1_W", rng.standard_normal((D, 4 * U)))]
    write_named(tmp_path / "k1w.h5", [("input_1", []), ("lstm_1", w)])
    write_named(tmp_path / "k1m.h5", [("lstm_1", w)], keras_version="1.2.2", model_config={})
    write_named(tmp_path / "k2w.h5", [("lstm_1", w)], keras_version="2.2.4", backend="theano")
    write_named(
        tmp_path / "k2m.h5",
        [("lstm_1", w)],
        keras_version="2.2.4",
        backend="tensorflow",
        model_config={},
    )
    with h5py.File(tmp_path / "k1w.h5", "r") as f:
        assert sorted(f.attrs) == ["layer_names"]
        assert f.attrs["layer_names"].dtype.kind == "S"
        assert f["input_1"].attrs["weight_names"].shape == (0,)
    with h5py.File(tmp_path / "k1m.h5", "r") as f:
        assert sorted(f.attrs) == ["keras_version", "model_config"]
        assert sorted(f["model_weights"].attrs) == ["layer_names"]
    with h5py.File(tmp_path / "k2w.h5", "r") as f:
        assert sorted(f.attrs) == ["backend", "keras_version", "layer_names"]
    with h5py.File(tmp_path / "k2m.h5", "r") as f:
        assert sorted(f.attrs) == ["backend", "keras_version", "model_config"]
        assert sorted(f["model_weights"].attrs) == ["backend", "keras_version", "layer_names"]
    got = [detect_generation(tmp_path / n) for n in ("k1w.h5", "k1m.h5", "k2w.h5", "k2m.h5")]
    # Keras 1 files name no backend; their Theano variable names (no ':0') tell.
    assert [(g.generation, g.keras_version, g.backend) for g in got] == [
        ("keras1", None, "theano"),
        ("keras1", "1.2.2", "theano"),
        ("keras2", "2.2.4", "theano"),
        ("keras2", "2.2.4", "tensorflow"),
    ]
    for bad in ({"keras_version": "2.2.4"}, {"keras_version": "1.2.2"}, {"backend": "theano"}):
        with pytest.raises(ValueError):
            write_named(tmp_path / "bad.h5", [("lstm_1", w)], **bad)


# ---------------------------------------------------------------- Keras 0.x
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_keras0_sequential_lstm_gru_simple(tmp_path, rng, fmt):
    x = rng.standard_normal((B, T, D))
    gl = per_gate(rng, "icfo")
    gg = per_gate(rng, "zrh", d=U, u=U)
    W, Uu, b = rng.normal(0, 0.5, (U, 2)), rng.normal(0, 0.5, (2, 2)), rng.normal(0, 0.5, 2)
    write_keras0(tmp_path / "w.h5", [flat(gl, "icfo"), flat(gg, "zrh"), [], [W, Uu, b]])
    layers = [
        {
            "name": "LSTM",
            "input_dim": D,
            "output_dim": U,
            "input_length": T,
            "activation": "tanh",
            "inner_activation": "hard_sigmoid",
            "return_sequences": True,
        },
        {"name": "GRU", "input_dim": U, "output_dim": U, "return_sequences": True},
        {"name": "Dropout", "p": 0.5},
        {"name": "SimpleRNN", "output_dim": 2, "input_dim": U, "return_sequences": False},
    ]
    config = {"name": "Sequential", "layers": layers}
    if fmt == "json":
        text = json.dumps(config)
    else:
        # Keras 0.x to_yaml() wrote tuples with the python/tuple tag.
        text = (
            "class_mode: categorical\nlayers:\n"
            + "".join(
                "- " + "\n  ".join(f"{k}: {json.dumps(v)}" for k, v in layer.items()) + "\n"
                for layer in layers
            )
            + "name: Sequential\n"
        )
        text = text.replace(
            "input_length: 5", "input_length: 5\n  input_shape: !!python/tuple [5, 3]"
        )
    gen = detect_generation(tmp_path / "w.h5")
    assert (gen.generation, gen.keras_version, gen.backend) == ("keras0", None, None)
    model = load_legacy_model(tmp_path / "w.h5", config=text)
    # Keras 0.x GRU defaulted to activation='sigmoid'; SimpleRNN too.
    h = lstm(x, gl)
    h = gru(h, gg, act="sigmoid")
    expected = simple_rnn(h, W, Uu, b, act="sigmoid")[:, -1]
    check(model, x, expected, f"keras0 | LSTM+GRU+SimpleRNN | stacked Sequential, {fmt} config")


def test_keras0_yaml_written_by_python2(tmp_path, rng):
    """Keras 0.x to_yaml was yaml.dump: under Python 2 a config that had been
    through json.loads came out with !!python/unicode strings (and !!python/long
    for longs, !!python/str for non-ASCII byte strings) next to !!python/tuple."""
    x = rng.standard_normal((B, T, D))
    gl = per_gate(rng, "icfo")
    W, Uu, b = rng.normal(0, 0.5, (U, 2)), rng.normal(0, 0.5, (2, 2)), rng.normal(0, 0.5, 2)
    write_keras0(tmp_path / "w.h5", [flat(gl, "icfo"), [W, Uu, b]])
    u = "!!python/unicode"
    text = (
        f"class_mode: {u} 'categorical'\n"
        "layers:\n"
        f"- {{activation: {u} 'tanh', custom_name: !!python/str 'lstm_\\xE9', init: {u}"
        f" 'glorot_uniform', inner_activation: {u} 'hard_sigmoid', input_dim: 3,"
        f" input_length: !!python/long '5', input_shape: !!python/tuple [5, 3],"
        f" name: {u} 'LSTM', output_dim: 4, return_sequences: true}}\n"
        f"- {{activation: {u} 'tanh', input_dim: 4, name: {u} 'SimpleRNN', output_dim: 2}}\n"
        f"name: {u} 'Sequential'\n"
    )
    model = load_legacy_model(tmp_path / "w.h5", config=text)
    expected = simple_rnn(lstm(x, gl), W, Uu, b)[:, -1]
    check(model, x, expected, "keras0 | LSTM+SimpleRNN | Python 2 YAML (!!python/unicode, long)")
    with pytest.raises(ValueError, match="safe loader"):
        load_legacy_model(tmp_path / "w.h5", config=text + "x: !!python/name:os.system ''\n")


def test_keras0_yaml_refuses_python_objects(tmp_path):
    write_keras0(tmp_path / "w.h5", [[]])
    evil = "name: !!python/object/apply:os.system ['echo hacked']\nlayers: []\n"
    with pytest.raises(ValueError, match="safe loader"):
        load_legacy_model(tmp_path / "w.h5", config=evil)


def test_keras0_graph(tmp_path, rng):
    x = rng.standard_normal((B, T, D))
    g1, g2 = per_gate(rng, "icfo"), per_gate(rng, "zrh")
    Wd, bd = rng.standard_normal((2 * U, 1)), rng.standard_normal(1)
    write_keras0(tmp_path / "g.h5", [flat(g1, "icfo") + flat(g2, "zrh") + [Wd, bd]], graph=True)
    config = {
        "name": "Graph",
        "input_config": [{"name": "seq", "input_shape": [T, D], "dtype": "float"}],
        "node_config": [
            {"name": "fwd", "input": "seq"},
            {"name": "gru", "input": "seq"},
            {"name": "out", "inputs": ["fwd", "gru"], "merge_mode": "concat", "concat_axis": -1},
        ],
        "output_config": [{"name": "output", "input": "out"}],
        "nodes": {
            "fwd": {"name": "LSTM", "output_dim": U, "input_dim": D},
            "gru": {"name": "GRU", "output_dim": U, "input_dim": D, "activation": "tanh"},
            "out": {"name": "Dense", "output_dim": 1, "activation": "linear"},
        },
    }
    model = load_legacy_model(tmp_path / "g.h5", config=json.dumps(config))
    h = np.concatenate([lstm(x, g1)[:, -1], gru(x, g2)[:, -1]], axis=-1)
    check(model, x, h @ Wd + bd, "keras0 | LSTM+GRU | Graph container, concat")


def test_keras0_graph_input_without_shape(tmp_path):
    """Graph.add_input(batch_input_shape=...) saved input_shape None in input_config."""
    write_keras0(tmp_path / "g.h5", [[]], graph=True)
    config = {
        "name": "Graph",
        "input_config": [{"name": "seq", "input_shape": None, "dtype": "float"}],
        "node_config": [{"name": "rnn", "input": "seq", "inputs": []}],
        "output_config": [{"name": "out", "input": "rnn", "inputs": []}],
        "nodes": {"rnn": {"name": "LSTM", "output_dim": U}},
    }
    with pytest.raises(ValueError, match="Graph input 'seq'.*input_shape"):
        load_legacy_model(tmp_path / "g.h5", config=config)


# ---------------------------------------------------------------- Keras 1.x
def _k1_layer(cls, name, **cfg):
    return {"class_name": cls, "config": {"name": name, **cfg}}


@pytest.mark.parametrize("consume_less", ["cpu", "mem", "gpu"])
def test_keras1_lstm_gru_consume_less_stacked(tmp_path, rng, consume_less):
    x = rng.standard_normal((B, T, D))
    gl, gg = per_gate(rng, "icfo"), per_gate(rng, "zrh", d=U)
    if consume_less == "gpu":
        wl = list(zip(["lstm_1_W", "lstm_1_U", "lstm_1_b"], fused(gl, "ifco")))
        wg = list(zip(["gru_1_W", "gru_1_U", "gru_1_b"], fused(gg, "zrh")))
    else:
        wl = [(f"lstm_1_{p}_{g}", w) for g in "icfo" for p, w in zip("WUb", gl[g])]
        wg = [(f"gru_1_{p}_{g}", w) for g in "zrh" for p, w in zip("WUb", gg[g])]
    config = {
        "class_name": "Sequential",
        "config": [
            _k1_layer(
                "LSTM",
                "lstm_1",
                output_dim=U,
                batch_input_shape=[None, T, D],
                input_dim=D,
                input_length=T,
                return_sequences=True,
                consume_less=consume_less,
                activation="tanh",
                inner_activation="hard_sigmoid",
            ),
            _k1_layer(
                "GRU",
                "gru_1",
                output_dim=U,
                return_sequences=True,
                consume_less=consume_less,
                activation="tanh",
                inner_activation="hard_sigmoid",
            ),
        ],
    }
    write_named(
        tmp_path / "m.h5",
        [("lstm_1", wl), ("gru_1", wg)],
        keras_version="1.2.2",
        model_config=config,
    )
    gen = detect_generation(tmp_path / "m.h5")
    assert (gen.generation, gen.keras_version, gen.backend) == (
        "keras1",
        "1.2.2",
        "theano",
    )  # names without :0
    model = load_legacy_model(tmp_path / "m.h5")
    check(
        model, x, gru(lstm(x, gl), gg), f"keras1 | LSTM+GRU | consume_less={consume_less}, stacked"
    )


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_keras1_bidirectional_masked_embedding(tmp_path, rng, merge_mode):
    vocab, emb = 7, D
    tokens = rng.integers(1, vocab, (B, T))
    tokens[0, 3:] = 0  # padded tail, masked by Embedding(mask_zero=True)
    E = rng.standard_normal((vocab, emb))
    gf, gb = per_gate(rng, "icfo"), per_gate(rng, "icfo")
    weights = [("embedding_1_W", E)]
    bidi = [
        (f"{d}_lstm_1_{p}_{g}", w)
        for d, gset in (("forward", gf), ("backward", gb))
        for g in "icfo"
        for p, w in zip("WUb", gset[g])
    ]
    config = {
        "class_name": "Model",
        "config": {
            "name": "model_1",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "tokens",
                    "inbound_nodes": [],
                    "config": {
                        "name": "tokens",
                        "batch_input_shape": [None, T],
                        "input_dtype": "int32",
                    },
                },
                {
                    "class_name": "Embedding",
                    "name": "embedding_1",
                    "inbound_nodes": [[["tokens", 0, 0]]],
                    "config": {
                        "name": "embedding_1",
                        "input_dim": vocab,
                        "output_dim": emb,
                        "mask_zero": True,
                    },
                },
                {
                    "class_name": "Bidirectional",
                    "name": "bidi",
                    "inbound_nodes": [[["embedding_1", 0, 0]]],
                    "config": {
                        "name": "bidi",
                        "merge_mode": merge_mode,
                        "layer": _k1_layer("LSTM", "lstm_1", output_dim=U, consume_less="cpu"),
                    },
                },
            ],
            "input_layers": [["tokens", 0, 0]],
            "output_layers": [["bidi", 0, 0]],
        },
    }
    write_named(tmp_path / "w.h5", [("tokens", []), ("embedding_1", weights), ("bidi", bidi)])
    model = load_legacy_model(tmp_path / "w.h5", config=json.dumps(config))
    xe = E[tokens]
    mask = (tokens != 0).astype(float)
    fwd = lstm(xe, gf, mask=mask)[:, -1]
    bwd = lstm(xe, gb, mask=mask, go_backwards=True)[:, -1]
    combine = {
        "concat": lambda a, b: np.concatenate([a, b], -1),
        "sum": np.add,
        "mul": np.multiply,
        "ave": lambda a, b: (a + b) / 2,
    }[merge_mode]
    label = f"keras1 | Bidirectional(LSTM) | masked Embedding, merge_mode={merge_mode}"
    check(model, tokens, combine(fwd, bwd), label)


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
def test_keras1_functional_merge(tmp_path, rng, mode):
    x = rng.standard_normal((B, T, D))
    W1, U1, b1 = (
        rng.standard_normal((D, U)),
        rng.standard_normal((U, U)) * 0.5,
        rng.standard_normal(U),
    )
    W2, U2, b2 = (
        rng.standard_normal((D, U)),
        rng.standard_normal((U, U)) * 0.5,
        rng.standard_normal(U),
    )
    config = {
        "class_name": "Model",
        "config": {
            "layers": [
                {
                    "class_name": "InputLayer",
                    "name": "x",
                    "inbound_nodes": [],
                    "config": {"name": "x", "batch_input_shape": [None, T, D]},
                },
                {
                    "class_name": "SimpleRNN",
                    "name": "a",
                    "inbound_nodes": [[["x", 0, 0]]],
                    "config": {"name": "a", "output_dim": U},
                },
                {
                    "class_name": "SimpleRNN",
                    "name": "b",
                    "inbound_nodes": [[["x", 0, 0]]],
                    "config": {"name": "b", "output_dim": U},
                },
                {
                    "class_name": "Merge",
                    "name": "m",
                    "inbound_nodes": [[["a", 0, 0], ["b", 0, 0]]],
                    "config": {"name": "m", "mode": mode, "concat_axis": -1},
                },
            ],
            "input_layers": [["x", 0, 0]],
            "output_layers": [["m", 0, 0]],
        },
    }
    write_named(
        tmp_path / "m.h5",
        [
            ("x", []),
            ("a", [("a_W", W1), ("a_U", U1), ("a_b", b1)]),
            ("b", [("b_W", W2), ("b_U", U2), ("b_b", b2)]),
            ("m", []),
        ],
        keras_version="1.1.0",
        model_config=config,
    )
    ha, hb = simple_rnn(x, W1, U1, b1)[:, -1], simple_rnn(x, W2, U2, b2)[:, -1]
    combine = {
        "concat": lambda a, b: np.concatenate([a, b], -1),
        "sum": np.add,
        "mul": np.multiply,
        "ave": lambda a, b: (a + b) / 2,
    }[mode]
    label = f"keras1 | SimpleRNN | functional Merge mode={mode}"
    check(load_legacy_model(tmp_path / "m.h5"), x, combine(ha, hb), label)


# ---------------------------------------------------------------- Keras 2.x
def _k2_seq(layers):
    return {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": layers}}


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("use_bias", [True, False])
def test_keras2_gru_reset_after_and_no_bias(tmp_path, rng, reset_after, use_bias):
    x = rng.standard_normal((B, T, D))
    W, Uk = rng.normal(0, 0.5, (D, 3 * U)), rng.normal(0, 0.5, (U, 3 * U))
    bias = rng.normal(0, 0.5, (2, 3 * U) if reset_after else (3 * U,))
    if not use_bias:
        bias = np.zeros_like(bias)
    cfg = {
        "name": "gru_1",
        "units": U,
        "batch_input_shape": [None, T, D],
        "activation": "tanh",
        "recurrent_activation": "hard_sigmoid",
        "use_bias": use_bias,
    }
    if reset_after:
        cfg["reset_after"] = True  # Keras 2.1.4+ wrote the key; older files lack it
    weights = [("gru_1/kernel:0", W), ("gru_1/recurrent_kernel:0", Uk)]
    if use_bias:
        weights.append(("gru_1/bias:0", bias))
    write_named(
        tmp_path / "m.h5",
        [("gru_1", weights)],
        keras_version="2.2.4",
        backend="tensorflow",
        model_config=_k2_seq([{"class_name": "GRU", "config": cfg}]),
    )
    if reset_after:
        expected = gru_reset_after(x, W, Uk, bias[0], bias[1])
    else:
        g = {
            k: (W[:, i * U : (i + 1) * U], Uk[:, i * U : (i + 1) * U], bias[i * U : (i + 1) * U])
            for i, k in enumerate("zrh")
        }
        expected = gru(x, g)
    label = f"keras2 | GRU | reset_after={reset_after}, use_bias={use_bias}"
    check(load_legacy_model(tmp_path / "m.h5"), x, expected[:, -1], label)


def test_keras2_chunked_names_nested_paths_stacked(tmp_path, rng):
    x = rng.standard_normal((B, T, D))
    g1, g2 = per_gate(rng, "ifco"), per_gate(rng, "ifco", d=U)
    Wd, bd = rng.standard_normal((U, 2)), rng.standard_normal(2)
    layers = []
    for name, g in (("lstm_1", g1), ("lstm_2", g2)):
        k, r, b = fused(g, "ifco")
        layers.append(
            (
                name,
                [
                    (f"{name}/kernel:0", k),
                    (f"{name}/recurrent_kernel:0", r),
                    (f"{name}/bias:0", b),
                ],
            )
        )
    layers.append(
        (
            "time_distributed_1",
            [("time_distributed_1/kernel:0", Wd), ("time_distributed_1/bias:0", bd)],
        )
    )
    config = _k2_seq(
        [
            {
                "class_name": "LSTM",
                "config": {
                    "name": "lstm_1",
                    "units": U,
                    "return_sequences": True,
                    "batch_input_shape": [None, T, D],
                    "recurrent_activation": "hard_sigmoid",
                },
            },
            {
                "class_name": "LSTM",
                "config": {
                    "name": "lstm_2",
                    "units": U,
                    "return_sequences": True,
                    "recurrent_activation": "sigmoid",
                },
            },
            {
                "class_name": "TimeDistributed",
                "config": {
                    "name": "time_distributed_1",
                    "layer": {"class_name": "Dense", "config": {"name": "dense_1", "units": 2}},
                },
            },
        ]
    )
    (tmp_path / "c.json").write_text(json.dumps(config))
    write_named(tmp_path / "w.h5", layers, keras_version="2.1.6", backend="tensorflow", chunk=True)
    gen = detect_generation(tmp_path / "w.h5")
    assert (gen.generation, gen.keras_version, gen.backend) == ("keras2", "2.1.6", "tensorflow")
    model = load_legacy_model(tmp_path / "w.h5", config=str(tmp_path / "c.json"))
    h = lstm(lstm(x, g1), g2, inner="sigmoid")
    check(model, x, h @ Wd + bd, "keras2 | LSTM+TimeDistributed(Dense) | chunked names, stacked")


def test_keras2_layer_names_over_the_header_limit(tmp_path, rng):
    """Keras 2 split a name list only past HDF5_OBJECT_HEADER_LIMIT (64512 bytes),
    into np.array_split chunks of one fixed-length array; all chunks read in order."""
    g = per_gate(rng, "ifco")
    k, r, b = fused(g, "ifco")
    filler = [(f"activation_{i:04d}_" + "x" * 90, []) for i in range(700)]
    lstm_layer = (
        "lstm_1",
        [("lstm_1/kernel:0", k), ("lstm_1/recurrent_kernel:0", r), ("lstm_1/bias:0", b)],
    )
    layers = filler[:350] + [lstm_layer] + filler[350:]
    write_named(tmp_path / "w.h5", layers, keras_version="2.2.4", backend="theano")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert "layer_names" not in f.attrs
        chunks = [f.attrs[f"layer_names{i}"] for i in range(2)]
        assert "layer_names2" not in f.attrs
        assert chunks[0].dtype == chunks[1].dtype and chunks[0].dtype.kind == "S"
        assert sum(c.nbytes for c in chunks) > HDF5_OBJECT_HEADER_LIMIT
        named = read_named(f, "w.h5")
    assert list(named) == [name for name, _ in layers]
    assert [a.shape for a in named["lstm_1"]] == [(D, 4 * U), (U, 4 * U), (4 * U,)]
    assert detect_generation(tmp_path / "w.h5").generation == "keras2"


def _cudnn_lstm_weights(rng):
    Ws = {g: rng.normal(0, 0.5, (U, D)) for g in "ifco"}
    Rs = {g: rng.normal(0, 0.5, (U, U)) for g in "ifco"}
    bW = {g: rng.normal(0, 0.5, U) for g in "ifco"}
    bR = {g: rng.normal(0, 0.5, U) for g in "ifco"}
    # The Keras CuDNNLSTM buffers: each gate block read in C order is cuDNN's matrix.
    kernel = np.concatenate([Ws[g].reshape(-1).reshape(D, U) for g in "ifco"], axis=1)
    recurrent = np.concatenate([Rs[g].reshape(-1).reshape(U, U) for g in "ifco"], axis=1)
    bias = np.concatenate([bW[g] for g in "ifco"] + [bR[g] for g in "ifco"])
    return (Ws, Rs, bW, bR), [kernel, recurrent, bias]


def test_cudnn_lstm_weights_into_modern_lstm(tmp_path, rng):
    x = rng.standard_normal((B, T, D))
    ref, (k, r, b) = _cudnn_lstm_weights(rng)
    write_named(
        tmp_path / "w.h5",
        [("cu", [("cu/kernel:0", k), ("cu/recurrent_kernel:0", r), ("cu/bias:0", b)])],
        keras_version="2.2.4",
        backend="tensorflow",
    )
    import tf_keras

    inp = tf_keras.Input((T, D))
    model = tf_keras.Model(inp, tfrnn.LSTM(U, name="cu")(inp))
    load_legacy_weights(model, tmp_path / "w.h5")
    check(
        model,
        x,
        cudnn_lstm(x, *ref)[:, -1],
        "keras2 | CuDNNLSTM weights -> LSTM | load_legacy_weights",
    )


def test_cudnn_gru_conversion_matches_cudnn_equations(rng):
    Ws = {g: rng.normal(0, 0.5, (U, D)) for g in "zrh"}
    Rs = {g: rng.normal(0, 0.5, (U, U)) for g in "zrh"}
    kernel = np.concatenate([Ws[g].reshape(D, U) for g in "zrh"], axis=1)
    recurrent = np.concatenate([Rs[g] for g in "zrh"], axis=1)  # (u, u) blocks, row-major
    bias = rng.normal(0, 0.5, 6 * U)
    k, r, b = convert_layer_weights("CuDNNGRU", [kernel, recurrent, bias])
    assert b.shape == (2, 3 * U)
    x = rng.standard_normal((B, T, D))
    W_ref = np.concatenate([Ws[g].T for g in "zrh"], axis=1)
    U_ref = np.concatenate([Rs[g].T for g in "zrh"], axis=1)
    expected = gru_reset_after(x, W_ref, U_ref, bias[: 3 * U], bias[3 * U :], inner="sigmoid")
    got = gru_reset_after(x, k, r, b[0], b[1], inner="sigmoid")
    assert np.max(np.abs(got - expected)) < TOL


def test_cudnn_config_maps_to_tfrnn_class(tmp_path, rng):
    _, (k, r, b) = _cudnn_lstm_weights(rng)
    config = _k2_seq(
        [
            {
                "class_name": "CuDNNLSTM",
                "config": {"name": "cu", "units": U, "batch_input_shape": [None, T, D]},
            }
        ]
    )
    write_named(
        tmp_path / "m.h5",
        [("cu", [("cu/kernel:0", k), ("cu/recurrent_kernel:0", r), ("cu/bias:0", b)])],
        keras_version="2.2.4",
        backend="tensorflow",
        model_config=config,
    )
    if hasattr(tfrnn, "CuDNNLSTM"):
        model = load_legacy_model(tmp_path / "m.h5")
        assert type(model.layers[-1]).__name__ == "CuDNNLSTM"
    else:
        with pytest.raises(ValueError, match="tfrnn.CuDNNLSTM"):
            load_legacy_model(tmp_path / "m.h5")


# ---------------------------------------------------------------- ConvLSTM2D
@pytest.mark.parametrize(
    "dim_ordering,backend", [("th", "theano"), ("tf", "tensorflow"), ("tf", "theano")]
)
def test_convlstm2d_keras1_conversion(rng, dim_ordering, backend):
    rows, cols, cin, f, k = 4, 4, 2, 3, 3
    g = {
        q: (
            rng.normal(0, 0.3, (k, k, cin, f)),
            rng.normal(0, 0.3, (k, k, f, f)),
            rng.normal(0, 0.3, f),
        )
        for q in "icfo"
    }
    old = []
    for q in "icfo":
        W, Uw, b = g[q]
        if dim_ordering == "th":
            W, Uw = W.transpose(3, 2, 0, 1), Uw.transpose(3, 2, 0, 1)
        old += [W, Uw, b]
    kernel, rec, bias = convert_layer_weights(
        "ConvLSTM2D", old, {"dim_ordering": dim_ordering}, "keras1", backend=backend
    )
    x = rng.standard_normal((B, 3, rows, cols, cin))
    expected = conv_lstm(x, g, true_convolution=backend == "theano")
    split = lambda a: np.split(a, 4, axis=-1)  # noqa: E731
    modern = {
        q: (kq, rq, bq) for q, kq, rq, bq in zip("ifco", split(kernel), split(rec), split(bias))
    }
    got = conv_lstm(x, modern, true_convolution=False)
    assert np.max(np.abs(got - expected)) < TOL
    if hasattr(tfrnn, "ConvLSTM2D"):
        layer = tfrnn.ConvLSTM2D(
            f, (k, k), padding="same", recurrent_activation="hard_sigmoid", return_sequences=True
        )
        layer.build((None, 3, rows, cols, cin))
        layer.set_weights([kernel, rec, bias])
        out = np.asarray(layer(x.astype(np.float32)))
        assert np.max(np.abs(out - expected)) < TOL
