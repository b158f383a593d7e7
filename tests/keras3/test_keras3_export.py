"""tfrnn.export and tfrnn-export on Keras 3 models of tfrnn.keras3 layers:
the SavedModel, TFLite (builtin ops, fused LSTM with a fixed batch) and
streaming artifacts match the model, as they do for tf_keras models
(tests/test_export.py), and .keras files Keras 3 wrote are checked before
Keras 3 loads them, in safe mode."""

import functools
import json
import re
import sys
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from export_checks import check_stateful_gru_streams
from tfrnn.compat.migrate import main as migrate_main
from tolerances import OUTPUT_TOL

import tfrnn
import tfrnn.keras3
from tfrnn.export import export_saved_model, export_tflite, run_tflite
from tfrnn.export.cli import main as export_main
from tfrnn.export.tracing import recurrent_layers


@pytest.fixture(autouse=True)
def _fresh_keras3_names():
    keras.backend.clear_session()  # layer names as in a fresh process


def seq_model(*layers, batch_size=None, lib=keras):
    """A model of ``layers`` in a row over input 'x' (batch, time, 4), built by
    ``lib`` (Keras 3, or tf_keras for a tf_keras twin)."""
    inputs = lib.Input((None, 4), batch_size=batch_size, name="x")
    return lib.Model(inputs, functools.reduce(lambda x, layer: layer(x), layers, inputs))


def output_of(model, x):
    return np.asarray(model(x, training=False))


def check_artifact(model, content, output, shapes, rng):
    for batch, steps in shapes:
        x = rng.standard_normal((batch, steps, 4)).astype("float32")
        got = run_tflite(content, {"x": x})[output]
        np.testing.assert_allclose(got, output_of(model, x), atol=OUTPUT_TOL)


def lstm_gru_model():
    return seq_model(
        tfrnn.keras3.LSTM(5, return_sequences=True),
        tfrnn.keras3.GRU(4, reset_after=False, return_sequences=True),
        keras.layers.Dense(3, name="probs"),
    )


# ------------------------------------------------------------------ SavedModel
def test_saved_model_serves_and_streams(tmp_path, rng):
    model = lstm_gru_model()
    export_saved_model(model, tmp_path / "sm", streaming=True)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    serve = loaded.signatures["serving_default"]
    assert sorted(serve.structured_outputs) == ["probs"]
    for shape in [(1, 2, 4), (3, 9, 4)]:  # dynamic batch and time
        x = rng.standard_normal(shape).astype("float32")
        np.testing.assert_allclose(
            serve(x=tf.constant(x))["probs"], output_of(model, x), atol=OUTPUT_TOL
        )
    stream = loaded.signatures["streaming"]
    inputs = stream.structured_input_signature[1]
    assert sorted(inputs) == ["gru_h", "lstm_c", "lstm_h", "x"]
    x = rng.standard_normal((2, 10, 4)).astype("float32")
    states = {name: tf.zeros([2, spec.shape[1]]) for name, spec in inputs.items() if name != "x"}
    chunks = []
    for start, stop in [(0, 4), (4, 5), (5, 10)]:
        result = stream(x=tf.constant(x[:, start:stop]), **states)
        chunks.append(result["probs"].numpy())
        states = {name: result[name] for name in states}
    np.testing.assert_allclose(np.concatenate(chunks, 1), output_of(model, x), atol=OUTPUT_TOL)


# ---------------------------------------------------------------------- TFLite
def test_tflite_dynamic_batch_and_time(tmp_path, rng):
    model = lstm_gru_model()
    report = export_tflite(model, tmp_path / "m.tflite")
    assert "WHILE" in report.ops and not [op for op in report.ops if op.startswith("CUSTOM")]
    assert report.fused_layers == [] and report.max_abs_diff <= OUTPUT_TOL
    content = (tmp_path / "m.tflite").read_bytes()
    check_artifact(model, content, "probs", [(1, 3), (4, 11)], rng)


def test_tflite_fuses_the_lstm_layers_tf_keras_fuses(tmp_path, rng):
    def layers(lib):
        return [lib.Bidirectional(lib.LSTM(5, return_sequences=True)), lib.LSTM(4)]

    model = seq_model(*layers(tfrnn.keras3), batch_size=2)
    twin = seq_model(*layers(tfrnn), batch_size=2, lib=tf_keras)
    report = export_tflite(model, tmp_path / "m.tflite", batch_size=2)
    twin_report = export_tflite(twin, tmp_path / "twin.tflite", batch_size=2)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in report.ops and "WHILE" not in report.ops
    assert len(report.fused_layers) == len(twin_report.fused_layers) == 3
    assert report.max_abs_diff <= OUTPUT_TOL
    (output,) = report.outputs
    check_artifact(model, (tmp_path / "m.tflite").read_bytes(), output, [(2, 3), (2, 12)], rng)


def test_tflite_streaming_chunks_equal_whole_sequence(tmp_path, rng):
    model = seq_model(tfrnn.keras3.LSTM(5, return_sequences=True), tfrnn.keras3.GRU(4))
    report = export_tflite(model, tmp_path / "s.tflite", streaming=True)
    assert sorted(report.inputs) == ["gru_h", "lstm_c", "lstm_h", "x"]
    content = (tmp_path / "s.tflite").read_bytes()
    x = rng.standard_normal((3, 10, 4)).astype("float32")
    states = {"lstm_h": np.zeros((3, 5), "float32"), "lstm_c": np.zeros((3, 5), "float32")}
    states["gru_h"] = np.zeros((3, 4), "float32")
    for start, stop in [(0, 4), (4, 5), (5, 10)]:
        result = run_tflite(content, {"x": x[:, start:stop], **states})
        states = {name: result[name] for name in states}
    np.testing.assert_allclose(result["gru"], output_of(model, x), atol=OUTPUT_TOL)


def test_tflite_stateful_model_streams(tmp_path, rng):
    inputs = keras.Input((None, 4), batch_size=2, name="x")
    model = keras.Model(inputs, tfrnn.keras3.GRU(4, stateful=True, return_sequences=True)(inputs))
    check_stateful_gru_streams(model, tmp_path, rng)


def test_tflite_masked_embedding_and_keras3_own_bidirectional(tmp_path, rng):
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    embedded = keras.layers.Embedding(12, 4, mask_zero=True)(tokens)
    hidden = keras.layers.Bidirectional(tfrnn.keras3.LSTM(3, return_sequences=True))(embedded)
    model = keras.Model(tokens, tfrnn.keras3.GRU(5, name="gru")(hidden))
    report = export_tflite(model, tmp_path / "m.tflite", batch_size=3)
    assert report.not_fused == {
        "forward_lstm": "it receives a mask",
        "backward_lstm": "it receives a mask",
    }
    x = rng.integers(1, 12, (3, 8)).astype("int32")
    x[0, 5:] = 0
    got = run_tflite((tmp_path / "m.tflite").read_bytes(), {"tokens": x})["gru"]
    np.testing.assert_allclose(got, output_of(model, x), atol=OUTPUT_TOL)


def test_keras3_bidirectional_halves_are_the_recurrent_layers():
    model = seq_model(keras.layers.Bidirectional(tfrnn.keras3.GRU(3)))
    assert sorted(layer.name for layer in recurrent_layers(model)) == [
        "backward_gru",
        "forward_gru",
    ]


def test_keras3_own_recurrent_layer_is_named(tmp_path):
    model = seq_model(keras.layers.LSTM(3))
    with pytest.raises(ValueError, match=r"Keras 3 recurrent layer.*tfrnn\.keras3\.LSTM"):
        export_tflite(model, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


# ---------------------------------------------------------------- tfrnn-export
def test_cli_exports_a_keras3_file(tmp_path, capsys, rng):
    model = seq_model(tfrnn.keras3.LSTM(4))
    model.save(tmp_path / "model.keras")
    args = [str(tmp_path / "model.keras"), str(tmp_path / "m.tflite"), "--batch-size", "2"]
    assert export_main(args) == 0
    assert "fused LSTM layers: lstm" in capsys.readouterr().out
    check_artifact(model, (tmp_path / "m.tflite").read_bytes(), "lstm", [(2, 6)], rng)
    assert export_main([str(tmp_path / "model.keras"), str(tmp_path / "sm")]) == 0
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    x = rng.standard_normal((3, 7, 4)).astype("float32")
    np.testing.assert_allclose(
        serve(x=tf.constant(x))["lstm"], output_of(model, x), atol=OUTPUT_TOL
    )


def test_cli_exports_what_migrate_keras3_wrote(tmp_path, rng, capsys):
    """An old file's hard_sigmoid, kept as tfrnn>keras2_hard_sigmoid, passes the
    config check and exports (as a loop: the fused kernel has sigmoid gates)."""
    lstm = tf_keras.layers.LSTM(3, recurrent_activation="hard_sigmoid")
    model = tf_keras.Sequential([tf_keras.Input((5, 4), name="x"), lstm])
    model.save(tmp_path / "old.h5")
    migrated = str(tmp_path / "new.keras")
    assert migrate_main([str(tmp_path / "old.h5"), "--keras", "3", "-o", migrated]) == 0
    assert export_main([migrated, str(tmp_path / "m.tflite"), "--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert "not fused: lstm (recurrent_activation is not sigmoid)" in printed
    x = rng.standard_normal((2, 5, 4)).astype("float32")
    got = run_tflite((tmp_path / "m.tflite").read_bytes(), {"x": x})
    np.testing.assert_allclose(got["lstm"], output_of(model, x), atol=OUTPUT_TOL)


def _rewritten(path, out, edit_config):
    """A copy of the .keras archive ``path`` whose config ``edit_config`` changed."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                data = json.dumps(edit_config(json.loads(data))).encode()
            dst.writestr(item, data)


def test_cli_checks_keras3_files_before_loading(tmp_path, capsys):
    inputs = keras.Input((None, 4), name="x")
    hidden = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    model = keras.Model(inputs, tfrnn.keras3.GRU(3)(hidden))
    model.save(tmp_path / "lambda.keras")
    out = str(tmp_path / "m.tflite")
    assert export_main([str(tmp_path / "lambda.keras"), out]) == 2
    err = capsys.readouterr().err
    assert "layer 'double' (Lambda) is a Lambda layer" in err and "--unsafe" in err
    assert export_main([str(tmp_path / "lambda.keras"), out, "--unsafe"]) == 0
    capsys.readouterr()

    seq_model(tfrnn.keras3.LSTM(4)).save(tmp_path / "model.keras")

    def wider(config):
        config["config"]["layers"][1]["config"]["units"] = 5
        return config

    _rewritten(tmp_path / "model.keras", tmp_path / "wider.keras", wider)
    assert export_main([str(tmp_path / "wider.keras"), str(tmp_path / "w.tflite")]) == 2
    err = capsys.readouterr().err
    assert "has shape (4, 16) but the model built from the config needs (4, 20)" in err

    def imports_os(config):
        config["config"]["layers"][1]["module"] = "os"
        return config

    _rewritten(tmp_path / "model.keras", tmp_path / "os.keras", imports_os)
    assert export_main([str(tmp_path / "os.keras"), str(tmp_path / "o.tflite")]) == 2
    assert "names the Python module 'os'" in capsys.readouterr().err

    model.save(tmp_path / "legacy.h5")  # Keras 3's legacy HDF5 format
    assert export_main([str(tmp_path / "legacy.h5"), str(tmp_path / "h.tflite")]) == 2
    assert "tfrnn-export reads Keras 3 models from .keras files" in capsys.readouterr().err
    with h5py.File(tmp_path / "legacy.h5") as f:
        assert f.attrs["keras_version"].startswith("3.")
    assert sorted(p.name for p in tmp_path.iterdir() if "tflite" in p.name) == ["m.tflite"]


@pytest.mark.parametrize(
    "metadata,message",
    [
        (b" " * (64 * 1024 + 1), "holds more than the 65,536 bytes"),
        (b"keras_version: 3", "is not valid JSON"),
        (b'["3.15.1"]', "not a mapping"),
        (b"[" * 30_000 + b"]" * 30_000, "nested too deeply|too deep"),
    ],
    ids=["oversized", "not-json", "not-a-mapping", "deep"],
)
def test_crafted_archive_metadata_is_refused_before_loading(metadata, message, tmp_path, capsys):
    """metadata.json (what tells a Keras 3 archive from a tf_keras one) is read
    size first and as plain JSON; a crafted one exits 2 naming the file, and
    nothing is written."""
    seq_model(tfrnn.keras3.GRU(3)).save(tmp_path / "model.keras")
    with zipfile.ZipFile(tmp_path / "model.keras") as src:
        with zipfile.ZipFile(tmp_path / "crafted.keras", "w") as dst:
            for item in src.infolist():
                data = metadata if item.filename == "metadata.json" else src.read(item)
                dst.writestr(item, data)
    out = tmp_path / "m.tflite"
    assert export_main([str(tmp_path / "crafted.keras"), str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "crafted.keras" in err and re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.keras", "model.keras"]


def test_keras3_file_where_keras3_cannot_load_is_named(tmp_path, capsys, monkeypatch):
    seq_model(tfrnn.keras3.GRU(3)).save(tmp_path / "model.keras")
    monkeypatch.setitem(sys.modules, "tfrnn.keras3.saving", None)  # its import fails
    monkeypatch.delattr(tfrnn.keras3, "saving", raising=False)  # also when imported before
    assert export_main([str(tmp_path / "model.keras"), str(tmp_path / "m.tflite")]) == 2
    err = capsys.readouterr().err
    assert f"'{tmp_path / 'model.keras'}' was written by Keras 3, which cannot load it" in err
    assert not (tmp_path / "m.tflite").exists()
