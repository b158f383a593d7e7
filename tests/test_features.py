"""The "also working" features of the core layers, each against tf_keras
(the twin layer with identical weights) and, where a formula decides the
answer, against that formula: training with fit, mixed precision,
MirroredStrategy, XLA, ragged inputs, dropout, constants, custom cells,
constructor arguments, hard_sigmoid and initial states.

Outputs and states within OUTPUT_TOL, gradients within GRAD_TOL (float32);
mixed precision within MIXED_TOL (float16 compute).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from custom_cells import ConstantsCell
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn

BATCH, STEPS, FEATURES, UNITS = 4, 5, 3, 4
NAMES = ["SimpleRNN", "GRU", "LSTM"]
#: float16 compute: ~3 significant digits per op, a few ops per step
MIXED_TOL = 1e-2
HOLES = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 0, 1, 0, 1]], dtype=bool)


def n_states(name):
    return 2 if name == "LSTM" else 1


def randomize(layer, rng, scale=0.5):
    layer.set_weights(
        [rng.normal(0, scale, w.shape).astype("float32") for w in layer.get_weights()]
    )


def twins(name, x, rng, units=UNITS, **kwargs):
    """A tf_keras layer and its tfrnn twin, built on ``x``, same random weights."""
    reference = getattr(tf_keras.layers, name)(units, **kwargs)
    ours = getattr(tfrnn, name)(units, **kwargs)
    reference(x)
    ours(x)
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    return reference, ours


def assert_close(actual, expected, tol, what):
    actual, expected = tf.nest.flatten(actual), tf.nest.flatten(expected)
    assert len(actual) == len(expected), f"{what}: {len(actual)} vs {len(expected)} tensors"
    for a, e in zip(actual, expected):
        a, e = np.asarray(a, np.float32), np.asarray(e, np.float32)
        assert a.shape == e.shape, f"{what}: shape {a.shape} vs {e.shape}"
        np.testing.assert_allclose(a, e, atol=tol, rtol=0, err_msg=what)


def gradients(layer, x, call_kwargs, seed=0, watch=()):
    """Outputs and d(random projection of the outputs)/d(x, watched, weights)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        for t in watch:
            tape.watch(t)
        outputs = tf.nest.flatten(layer(x, **call_kwargs))
        rng = np.random.default_rng(seed)
        loss = tf.add_n(
            [tf.reduce_sum(o * rng.normal(size=o.shape).astype("float32")) for o in outputs]
        )
    return outputs, tape.gradient(loss, [x, *watch, *layer.trainable_weights])


def assert_twins_agree(reference, ours, x, call_kwargs, what, watch=()):
    ref_out, ref_grads = gradients(reference, x, call_kwargs, watch=watch)
    our_out, our_grads = gradients(ours, x, call_kwargs, watch=watch)
    assert_close(our_out, ref_out, OUTPUT_TOL, f"{what}: outputs")
    assert_close(our_grads, ref_grads, GRAD_TOL, f"{what}: gradients")


@pytest.fixture
def x(rng):
    return rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


# ------------------------------------------------------------------- 1. fit
def side_by_side(module, input_shape, units, **dense_kwargs):
    """SimpleRNN, GRU and LSTM of ``module`` side by side on one input,
    concatenated, then Dense(1): one model trains all three."""
    inputs = tf_keras.Input(input_shape)
    branches = [getattr(module, name)(units, name=name.lower())(inputs) for name in NAMES]
    merged = tf_keras.layers.Concatenate()(branches)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(1, **dense_kwargs)(merged))


def moved_layers(model, before):
    """Names of the recurrent layers whose weights changed from ``before``."""
    after = dict(zip([w.name for w in model.weights], model.get_weights()))
    return {
        name.split("/")[0]
        for name, value in after.items()
        if name.split("/")[0] in {n.lower() for n in NAMES}
        and np.abs(value - before[name]).max() > 1e-4
    }


def test_fit_learns_and_tracks_tf_keras(rng):
    """Training with fit lowers the loss clearly, epoch by epoch as tf_keras
    does from the same initial weights, and every layer's weights end as
    tf_keras's do."""
    inputs = rng.uniform(-1, 1, size=(32, 6, 2)).astype("float32")
    targets = inputs[:, :, :1].mean(axis=1) - 0.5 * inputs[:, -1, 1:]
    reference, ours = side_by_side(tf_keras.layers, (6, 2), 5), side_by_side(tfrnn, (6, 2), 5)
    ours.set_weights(reference.get_weights())
    for model in (reference, ours):
        model.compile(tf_keras.optimizers.Adam(0.03), "mse")
    before = {w.name: w.numpy() for w in ours.weights}
    fit = dict(batch_size=16, epochs=10, shuffle=False, verbose=0)
    ours_loss = ours.fit(inputs, targets, **fit).history["loss"]
    ref_loss = reference.fit(inputs, targets, **fit).history["loss"]
    assert ours_loss[-1] < 0.3 * ours_loss[0], ours_loss
    np.testing.assert_allclose(ours_loss, ref_loss, rtol=1e-3)
    assert moved_layers(ours, before) == {"simplernn", "gru", "lstm"}
    assert_close(ours.get_weights(), reference.get_weights(), 1e-3, "weights after fit")


# ------------------------------------------------------- 4. mixed precision
@pytest.fixture
def mixed_float16():
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", NAMES)
def test_mixed_float16(name, x, rng, mixed_float16):
    kwargs = dict(return_sequences=True, return_state=True)
    reference, ours = twins(name, x, rng, **kwargs)
    assert ours.compute_dtype == "float16" and ours.variable_dtype == "float32"
    assert all(v.dtype == tf.float32 for v in ours.weights)
    states = [tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float16)] * n_states(name)
    for call_kwargs in ({}, {"mask": tf.constant(HOLES), "initial_state": states}):
        outputs = ours(x, **call_kwargs)
        assert all(o.dtype == tf.float16 for o in outputs)
        assert_close(outputs, reference(x, **call_kwargs), MIXED_TOL, f"mixed {call_kwargs}")


def test_mixed_float16_fit(x, rng, mixed_float16):
    """fit under mixed_float16 (loss scaling included) updates every layer's
    float32 weights as tf_keras's layers' are updated."""
    reference = side_by_side(tf_keras.layers, (STEPS, FEATURES), UNITS, dtype="float32")
    ours = side_by_side(tfrnn, (STEPS, FEATURES), UNITS, dtype="float32")
    ours.set_weights(reference.get_weights())
    for model in (reference, ours):
        model.compile(tf_keras.optimizers.SGD(0.1), "mse")
    assert ours.get_layer("lstm").compute_dtype == "float16"
    before = {w.name: w.numpy() for w in ours.weights}
    targets = rng.normal(size=(BATCH, 1)).astype("float32")
    fit = dict(epochs=3, shuffle=False, verbose=0)
    our_loss = ours.fit(x, targets, **fit).history["loss"]
    ref_loss = reference.fit(x, targets, **fit).history["loss"]
    assert np.all(np.isfinite(our_loss))
    np.testing.assert_allclose(our_loss, ref_loss, rtol=MIXED_TOL)
    assert all(w.dtype == np.float32 for w in ours.get_weights())
    assert moved_layers(ours, before) == {"simplernn", "gru", "lstm"}
    assert_close(ours.get_weights(), reference.get_weights(), MIXED_TOL, "mixed fit")


# ------------------------------------------------------ 5. MirroredStrategy
MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import tf_keras
    import tfrnn

    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    x[1, 3:] = x[6, 2:] = 0.0  # masked tails
    y = rng.normal(size=(8, 1)).astype("float32")

    def build():
        return tf_keras.Sequential([
            tf_keras.Input((5, 3)),
            tf_keras.layers.Masking(0.0),
            tfrnn.GRU(3, return_sequences=True),
            tfrnn.LSTM(3),
            tf_keras.layers.Dense(1),
        ])

    single = build()
    initial = single.get_weights()
    single.compile(tf_keras.optimizers.SGD(0.1), "mse")
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        mirrored = build()
        mirrored.set_weights(initial)
        mirrored.compile(tf_keras.optimizers.SGD(0.1), "mse")

    # per-replica forward pass: each replica sees its half of the batch
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def replica_losses(batch):
        def step(inputs, targets):
            return tf.reduce_mean(tf.square(mirrored(inputs) - targets))
        return strategy.run(step, args=batch)

    per_replica = [float(v) for v in strategy.experimental_local_results(replica_losses(batch))]
    halves = [
        float(np.mean((single(x[i : i + 4]).numpy() - y[i : i + 4]) ** 2)) for i in (0, 4)
    ]

    fit = dict(batch_size=8, epochs=3, shuffle=False, verbose=0)
    mirrored_loss = mirrored.fit(x, y, **fit).history["loss"]
    single_loss = single.fit(x, y, **fit).history["loss"]
    replica_spread = max(
        float(np.abs(local.numpy() - strategy.experimental_local_results(v)[0].numpy()).max())
        for v in mirrored.trainable_variables
        for local in strategy.experimental_local_results(v)
    )

    def diff(a, b):
        return max(float(np.abs(p - q).max()) for p, q in zip(a.get_weights(), b.get_weights()))

    print(json.dumps({
        "devices": devices,
        "replicas": strategy.num_replicas_in_sync,
        "locals": min(
            len(strategy.experimental_local_results(v)) for v in mirrored.trainable_variables
        ),
        "per_replica": per_replica,
        "halves": halves,
        "losses": [mirrored_loss, single_loss],
        "replica_spread": replica_spread,
        "vs_single": diff(mirrored, single),
    }))
    """
)


def test_mirrored_strategy_two_cpus():
    """fit under MirroredStrategy over two logical CPUs (a fresh process: the
    logical devices must be set before TensorFlow initializes its devices):
    each replica computes its half of the batch, replicas hold identical
    variables after fit, and training equals single-device training (which
    the fit tests compare with tf_keras)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["devices"]) == 2 and result["replicas"] == 2 and result["locals"] == 2
    np.testing.assert_allclose(result["per_replica"], result["halves"], atol=OUTPUT_TOL)
    assert abs(result["per_replica"][0] - result["per_replica"][1]) > 1e-3
    mirrored, single = result["losses"]
    assert mirrored[-1] < mirrored[0]
    np.testing.assert_allclose(mirrored, single, rtol=1e-5)
    assert result["replica_spread"] == 0.0
    assert result["vs_single"] < OUTPUT_TOL


# ------------------------------------------------------------------- 6. XLA
@pytest.mark.parametrize(
    "name,extra", [("SimpleRNN", {}), ("GRU", {}), ("GRU", {"reset_after": False}), ("LSTM", {})]
)
@pytest.mark.parametrize("masked", [False, True])
def test_jit_compile_equals_eager(name, extra, masked, x):
    layer = getattr(tfrnn, name)(UNITS, return_sequences=True, return_state=True, **extra)
    if masked:
        mask = tf.constant(HOLES)
        compiled = tf.function(lambda a, m: layer(a, mask=m), jit_compile=True)
        assert_close(compiled(x, mask), layer(x, mask=mask), OUTPUT_TOL, "XLA masked")
    else:
        compiled = tf.function(lambda a: layer(a), jit_compile=True)
        assert_close(compiled(x), layer(x), OUTPUT_TOL, "XLA")


# ---------------------------------------------------------------- 7. ragged
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_ragged_input_matches_tf_keras(name, return_sequences, rng):
    lengths = [5, 2, 4, 1]
    ragged = tf.RaggedTensor.from_row_lengths(
        rng.normal(size=(sum(lengths), FEATURES)).astype("float32"), lengths
    )
    reference, ours = twins(name, ragged, rng, return_sequences=return_sequences)
    ref_out, ours_out = reference(ragged), ours(ragged)
    if return_sequences:
        assert isinstance(ours_out, tf.RaggedTensor)
        np.testing.assert_array_equal(ours_out.row_lengths().numpy(), lengths)
        ref_out, ours_out = ref_out.flat_values, ours_out.flat_values
    else:
        assert isinstance(ours_out, tf.Tensor) and ours_out.shape == (BATCH, UNITS)
    assert_close(ours_out, ref_out, OUTPUT_TOL, "ragged outputs")
    # and the same as the zero-padded batch with its mask
    padded = ours(ragged.to_tensor(), mask=tf.sequence_mask(lengths, STEPS))
    if return_sequences:
        padded = tf.RaggedTensor.from_tensor(padded, lengths=lengths).flat_values
    assert_close(ours_out, padded, OUTPUT_TOL, "ragged vs padded + mask")

    def grads(layer):
        with tf.GradientTape() as tape:
            out = layer(ragged)
            out = out.flat_values if return_sequences else out
            loss = tf.reduce_sum(out * tf.range(1.0, 1.0 + out.shape[-1]))
        return tape.gradient(loss, layer.trainable_weights)

    assert_close(grads(ours), grads(reference), GRAD_TOL, "ragged gradients")
    # a functional model with a ragged Input
    inputs = tf_keras.Input((None, FEATURES), ragged=True)
    models = [tf_keras.Model(inputs, layer(inputs)) for layer in (reference, ours)]
    ref_out, ours_out = models[0](ragged), models[1](ragged)
    assert isinstance(ours_out, tf.RaggedTensor) == return_sequences
    if return_sequences:
        ref_out, ours_out = ref_out.flat_values, ours_out.flat_values
    assert_close(ours_out, ref_out, OUTPUT_TOL, "ragged Input model")


# --------------------------------------------------------------- 8. dropout
RATE = 0.5


def probe_weights(name, units, recurrent, implementation=2, reset_after=True, saturate=10.0):
    """Weights (tf_keras layout) that make a layer with linear activation and
    hard_sigmoid gates compute ``h_t = x_t + [recurrent] (h_{t-1} * m_rec)``
    through its candidate path, with every input to that path dropped out
    by the layer's masks: for an LSTM i = o = 1 and f = 0 (biases +-10 clip
    the hard sigmoid exactly), for a GRU z = 0 and r = 1."""
    eye = np.eye(units, dtype="float32")
    zero = np.zeros((units, units), "float32")
    rec = eye if recurrent else zero
    on, off = np.full(units, saturate, "float32"), np.full(units, -saturate, "float32")
    blank = np.zeros(units, "float32")
    if name == "SimpleRNN":
        return [eye, rec, blank]
    if name == "LSTM":  # gates i, f, c, o
        kernel = np.concatenate([zero, zero, eye, zero], axis=1)
        recurrent_kernel = np.concatenate([zero, zero, rec, zero], axis=1)
        return [kernel, recurrent_kernel, np.concatenate([on, off, blank, on])]
    kernel = np.concatenate([zero, zero, eye], axis=1)  # gates z, r, h
    recurrent_kernel = np.concatenate([zero, zero, rec], axis=1)
    bias = np.concatenate([off, on, blank])
    if reset_after:
        bias = np.stack([bias, np.zeros_like(bias)])
    return [kernel, recurrent_kernel, bias]


DROPOUT_CASES = [
    ("SimpleRNN", {}),
    ("GRU", {"implementation": 1}),
    ("GRU", {"implementation": 2}),
    ("GRU", {"reset_after": False}),
    ("LSTM", {"implementation": 1}),
    ("LSTM", {"implementation": 2}),
]


def probe_layer(name, extra, **rates):
    kwargs = dict(extra, activation="linear", return_sequences=True, **rates)
    if name != "SimpleRNN":
        kwargs["recurrent_activation"] = "hard_sigmoid"
    layer = getattr(tfrnn, name)(UNITS, **kwargs)
    ones = np.ones((BATCH, STEPS, UNITS), "float32")
    layer(ones)
    recurrent = "recurrent_dropout" in rates
    layer.set_weights(probe_weights(name, UNITS, recurrent, **extra))
    return layer, ones


@pytest.mark.parametrize("name,extra", DROPOUT_CASES)
def test_input_dropout_mask_is_drawn_once_per_sequence(name, extra):
    """With the probe weights the output is the dropped-out input itself,
    x * m / (1 - rate) with x = 1: one (batch, features) mask, the same at
    every timestep, different between samples and between calls; none at
    inference."""
    layer, ones = probe_layer(name, extra, dropout=RATE)
    assert_close(layer(ones), ones, OUTPUT_TOL, "inference (no training flag)")
    assert_close(layer(ones, training=False), ones, OUTPUT_TOL, "training=False")
    first = layer(ones, training=True).numpy()
    mask = first[:, 0, :]
    for t in range(STEPS):
        np.testing.assert_array_equal(first[:, t, :], mask, err_msg=f"timestep {t}")
    np.testing.assert_allclose(np.unique(mask), [0.0, 1.0 / (1.0 - RATE)], atol=OUTPUT_TOL)
    assert len({tuple(row) for row in mask}) > 1, "every sample got the same mask"
    second = layer(ones, training=True).numpy()
    assert not np.array_equal(first, second), "the mask was not redrawn for a new call"


@pytest.mark.parametrize("name", ["GRU", "LSTM"])
def test_input_dropout_once_per_sequence_on_the_cudnn_selection_path(name):
    """A tanh/sigmoid layer traced in a tf.function runs the cuDNN-selection
    path (the engine function on a CPU), which applies the input dropout
    outside the swappable functions; it too keeps one mask per sequence.
    Probe weights with biases of +-30 saturate the sigmoid gates (to 1e-13),
    so each output is the layer's value for x = 0 or for x = 1 / (1 - rate)."""
    layer = getattr(tfrnn, name)(UNITS, dropout=RATE, return_sequences=True)
    assert layer.cudnn_eligible()
    ones = np.ones((BATCH, STEPS, UNITS), "float32")
    layer(ones)
    layer.set_weights(probe_weights(name, UNITS, recurrent=False, saturate=30.0))
    kept = layer(ones / (1.0 - RATE)).numpy()  # inference: no dropout
    dropped = layer(0.0 * ones).numpy()
    assert np.abs(kept - dropped).min() > 0.1
    trained = tf.function(lambda inputs: layer(inputs, training=True))(ones).numpy()
    mask = np.abs(trained[:, 0, :] - kept[:, 0, :]) < 1e-6
    assert mask.any() and not mask.all()
    expected = np.where(mask[:, None, :], kept, dropped)
    np.testing.assert_allclose(trained, expected, atol=1e-6, err_msg="one mask per sequence")


@pytest.mark.parametrize("name,extra", DROPOUT_CASES)
def test_recurrent_dropout_mask_is_drawn_once_per_sequence(name, extra):
    """Probe weights with an identity recurrence: h_t = 1 + m * h_{t-1}. A mask
    kept for the whole sequence gives each unit either 1, 1, 1, ... (m = 0) or
    1, 3, 7, 15, ... (m = 2); a mask redrawn per step would mix the two."""
    layer, ones = probe_layer(name, extra, recurrent_dropout=RATE)
    scale = 1.0 / (1.0 - RATE)
    kept = np.cumsum(scale ** np.arange(STEPS))  # 1, 3, 7, 15, 31
    no_dropout = np.cumsum(np.ones(STEPS))  # 1, 2, 3, ... at inference
    inference = layer(ones).numpy()
    np.testing.assert_allclose(
        inference, np.broadcast_to(no_dropout[None, :, None], inference.shape), atol=OUTPUT_TOL
    )
    trained = layer(ones, training=True).numpy()
    seen = set()
    for b in range(BATCH):
        for u in range(UNITS):
            path = trained[b, :, u]
            if np.allclose(path, 1.0, atol=OUTPUT_TOL):
                seen.add("dropped")
            else:
                np.testing.assert_allclose(path, kept, atol=OUTPUT_TOL, err_msg=f"({b}, {u})")
                seen.add("kept")
    assert seen == {"dropped", "kept"}


@pytest.mark.parametrize("name", NAMES)
def test_dropout_only_in_training(name, x, rng):
    """With both dropouts set, inference equals tf_keras (which drops nothing
    at inference either); training draws new masks each call."""
    rates = dict(dropout=0.3, recurrent_dropout=0.3, return_sequences=True)
    reference, ours = twins(name, x, rng, **rates)
    expected = reference(x, training=False)
    assert_close(ours(x), expected, OUTPUT_TOL, "inference, no flag")
    assert_close(ours(x, training=False), expected, OUTPUT_TOL, "training=False")
    model = tf_keras.Sequential([tf_keras.Input((STEPS, FEATURES)), ours])
    assert_close(model.predict(x, verbose=0), expected, OUTPUT_TOL, "predict")
    first, second = ours(x, training=True), ours(x, training=True)
    assert np.abs(first - expected).max() > 1e-3
    assert np.abs(first - second).max() > 1e-3


# ------------------------------------------------------------- 9. constants
class MinimalRNNCell(tf_keras.layers.Layer):
    """The Keras 2 documentation's example cell (K.dot is tf_keras.backend.dot)."""

    def __init__(self, units, **kwargs):
        self.units = units
        self.state_size = units
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="uniform", name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="uniform", name="recurrent_kernel"
        )
        self.built = True

    def call(self, inputs, states):
        prev_output = states[0]
        h = tf_keras.backend.dot(inputs, self.kernel)
        output = h + tf_keras.backend.dot(prev_output, self.recurrent_kernel)
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def rnn_twins(make_cell, x, rng, call_kwargs=None, **kwargs):
    reference = tf_keras.layers.RNN(make_cell(), **kwargs)
    ours = tfrnn.RNN(make_cell(), **kwargs)
    reference(x, **(call_kwargs or {}))
    ours(x, **(call_kwargs or {}))
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    return reference, ours


@pytest.mark.parametrize("stacked", [False, True])
def test_minimal_rnn_cell_from_the_keras_docs(stacked, x, rng):
    def make():
        return [MinimalRNNCell(4), MinimalRNNCell(5)] if stacked else MinimalRNNCell(4)

    reference, ours = rnn_twins(make, x, rng, return_sequences=True)
    assert_twins_agree(reference, ours, x, {}, "eager")
    assert_twins_agree(reference, ours, x, {"mask": tf.constant(HOLES)}, "masked")
    inputs = tf_keras.Input((None, FEATURES))  # the docs' symbolic use
    models = [tf_keras.Model(inputs, layer(inputs)) for layer in (reference, ours)]
    assert models[1].output_shape == models[0].output_shape
    assert_close(models[1](x), models[0](x), OUTPUT_TOL, "functional model")


def test_constants_eager_and_symbolic(x, rng):
    constants = tf.constant(rng.normal(size=(BATCH, 3)).astype("float32"))
    reference, ours = rnn_twins(
        lambda: ConstantsCell(UNITS),
        x,
        rng,
        call_kwargs={"constants": [constants]},
        return_sequences=True,
        return_state=True,
    )
    for call_kwargs in (
        {"constants": [constants]},
        {"constants": [constants], "mask": tf.constant(HOLES)},
    ):
        assert_twins_agree(reference, ours, x, call_kwargs, "eager", watch=[constants])

    # symbolic: the constants are a model input
    sequence = tf_keras.Input((None, FEATURES))
    condition = tf_keras.Input((3,))
    models = [
        tf_keras.Model([sequence, condition], layer(sequence, constants=[condition]))
        for layer in (reference, ours)
    ]
    assert ours._num_constants == 1
    assert_close(models[1]([x, constants]), models[0]([x, constants]), OUTPUT_TOL, "symbolic")
    # the constants change the result (they reach the cell)
    other = models[1]([x, constants + 1.0])
    assert np.abs(np.asarray(other[0]) - np.asarray(models[1]([x, constants])[0])).max() > 1e-3


def test_constants_reach_the_cells_of_a_stack_that_take_them(x, rng):
    """As tf_keras's StackedRNNCells: constants go to each cell whose call
    accepts them (here the first and the last), not to the others."""
    constants = tf.constant(rng.normal(size=(BATCH, 3)).astype("float32"))

    def cells(module):
        return lambda: [ConstantsCell(UNITS), module.GRUCell(3), ConstantsCell(2)]

    kwargs = dict(return_sequences=True, return_state=True)
    reference = tf_keras.layers.RNN(cells(tf_keras.layers)(), **kwargs)
    ours = tfrnn.RNN(cells(tfrnn)(), **kwargs)
    # tfrnn's StackedRNNCells inside tf_keras's RNN takes the constants too
    foreign = tf_keras.layers.RNN(tfrnn.StackedRNNCells(cells(tfrnn)()), **kwargs)
    for layer in (reference, ours, foreign):
        layer(x, constants=[constants])
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    foreign.set_weights(reference.get_weights())
    call_kwargs = {"constants": [constants], "mask": tf.constant(HOLES)}
    assert_twins_agree(reference, ours, x, call_kwargs, "stacked constants", watch=[constants])
    assert_twins_agree(reference, foreign, x, call_kwargs, "tf_keras RNN, tfrnn stack")
    # a stack none of whose cells takes constants ignores them, as tf_keras's does
    plain = tfrnn.RNN([tfrnn.GRUCell(2), tfrnn.LSTMCell(2)])
    np.testing.assert_allclose(plain(x, constants=[constants]), plain(x), atol=1e-6)


def test_unknown_cell_class_in_a_config_says_what_to_do(x):
    """Loading a config whose custom cell class is not registered names the
    layer and the class, and says how to make it known."""
    for layer in (
        tfrnn.RNN(ConstantsCell(UNITS), name="conditioned"),
        tfrnn.RNN([MinimalRNNCell(3), MinimalRNNCell(2)], name="stack"),
    ):
        config = tf_keras.layers.serialize(layer)
        with pytest.raises(
            ValueError,
            match=r"(ConstantsCell|MinimalRNNCell).*unknown.*"
            r"@tf_keras\.saving\.register_keras_serializable.*custom_objects",
        ):
            tf_keras.layers.deserialize(config)
        with pytest.raises(ValueError, match=r"'(conditioned|stack)'|StackedRNNCells"):
            tf_keras.layers.deserialize(config)
        known = {"ConstantsCell": ConstantsCell, "MinimalRNNCell": MinimalRNNCell}
        restored = tf_keras.layers.deserialize(config, custom_objects=known)
        assert type(restored) is tfrnn.RNN


# ---------------------------------------------------------- 10. custom cells
class ShapedCell(tf_keras.layers.Layer):
    """A cell whose state_size/output_size take each documented form."""

    def __init__(self, kind, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind
        if kind == "int":
            self.state_size, self.output_size = 4, 4
        elif kind == "list":
            self.state_size, self.output_size = [4, 3], 4
        elif kind == "shape":
            self.state_size, self.output_size = tf.TensorShape([4]), tf.TensorShape([4])
        else:  # a (4,) state and a multi-dimensional (2, 3) state
            self.state_size = [tf.TensorShape([4]), tf.TensorShape([2, 3])]
            self.output_size = tf.TensorShape([4])

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 4), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(4, 4), name="recurrent_kernel")
        self.memory_kernel = self.add_weight(shape=(4, 6), name="memory_kernel")

    def call(self, inputs, states):
        h = tf.tanh(tf.matmul(inputs, self.kernel) + tf.matmul(states[0], self.recurrent_kernel))
        if self.kind == "int":
            return h, h
        if self.kind == "shape":
            return h, [h]
        if self.kind == "list":
            return h, [h, 0.5 * states[1] + h[:, :3]]
        memory = states[1] + tf.reshape(tf.matmul(h, self.memory_kernel), [-1, 2, 3])
        return h, [h, memory]

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


def initial_states_for(state_size, rng):
    sizes = state_size if isinstance(state_size, list) else [state_size]
    return [
        tf.constant(rng.normal(size=[BATCH, *tf.TensorShape(s).as_list()]).astype("float32"))
        for s in sizes
    ]


@pytest.mark.parametrize("kind", ["int", "list", "shape", "multi_dim"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_custom_cell_state_sizes(kind, return_sequences, x, rng):
    reference, ours = rnn_twins(
        lambda: ShapedCell(kind),
        x,
        rng,
        return_sequences=return_sequences,
        return_state=True,
    )
    initial_state = initial_states_for(ShapedCell(kind).state_size, rng)
    for call_kwargs in ({}, {"mask": tf.constant(HOLES), "initial_state": initial_state}):
        assert_twins_agree(reference, ours, x, call_kwargs, f"{kind} {list(call_kwargs)}")
    inputs = tf_keras.Input((None, FEATURES))
    symbolic = [tf_keras.Model(inputs, layer(inputs)) for layer in (reference, ours)]
    assert symbolic[1].output_shape == symbolic[0].output_shape
    assert_close(symbolic[1](x), symbolic[0](x), OUTPUT_TOL, "functional model")


def test_list_of_cells_matches_tf_keras(x, rng):
    def make(module):
        return lambda: [
            ShapedCell("multi_dim"),
            module.LSTMCell(3),
            module.GRUCell(2, reset_after=False),
        ]

    kwargs = dict(return_sequences=True, return_state=True)
    reference = tf_keras.layers.RNN(make(tf_keras.layers)(), **kwargs)
    ours = tfrnn.RNN(make(tfrnn)(), **kwargs)
    reference(x)
    ours(x)
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    # as tf_keras: the output, then one entry per cell holding that cell's states
    assert len(ours(x)) == len(reference(x)) == 4
    assert_twins_agree(reference, ours, x, {}, "stacked")
    assert_twins_agree(reference, ours, x, {"mask": tf.constant(HOLES)}, "stacked, masked")


# ------------------------------------------------------------ 11. arguments
@pytest.mark.parametrize("name", ["GRU", "LSTM"])
def test_implementation_0_reads_as_1(name, x, rng):
    ours = getattr(tfrnn, name)(UNITS, implementation=0, return_sequences=True)
    assert ours.implementation == 1 and ours.get_config()["implementation"] == 1
    assert getattr(tfrnn, name + "Cell")(UNITS, implementation=0).implementation == 1
    reference = getattr(tf_keras.layers, name)(UNITS, implementation=1, return_sequences=True)
    reference(x)
    ours(x)
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    assert_twins_agree(reference, ours, x, {"mask": tf.constant(HOLES)}, "implementation 0")


@pytest.mark.parametrize("name", NAMES)
def test_use_bias_false(name, x, rng):
    reference, ours = twins(name, x, rng, use_bias=False, return_state=True)
    assert len(ours.weights) == 2 and ours.cell.bias is None
    assert [w.name.split("/", 1)[1] for w in ours.weights] == [
        w.name.split("/", 1)[1] for w in reference.weights
    ]
    assert_twins_agree(reference, ours, x, {}, "use_bias=False")


@pytest.mark.parametrize(
    "bias_initializer,unit_forget_bias,blocks",
    [
        ("zeros", True, [0.0, 1.0, 0.0, 0.0]),
        ("zeros", False, [0.0, 0.0, 0.0, 0.0]),
        ("ones", True, [1.0, 1.0, 1.0, 1.0]),
        (tf_keras.initializers.Constant(0.3), True, [0.3, 1.0, 0.3, 0.3]),
        (tf_keras.initializers.Constant(0.3), False, [0.3, 0.3, 0.3, 0.3]),
    ],
)
def test_unit_forget_bias(bias_initializer, unit_forget_bias, blocks, x):
    kwargs = dict(bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias)
    ours, reference = tfrnn.LSTM(UNITS, **kwargs), tf_keras.layers.LSTM(UNITS, **kwargs)
    ours(x)
    reference(x)
    expected = np.repeat(np.array(blocks, "float32"), UNITS)  # gates i, f, c, o
    np.testing.assert_allclose(ours.cell.bias.numpy(), expected, atol=1e-7)
    np.testing.assert_allclose(ours.cell.bias.numpy(), reference.cell.bias.numpy(), atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_initializers(name, x):
    kwargs = dict(
        kernel_initializer="ones",
        recurrent_initializer=tf_keras.initializers.Constant(0.25),
        bias_initializer="ones",
    )
    if name == "LSTM":
        kwargs["unit_forget_bias"] = False
    ours = getattr(tfrnn, name)(UNITS, **kwargs)
    ours(x)
    gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}[name]
    kernel, recurrent_kernel, bias = ours.get_weights()
    np.testing.assert_array_equal(kernel, np.ones((FEATURES, gates * UNITS)))
    np.testing.assert_array_equal(recurrent_kernel, np.full((UNITS, gates * UNITS), 0.25))
    bias_shape = (2, 3 * UNITS) if name == "GRU" else (gates * UNITS,)  # reset_after
    np.testing.assert_array_equal(bias, np.ones(bias_shape))
    # seeded random initializers give tf_keras's values
    seeded = dict(
        kernel_initializer=tf_keras.initializers.GlorotUniform(seed=3),
        recurrent_initializer=tf_keras.initializers.Orthogonal(seed=4),
    )
    ours, reference = (
        getattr(tfrnn, name)(UNITS, **seeded),
        getattr(tf_keras.layers, name)(UNITS, **seeded),
    )
    ours(x)
    reference(x)
    assert_close(ours.get_weights(), reference.get_weights(), 1e-6, "seeded initializers")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("return_state", [False, True])
def test_regularizers(name, return_state, x, rng):
    regs = dict(
        kernel_regularizer=tf_keras.regularizers.L2(0.01),
        recurrent_regularizer=tf_keras.regularizers.L1(0.02),
        bias_regularizer=tf_keras.regularizers.L1L2(0.03, 0.04),
        activity_regularizer=tf_keras.regularizers.L2(0.05),
    )
    models = []
    for module in (tf_keras.layers, tfrnn):
        inputs = tf_keras.Input((STEPS, FEATURES))
        layer = getattr(module, name)(
            UNITS, return_sequences=return_state, return_state=return_state, **regs
        )
        models.append(tf_keras.Model(inputs, layer(inputs)))
    reference, ours = models
    randomize(reference, rng)
    ours.set_weights(reference.get_weights())
    kernel, recurrent_kernel, bias = ours.get_weights()
    formulas = [
        0.01 * np.sum(kernel**2),
        0.02 * np.sum(np.abs(recurrent_kernel)),
        0.03 * np.sum(np.abs(bias)) + 0.04 * np.sum(bias**2),
    ]
    weight_losses = [float(v) for v in ours.layers[-1].cell.losses]
    np.testing.assert_allclose(sorted(weight_losses), sorted(formulas), rtol=1e-5)
    reference(x)
    ours(x)  # eager calls: every loss is a value (the activity one for x)
    assert len(ours.losses) == len(reference.losses) > 3  # activity regularization added
    np.testing.assert_allclose(
        sorted(float(v) for v in ours.losses),
        sorted(float(v) for v in reference.losses),
        rtol=1e-5,
    )
    if return_state:
        return
    # and the training loss includes them the same way
    for model in models:
        model.compile(tf_keras.optimizers.SGD(0.0), "mse")
    targets = [np.zeros(np.shape(o), "float32") for o in tf.nest.flatten(reference(x))]
    np.testing.assert_allclose(
        ours.evaluate(x, targets, verbose=0), reference.evaluate(x, targets, verbose=0), rtol=1e-5
    )


@pytest.mark.parametrize("name", NAMES)
def test_constraints_after_a_training_step(name, x, rng):
    constraints = dict(
        kernel_constraint=tf_keras.constraints.NonNeg(),
        recurrent_constraint=tf_keras.constraints.MaxNorm(0.5),
        bias_constraint=tf_keras.constraints.NonNeg(),
    )
    models = []
    for module in (tf_keras.layers, tfrnn):
        model = tf_keras.Sequential(
            [tf_keras.Input((STEPS, FEATURES)), getattr(module, name)(UNITS, **constraints)]
        )
        model.compile(tf_keras.optimizers.SGD(0.5), "mse")
        models.append(model)
    reference, ours = models
    randomize(reference, rng, scale=1.0)  # negative entries, large column norms
    ours.set_weights(reference.get_weights())
    targets = rng.normal(size=(BATCH, UNITS)).astype("float32")
    for model in models:
        model.fit(x, targets, batch_size=BATCH, epochs=1, verbose=0)
    kernel, recurrent_kernel, bias = ours.get_weights()
    assert kernel.min() >= 0 and bias.min() >= 0
    assert np.sqrt((recurrent_kernel**2).sum(axis=0)).max() <= 0.5 + 1e-6
    assert_close(ours.get_weights(), reference.get_weights(), OUTPUT_TOL, "after one step")


# --------------------------------------------------------- 12. hard_sigmoid
def hard_sigmoid(z):
    """Keras 2: clip(0.2 x + 0.5, 0, 1)."""
    return np.clip(0.2 * z + 0.5, 0.0, 1.0)


def numpy_gru_step(x, h, kernel, recurrent_kernel, bias, reset_after):
    u = h.shape[-1]
    if reset_after:
        input_bias, recurrent_bias = bias
    else:
        input_bias, recurrent_bias = bias, np.zeros_like(bias)
    xz, xr, xh = np.split(x @ kernel + input_bias, 3, axis=-1)
    rk = recurrent_kernel
    if reset_after:
        hz, hr, hh = np.split(h @ rk + recurrent_bias, 3, axis=-1)
        pre = [xz + hz, xr + hr]
        z, r = hard_sigmoid(pre[0]), hard_sigmoid(pre[1])
        candidate = np.tanh(xh + r * hh)
    else:
        pre = [xz + h @ rk[:, :u], xr + h @ rk[:, u : 2 * u]]
        z, r = hard_sigmoid(pre[0]), hard_sigmoid(pre[1])
        candidate = np.tanh(xh + (r * h) @ rk[:, 2 * u :])
    return z * h + (1 - z) * candidate, np.concatenate(pre, axis=-1)


def numpy_lstm_step(x, h, c, kernel, recurrent_kernel, bias):
    zi, zf, zc, zo = np.split(x @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
    i, f, o = hard_sigmoid(zi), hard_sigmoid(zf), hard_sigmoid(zo)
    c = f * c + i * np.tanh(zc)
    return o * np.tanh(c), c, np.concatenate([zi, zf, zo], axis=-1)


def test_tf_keras_hard_sigmoid_is_the_keras2_formula():
    z = np.linspace(-6, 6, 241).astype("float32")
    np.testing.assert_allclose(
        tf_keras.activations.hard_sigmoid(tf.constant(z)).numpy(), hard_sigmoid(z), atol=1e-7
    )


@pytest.mark.parametrize(
    "name,extra", [("GRU", {"reset_after": True}), ("GRU", {"reset_after": False}), ("LSTM", {})]
)
def test_hard_sigmoid_gates_follow_the_formula(name, extra, rng):
    steps = 2
    x = rng.normal(size=(BATCH, steps, FEATURES)).astype("float32")
    kwargs = dict(extra, recurrent_activation="hard_sigmoid", return_state=True)
    reference, ours = twins(name, x, rng, **kwargs)
    weights = [rng.normal(0, 2.0, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    reference.set_weights(weights)
    initial = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(n_states(name))]

    h, c, gate_inputs = initial[0].astype("float64"), initial[-1].astype("float64"), []
    for t in range(steps):
        if name == "LSTM":
            h, c, pre = numpy_lstm_step(x[:, t], h, c, *weights)
        else:
            h, pre = numpy_gru_step(x[:, t], h, *weights, extra["reset_after"])
        gate_inputs.append(pre)
    gate_inputs = np.concatenate(gate_inputs).ravel()
    # the check covers both clipped ends and the linear middle
    assert (gate_inputs < -2.5).any() and (gate_inputs > 2.5).any()
    assert (np.abs(gate_inputs) < 2.5).any()
    expected = [h, h, c] if name == "LSTM" else [h, h]

    outputs = ours(x, initial_state=[tf.constant(s) for s in initial])
    assert_close(outputs, expected, OUTPUT_TOL, "tfrnn vs numpy hard_sigmoid")
    reference_outputs = reference(x, initial_state=[tf.constant(s) for s in initial])
    assert_close(reference_outputs, expected, OUTPUT_TOL, "tf_keras vs numpy hard_sigmoid")


# --------------------------------------------------------- 13. initial_state
@pytest.mark.parametrize("name", NAMES)
def test_initial_state_symbolic_and_eager(name, x, rng):
    kwargs = dict(return_sequences=True, return_state=True)
    reference, ours = twins(name, x, rng, **kwargs)
    states = [
        tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32"))
        for _ in range(n_states(name))
    ]
    # eager: outputs and gradients, the initial states' included
    assert_twins_agree(
        reference, ours, x, {"initial_state": states}, "eager initial_state", watch=states
    )
    assert_twins_agree(
        reference,
        ours,
        x,
        {"initial_state": states, "mask": tf.constant(HOLES)},
        "eager initial_state, masked",
        watch=states,
    )
    # symbolic: the initial states are model inputs (keyword and list form)
    sequence = tf_keras.Input((None, FEATURES))
    state_inputs = [tf_keras.Input((UNITS,)) for _ in states]
    models = [
        tf_keras.Model([sequence, *state_inputs], layer(sequence, initial_state=state_inputs))
        for layer in (reference, ours)
    ]
    models.append(tf_keras.Model([sequence, *state_inputs], ours([sequence, *state_inputs])))
    expected = models[0]([x, *states])
    assert_close(models[1]([x, *states]), expected, OUTPUT_TOL, "symbolic initial_state")
    assert_close(models[2]([x, *states]), expected, OUTPUT_TOL, "[x, *states] list input")
    zeros = models[1]([x, *[tf.zeros_like(s) for s in states]])
    assert np.abs(np.asarray(zeros[0]) - np.asarray(expected[0])).max() > 1e-3
