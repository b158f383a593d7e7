"""A compiled run cut in pieces of the batch that run side by side
(tfrnn.engine.batch_pieces): the same numbers and gradients as tf_keras,
whatever the batch, mask, direction, states or training."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from custom_cells import ConstantsCell
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn
from tfrnn.engine import batch_pieces

STEPS, FEATURES, UNITS = 7, 3, 5


@pytest.fixture
def pieces_seen(monkeypatch):
    """Two cores, and the number of pieces each joined run had."""
    monkeypatch.setattr(batch_pieces, "parallel_cores", lambda: 2)
    seen = []
    joined = batch_pieces._joined

    def counting(results):
        seen.append(len(results))
        return joined(results)

    monkeypatch.setattr(batch_pieces, "_joined", counting)
    return seen


def twins(layer_name, batch, rng, **kwargs):
    reference = getattr(tf_keras.layers, layer_name)(UNITS, **kwargs)
    ours = getattr(tfrnn, layer_name)(UNITS, jit_compile=True, **kwargs)
    x = tf.constant(rng.normal(size=(batch, STEPS, FEATURES)).astype("float32"))
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    if ours.stateful:
        reference.reset_states()
        ours.reset_states()
    return reference, ours, x


def test_pieces_for_a_batch(monkeypatch):
    monkeypatch.setattr(batch_pieces, "parallel_cores", lambda: 2)
    assert batch_pieces.pieces_for(64) == 1  # eagerly the calls would run in turn
    with tf.Graph().as_default():  # traced
        assert [batch_pieces.pieces_for(b) for b in (1, 4, 7, 8, 9, 64)] == [1, 1, 1, 2, 2, 2]
        assert batch_pieces.pieces_for(None) == 2  # cut at run time from MIN_BATCH rows
        monkeypatch.setattr(batch_pieces, "parallel_cores", lambda: 1)
        assert batch_pieces.pieces_for(64) == batch_pieces.pieces_for(None) == 1


@pytest.mark.parametrize("layer_name", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_pieces_give_tf_keras_numbers(layer_name, go_backwards, masked, rng, pieces_seen):
    """An odd batch (pieces of 4 and 5 rows), with a mask of holes and
    empty rows, initial states, all outputs and states; eager and traced."""
    kwargs = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    reference, ours, x = twins(layer_name, 9, rng, **kwargs)
    mask = None
    if masked:
        mask = rng.random((9, STEPS)) > 0.3
        mask[[1, 6]] = False
        mask = tf.constant(mask)
    states = [
        tf.constant(rng.normal(size=(9, UNITS)).astype("float32"))
        for _ in range(2 if layer_name == "LSTM" else 1)
    ]
    expected = reference(x, mask=mask, initial_state=states)
    for call, pieces in ((ours, []), (tf.function(ours), [2])):  # cut only when traced
        pieces_seen.clear()
        got = call(x, mask=mask, initial_state=states)
        assert pieces_seen == pieces
        for g, w in zip(got, expected):
            np.testing.assert_allclose(g, w, atol=OUTPUT_TOL)


@pytest.mark.parametrize("layer_name", ["SimpleRNN", "GRU", "LSTM"])
def test_pieces_train_with_tf_keras_gradients(layer_name, rng, pieces_seen):
    """The hand-written gradient through two compiled pieces: the inputs',
    the initial state's and the weights' gradients of tf_keras."""
    reference, ours, x = twins(layer_name, 8, rng, return_sequences=True)
    mask = tf.sequence_mask([7, 2, 5, 1, 7, 3, 0, 6], STEPS)
    h0 = tf.constant(rng.normal(size=(8, UNITS)).astype("float32"))
    states = [h0, h0 * 0.5] if layer_name == "LSTM" else [h0]

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch([x, *states])
            y = layer(x, mask=mask, initial_state=states, training=True)
            loss = tf.reduce_sum(y**2)
        return tape.gradient(loss, [x, *states, *layer.trainable_weights])

    expected = grads(reference)
    pieces_seen.clear()
    got = tf.function(lambda: grads(ours))()
    assert pieces_seen == [2]
    for g, w in zip(got, expected):
        np.testing.assert_allclose(g, w, atol=GRAD_TOL)


@pytest.mark.parametrize("batch", [3, 9])
def test_a_batch_unknown_when_traced_is_cut_at_run_time(batch, rng, pieces_seen):
    """Traced with the batch unknown (as fit and predict trace): both
    branches are in the graph; either gives tf_keras's numbers."""
    reference, ours, x = twins("LSTM", batch, rng, return_sequences=True)
    traced = tf.function(ours, input_signature=[tf.TensorSpec([None, STEPS, FEATURES])])
    pieces_seen.clear()
    np.testing.assert_allclose(traced(x), reference(x), atol=OUTPUT_TOL)
    assert pieces_seen == [2]  # the cut branch, traced once


def test_a_stateful_layer_carries_its_rows_across_calls(rng, pieces_seen):
    reference, ours, x = twins("GRU", 8, rng, stateful=True)
    traced = tf.function(ours)
    pieces_seen.clear()
    for _ in range(2):
        np.testing.assert_allclose(traced(x), reference(x), atol=OUTPUT_TOL)
    np.testing.assert_allclose(ours.states[0], reference.states[0], atol=OUTPUT_TOL)
    assert pieces_seen == [2]  # traced once


def test_bidirectional_halves_are_cut_too(rng, pieces_seen):
    reference = tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(UNITS, return_sequences=True))
    ours = tfrnn.Bidirectional(tfrnn.LSTM(UNITS, return_sequences=True, jit_compile=True))
    x = tf.constant(rng.normal(size=(8, STEPS, FEATURES)).astype("float32"))
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    pieces_seen.clear()
    np.testing.assert_allclose(tf.function(ours)(x), reference(x), atol=OUTPUT_TOL)
    assert pieces_seen == [2, 2]


def test_a_run_with_constants_runs_whole(rng, pieces_seen):
    """Constants hold a row each: a cell that takes them is never cut."""
    cell = ConstantsCell(UNITS)
    reference = tf_keras.layers.RNN(cell)
    ours = tfrnn.RNN(ConstantsCell(UNITS), jit_compile=True)
    x = tf.constant(rng.normal(size=(8, STEPS, FEATURES)).astype("float32"))
    c = tf.constant(rng.normal(size=(8, 3)).astype("float32"))
    reference(x, constants=c)
    ours(x, constants=c)
    ours.set_weights(reference.get_weights())
    pieces_seen.clear()
    np.testing.assert_allclose(ours(x, constants=c), reference(x, constants=c), atol=OUTPUT_TOL)
    assert pieces_seen == []


def test_fit_cuts_its_batches_and_tracks_tf_keras(rng, pieces_seen):
    """fit traces with the batch unknown: its batches of 16 rows are cut
    when they run (the gradient through both pieces), the last of 8 too;
    the losses and weights of tf_keras's model."""
    x = rng.normal(size=(40, STEPS, FEATURES)).astype("float32")
    x[::3, 5:] = 0.0  # post-padded rows
    y = rng.normal(size=(40, 1)).astype("float32")

    def model(lib, **kwargs):
        return tf_keras.Sequential(
            [
                tf_keras.Input((STEPS, FEATURES)),
                tf_keras.layers.Masking(),
                lib.GRU(UNITS, return_sequences=True, **kwargs),
                lib.LSTM(UNITS, **kwargs),
                tf_keras.layers.Dense(1),
            ]
        )

    reference, ours = model(tf_keras.layers), model(tfrnn, jit_compile=True)
    ours.set_weights(reference.get_weights())
    fit = dict(batch_size=16, epochs=2, shuffle=False, verbose=0)
    losses = []
    for m in (reference, ours):
        m.compile(optimizer=tf_keras.optimizers.SGD(0.05), loss="mse")
        losses.append(m.fit(x, y, **fit).history["loss"])
    assert pieces_seen and set(pieces_seen) == {2}
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    for got, want in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, atol=GRAD_TOL)
