"""tfrnn.engine.scan against tf_keras.backend.rnn, the loop tf_keras's layers
run on, with a step function that uses nested states and constants."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from tf_keras import backend
from tolerances import GRAD_TOL, OUTPUT_TOL

from tfrnn.engine.scan import (
    LARGE_STEP_STEPS_PER_ITERATION,
    STEPS_PER_ITERATION,
    default_steps_per_iteration,
    scan,
)

STEPS_TIME_MAJOR_BATCH = 3

BATCH, STEPS, FEATURES = 3, 6, 2
MASKS = {
    "none": None,
    "right": [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]],
    "holes": [[1, 0, 1, 0, 1, 1], [0, 1, 1, 0, 0, 1], [1, 1, 0, 0, 0, 0]],
}


def make_step(weights):
    """A step with a nested state (h, (c, count)) and one constant."""

    def step(x, states, constants):
        h, (c, count) = states
        (bias,) = constants
        h_new = tf.tanh(tf.matmul(x, weights) + 0.5 * h + bias)
        c_new = c + h_new
        return h_new * 2.0, (h_new, (c_new, count + 1.0))

    return step


@pytest.mark.parametrize(
    "mask_name,go_backwards,unroll,zero_output,time_major,return_all",
    list(
        itertools.product(
            MASKS, [False, True], [False, True], [False, True], [False, True], [True, False]
        )
    ),
)
def test_scan_matches_backend_rnn(
    mask_name, go_backwards, unroll, zero_output, time_major, return_all, rng
):
    weights = tf.constant(rng.normal(size=(FEATURES, 4)).astype("float32"))
    bias = tf.constant(rng.normal(size=(4,)).astype("float32"))
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    mask = (
        None if MASKS[mask_name] is None else tf.constant(np.array(MASKS[mask_name], dtype=bool))
    )
    init = (
        tf.constant(rng.normal(size=(BATCH, 4)).astype("float32")),
        (tf.zeros((BATCH, 4)), tf.zeros((BATCH, 1))),
    )
    step = make_step(weights)
    x_in = tf.transpose(x, [1, 0, 2]) if time_major else x
    mask_in = None if mask is None else (tf.transpose(mask) if time_major else mask)

    def ours():
        return scan(
            step,
            x_in,
            init,
            tf.zeros((BATCH, 4)),
            mask=mask_in,
            constants=[bias],
            go_backwards=go_backwards,
            unroll=unroll,
            zero_output_for_mask=zero_output,
            time_major=time_major,
            return_all_outputs=return_all,
        )

    def reference_step(inputs, states):
        *flat_states, constant = states
        packed = tf.nest.pack_sequence_as(init, flat_states)
        output, new_states = step(inputs, packed, [constant])
        return output, tf.nest.flatten(new_states)

    ref_last, ref_outputs, ref_states = backend.rnn(
        reference_step,
        x_in,
        tf.nest.flatten(init),
        constants=[bias],
        go_backwards=go_backwards,
        mask=mask_in,
        # The reference always loops: tf_keras's own unrolled path applies
        # zero_output_for_mask with the unreversed mask under go_backwards,
        # disagreeing with its loop. tfrnn's unrolled path equals the loop.
        unroll=False,
        input_length=STEPS,
        time_major=time_major,
        zero_output_for_mask=zero_output,
        return_all_outputs=return_all,
    )
    for run in (ours, tf.function(ours)):
        result = run()
        np.testing.assert_allclose(result.last_output, ref_last, atol=OUTPUT_TOL)
        for a, b in zip(tf.nest.flatten(result.states), ref_states):
            np.testing.assert_allclose(a, b, atol=OUTPUT_TOL)
        if return_all:
            np.testing.assert_allclose(result.outputs, ref_outputs, atol=OUTPUT_TOL)
        else:
            assert result.outputs is None


def test_scan_gradients_match_backend_rnn(rng):
    weights = tf.Variable(rng.normal(size=(FEATURES, 4)).astype("float32"))
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    mask = tf.constant(np.array(MASKS["holes"], dtype=bool))

    def step(inputs, states):
        h = tf.tanh(tf.matmul(inputs, weights) + 0.5 * states[0])
        return h, [h]

    init = [tf.zeros((BATCH, 4))]
    with tf.GradientTape() as tape:
        ours = scan(step, x, init, tf.zeros((BATCH, 4)), mask=mask).outputs
        loss = tf.reduce_sum(ours * tf.range(4.0))
    our_grad = tape.gradient(loss, weights)
    with tf.GradientTape() as tape:
        _, ref, _ = backend.rnn(step, x, init, mask=mask, input_length=STEPS)
        loss = tf.reduce_sum(ref * tf.range(4.0))
    np.testing.assert_allclose(our_grad, tape.gradient(loss, weights), atol=GRAD_TOL)


def test_unroll_needs_a_static_time_axis():
    step = make_step(tf.ones((FEATURES, 4)))

    @tf.function(input_signature=[tf.TensorSpec((BATCH, None, FEATURES))])
    def run(x):
        init = (tf.zeros((BATCH, 4)), (tf.zeros((BATCH, 4)), tf.zeros((BATCH, 1))))
        return scan(step, x, init, tf.zeros((BATCH, 4)), constants=[tf.zeros(4)], unroll=True)

    with pytest.raises(ValueError, match="unroll"):
        run.get_concrete_function()


def test_state_count_mismatch_is_reported():
    def bad_step(x, states):
        return x, [x, x]

    with pytest.raises(ValueError, match="returned 2 states"):
        scan(bad_step, tf.zeros((1, 2, 3)), [tf.zeros((1, 3))], tf.zeros((1, 3)))


@pytest.mark.parametrize("unroll", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("steps", [1, 6, 9])
def test_records_and_block_reduction_see_every_step_once(steps, go_backwards, unroll, rng):
    """Records come back in the order the steps ran, or in time order with
    ``time_ordered_outputs``; ``reduce_blocks`` sees each block of
    inputs with its records and its first timestep, whatever the block size."""
    x = tf.constant(rng.normal(size=(STEPS_TIME_MAJOR_BATCH, steps, 2)).astype("float32"))
    x = tf.transpose(x, [1, 0, 2])  # time major

    def step(inputs, states):
        h = states[0] + inputs
        return h, [h], 2.0 * inputs

    def reduce(acc, block, records, start):
        times = tf.cast(start + tf.range(tf.shape(block)[0]), tf.float32)[:, None, None]
        return (acc[0] + tf.reduce_sum(block * times, 0), acc[1] + tf.reduce_sum(records[0], 0))

    init = tf.zeros((STEPS_TIME_MAJOR_BATCH, 2))

    def run(**options):
        return scan(
            step, x, [init], init, time_major=True, unroll=unroll, record_like=init, **options
        )

    reduction = (reduce, (init, init))
    result = run(go_backwards=go_backwards, reduce_blocks=reduction)
    run_order = tf.reverse(x, [0]) if go_backwards else x
    np.testing.assert_allclose(result.records[0], 2.0 * run_order, atol=OUTPUT_TOL)
    time_ordered = run(go_backwards=go_backwards, time_ordered_outputs=True)
    np.testing.assert_allclose(time_ordered.records[0], 2.0 * x, atol=OUTPUT_TOL)
    weighted = tf.reduce_sum(x * tf.range(steps, dtype=tf.float32)[:, None, None], 0)
    np.testing.assert_allclose(result.reduced[0], weighted, atol=1e-4)
    np.testing.assert_allclose(result.reduced[1], 2.0 * tf.reduce_sum(x, 0), atol=1e-4)
    dropped = run(keep_records=False, reduce_blocks=reduction)
    assert dropped.records is None
    np.testing.assert_allclose(dropped.reduced[1], result.reduced[1], atol=1e-4)


@pytest.mark.parametrize("steps_per_iteration", [1, 2, 3, 5])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_any_block_size_gives_the_same_sequence(steps_per_iteration, go_backwards, rng):
    weights = tf.constant(rng.normal(size=(FEATURES, 4)).astype("float32"))
    x = tf.constant(rng.normal(size=(BATCH, STEPS + 1, FEATURES)).astype("float32"))
    mask = tf.constant(np.array([row + [1] for row in MASKS["holes"]], dtype=bool))
    init = (tf.zeros((BATCH, 4)), (tf.zeros((BATCH, 4)), tf.zeros((BATCH, 1))))

    def run(**options):
        return scan(
            make_step(weights),
            x,
            init,
            tf.zeros((BATCH, 4)),
            mask=mask,
            constants=[tf.ones(4)],
            go_backwards=go_backwards,
            **options,
        )

    blocks, single = run(steps_per_iteration=steps_per_iteration), run(steps_per_iteration=1)
    np.testing.assert_allclose(blocks.outputs, single.outputs, atol=OUTPUT_TOL)
    for a, b in zip(tf.nest.flatten(blocks.states), tf.nest.flatten(single.states)):
        np.testing.assert_allclose(a, b, atol=OUTPUT_TOL)


def test_large_states_run_smaller_blocks():
    small, large = [tf.zeros((32, 128))], [tf.zeros((64, 256))]
    assert default_steps_per_iteration(small) == STEPS_PER_ITERATION
    assert (
        default_steps_per_iteration(large) == LARGE_STEP_STEPS_PER_ITERATION < STEPS_PER_ITERATION
    )
    assert (
        default_steps_per_iteration([tf.TensorSpec((None, 256))]) == STEPS_PER_ITERATION
    )  # unknown batch
