"""Shared test set-up: quiet TensorFlow, fixed seeds, tolerances."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# jit_compile="auto" stays plain in most modules: an XLA compilation for each
# of the thousands of small layers the suite builds would take most of its
# time. The compiled path has its own modules (test_oracle, test_xla_auto,
# test_xla_training), which switch "auto" back on with the `auto_xla` fixture.
os.environ["TFRNN_JIT_COMPILE"] = "0"

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import tfrnn  # noqa: E402,F401  (registers the layers)


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    tf_keras.backend.clear_session()
    tf.random.set_seed(1234)
    np.random.seed(1234)
    yield


@pytest.fixture
def auto_xla(monkeypatch):
    """jit_compile="auto" as users get it (see the note at the top)."""
    monkeypatch.setenv("TFRNN_JIT_COMPILE", "auto")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
