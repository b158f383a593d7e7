"""Bad input gives clear errors; tfrnn-migrate writes atomically; legacy spellings."""

import json
import os
import re
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
import tf_keras
from legacy_fixtures import write_keras0, write_named
from tfrnn.compat import (
    convert_layer_weights,
    detect_generation,
    load_legacy_model,
    load_legacy_weights,
)
from tfrnn.compat.migrate import main

import tfrnn

T, D, U = 5, 3, 4


def _k2_file(path, rng, units=U):
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {
                    "class_name": "LSTM",
                    "config": {"name": "lstm_1", "units": U, "batch_input_shape": [None, T, D]},
                }
            ],
        },
    }
    weights = [
        ("lstm_1/kernel:0", rng.normal(0, 0.5, (D, 4 * units))),
        ("lstm_1/recurrent_kernel:0", rng.normal(0, 0.5, (units, 4 * units))),
        ("lstm_1/bias:0", rng.normal(0, 0.5, 4 * units)),
    ]
    write_named(
        path,
        [("lstm_1", weights)],
        keras_version="2.2.4",
        backend="tensorflow",
        model_config=config,
    )


def test_truncated_and_corrupt_hdf5(tmp_path, rng):
    _k2_file(tmp_path / "good.h5", rng)
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file at all" * 10)
    for name in ("cut.h5", "junk.h5"):
        with pytest.raises(ValueError, match=name):
            load_legacy_model(tmp_path / name)


def test_hdf5_that_is_not_keras(tmp_path):
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(ValueError, match="not one Keras wrote"):
        detect_generation(tmp_path / "data.h5")


def test_weights_that_do_not_match_config(tmp_path, rng):
    _k2_file(tmp_path / "bad_shape.h5", rng, units=U + 1)
    with pytest.raises(ValueError, match="lstm_1"):
        load_legacy_model(tmp_path / "bad_shape.h5")
    write_keras0(tmp_path / "k0.h5", [[rng.standard_normal((D, U))] * 3, []])
    config = {
        "name": "Sequential",
        "layers": [{"name": "SimpleRNN", "output_dim": U, "input_dim": D, "input_length": T}],
    }
    with pytest.raises(ValueError, match="nb_layers"):
        load_legacy_model(tmp_path / "k0.h5", config=json.dumps(config))


def test_unknown_layer_class(tmp_path, rng):
    config = {
        "class_name": "Sequential",
        "config": [
            {"class_name": "FancyRNN", "config": {"name": "f", "batch_input_shape": [None, T, D]}}
        ],
    }
    write_named(tmp_path / "m.h5", [("f", [])], keras_version="1.2.2", model_config=config)
    with pytest.raises(ValueError, match="FancyRNN"):
        load_legacy_model(tmp_path / "m.h5")
    with pytest.raises(ValueError, match="FancyRNN"):
        convert_layer_weights("FancyRNN", [])


def test_ambiguous_or_impossible_weights_name_layouts():
    with pytest.raises(ValueError, match=r"LSTM.*\(3, 8\).*tried keras2"):
        convert_layer_weights("LSTM", [np.zeros((3, 8)), np.zeros((4, 8)), np.zeros(8)])
    cube = [np.zeros((3, 3, 3, 3)), np.zeros((3, 3, 3, 3)), np.zeros(3)] * 4
    with pytest.raises(ValueError, match="dim_ordering"):
        convert_layer_weights("ConvLSTM2D", cube, source="keras1")


def test_load_legacy_weights_keras0_by_position_and_keras1_by_name(tmp_path, rng):
    x = rng.standard_normal((2, T, D)).astype(np.float32)
    inp = tf_keras.Input((T, D))
    model = tf_keras.Model(
        inp, tfrnn.GRU(U, name="g", reset_after=False, recurrent_activation="hard_sigmoid")(inp)
    )
    per_gate = [rng.normal(0, 0.5, s) for _ in "zrh" for s in ((D, U), (U, U), (U,))]
    write_keras0(tmp_path / "k0.h5", [per_gate])
    load_legacy_weights(model, tmp_path / "k0.h5")
    first = model.predict(x, verbose=0)
    write_named(
        tmp_path / "k1.h5",
        [("g", [(f"g_{n}_{k // 3}", w) for k, (n, w) in enumerate(zip("WUbWUbWUb", per_gate))])],
    )
    model2 = tf_keras.Model(
        inp, tfrnn.GRU(U, name="g", reset_after=False, recurrent_activation="hard_sigmoid")(inp)
    )
    load_legacy_weights(model2, tmp_path / "k1.h5")
    np.testing.assert_allclose(model2.predict(x, verbose=0), first, atol=1e-6)


def test_legacy_constructor_spellings_warn():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = tfrnn.LSTM(
            output_dim=U,
            inner_activation="hard_sigmoid",
            consume_less="gpu",
            forget_bias_init="one",
            dropout_W=0.1,
            dropout_U=0.2,
            W_regularizer="l2",
            input_dim=D,
            input_length=T,
        )
    messages = " ".join(str(w.message) for w in caught if w.category is DeprecationWarning)
    for modern in (
        "units",
        "recurrent_activation",
        "implementation",
        "unit_forget_bias",
        "dropout",
        "recurrent_dropout",
        "kernel_regularizer",
        "input_shape",
    ):
        assert f"`{modern}`" in messages
    assert (layer.units, layer.implementation, layer.unit_forget_bias) == (U, 2, True)
    assert (layer.dropout, layer.recurrent_dropout) == (0.1, 0.2)
    with pytest.raises(TypeError, match="units"):
        tfrnn.LSTM(4, output_dim=4)


def test_weights_argument_in_old_layout(rng):
    per_gate = [rng.normal(0, 0.5, s) for _ in "icfo" for s in ((D, U), (U, U), (U,))]
    layer = tfrnn.LSTM(U, weights=per_gate)
    layer.build((None, T, D))
    expected = convert_layer_weights("LSTM", per_gate)
    for got, want in zip(layer.get_weights(), expected):
        np.testing.assert_allclose(got, want)


@pytest.mark.slow
def test_cli_migrates_and_refuses(tmp_path, rng, capsys):
    _k2_file(tmp_path / "old.h5", rng)
    before = (tmp_path / "old.h5").read_bytes()
    dst = tmp_path / "new.keras"
    assert main([str(tmp_path / "old.h5"), "-o", str(dst)]) == 0
    out = capsys.readouterr().out
    assert "keras2" in out and "2.2.4" in out and "tensorflow" in out and "lstm_1" in out
    assert dst.exists() and (tmp_path / "old.h5").read_bytes() == before
    assert main([str(tmp_path / "old.h5"), "-o", str(dst)]) == 2  # exists, no --force
    assert "already exists" in capsys.readouterr().err
    assert main([str(tmp_path / "old.h5"), "-o", str(dst), "--force"]) == 0
    reloaded = tf_keras.models.load_model(dst, compile=False)
    assert type(reloaded.layers[-1]).__name__ == "LSTM"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["new.keras", "old.h5"]


def test_cli_output_name_is_checked_before_converting(tmp_path, rng, capsys):
    _k2_file(tmp_path / "old.h5", rng)
    src = str(tmp_path / "old.h5")
    refused = [
        ("out.txt", r"suffix '\.txt' names no format.*DST\.keras.*DST\.hdf5.*SavedModel.*'/'"),
        ("model.tflite", "run tfrnn-export on that"),
        (os.path.join("nodir", "sub", "out.keras"), "the directory '.*nodir/sub' does not exist"),
    ]
    for dst, message in refused:
        assert main([src, "-o", str(tmp_path / dst)]) == 2
        captured = capsys.readouterr()
        assert re.search(message, captured.err) and captured.out == ""  # nothing was read
    # .hdf5 is HDF5, as tf_keras reads it (it used to become a SavedModel directory)
    assert main([src, "-o", str(tmp_path / "model.hdf5")]) == 0
    assert h5py.is_hdf5(tmp_path / "model.hdf5")
    reloaded = tf_keras.models.load_model(tmp_path / "model.hdf5", compile=False)
    assert type(reloaded.layers[-1]) is tfrnn.LSTM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.hdf5", "old.h5"]


def test_config_problems_name_the_flag(tmp_path, rng, capsys):
    """A --config that does not exist is 'no such file'; a weights-only file
    without one names --config as the command line spells it."""
    weights = [
        ("lstm_1/kernel:0", rng.normal(0, 0.5, (D, 4 * U))),
        ("lstm_1/recurrent_kernel:0", rng.normal(0, 0.5, (U, 4 * U))),
        ("lstm_1/bias:0", rng.normal(0, 0.5, 4 * U)),
    ]
    src = tmp_path / "weights.h5"
    write_named(src, [("lstm_1", weights)], keras_version="2.2.4", backend="tensorflow")
    dst = tmp_path / "out.keras"
    assert main([str(src), "--config", str(tmp_path / "nonexist.json"), "-o", str(dst)]) == 2
    assert re.search(r"--config \S*nonexist\.json: no such file", capsys.readouterr().err)
    assert main([str(src), "-o", str(dst)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "weights.h5: a weights-only file" in err and "--config on the command line" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.h5"]


def test_cli_bad_input_exit_2_nothing_left(tmp_path, capsys):
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    dst = tmp_path / "out.h5"
    assert main([str(tmp_path / "junk.h5"), "-o", str(dst)]) == 2
    assert "junk.h5" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.h5"]


def test_script_runs_same_main(tmp_path):
    script = os.path.join(
        os.path.dirname(__file__), "..", "..", "scripts", "migrate_legacy_weights.py"
    )
    result = subprocess.run(
        [sys.executable, script, str(tmp_path / "missing.h5"), "-o", str(tmp_path / "x.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "missing.h5" in result.stderr


def test_modern_inputs_are_named_for_what_they_are(tmp_path, rng):
    model = tf_keras.Sequential([tf_keras.Input((T, D)), tfrnn.LSTM(U)])
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    (tmp_path / "saved").mkdir()
    for path, match in (
        (tmp_path / "m.keras", r"\.keras archive .* needs no migration"),
        (tmp_path / "m.h5", r"tfrnn layer.* needs no migration.*import tfrnn"),
        (tmp_path / "saved", r"a directory, not an HDF5 file"),
    ):
        with pytest.raises(ValueError, match=match):
            load_legacy_model(path)
