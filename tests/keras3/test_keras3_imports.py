"""Which Keras each part of tfrnn imports: ``import tfrnn`` no Keras 3, the
shared engine, cell math and layer logic neither Keras, and ``tfrnn.keras3``
works whatever ``tf.keras`` is (TF_USE_LEGACY_KERAS=1 included)."""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tfrnn"
#: modules both Kerases' layers run: they import neither Keras
KERAS_FREE = [
    *sorted((PACKAGE / "engine").glob("*.py")),
    *sorted((PACKAGE / "cell_math").glob("*.py")),
    PACKAGE / "cells" / "dense_cells.py",
    PACKAGE / "layers" / "recurrent_call.py",
    PACKAGE / "layers" / "cell_layer_mixin.py",
    PACKAGE / "layers" / "cudnn_selection.py",
    PACKAGE / "layers" / "xla_policy.py",
    PACKAGE / "two_kerases.py",
    PACKAGE / "argument_checks.py",
]


def imported_packages(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_tfrnn_outside_keras3_imports_no_keras3():
    for path in PACKAGE.rglob("*.py"):
        if "keras3" in path.relative_to(PACKAGE).parts:
            continue
        assert "keras" not in imported_packages(path), path


@pytest.mark.parametrize("path", KERAS_FREE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_shared_modules_import_no_keras(path):
    assert not imported_packages(path) & {"keras", "tf_keras"}, path


def test_keras3_layers_with_legacy_tf_keras():
    """With TF_USE_LEGACY_KERAS=1, tf.keras is tf_keras; tfrnn.keras3 still
    builds Keras 3 layers (from `keras`), and tfrnn's from tf_keras."""
    script = (
        "import numpy as np, tensorflow as tf, tf_keras, keras\n"
        "import tfrnn, tfrnn.keras3\n"
        "assert tf.keras.layers.Layer is tf_keras.layers.Layer\n"
        "x = np.ones((2, 4, 3), 'float32')\n"
        "assert isinstance(tfrnn.keras3.LSTM(5), keras.Layer)\n"
        "print(tfrnn.keras3.LSTM(5)(x).shape, tf.keras.Sequential([tfrnn.LSTM(5)])(x).shape)\n"
    )
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "(2, 5) (2, 5)"


def test_compat_and_export_load_tfrnn_keras3_only_when_asked(tmp_path):
    """tf_keras work through tfrnn.compat, tfrnn-migrate's and tfrnn-export's
    modules and tfrnn.export imports none of tfrnn's Keras 3 code; keras=3 does.
    (TensorFlow 2.21 itself imports the `keras` package, so that is not the test.)"""
    script = (
        "import sys, tf_keras\n"
        "import tfrnn, tfrnn.compat, tfrnn.compat.migrate, tfrnn.export, tfrnn.export.cli\n"
        "from tfrnn.compat import load_legacy_model\n"
        "from tfrnn.export import export_saved_model\n"
        "old = tf_keras.Sequential([tf_keras.Input((3, 2)), tf_keras.layers.GRU(2)])\n"
        "old.save('old.h5')\n"
        "export_saved_model(load_legacy_model('old.h5'), 'sm')\n"
        "print(sorted(m for m in sys.modules if m.startswith('tfrnn.keras3')))\n"
        "load_legacy_model('old.h5', keras=3)\n"
        "print('tfrnn.keras3' in sys.modules)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-2:] == ["[]", "True"]
