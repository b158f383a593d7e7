"""Wrappers around the core layers, each against the same wrapper around the
tf_keras twins with identical weights: tf_keras's Bidirectional and
TimeDistributed around tfrnn layers, and tfrnn.Bidirectional (every merge
mode, returned states, initial states forward then backward, masks, eager
and in a functional model).

Outputs and states within OUTPUT_TOL, gradients within GRAD_TOL.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from custom_cells import ConstantsCell
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn

BATCH, STEPS, FEATURES, UNITS = 4, 5, 3, 3
NAMES = ["SimpleRNN", "GRU", "LSTM"]
MERGE_MODES = ["concat", "sum", "mul", "ave", None]
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 1, 1, 0], [1, 0, 0, 0, 0]], dtype=bool)


def n_states(name):
    return 2 if name == "LSTM" else 1


def assert_close(actual, expected, tol, what):
    actual, expected = tf.nest.flatten(actual), tf.nest.flatten(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} vs {len(expected)} tensors"
    for a, e in zip(actual, expected):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"{what}: shape {a.shape} vs {e.shape}"
        np.testing.assert_allclose(a, e, atol=tol, rtol=0, err_msg=what)


def same_weights(reference, ours, rng):
    reference.set_weights(
        [rng.normal(0, 0.5, w.shape).astype("float32") for w in reference.get_weights()]
    )
    ours.set_weights(reference.get_weights())


def gradients(layer, x, call_kwargs, watch=()):
    """Outputs and d(fixed random projection of all outputs)/d(x, watch, weights)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        for t in watch:
            tape.watch(t)
        outputs = tf.nest.flatten(layer(x, **call_kwargs))
        rng = np.random.default_rng(0)
        loss = tf.add_n(
            [tf.reduce_sum(o * rng.normal(size=o.shape).astype("float32")) for o in outputs]
        )
    return outputs, tape.gradient(loss, [x, *watch, *layer.trainable_weights])


def assert_twins_agree(reference, ours, x, call_kwargs, what, watch=()):
    ref_out, ref_grads = gradients(reference, x, call_kwargs, watch)
    our_out, our_grads = gradients(ours, x, call_kwargs, watch)
    assert_close(our_out, ref_out, OUTPUT_TOL, f"{what}: outputs")
    assert all(g is not None for g in our_grads), f"{what}: a gradient is missing"
    assert_close(our_grads, ref_grads, GRAD_TOL, f"{what}: gradients")


def initial_states(name, rng):
    return [
        tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32"))
        for _ in range(2 * n_states(name))
    ]


@pytest.fixture
def x(rng):
    return rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


# ------------------------------------------------- tf_keras wrappers, tfrnn inside
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_tf_keras_bidirectional_around_tfrnn(name, merge_mode, x, rng):
    def wrap(module):
        layer = getattr(module, name)(UNITS, return_sequences=True, return_state=True)
        return tf_keras.layers.Bidirectional(layer, merge_mode=merge_mode)

    reference, ours = wrap(tf_keras.layers), wrap(tfrnn)
    states = initial_states(name, rng)
    call_kwargs = {"mask": tf.constant(MASK), "initial_state": states}
    reference(x, **call_kwargs)
    ours(x, **call_kwargs)
    assert isinstance(ours.forward_layer, getattr(tfrnn, name))
    assert isinstance(ours.backward_layer, getattr(tfrnn, name))
    assert ours.backward_layer.go_backwards
    same_weights(reference, ours, rng)
    assert_twins_agree(reference, ours, x, {}, "no mask")
    assert_twins_agree(reference, ours, x, call_kwargs, "mask + initial_state", watch=states)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_tf_keras_time_distributed_around_tfrnn(name, return_sequences, rng):
    """(batch, outer, time, features): the recurrent layer runs on each of the
    ``outer`` sequences."""
    x = rng.normal(size=(BATCH, 2, STEPS, FEATURES)).astype("float32")

    def wrap(module):
        return tf_keras.layers.TimeDistributed(
            getattr(module, name)(UNITS, return_sequences=return_sequences)
        )

    reference, ours = wrap(tf_keras.layers), wrap(tfrnn)
    reference(x)
    ours(x)
    same_weights(reference, ours, rng)
    assert_twins_agree(reference, ours, x, {}, "TimeDistributed")
    expected_shape = (BATCH, 2, STEPS, UNITS) if return_sequences else (BATCH, 2, UNITS)
    assert ours(x).shape == expected_shape
    # each outer slice is the layer on that sequence alone
    assert_close(ours(x)[:, 1], ours.layer(x[:, 1]), OUTPUT_TOL, "slice 1")
    inputs = tf_keras.Input((None, None, FEATURES))
    model = tf_keras.Model(inputs, ours(inputs))
    assert_close(model(x), reference(x), OUTPUT_TOL, "functional TimeDistributed")


# ------------------------------------------------------------ tfrnn.Bidirectional
def bidirectional_twins(name, merge_mode, x, rng, **kwargs):
    reference = tf_keras.layers.Bidirectional(
        getattr(tf_keras.layers, name)(UNITS, **kwargs), merge_mode=merge_mode
    )
    ours = tfrnn.Bidirectional(getattr(tfrnn, name)(UNITS, **kwargs), merge_mode=merge_mode)
    reference(x)
    ours(x)
    same_weights(reference, ours, rng)
    return reference, ours


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merge_modes(name, merge_mode, return_sequences, x, rng):
    reference, ours = bidirectional_twins(
        name, merge_mode, x, rng, return_sequences=return_sequences
    )
    assert_twins_agree(reference, ours, x, {}, f"merge_mode={merge_mode}")
    assert_twins_agree(reference, ours, x, {"mask": tf.constant(MASK)}, "masked")
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_bidirectional_states_initial_state_and_mask(name, merge_mode, x, rng):
    """return_state (forward states then backward), initial_state in the same
    order, and a mask, all at once; gradients reach the initial states."""
    reference, ours = bidirectional_twins(
        name, merge_mode, x, rng, return_sequences=True, return_state=True
    )
    states = initial_states(name, rng)
    call_kwargs = {"initial_state": states, "mask": tf.constant(MASK)}
    outputs = ours(x, **call_kwargs)
    n_outputs = 2 if merge_mode is None else 1
    assert len(outputs) == n_outputs + 2 * n_states(name)
    assert_twins_agree(reference, ours, x, call_kwargs, "states", watch=states)
    # the forward half's states are the forward layer run alone
    forward_alone = ours.forward_layer(
        x, initial_state=states[: n_states(name)], mask=tf.constant(MASK)
    )
    assert_close(
        outputs[n_outputs : n_outputs + n_states(name)],
        forward_alone[1:],
        OUTPUT_TOL,
        "forward states",
    )
    # the backward half starts from the second half of initial_state
    swapped = ours(x, initial_state=states[n_states(name) :] + states[: n_states(name)])
    assert np.abs(np.asarray(swapped[-1]) - np.asarray(outputs[-1])).max() > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_bidirectional_symbolic_initial_state(name, x, rng):
    reference, ours = bidirectional_twins(name, "concat", x, rng, return_sequences=True)
    states = initial_states(name, rng)
    sequence = tf_keras.Input((None, FEATURES))
    state_inputs = [tf_keras.Input((UNITS,)) for _ in states]
    models = [
        tf_keras.Model([sequence, *state_inputs], layer(sequence, initial_state=state_inputs))
        for layer in (reference, ours)
    ]
    expected = models[0]([x, *states])
    assert_close(models[1]([x, *states]), expected, OUTPUT_TOL, "symbolic initial_state")
    assert_close(ours(x, initial_state=states), expected, OUTPUT_TOL, "eager initial_state")
    zeros = ours(x)
    assert np.abs(np.asarray(zeros) - np.asarray(expected)).max() > 1e-3


@pytest.mark.parametrize("stacked", [False, True])
def test_bidirectional_custom_cell_with_constants(stacked, x, rng):
    """tfrnn.Bidirectional copies a tfrnn.RNN whose (unregistered) custom cell
    takes constants, as tf_keras's Bidirectional does; eager and symbolic."""
    constants = tf.constant(rng.normal(size=(BATCH, 2)).astype("float32"))

    def conditioned(units):
        return ConstantsCell(units, constant_size=2)

    def wrap(module):
        cell = [conditioned(UNITS), conditioned(2)] if stacked else conditioned(UNITS)
        return module.Bidirectional(module.RNN(cell, return_sequences=True))

    reference, ours = wrap(tf_keras.layers), wrap(tfrnn)
    reference(x, constants=[constants])
    ours(x, constants=[constants])
    assert type(ours.backward_layer.cell) is type(ours.forward_layer.cell)
    same_weights(reference, ours, rng)
    call_kwargs = {"constants": [constants], "mask": tf.constant(MASK)}
    assert_twins_agree(reference, ours, x, call_kwargs, "constants", watch=[constants])
    sequence, condition = tf_keras.Input((None, FEATURES)), tf_keras.Input((2,))
    models = [
        tf_keras.Model([sequence, condition], layer(sequence, constants=[condition]))
        for layer in (reference, ours)
    ]
    assert_close(models[1]([x, constants]), models[0]([x, constants]), OUTPUT_TOL, "symbolic")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch_known", [False, True])
def test_tf_keras_time_distributed_with_mask(name, batch_known, rng):
    """Embedding(mask_zero) on (batch, outer, time) tokens, then TimeDistributed
    over a recurrent layer: each sequence is masked inside the layer, as with
    the tf_keras twin, whether or not the batch size is known."""
    tokens = np.array(
        [
            [[5, 7, 9, 0, 0], [3, 0, 0, 0, 0]],
            [[1, 2, 3, 4, 5], [4, 4, 0, 0, 0]],
            [[0, 0, 0, 0, 0], [2, 6, 8, 1, 0]],
        ]
    )
    models = []
    for module in (tf_keras.layers, tfrnn):
        inputs = tf_keras.Input((2, None), batch_size=3 if batch_known else None, dtype="int32")
        embedded = tf_keras.layers.Embedding(10, FEATURES, mask_zero=True)(inputs)
        recurrent = getattr(module, name)(UNITS, return_sequences=True)
        models.append(tf_keras.Model(inputs, tf_keras.layers.TimeDistributed(recurrent)(embedded)))
    reference, ours = models
    same_weights(reference, ours, rng)
    expected = reference(tokens)
    assert_close(ours(tokens), expected, OUTPUT_TOL, "TimeDistributed with a mask")
    assert_close(ours.predict(tokens, verbose=0), expected, OUTPUT_TOL, "predict")
    # and it is the inner layer on each masked sequence
    inner = ours.layers[-1].layer
    embedded = ours.layers[1](tokens).numpy().reshape(6, 5, FEATURES)
    flat_mask = tf.constant(tokens.reshape(6, 5) != 0)
    direct = inner(embedded, mask=flat_mask).numpy().reshape(3, 2, 5, UNITS)
    assert_close(ours(tokens), direct, OUTPUT_TOL, "inner layer with the reshaped mask")


def test_tf_keras_time_distributed_around_tfrnn_bidirectional_with_mask(rng):
    tokens = np.array([[[5, 7, 9, 0, 0], [3, 0, 0, 0, 0]], [[1, 2, 3, 4, 5], [4, 4, 0, 0, 0]]])
    models = []
    for module in (tf_keras.layers, tfrnn):
        inputs = tf_keras.Input((2, None), dtype="int32")
        embedded = tf_keras.layers.Embedding(10, FEATURES, mask_zero=True)(inputs)
        wrapped = module.Bidirectional(module.GRU(UNITS, return_sequences=True))
        models.append(tf_keras.Model(inputs, tf_keras.layers.TimeDistributed(wrapped)(embedded)))
    same_weights(*models, rng)
    assert_close(
        models[1](tokens), models[0](tokens), OUTPUT_TOL, "TimeDistributed(Bidirectional)"
    )


@tf_keras.saving.register_keras_serializable(package="tfrnn_wrapper_tests")
class RegisteredCell(ConstantsCell):
    """ConstantsCell without constants, registered so files can name it."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel"
        )

    def call(self, inputs, states):
        h = tf.tanh(tf.matmul(inputs, self.kernel) + tf.matmul(states[0], self.recurrent_kernel))
        return h, [h]


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("cell", ["GRUCell", "cell_list", "custom"])
def test_bidirectional_over_rnn_file_round_trip(cell, fmt, x, tmp_path, rng):
    """A saved tfrnn.Bidirectional over tfrnn.RNN loads with two directions
    that own separate cells and weights (not one cell shared by both)."""

    def make_cell():
        if cell == "GRUCell":
            return tfrnn.GRUCell(UNITS)
        if cell == "cell_list":
            return [tfrnn.GRUCell(UNITS), tfrnn.LSTMCell(2)]
        return RegisteredCell(UNITS)

    inputs = tf_keras.Input((None, FEATURES))
    model = tf_keras.Model(inputs, tfrnn.Bidirectional(tfrnn.RNN(make_cell()))(inputs))
    same_weights(model, model, rng)
    path = str(tmp_path / f"model.{fmt}")
    model.save(path)
    restored = tf_keras.models.load_model(path)
    wrapper = restored.layers[-1]
    assert wrapper.forward_layer.cell is not wrapper.backward_layer.cell
    assert len(restored.weights) == len(model.weights)
    assert_close(restored.get_weights(), model.get_weights(), 0, "weights")
    assert_close(restored(x), model(x), OUTPUT_TOL, "outputs")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("symbolic", [False, True])
def test_bidirectional_weights_argument(name, symbolic, x, rng):
    """``weights=`` (forward half, then backward half) is what the built
    wrapper holds, so it computes what the tf_keras twin given those weights
    with set_weights computes."""
    reference = tf_keras.layers.Bidirectional(getattr(tf_keras.layers, name)(UNITS))
    reference(x)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    ours = tfrnn.Bidirectional(getattr(tfrnn, name)(UNITS), weights=weights)
    if symbolic:
        inputs = tf_keras.Input((None, FEATURES))
        ours = tf_keras.Model(inputs, ours(inputs))
    assert_close(ours(x), reference(x), OUTPUT_TOL, "outputs")
    assert_close(ours.get_weights(), weights, 0, "weights")
