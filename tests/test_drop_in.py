"""Behaviour a drop-in user relies on, found by running tf_keras's own RNN tests
against tfrnn (scripts/peer_suite.py); each case compared with tf_keras."""

import numpy as np
import pytest
import tf_keras

import tfrnn

LAYERS = {
    "LSTM": lambda m: m.LSTM(4, return_sequences=True),
    "GRU": lambda m: m.GRU(4, return_sequences=True),
    "SimpleRNN": lambda m: m.SimpleRNN(4, return_sequences=True),
    "Bidirectional": lambda m: m.Bidirectional(m.LSTM(4, return_sequences=True)),
    "RNN(cells)": lambda m: m.RNN([m.GRUCell(3), m.LSTMCell(4)], return_sequences=True),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("training", [None, True])
def test_symbolic_outputs_keep_the_static_time_length(name, masked, training):
    shapes = []
    for module in (tf_keras.layers, tfrnn):
        x = tf_keras.Input((3, 5))
        if masked:
            x = tf_keras.layers.Masking()(x)
        shapes.append(tuple(LAYERS[name](module)(x, training=training).shape))
    assert shapes[1] == shapes[0] == (None, 3, shapes[0][-1])


def test_conv_lstm_sequence_keeps_the_static_time_length():
    x = tf_keras.Input((3, 6, 6, 2))
    got = tfrnn.ConvLSTM2D(4, 3, padding="same", return_sequences=True)(x)
    assert tuple(got.shape) == (None, 3, 6, 6, 4)


def test_return_sequences_then_flatten_dense_trains():
    model = tf_keras.Sequential(
        [
            tf_keras.Input((3, 5)),
            tfrnn.LSTM(4, return_sequences=True),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(1),
        ]
    )
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 3, 5)), np.ones((4, 1)), verbose=0, epochs=2)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_size", [10, 5])
def test_one_unit_layers_train_like_tf_keras(kind, batch_size, rng):
    """SimpleRNN(1) once tripped a oneDNN MatMul+Add fusion in its gradient."""
    x = rng.normal(size=(10, 3, 6)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    models = []
    for module in (tf_keras.layers, tfrnn):
        model = tf_keras.Sequential([tf_keras.Input((3, 6)), getattr(module, kind)(1)])
        model.compile(tf_keras.optimizers.SGD(0.1), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    for want, got in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-5)
