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
