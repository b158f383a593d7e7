"""tfrnn.keras3 against Keras 3's own layers with identical weights: outputs
and states within 1e-5, gradients (inputs and weights) within 1e-4.

A covering of return_sequences x return_state x go_backwards x mask
pattern x initial_state x unroll x activations (Keras 3's hard_sigmoid
included) over SimpleRNN, GRU (both reset_after) and LSTM, each value
meeting each layer; stateful runs separately. Every fourth case runs with
jit_compile="auto" as users get it (the engine loop compiled with XLA).
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn.keras3

BATCH, STEPS, FEATURES, UNITS = 3, 5, 2, 3

LAYERS = [
    ("SimpleRNN", {}),
    ("GRU", {"reset_after": True}),
    ("GRU", {"reset_after": False}),
    ("LSTM", {}),
]
MASKS = ["none", "right", "holes"]
ACTIVATIONS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("sigmoid", "tanh")]


def make_mask(pattern):
    if pattern == "none":
        return None
    if pattern == "right":
        return np.arange(STEPS)[None, :] < np.array([5, 3, 1])[:, None]
    return np.array([[1, 0, 1, 1, 0], [0, 1, 1, 0, 1], [1, 1, 0, 0, 0]], dtype=bool)


def grid():
    cases = []
    product = itertools.product(LAYERS, MASKS, [False, True])
    for index, ((name, extra), pattern, backwards) in enumerate(product):
        activation, recurrent_activation = ACTIVATIONS[index % 3]
        kwargs = dict(
            extra,
            return_sequences=index % 2 == 0,
            return_state=(index // 2) % 2 == 0,
            go_backwards=backwards,
            unroll=index % 5 == 1,
            activation=activation,
            use_bias=index % 7 != 3,
        )
        if name != "SimpleRNN":
            kwargs["recurrent_activation"] = recurrent_activation
        options = dict(initial_state=index % 3 == 0, training=index % 2 == 1, xla=index % 4 == 2)
        case_id = f"{name}{extra.get('reset_after', '')}-{pattern}-{index}"
        cases.append(pytest.param(name, kwargs, pattern, options, id=case_id))
    return cases


def twin_pair(name, kwargs, x, rng):
    reference = getattr(keras.layers, name)(UNITS, **kwargs)
    ours = getattr(tfrnn.keras3, name)(UNITS, **kwargs)
    reference(x)
    ours(x)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    ours.set_weights(weights)
    return reference, ours


def assert_close(actual, expected, tol, what):
    actual, expected = tf.nest.flatten(actual), tf.nest.flatten(expected)
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), atol=tol, rtol=0, err_msg=what)


def outputs_and_grads(layer, x, call_kwargs, loss_weights):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = tf.nest.flatten(layer(x, **call_kwargs))
        loss = tf.add_n([tf.reduce_sum(o * w) for o, w in zip(outputs, loss_weights)])
    return outputs, tape.gradient(loss, [x] + list(layer.trainable_weights))


@pytest.mark.parametrize("name,kwargs,pattern,options", grid())
def test_matches_keras3(name, kwargs, pattern, options, rng, monkeypatch):
    if options["xla"]:
        monkeypatch.setenv("TFRNN_JIT_COMPILE", "auto")
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    reference, ours = twin_pair(name, kwargs, x, rng)
    call_kwargs = {"training": options["training"]}
    mask = make_mask(pattern)
    if mask is not None:
        call_kwargs["mask"] = tf.constant(mask)
    if options["initial_state"]:
        call_kwargs["initial_state"] = [
            tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32"))
            for _ in range(2 if name == "LSTM" else 1)
        ]
    expected = reference(x, **call_kwargs)
    loss_weights = [
        tf.constant(rng.normal(size=np.shape(o)).astype("float32"))
        for o in tf.nest.flatten(expected)
    ]
    reference_outputs, reference_grads = outputs_and_grads(reference, x, call_kwargs, loss_weights)
    outputs, grads = outputs_and_grads(ours, x, call_kwargs, loss_weights)
    assert_close(outputs, reference_outputs, OUTPUT_TOL, "outputs and states")
    assert_close(grads, reference_grads, GRAD_TOL, "gradients (input, kernel, recurrent, bias)")


@pytest.mark.parametrize("name,extra", LAYERS[::2] + [LAYERS[1]])
def test_stateful_matches_keras3(name, extra, rng):
    kwargs = dict(extra, stateful=True, return_sequences=True, return_state=True)
    inputs = [rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32") for _ in range(2)]
    reference, ours = twin_pair(name, kwargs, inputs[0], rng)
    reference.reset_states()
    ours.reset_states()
    mask = tf.constant(make_mask("right"))
    for x in (inputs[0], inputs[1], inputs[0]):
        assert_close(ours(x, mask=mask), reference(x, mask=mask), OUTPUT_TOL, "stateful")
    reference.reset_state()
    ours.reset_state()
    assert_close(ours(inputs[1]), reference(inputs[1]), OUTPUT_TOL, "after reset_state()")


def test_hard_sigmoid_is_keras3s(rng):
    """tfrnn.keras3 follows Keras 3's hard_sigmoid (relu6(x + 3) / 6), not
    Keras 2's clip(0.2 x + 0.5, 0, 1) that tfrnn's tf_keras layers keep."""
    z = np.linspace(-4, 4, 17).astype("float32")
    cell = tfrnn.keras3.GRUCell(2, recurrent_activation="hard_sigmoid")
    math = cell.cell_math().recurrent_activation
    np.testing.assert_allclose(math(tf.constant(z)), np.clip(z / 6 + 0.5, 0, 1), atol=1e-7)
    assert float(math.derivative(tf.constant([0.5]))[0]) == pytest.approx(1 / 6)
    tf_keras_cell = tfrnn.GRUCell(2, recurrent_activation="hard_sigmoid")
    keras2 = tf_keras_cell.cell_math().recurrent_activation
    np.testing.assert_allclose(keras2(tf.constant(z)), np.clip(0.2 * z + 0.5, 0, 1), atol=1e-7)


@pytest.mark.parametrize(
    "name,shape,kwargs",
    [
        ("ConvLSTM1D", (2, 3, 7, 2), {"strides": 2, "return_state": True, "go_backwards": True}),
        (
            "ConvLSTM2D",
            (2, 3, 2, 5, 5),
            {"data_format": "channels_first", "recurrent_activation": "hard_sigmoid"},
        ),
        ("ConvLSTM3D", (2, 2, 3, 3, 3, 2), {"padding": "same", "return_sequences": True}),
    ],
)
def test_conv_lstm_matches_keras3(name, shape, kwargs, rng):
    x = rng.normal(size=shape).astype("float32")
    reference = getattr(keras.layers, name)(3, 3, **kwargs)
    ours = getattr(tfrnn.keras3, name)(3, 3, **kwargs)
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    loss_weights = [
        tf.constant(rng.normal(size=np.shape(o)).astype("float32"))
        for o in tf.nest.flatten(reference(x))
    ]
    call_kwargs = {"training": True}
    reference_outputs, reference_grads = outputs_and_grads(reference, x, call_kwargs, loss_weights)
    outputs, grads = outputs_and_grads(ours, x, call_kwargs, loss_weights)
    assert_close(outputs, reference_outputs, OUTPUT_TOL, "outputs and states")
    assert_close(grads, reference_grads, GRAD_TOL, "gradients (input, kernel, recurrent, bias)")
