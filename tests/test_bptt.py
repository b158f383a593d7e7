"""The engine's hand-written gradient (tfrnn.engine.bptt), which tfrnn's
SimpleRNN, GRU (reset_after) and LSTM use when called with training=True,
against tf_keras's automatic gradients with identical weights."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn
from tfrnn.cell_math.steps import step_functions_for

BATCH, STEPS, FEATURES, UNITS = 4, 7, 3, 5
LAYERS = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu"}),
    ("GRU", {}),
    ("GRU", {"recurrent_activation": "hard_sigmoid", "use_bias": False}),
    ("LSTM", {}),
    ("LSTM", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
]
MASKS = {
    "none": None,
    "right": np.arange(STEPS)[None] < np.array([7, 4, 1, 6])[:, None],
    "holes": np.array(
        [
            [1, 0, 1, 1, 0, 1, 1],
            [0, 1, 1, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 1, 1, 0],
        ],
        dtype=bool,
    ),
}


def _weighted_sum(t):
    weights = tf.sin(tf.reshape(tf.range(tf.size(t), dtype=t.dtype), tf.shape(t)))
    return tf.reduce_sum(t * weights)


def _outputs_and_grads(layer, x, call_kwargs):
    initial = list(call_kwargs.get("initial_state", []))
    with tf.GradientTape() as tape:
        tape.watch([x, *initial])
        outputs = tf.nest.flatten(layer(x, training=True, **call_kwargs))
        loss = tf.add_n([_weighted_sum(o) for o in outputs])
    return outputs, tape.gradient(loss, [x, *layer.trainable_weights, *initial])


def _grid():
    for (name, extra), mask, backwards, sequences in itertools.product(
        LAYERS, MASKS, [False, True], [False, True]
    ):
        yield pytest.param(
            name,
            extra,
            mask,
            backwards,
            sequences,
            id=f"{name}-{extra}-{mask}-{'b' if backwards else 'f'}-{'seq' if sequences else 'last'}",
        )


@pytest.mark.parametrize("name,extra,mask_name,backwards,sequences", list(_grid()))
def test_training_gradients_match_tf_keras(name, extra, mask_name, backwards, sequences, rng):
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    kwargs = dict(extra, return_sequences=sequences, return_state=True, go_backwards=backwards)
    reference = getattr(tf_keras.layers, name)(UNITS, **kwargs)
    ours = getattr(tfrnn, name)(UNITS, **kwargs)
    reference(x)
    ours(x)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    ours.set_weights(weights)
    call_kwargs = {
        "initial_state": [
            tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32"))
            for _ in range(2 if name == "LSTM" else 1)
        ]
    }
    if MASKS[mask_name] is not None:
        call_kwargs["mask"] = tf.constant(MASKS[mask_name])
    expected = _outputs_and_grads(reference, x, call_kwargs)
    traced = tf.function(_outputs_and_grads)
    for run in (_outputs_and_grads, traced):
        outputs, grads = run(ours, x, call_kwargs)
        for got, want in zip(outputs, expected[0]):
            np.testing.assert_allclose(got, want, atol=OUTPUT_TOL, rtol=0)
        for got, want in zip(grads, expected[1]):
            np.testing.assert_allclose(got, want, atol=GRAD_TOL, rtol=0)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_training_gradients_match_tf_keras(merge_mode, rng):
    """Bidirectional halves zero their masked outputs (zero_output_for_mask)."""
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    mask = tf.constant(MASKS["holes"])
    reference = tf_keras.layers.Bidirectional(
        tf_keras.layers.GRU(UNITS, return_sequences=True), merge_mode=merge_mode
    )
    ours = tfrnn.Bidirectional(tfrnn.GRU(UNITS, return_sequences=True), merge_mode=merge_mode)
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    expected = _outputs_and_grads(reference, x, {"mask": mask})
    outputs, grads = tf.function(_outputs_and_grads)(ours, x, {"mask": mask})
    for got, want in zip(outputs + grads, expected[0] + expected[1]):
        np.testing.assert_allclose(got, want, atol=GRAD_TOL, rtol=0)


def test_recurrent_dropout_one_mask_uses_the_hand_written_gradient(rng):
    """With implementation 2 the recurrent dropout mask multiplies the state
    before the product; its gradient equals automatic differentiation's."""
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    # plain (XLA draws other random bits for the same seed)
    layer = tfrnn.LSTM(
        UNITS, recurrent_dropout=0.3, dropout=0.2, return_sequences=True, jit_compile=False
    )
    layer(x)
    fns = step_functions_for(layer.cell, x[:, 0], training=True)
    assert fns.fused is not None and fns.fused.operand_mask is not None
    tf.random.set_seed(7)
    with tf.GradientTape() as tape:
        loss = _weighted_sum(layer(x, training=True))
    hand = tape.gradient(loss, layer.trainable_weights)

    # the same masks through the automatic-gradient loop: training passed as
    # a tensor keeps the layer off the hand-written path
    tf.random.set_seed(7)
    with tf.GradientTape() as tape:
        loss = _weighted_sum(layer(x, training=tf.constant(True)))
    automatic = tape.gradient(loss, layer.trainable_weights)
    for got, want in zip(hand, automatic):
        np.testing.assert_allclose(got, want, atol=GRAD_TOL, rtol=0)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: tfrnn.GRU(UNITS, reset_after=False),
        lambda: tfrnn.LSTM(UNITS, activation="softsign"),
        lambda: tfrnn.LSTM(UNITS, recurrent_dropout=0.2, implementation=1),
    ],
    ids=["gru-reset-before", "other-activation", "per-gate-recurrent-dropout"],
)
def test_cells_without_a_hand_written_gradient_say_so(layer, rng):
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    built = layer()
    built(x)
    assert step_functions_for(built.cell, x[:, 0], training=True).fused is None
