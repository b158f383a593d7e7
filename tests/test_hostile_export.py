"""tfrnn-export on hostile model and data files: nothing the file supplies runs, nothing
is read beyond what the file declares and stores, and every refusal is exit 2 with a
message naming the file."""

import json
import zipfile

import h5py
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfrnn
from tfrnn.export.cli import main
from tfrnn.export.config_scan import find_unsafe
from tfrnn.export.model_loading import load_model_for_export


def _lambda_model(marker):
    """A model whose Lambda writes ``marker`` whenever it runs (the path is a constant
    in the bytecode, as an attacker would put a payload)."""
    payload = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")
    inputs = tf_keras.Input((3,), name="x")
    return tf_keras.Model(inputs, tf_keras.layers.Lambda(payload, name="evil")(inputs))


def _dense_model():
    inputs = tf_keras.Input((None, 3), name="x")
    y = tfrnn.LSTM(4, name="lstm")(inputs)
    y = tf.math.add(y, 1.0)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(2, name="dense")(y))


def _rewrite_keras_config(src, dst, edit):
    """Copy the .keras archive ``src`` to ``dst`` with ``edit`` applied to its config."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(info, data)


def _layer(config, name):
    return next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == name)


def _assert_refused(capsys, args, *needles, out=None):
    assert main(args) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    if out is not None:
        assert not out.exists()
    return err


def _save(model, path):
    model.save(path, save_format="tf" if path.suffix == "" else None)


@pytest.mark.parametrize("name", ["model.h5", "model.keras", "saved_model"])
def test_lambda_bytecode_never_runs(tmp_path, capsys, name):
    marker = tmp_path / "marker"
    path = tmp_path / name
    _save(_lambda_model(marker), path)
    marker.unlink()  # building and saving the model ran the lambda
    out = tmp_path / "out.tflite"
    err = _assert_refused(capsys, [str(path), str(out)], str(path), "'evil'", "Lambda", "--unsafe")
    assert "code" in err and not marker.exists()
    with pytest.raises(ValueError, match="Lambda"):
        load_model_for_export(path)
    assert not marker.exists()
    # The control: the file really carries a payload, which --unsafe runs.
    main([str(path), str(out), "--unsafe"])
    capsys.readouterr()
    assert marker.exists()


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "sm"])
def test_plain_models_load_in_every_format(tmp_path, rng, name):
    inputs = tf_keras.Input((5, 3), name="x")
    x = tfrnn.Bidirectional(tfrnn.LSTM(4, return_sequences=True))(inputs)
    x = tf.nn.relu(x[:, -1] * 2.0)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2, activation="tanh")(x))
    _save(model, tmp_path / name)
    loaded = load_model_for_export(tmp_path / name)
    data = rng.standard_normal((2, 5, 3)).astype("float32")
    np.testing.assert_allclose(loaded(data), model(data), atol=1e-6)


def test_keras_config_naming_a_foreign_module_is_not_imported(tmp_path, capsys, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_mod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Evil: pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _dense_model().save(tmp_path / "good.keras")

    def plant(config):  # tf_keras imports the top-level object's module
        config.update(module="evil_mod", class_name="Evil", registered_name=None)

    _rewrite_keras_config(tmp_path / "good.keras", tmp_path / "bad.keras", plant)
    out = tmp_path / "sm"
    _assert_refused(
        capsys,
        [str(tmp_path / "bad.keras"), str(out)],
        "bad.keras",
        "(Evil)",
        "'evil_mod'",
        out=out,
    )
    assert not marker.exists()
    with pytest.raises(ValueError, match="bad.keras"):  # trusted: tf_keras imports it, then fails
        load_model_for_export(tmp_path / "bad.keras", unsafe=True)
    assert marker.exists()


def test_op_layer_calling_an_effectful_tf_function_is_refused(tmp_path, capsys):
    _dense_model().save(tmp_path / "good.keras")

    def to_write_file(config):
        op = next(la for la in config["config"]["layers"] if la["class_name"] == "TFOpLambda")
        op["config"]["function"] = "io.write_file"

    _rewrite_keras_config(tmp_path / "good.keras", tmp_path / "bad.keras", to_write_file)
    _assert_refused(
        capsys, [str(tmp_path / "bad.keras"), str(tmp_path / "o.tflite")], "tf.io.write_file"
    )
    model = load_model_for_export(tmp_path / "good.keras")  # tf.math.add is fine
    assert [la.name for la in model.layers if la.weights] == ["lstm", "dense"]


@pytest.mark.parametrize(
    ("function", "allowed"),
    [
        ("concat", True),
        ("reshape", True),
        ("nn.relu", True),
        ("math.add", True),
        ("__operators__.getitem", True),
        ("print", False),
        ("py_function", False),
        ("numpy_function", False),
        ("load_op_library", False),
        ("raw_ops.WriteFile", False),
        ("compat.v1.py_func", False),
        ("debugging.assert_equal", False),
        ("summary.scalar", False),
        ("__import__", False),
    ],
)
def test_op_layer_allowlist(function, allowed):
    config = {"class_name": "TFOpLambda", "config": {"name": "op", "function": function}}
    assert (find_unsafe(config) == []) is allowed


def test_serialized_lambdas_and_foreign_functions_are_found():
    found = find_unsafe(
        {
            "class_name": "Functional",
            "config": {
                "name": "m",
                "layers": [
                    {"class_name": "__lambda__", "config": {"value": "4wEAAA"}},
                    {"class_name": "Merge", "config": {"name": "mm", "mode_type": "lambda"}},
                    {
                        "module": "numpy",
                        "class_name": "function",
                        "config": "load",
                        "registered_name": None,
                    },
                    {"module": "keras.activations", "class_name": "function", "config": "tanh"},
                    {"module": "tfrnn.layers.lstm", "class_name": "LSTM", "config": {"name": "l"}},
                ],
            },
        }
    )
    assert len(found) == 3
    assert "lambda" in found[0] and "mode_type" in found[1] and "'load'" in found[2]


@pytest.mark.parametrize(
    ("module", "class_name", "config", "allowed"),
    [
        ("keras.activations", "function", "tanh", True),
        ("builtins", "function", "relu", True),
        ("tensorflow.python.ops.gen_nn_ops", "function", "relu", True),
        ("tf_keras.src.engine.functional", "Functional", {}, True),
        ("tfrnn.layers.lstm", "LSTM", {}, True),
        ("builtins", "function", "eval", False),
        ("tf_keras.src.utils.io_utils", "function", "os.system", False),  # its `import os`
        ("tf_keras.src.utils.io_utils", "os.system", {}, False),
        ("tensorflow.python.ops.gen_io_ops", "function", "write_file", False),
        ("numpy", "save", {}, False),
        ("numpy", "function", "save", False),
        ("os", "system", {}, False),
    ],
)
def test_module_entries_must_name_what_they_say(module, class_name, config, allowed):
    item = {"module": module, "class_name": class_name, "config": config}
    assert (find_unsafe(item) == []) is allowed


def test_h5_external_storage_is_refused_before_reading(tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.write_bytes(np.arange(32, dtype="float32").tobytes())
    path = tmp_path / "model.h5"
    _dense_model().save(path)
    with h5py.File(path, "a") as f:
        group = f["model_weights/dense/dense"]
        del group["kernel:0"]
        group.create_dataset(
            "kernel:0", shape=(4, 2), dtype="float32", external=[(str(secret), 0, 32)]
        )
    _assert_refused(capsys, [str(path), str(tmp_path / "sm")], "model.h5", "external", "secret")


def test_h5_weights_larger_than_the_config_are_refused_before_reading(tmp_path, capsys):
    path = tmp_path / "model.h5"
    _dense_model().save(path)
    with h5py.File(path, "a") as f:
        group = f["model_weights/dense/dense"]
        del group["kernel:0"]
        group["kernel:0"] = np.zeros((400, 2), "float32")
    _assert_refused(capsys, [str(path), str(tmp_path / "sm")], "model.h5", "'dense'", "(400, 2)")


def test_keras_archive_members_declaring_more_than_they_store(tmp_path, capsys):
    _dense_model().save(tmp_path / "good.keras")
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(tmp_path / "good.keras") as zin, zipfile.ZipFile(bomb, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        zout.writestr("assets/pad.txt", b"\0" * 20_000_000, compress_type=zipfile.ZIP_DEFLATED)
    _assert_refused(capsys, [str(bomb), str(tmp_path / "sm")], "bomb.keras", "assets/pad.txt")


def test_representative_data_declaring_more_than_it_holds(tmp_path, capsys):
    (tmp_path / "m.keras").write_bytes(b"checked after the data")
    out = tmp_path / "m.tflite"
    args = [str(tmp_path / "m.keras"), str(out), "--quantize", "int8", "--representative-data"]
    header = tmp_path / "header.npy"  # claims 4 GB, holds 40 bytes
    with open(header, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 5, 3)}
        )
        f.write(b"\0" * 40)
    _assert_refused(capsys, [*args, str(header)], "header.npy", "declares shape", out=out)
    bomb = tmp_path / "bomb.npz"  # 50 MB of zeros in ~50 kB
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z, z.open("x.npy", "w") as member:
        np.lib.format.write_array_header_1_0(
            member, {"descr": "<f4", "fortran_order": False, "shape": (12_500_000,)}
        )
        for _ in range(50):
            member.write(b"\0" * 1_000_000)
    assert bomb.stat().st_size < 1_000_000
    _assert_refused(capsys, [*args, str(bomb)], "bomb.npz", "x.npy", "zip bomb", out=out)
    short = tmp_path / "short.npz"
    with zipfile.ZipFile(short, "w") as z, z.open("x.npy", "w") as member:
        np.lib.format.write_array_header_1_0(
            member, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 5, 3)}
        )
    _assert_refused(capsys, [*args, str(short)], "short.npz", "x.npy", "declares shape", out=out)


def test_out_must_not_be_in_or_around_the_model(tmp_path, capsys):
    model = tmp_path / "m.keras"
    model.write_bytes(b"precious")
    _assert_refused(
        capsys, [str(model), str(model), "--format", "tflite", "--overwrite"], "is the input"
    )
    (tmp_path / "link.tflite").symlink_to(model)
    _assert_refused(
        capsys, [str(model), str(tmp_path / "link.tflite"), "--overwrite"], "is the input"
    )
    saved = tmp_path / "sm"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    (saved / "m.keras").write_bytes(b"precious")
    _assert_refused(capsys, [str(saved), str(saved / "m.tflite")], "lies inside")
    _assert_refused(
        capsys, [str(saved / "m.keras"), str(saved), "--overwrite"], "contains the input"
    )
    assert model.read_bytes() == b"precious" and (saved / "m.keras").read_bytes() == b"precious"


def test_help_says_a_saved_model_is_a_program(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "SavedModel is a program" in text and "--unsafe" in text
