"""Shared test set-up: quiet TensorFlow, fixed seeds, tolerances."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
def rng():
    return np.random.default_rng(1234)
