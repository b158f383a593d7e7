"""Keras 2.x files as tf_keras itself still writes them (model.save to .h5,
save_weights + to_json) load through tfrnn.compat and predict the same."""

import numpy as np
import pytest
import tf_keras
from tfrnn.compat import detect_generation, load_legacy_model


def sequential_with_input():
    return tf_keras.Sequential(
        [
            tf_keras.Input((5, 3)),
            tf_keras.layers.LSTM(4, return_sequences=True),
            tf_keras.layers.GRU(3),
        ]
    )


def functional_bidirectional():
    inputs = tf_keras.Input((5, 3))
    hidden = tf_keras.layers.Bidirectional(tf_keras.layers.GRU(4, reset_after=False))(inputs)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(2)(hidden))


@pytest.mark.parametrize("make", [sequential_with_input, functional_bidirectional])
def test_tf_keras_written_files_load(make, tmp_path, rng):
    model = make()
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    full, weights, config = tmp_path / "m.h5", tmp_path / "w.h5", tmp_path / "m.json"
    model.save(full)
    model.save_weights(weights)
    config.write_text(model.to_json())
    info = detect_generation(full)
    assert info.generation == "keras2" and info.backend == "tensorflow"
    expected = model.predict(x, verbose=0)
    for loaded in (load_legacy_model(full), load_legacy_model(weights, config=str(config))):
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-5)
