"""Training under XLA: every layer's outputs and gradients inside
``tf.function(jit_compile=True)`` against tf_keras's layer with identical
weights run without XLA (the hand-written gradient and automatic
differentiation both), ``fit`` with ``jit_compile=True``, and one XLA
compilation per input shape however the weights change.

Outputs and states within OUTPUT_TOL, gradients within GRAD_TOL (float32).
"""

import collections
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from custom_cells import ConstantsCell
from tf_keras.src.layers.rnn import dropout_rnn_cell_mixin
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn
from tfrnn.cell_math import steps

pytestmark = pytest.mark.usefixtures("auto_xla")  # jit_compile="auto" as users get it

# 7 timesteps: one block of 4 and three single steps
BATCH, STEPS, FEATURES, UNITS = 4, 7, 3, 5
LENGTHS = np.array([7, 4, 1, 6])


def post_padded_mask() -> tf.Tensor:
    return tf.constant(np.arange(STEPS)[None] < LENGTHS[:, None])


def weighted_sum(t: tf.Tensor) -> tf.Tensor:
    weights = tf.sin(tf.reshape(tf.range(tf.size(t), dtype=t.dtype), tf.shape(t)))
    return tf.reduce_sum(t * weights)


def outputs_and_grads(layer, x, call_kwargs):
    """Outputs, and the gradients of their weighted sum with respect to the
    inputs, the initial states and the weights (training=True)."""
    initial = list(call_kwargs.get("initial_state", []))
    with tf.GradientTape() as tape:
        tape.watch([x, *initial])
        outputs = tf.nest.flatten(layer(x, training=True, **call_kwargs))
        loss = tf.add_n([weighted_sum(o) for o in outputs])
    return outputs, tape.gradient(loss, [x, *initial, *layer.trainable_weights])


def twins(reference, ours, x, rng, **call_kwargs):
    """Build both layers on ``x``; ``ours`` takes ``reference``'s random weights."""
    reference(x, **call_kwargs)
    ours(x, **call_kwargs)
    reference.set_weights(
        [rng.normal(0, 0.5, w.shape).astype("float32") for w in reference.get_weights()]
    )
    ours.set_weights(reference.get_weights())
    return reference, ours


@pytest.fixture
def hand_written_runs(monkeypatch):
    """Counts the layers run by the engine's hand-written gradient."""
    calls = collections.Counter()
    original = steps.scan_with_gradient

    def counted(*args, **kwargs):
        calls["hand-written"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(steps, "scan_with_gradient", counted)
    return calls


def assert_xla_matches(reference, ours, x, call_kwargs, hand_written_runs, hand_written):
    """``ours`` trained under XLA gives ``reference``'s numbers without it, by
    the hand-written gradient exactly when ``hand_written``."""
    want_outputs, want_grads = outputs_and_grads(reference, x, call_kwargs)
    compiled = tf.function(outputs_and_grads, jit_compile=True)
    got_outputs, got_grads = compiled(ours, x, call_kwargs)
    assert (hand_written_runs["hand-written"] > 0) == hand_written
    assert len(got_outputs) == len(want_outputs) and len(got_grads) == len(want_grads)
    for got, want in zip(got_outputs, want_outputs):
        np.testing.assert_allclose(got, want, atol=OUTPUT_TOL, rtol=0, err_msg="outputs")
    for got, want in zip(got_grads, want_grads):
        np.testing.assert_allclose(got, want, atol=GRAD_TOL, rtol=0, err_msg="gradients")


# name, layer arguments, post-padded mask, initial state, hand-written gradient
ALL_OUTPUTS = {"return_sequences": True, "return_state": True}
LAYER_CASES = [
    ("SimpleRNN", {**ALL_OUTPUTS, "go_backwards": True}, True, False, True),
    ("GRU", ALL_OUTPUTS, True, True, True),
    ("GRU", {**ALL_OUTPUTS, "reset_after": False, "go_backwards": True}, True, True, False),
    ("LSTM", ALL_OUTPUTS, False, True, True),
]


@pytest.mark.parametrize(
    "name,kwargs,masked,with_initial_state,hand_written",
    LAYER_CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(LAYER_CASES)],
)
def test_layer_trains_under_xla_as_tf_keras(
    name, kwargs, masked, with_initial_state, hand_written, hand_written_runs, rng
):
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    reference, ours = twins(
        getattr(tf_keras.layers, name)(UNITS, **kwargs),
        getattr(tfrnn, name)(UNITS, **kwargs),
        x,
        rng,
    )
    call_kwargs = {}
    if masked:
        call_kwargs["mask"] = post_padded_mask()
    if with_initial_state:
        call_kwargs["initial_state"] = [
            tf.constant(rng.normal(size=(BATCH, UNITS)).astype("float32"))
            for _ in range(2 if name == "LSTM" else 1)
        ]
    assert_xla_matches(reference, ours, x, call_kwargs, hand_written_runs, hand_written)


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("name", ["GRU", "LSTM"])
def test_sequences_shorter_than_a_block_train_compiled_as_tf_keras(name, steps, rng):
    """The layer's own compiled run (jit_compile=True) over fewer timesteps
    than the plain loop's block, trained through the hand-written gradient."""
    x = tf.constant(rng.normal(size=(BATCH, steps, FEATURES)).astype("float32"))
    reference, ours = twins(
        getattr(tf_keras.layers, name)(UNITS, return_sequences=True),
        getattr(tfrnn, name)(UNITS, return_sequences=True, jit_compile=True),
        x,
        rng,
    )
    (want_outputs, want_grads), (got_outputs, got_grads) = (
        outputs_and_grads(layer, x, {}) for layer in (reference, ours)
    )
    np.testing.assert_allclose(got_outputs[0], want_outputs[0], atol=OUTPUT_TOL, rtol=0)
    for got, want in zip(got_grads, want_grads):
        np.testing.assert_allclose(got, want, atol=GRAD_TOL, rtol=0)


def test_bidirectional_trains_under_xla_as_tf_keras(hand_written_runs, rng):
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    reference, ours = twins(
        tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(UNITS, return_sequences=True)),
        tfrnn.Bidirectional(tfrnn.LSTM(UNITS, return_sequences=True)),
        x,
        rng,
    )
    call_kwargs = {"mask": post_padded_mask()}
    assert_xla_matches(reference, ours, x, call_kwargs, hand_written_runs, hand_written=True)


def test_conv_lstm_trains_under_xla_as_tf_keras(hand_written_runs, rng):
    x = tf.constant(rng.normal(size=(2, 5, 6, 6, 2)).astype("float32"))
    kwargs = dict(filters=3, kernel_size=3, padding="same", return_sequences=True)
    reference, ours = twins(
        tf_keras.layers.ConvLSTM2D(**kwargs), tfrnn.ConvLSTM2D(**kwargs), x, rng
    )
    assert_xla_matches(reference, ours, x, {}, hand_written_runs, hand_written=False)


def test_custom_cell_trains_under_xla_as_tf_keras(hand_written_runs, rng):
    """A Keras cell of its own (with constants) in tfrnn.RNN."""
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    constants = [tf.constant(rng.normal(size=(BATCH, 3)).astype("float32"))]
    reference, ours = twins(
        tf_keras.layers.RNN(ConstantsCell(UNITS), return_sequences=True),
        tfrnn.RNN(ConstantsCell(UNITS), return_sequences=True),
        x,
        rng,
        constants=constants,
    )
    call_kwargs = {"constants": constants, "mask": post_padded_mask()}
    assert_xla_matches(reference, ours, x, call_kwargs, hand_written_runs, hand_written=False)


def fixed_mask(ones: tf.Tensor, rate: float, **_) -> tf.Tensor:
    """A dropout mask that does not depend on random bits (XLA draws other
    ones than TensorFlow's kernels): a fixed pattern, scaled like dropout's."""
    index = tf.reshape(tf.range(tf.size(ones)), tf.shape(ones))
    kept = tf.cast((index * 7 + int(rate * 10)) % 5 < 3, ones.dtype)
    return ones * kept / (1.0 - rate)


@pytest.fixture
def fixed_dropout(monkeypatch):
    """tfrnn's and tf_keras's dropout masks both from ``fixed_mask``."""
    monkeypatch.setattr(tf.nn, "dropout", fixed_mask)

    def keras_masks(generator, ones, rate, training=None, count=1):
        return [fixed_mask(ones, rate)] * count if count > 1 else fixed_mask(ones, rate)

    monkeypatch.setattr(dropout_rnn_cell_mixin, "_generate_dropout_mask", keras_masks)


DROPOUT_CASES = [
    ("GRU", {"implementation": 1}, False),
    ("LSTM", {"implementation": 1}, False),
    ("LSTM", {"implementation": 2}, True),
]


@pytest.mark.parametrize(
    "name,kwargs,hand_written",
    DROPOUT_CASES,
    ids=[f"{n}-implementation{k['implementation']}" for n, k, _ in DROPOUT_CASES],
)
def test_recurrent_dropout_trains_under_xla_as_tf_keras(
    name, kwargs, hand_written, fixed_dropout, hand_written_runs, rng
):
    """Input and recurrent dropout on a masked batch: per-gate masks
    (implementation 1) differentiate automatically, one mask
    (implementation 2) through the hand-written gradient."""
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    kwargs = dict(kwargs, dropout=0.2, recurrent_dropout=0.3, return_sequences=True)
    reference, ours = twins(
        getattr(tf_keras.layers, name)(UNITS, **kwargs),
        getattr(tfrnn, name)(UNITS, **kwargs),
        x,
        rng,
    )
    call_kwargs = {"mask": post_padded_mask()}
    assert_xla_matches(reference, ours, x, call_kwargs, hand_written_runs, hand_written)


class OwnProcess:
    """tests/xla_training_run.py in a process of its own, XLA dumping every
    compilation (XLA reads its flags once per process); it runs beside the
    module's other tests until a test asks for its ``report``."""

    def __init__(self, dump_dir: str) -> None:
        script = os.path.join(os.path.dirname(__file__), "xla_training_run.py")
        env = dict(os.environ, XLA_FLAGS=f"--xla_dump_to={dump_dir}", TF_CPP_MIN_LOG_LEVEL="3")
        self._process = subprocess.Popen(
            [sys.executable, script, dump_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._report = None

    def report(self) -> dict:
        if self._report is None:
            stdout, stderr = self._process.communicate(timeout=600)
            assert self._process.returncode == 0, stderr[-3000:]
            self._report = json.loads(stdout.strip().splitlines()[-1])
        return self._report

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


@pytest.fixture(scope="module", autouse=True)
def own_process(tmp_path_factory):
    run = OwnProcess(str(tmp_path_factory.mktemp("xla")))
    yield run
    run.stop()


def test_fit_with_jit_compile_tracks_tf_keras(own_process):
    """fit(jit_compile=True) of SimpleRNN, GRU and LSTM side by side on
    post-padded (Masking) sequences: the losses and final weights of
    tf_keras's model fitted without XLA."""
    fit = own_process.report()["fit"]
    np.testing.assert_allclose(fit["losses"], fit["reference_losses"], rtol=1e-4)
    assert fit["weight_error"] < GRAD_TOL


def test_one_compilation_however_the_weights_change(own_process):
    """Same shapes, new weight values: one trace and one XLA compilation of
    a hand-written LSTM training step whose weights the optimizer and
    assignments change, and one compilation of fit's step (SimpleRNN, GRU
    and LSTM) over its six steps."""
    report = own_process.report()
    step = report["step"]
    assert step["traces"] == 1
    assert len(set(step["losses"])) == 3
    assert report["compiled"] == {"train_step": 1, "run_step": 1}
