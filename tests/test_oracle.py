"""Oracle tests: every core layer against its tf_keras twin with identical
weights. Outputs and states within 1e-5, gradients (inputs and weights)
within 1e-4, eager and in tf.function.

The grid crosses layer x mask pattern x go_backwards x return_sequences in
full; return_state, unroll, activations, implementation, initial_state and
use_bias rotate through it so each value meets each major axis.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn

pytestmark = pytest.mark.usefixtures("auto_xla")  # jit_compile="auto" as users get it

BATCH, STEPS, FEATURES, UNITS = 4, 5, 3, 4

LAYERS = [
    ("SimpleRNN", {}),
    ("GRU", {"reset_after": True}),
    ("GRU", {"reset_after": False}),
    ("LSTM", {}),
]
MASK_PATTERNS = ["none", "right", "left", "holes", "empty_row"]
ACTIVATIONS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("sigmoid", "tanh")]


def make_mask(pattern: str) -> np.ndarray | None:
    lengths = np.array([5, 3, 1, 4])
    steps = np.arange(STEPS)
    if pattern == "none":
        return None
    if pattern == "right":
        return steps[None, :] < lengths[:, None]
    if pattern == "left":
        return steps[None, :] >= (STEPS - lengths)[:, None]
    if pattern == "holes":
        return np.array(
            [[1, 0, 1, 1, 0], [0, 1, 1, 0, 1], [1, 1, 0, 0, 0], [0, 0, 1, 0, 1]], dtype=bool
        )
    if pattern == "empty_row":
        mask = steps[None, :] < lengths[:, None]
        mask[2] = False
        return mask
    raise ValueError(pattern)


def grid():
    cases = []
    majors = itertools.product(LAYERS, MASK_PATTERNS, [False, True], [False, True])
    for index, ((name, extra), pattern, backwards, sequences) in enumerate(majors):
        activation, recurrent_activation = ACTIVATIONS[index % 3]
        kwargs = dict(
            extra,
            return_sequences=sequences,
            return_state=index % 2 == 1,
            go_backwards=backwards,
            unroll=(index // 2) % 2 == 1,
            activation=activation,
            use_bias=index % 5 != 4,
        )
        if name != "SimpleRNN":
            kwargs["recurrent_activation"] = recurrent_activation
            kwargs["implementation"] = 1 + (index // 4) % 2
        with_initial_state = index % 3 == 0
        case_id = f"{name}-{extra.get('reset_after', '')}-{pattern}-{index}"
        cases.append(pytest.param(name, kwargs, pattern, with_initial_state, id=case_id))
    return cases


def randomize(layer, rng):
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])


def twin_pair(name, kwargs, x, rng):
    reference = getattr(tf_keras.layers, name)(UNITS, **kwargs)
    ours = getattr(tfrnn, name)(UNITS, **kwargs)
    reference(x)
    ours(x)
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    return reference, ours


def state_count(name):
    return 2 if name == "LSTM" else 1


def assert_close(actual, expected, tol, what):
    actual, expected = tf.nest.flatten(actual), tf.nest.flatten(expected)
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), atol=tol, rtol=0, err_msg=what)


def loss_and_grads(layer, x, call_kwargs, weights_for_loss):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = tf.nest.flatten(layer(x, **call_kwargs))
        loss = tf.add_n([tf.reduce_sum(o * w) for o, w in zip(outputs, weights_for_loss)])
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return outputs, grads


@pytest.mark.parametrize("name,kwargs,pattern,with_initial_state", grid())
def test_matches_tf_keras(name, kwargs, pattern, with_initial_state, rng):
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    reference, ours = twin_pair(name, kwargs, x, rng)
    call_kwargs = {}
    mask = make_mask(pattern)
    if mask is not None:
        call_kwargs["mask"] = tf.constant(mask)
    if with_initial_state:
        call_kwargs["initial_state"] = [
            tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32"))
            for _ in range(state_count(name))
        ]

    expected = reference(x, **call_kwargs)
    assert_close(ours(x, **call_kwargs), expected, OUTPUT_TOL, "eager outputs")
    traced = tf.function(lambda inputs: ours(inputs, **call_kwargs))
    assert_close(traced(x), expected, OUTPUT_TOL, "tf.function outputs")

    loss_weights = [
        tf.constant(rng.normal(size=np.shape(o)).astype("float32"))
        for o in tf.nest.flatten(expected)
    ]
    _, ref_grads = loss_and_grads(reference, x, call_kwargs, loss_weights)
    _, our_grads = loss_and_grads(ours, x, call_kwargs, loss_weights)
    assert_close(our_grads, ref_grads, GRAD_TOL, "gradients (input, kernel, recurrent, bias)")


@pytest.mark.parametrize(
    "name,extra,go_backwards,pattern",
    [
        (name, extra, backwards, pattern)
        for (name, extra), backwards, pattern in itertools.product(
            LAYERS, [False, True], ["none", "right"]
        )
    ],
)
def test_stateful_matches_tf_keras(name, extra, go_backwards, pattern, rng):
    kwargs = dict(
        extra,
        stateful=True,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        batch_input_shape=(BATCH, STEPS, FEATURES),
    )
    x1, x2 = (rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32") for _ in range(2))
    reference, ours = twin_pair(name, kwargs, x1, rng)
    reference.reset_states()
    ours.reset_states()
    mask = make_mask(pattern)
    call_kwargs = {} if mask is None else {"mask": tf.constant(mask)}
    for x in (x1, x2, x1):
        assert_close(ours(x, **call_kwargs), reference(x, **call_kwargs), OUTPUT_TOL, "stateful")
    values = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(state_count(name))]
    reference.reset_states(values)
    ours.reset_states(values)
    assert_close(ours(x2), reference(x2), OUTPUT_TOL, "after reset_states(values)")
    reference.reset_states()
    ours.reset_states()
    assert_close([s.numpy() for s in ours.states], [np.zeros((BATCH, UNITS))] * len(values), 0, "")


@pytest.mark.parametrize("name,extra", LAYERS)
@pytest.mark.parametrize("time_major", [False, True])
def test_time_major_matches_tf_keras(name, extra, time_major, rng):
    kwargs = dict(extra, return_sequences=True, return_state=True, time_major=time_major)
    shape = (STEPS, BATCH, FEATURES) if time_major else (BATCH, STEPS, FEATURES)
    x = rng.normal(size=shape).astype("float32")
    reference, ours = twin_pair(name, kwargs, x, rng)
    assert_close(ours(x), reference(x), OUTPUT_TOL, "time_major")


@pytest.mark.parametrize("name,extra", LAYERS)
def test_cells_in_rnn_match_tf_keras(name, extra, rng):
    """tfrnn cells inside tfrnn.RNN and inside tf_keras.layers.RNN equal
    tf_keras's cells (the cell's standalone call path)."""
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    reference = tf_keras.layers.RNN(
        getattr(tf_keras.layers, name + "Cell")(UNITS, **extra), return_sequences=True
    )
    ours = tfrnn.RNN(getattr(tfrnn, name + "Cell")(UNITS, **extra), return_sequences=True)
    foreign = tf_keras.layers.RNN(
        getattr(tfrnn, name + "Cell")(UNITS, **extra), return_sequences=True
    )
    reference(x)
    ours(x)
    foreign(x)
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    foreign.set_weights(reference.get_weights())
    expected = reference(x)
    assert_close(ours(x), expected, OUTPUT_TOL, "tfrnn.RNN(tfrnn cell)")
    assert_close(foreign(x), expected, OUTPUT_TOL, "tf_keras RNN(tfrnn cell)")
