"""tfrnn.compat with keras=3: old Keras files rebuilt as Keras 3 models of
tfrnn.keras3 layers predict what the default tf_keras rebuild predicts (old
files' hard_sigmoid kept as Keras 2's), and tfrnn-migrate --keras 3 writes
a .keras file Keras 3 loads."""

import json
import pathlib
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tfrnn.compat import load_legacy_model, load_legacy_weights
from tfrnn.compat.migrate import main as migrate_main
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn.keras3
from tfrnn.keras3.activations import keras2_hard_sigmoid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "compat"))
from legacy_fixtures import write_keras0, write_named  # noqa: E402

B, T, D, U = 2, 5, 3, 4


@pytest.fixture(autouse=True)
def _fresh_keras3_names():
    keras.backend.clear_session()  # layer names as in a fresh process


def _dense_weights(rng, name, gates, bias_shape=None):
    return [
        (f"{name}/kernel:0", rng.normal(0, 0.5, (D, gates * U))),
        (f"{name}/recurrent_kernel:0", rng.normal(0, 0.5, (U, gates * U))),
        (f"{name}/bias:0", rng.normal(0, 0.5, bias_shape or (gates * U,))),
    ]


def _layer(class_name, name, **config):
    return {"class_name": class_name, "config": {"name": name, **config}}


# Keras 2 layers as model.save wrote them: (layer config, weights) from an rng;
# the 2.2.4 LSTM and GRU configs name no recurrent_activation (hard_sigmoid then).
KERAS2_CASES = {
    "lstm_hard_sigmoid": lambda rng: (
        _layer("LSTM", "lstm_1", units=U, return_sequences=True),
        _dense_weights(rng, "lstm_1", 4),
    ),
    "lstm_sigmoid": lambda rng: (
        _layer("LSTM", "lstm_1", units=U, recurrent_activation="sigmoid"),
        _dense_weights(rng, "lstm_1", 4),
    ),
    "gru_reset_before": lambda rng: (
        _layer("GRU", "gru_1", units=U, activation="relu"),
        _dense_weights(rng, "gru_1", 3),
    ),
    "gru_reset_after": lambda rng: (
        _layer("GRU", "gru_1", units=U, reset_after=True, go_backwards=True),
        _dense_weights(rng, "gru_1", 3, (2, 3 * U)),
    ),
    "simple_rnn": lambda rng: (
        _layer("SimpleRNN", "simple_rnn_1", units=U, activation="hard_sigmoid"),
        _dense_weights(rng, "simple_rnn_1", 1),
    ),
    "bidirectional": lambda rng: (
        _layer(
            "Bidirectional",
            "bidi",
            merge_mode="sum",
            layer=_layer("LSTM", "lstm_1", units=U, return_sequences=True),
        ),
        [
            (f"bidi/{direction}_lstm_1/{w.split('/')[1]}", value)
            for direction in ("forward", "backward")
            for w, value in _dense_weights(rng, "lstm_1", 4)
        ],
    ),
}


def _keras2_file(path, layer, weights, input_shape=(None, T, D), version="2.2.4"):
    layer = json.loads(json.dumps(layer))
    layer["config"]["batch_input_shape"] = list(input_shape)
    name = layer["config"]["name"]
    write_named(
        path,
        [(name, weights)],
        keras_version=version,
        backend="tensorflow",
        model_config={"class_name": "Sequential", "config": {"name": "s", "layers": [layer]}},
    )


def _same_predictions(path, x, **kwargs):
    """The keras=3 model and the default one, which must agree; returns the first."""
    ours = load_legacy_model(path, keras=3, **kwargs)
    reference = load_legacy_model(path, **kwargs)
    assert isinstance(ours, keras.Model) and isinstance(reference, tf_keras.Model)
    got, expected = ours.predict(x, verbose=0), reference.predict(x, verbose=0)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, atol=OUTPUT_TOL)
    return ours


@pytest.mark.parametrize("case", sorted(KERAS2_CASES))
def test_keras2_file_as_keras3_model(case, tmp_path, rng):
    _keras2_file(tmp_path / "m.h5", *KERAS2_CASES[case](rng))
    x = rng.standard_normal((B, T, D)).astype("float32")
    model = _same_predictions(tmp_path / "m.h5", x)
    recurrent = [
        layer for layer in model.layers if type(layer).__module__.startswith("tfrnn.keras3")
    ]
    assert len(recurrent) == 1


def test_hard_sigmoid_stays_keras2s(tmp_path, rng):
    """Keras 3's own hard_sigmoid (slope 1/6) would give other numbers."""
    _keras2_file(tmp_path / "m.h5", *KERAS2_CASES["lstm_hard_sigmoid"](rng))
    model = load_legacy_model(tmp_path / "m.h5", keras=3)
    lstm = model.layers[-1]
    assert lstm.cell.recurrent_activation is keras2_hard_sigmoid
    assert lstm.get_config()["recurrent_activation"]["config"] == "tfrnn>keras2_hard_sigmoid"
    x = rng.standard_normal((B, T, D)).astype("float32")
    keras3_own = tfrnn.keras3.LSTM(U, recurrent_activation="hard_sigmoid", return_sequences=True)
    keras3_own(x)
    keras3_own.set_weights(lstm.get_weights())
    assert np.abs(keras3_own(x).numpy() - model.predict(x, verbose=0)).max() > 1e-3


def test_keras2_hard_sigmoid_trains_by_hand_gradient_as_tf_keras(tmp_path, rng):
    """Training steps (the hand-written gradient, Keras 2's slope 0.2) agree too."""
    _keras2_file(tmp_path / "m.h5", *KERAS2_CASES["lstm_hard_sigmoid"](rng))
    x = tf.constant(rng.standard_normal((B, T, D)).astype("float32"))
    grads = []
    for model in (
        load_legacy_model(tmp_path / "m.h5", keras=3),
        load_legacy_model(tmp_path / "m.h5"),
    ):
        weights = model.layers[-1].trainable_weights
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True) ** 2)
        grads.append([g.numpy() for g in tape.gradient(loss, weights)])
    for ours, reference in zip(*grads):
        np.testing.assert_allclose(ours, reference, atol=GRAD_TOL)


@pytest.mark.parametrize("version", ["2.2.4", "2.3.1"])
def test_keras2_conv_lstm_2d_as_keras3_model(version, tmp_path, rng):
    """Keras 3's ConvLSTM2D defaults to sigmoid gates; Keras 2's (every release,
    unlike its LSTM's from 2.3) to hard_sigmoid, which the rebuild states."""
    shape = (None, 3, 5, 5, 2)
    layer = _layer("ConvLSTM2D", "conv_lst_m2d_1", filters=3, kernel_size=[3, 3], padding="same")
    weights = [
        ("conv_lst_m2d_1/kernel:0", rng.normal(0, 0.3, (3, 3, 2, 12))),
        ("conv_lst_m2d_1/recurrent_kernel:0", rng.normal(0, 0.3, (3, 3, 3, 12))),
        ("conv_lst_m2d_1/bias:0", rng.normal(0, 0.3, 12)),
    ]
    _keras2_file(tmp_path / "m.h5", layer, weights, shape, version)
    x = rng.standard_normal((B, *shape[1:])).astype("float32")
    model = _same_predictions(tmp_path / "m.h5", x)
    assert model.layers[-1].cell.recurrent_activation is keras2_hard_sigmoid
    reference = load_legacy_model(tmp_path / "m.h5").layers[-1]
    assert reference.get_config()["recurrent_activation"] == "hard_sigmoid"


def test_keras1_bidirectional_over_masked_embedding(tmp_path, rng):
    vocab = 7
    weights = [
        (f"{direction}_lstm_1_{p}_{g}", rng.normal(0, 0.5, shape))
        for direction in ("forward", "backward")
        for g in "icfo"
        for p, shape in zip("WUb", ((D, U), (U, U), (U,)))
    ]
    embedding = {
        "name": "embedding_1",
        "input_dim": vocab,
        "output_dim": D,
        "input_length": T,
        "mask_zero": True,
        "batch_input_shape": [None, T],
    }
    lstm = {"class_name": "LSTM", "config": {"name": "lstm_1", "output_dim": U}}
    config = {  # a Keras 1 Sequential config is the list of its layers
        "class_name": "Sequential",
        "config": [
            {"class_name": "Embedding", "config": embedding},
            {"class_name": "Bidirectional", "config": {"name": "bidi", "layer": lstm}},
        ],
    }
    layers = [("embedding_1", [("embedding_1_W", rng.standard_normal((vocab, D)))])]
    write_named(tmp_path / "w.h5", [*layers, ("bidi", weights)])
    tokens = rng.integers(1, vocab, (B, T))
    tokens[0, 3:] = 0
    _same_predictions(tmp_path / "w.h5", tokens, config=json.dumps(config))


def test_keras0_weights_with_config(tmp_path, rng):
    """Keras 0.x: per-gate lists, GRU and SimpleRNN defaulting to sigmoid."""
    lstm = [rng.normal(0, 0.5, s) for _ in "icfo" for s in ((D, U), (U, U), (U,))]
    gru = [rng.normal(0, 0.5, s) for _ in "zrh" for s in ((U, U), (U, U), (U,))]
    write_keras0(tmp_path / "w.h5", [lstm, gru])
    config = {
        "name": "Sequential",
        "layers": [
            {
                "name": "LSTM",
                "input_dim": D,
                "output_dim": U,
                "input_length": T,
                "inner_activation": "hard_sigmoid",
                "return_sequences": True,
            },
            {"name": "GRU", "input_dim": U, "output_dim": U},
        ],
    }
    x = rng.standard_normal((B, T, D)).astype("float32")
    _same_predictions(tmp_path / "w.h5", x, config=json.dumps(config))


def test_load_legacy_weights_into_a_keras3_model(tmp_path, rng):
    _keras2_file(tmp_path / "m.h5", *KERAS2_CASES["bidirectional"](rng))
    x = rng.standard_normal((B, T, D)).astype("float32")
    expected = load_legacy_model(tmp_path / "m.h5").predict(x, verbose=0)
    model = load_legacy_model(tmp_path / "m.h5", keras=3)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    load_legacy_weights(model, tmp_path / "m.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=OUTPUT_TOL)


@pytest.mark.parametrize("keras_arg", [4, "3", True, None, 3.0])
def test_keras_argument_is_2_or_3(keras_arg, tmp_path):
    with pytest.raises(ValueError, match=r"keras must be 2 \(a tf_keras model.*or 3"):
        load_legacy_model(tmp_path / "missing.h5", keras=keras_arg)


def test_keras_2_is_the_default(tmp_path, rng):
    _keras2_file(tmp_path / "m.h5", *KERAS2_CASES["gru_reset_before"](rng))
    x = rng.standard_normal((B, T, D)).astype("float32")
    default = load_legacy_model(tmp_path / "m.h5").predict(x, verbose=0)
    model = load_legacy_model(tmp_path / "m.h5", keras=2)
    assert isinstance(model, tf_keras.Model)
    np.testing.assert_array_equal(model.predict(x, verbose=0), default)


# ------------------------------------------------------------- tfrnn-migrate
def test_migrate_keras3_writes_a_keras_file_keras3_loads(tmp_path, rng, capsys):
    _keras2_file(tmp_path / "m.h5", *KERAS2_CASES["lstm_hard_sigmoid"](rng))
    out = tmp_path / "out.keras"
    assert migrate_main([str(tmp_path / "m.h5"), "--keras", "3", "-o", str(out)]) == 0
    assert "predictions match" in capsys.readouterr().out
    loaded = keras.models.load_model(out)
    assert type(loaded.layers[-1]) is tfrnn.keras3.LSTM
    x = rng.standard_normal((B, T, D)).astype("float32")
    expected = load_legacy_model(tmp_path / "m.h5").predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=OUTPUT_TOL)


@pytest.mark.parametrize("output", ["out.h5", "saved_model", "saved_model/"])
def test_migrate_keras3_refuses_other_formats_before_reading(output, tmp_path, capsys):
    (tmp_path / "m.h5").write_bytes(b"not even read")
    args = [str(tmp_path / "m.h5"), "--keras", "3", "-o", str(tmp_path / output)]
    assert migrate_main(args) == 2
    err = capsys.readouterr().err
    assert "with --keras 3 (keras=3) tfrnn-migrate writes a .keras file" in err
    assert "tfrnn-export DST.keras DIR" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]


def test_migrate_keras_flag_in_help_and_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        migrate_main(["--help"])
    assert exit_info.value.code == 0
    assert "--keras {2,3}" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as exit_info:
        migrate_main(["m.h5", "--keras", "4", "-o", "x.keras"])
    assert exit_info.value.code == 2
    assert "invalid choice: '4'" in capsys.readouterr().err


def test_keras3_that_cannot_load_is_a_value_error(tmp_path, rng, monkeypatch):
    """What tfrnn.keras3's import says (Keras 3 missing, another backend) reaches the
    user as a ValueError, which tfrnn-migrate prints as its error (exit 2)."""
    _keras2_file(tmp_path / "m.h5", *KERAS2_CASES["simple_rnn"](rng))
    monkeypatch.setitem(sys.modules, "tfrnn.keras3", None)  # its import fails
    with pytest.raises(ValueError, match="keras=3 cannot be served here: "):
        load_legacy_model(tmp_path / "m.h5", keras=3)
