"""tfrnn.keras3's Bidirectional and StackedRNNCells against Keras 3's own,
with identical weights: outputs and states within 1e-5, gradients within
1e-4; their `.keras` files round-trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn.keras3

X = np.random.default_rng(3).normal(size=(3, 5, 2)).astype("float32")
MASK = tf.constant(np.arange(5)[None, :] < np.array([5, 3, 1])[:, None])


def compare(reference, ours, call_kwargs, *, train):
    reference(X)
    ours(X)
    ours.set_weights(reference.get_weights())
    results = []
    for layer in (reference, ours):
        with tf.GradientTape() as tape:
            outputs = tf.nest.flatten(layer(X, training=train, **call_kwargs))
            loss = tf.add_n([tf.reduce_sum(o * (i + 1.0)) for i, o in enumerate(outputs)])
        results.append((outputs, tape.gradient(loss, layer.trainable_weights)))
    (expected, expected_grads), (actual, grads) = results
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, atol=OUTPUT_TOL, rtol=0)
    for a, e in zip(grads, expected_grads):
        np.testing.assert_allclose(a, e, atol=GRAD_TOL, rtol=0)


@pytest.mark.parametrize(
    "name,merge_mode,sequences,with_state",
    [
        ("LSTM", "concat", True, True),
        ("GRU", "sum", False, False),
        ("SimpleRNN", None, True, False),
    ],
)
def test_bidirectional_matches_keras3(name, merge_mode, sequences, with_state):
    def wrapper(module, wrapper_module):
        layer = getattr(module, name)(3, return_sequences=sequences, return_state=with_state)
        return wrapper_module.Bidirectional(layer, merge_mode=merge_mode)

    call_kwargs = {"mask": MASK}
    if with_state:
        call_kwargs["initial_state"] = [tf.fill((3, 3), 0.1 * k) for k in range(1, 5)]
    compare(
        wrapper(keras.layers, keras.layers),
        wrapper(tfrnn.keras3, tfrnn.keras3),
        call_kwargs,
        train=True,
    )


def test_stacked_cells_match_keras3():
    def layer(module):
        cells = [module.LSTMCell(3), module.GRUCell(2)]
        return module.RNN(cells, return_sequences=True, return_state=True)

    reference, ours = layer(keras.layers), layer(tfrnn.keras3)
    assert isinstance(ours.cell, tfrnn.keras3.StackedRNNCells)
    compare(reference, ours, {"mask": MASK}, train=False)
    # the states nested per cell, a one-state cell's in a list, as Keras 3's;
    # a functional model built from the layer returns them so too
    expected = list(reference(X))
    tf.nest.assert_same_structure(list(ours(X)), expected, check_types=False)
    inputs = keras.Input((5, 2))
    model = keras.Model(inputs, layer(tfrnn.keras3)(inputs))
    tf.nest.assert_same_structure(list(model(X)), expected, check_types=False)


def test_wrappers_round_trip(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5, 2)),
            tfrnn.keras3.Bidirectional(tfrnn.keras3.GRU(3, return_sequences=True)),
            tfrnn.keras3.RNN(
                tfrnn.keras3.StackedRNNCells(
                    [tfrnn.keras3.SimpleRNNCell(2), tfrnn.keras3.LSTMCell(2)],
                    reverse_state_order=True,
                )
            ),
        ]
    )
    model.save(tmp_path / "wrappers.keras")
    loaded = keras.models.load_model(tmp_path / "wrappers.keras")
    assert loaded.layers[0].backward_layer.go_backwards
    assert loaded.layers[1].cell.reverse_state_order
    np.testing.assert_array_equal(loaded(X), model(X))


@pytest.mark.parametrize("name", ["SimpleRNNCell", "GRUCell", "LSTMCell"])
def test_cells_in_keras3_rnn_match_keras3(name):
    """tfrnn.keras3's cells inside Keras 3's own RNN (their one-step call)."""
    reference = keras.layers.RNN(getattr(keras.layers, name)(3), return_sequences=True)
    ours = keras.layers.RNN(getattr(tfrnn.keras3, name)(3), return_sequences=True)
    compare(reference, ours, {"mask": MASK}, train=False)
