"""The ``jit_compile`` argument and what it runs: the engine loop compiled with
XLA where "auto" says so, runs stopped at the last unmasked timestep, and
bucket lengths that bound the compilations. The oracle is tf_keras's layer
with the same weights (outputs 1e-5, gradients 1e-4)."""

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn
from tfrnn.engine import batch_pieces, lengths, scan

pytestmark = pytest.mark.usefixtures("auto_xla")  # jit_compile="auto" as users get it

BATCH, STEPS, FEATURES, UNITS = 4, 12, 3, 5


def compiled_functions(concrete) -> list[str]:
    """Names of the functions marked for XLA in ``concrete``'s graph (its own
    and those of the functions it calls)."""
    graph = concrete.graph.as_graph_def()
    return [
        f.signature.name
        for f in graph.library.function
        if f.attr.get("_XlaMustCompile") is not None and f.attr["_XlaMustCompile"].b
    ]


def twins(layer_name, rng, **kwargs):
    reference = getattr(tf_keras.layers, layer_name)(UNITS, **kwargs)
    ours = getattr(tfrnn, layer_name)(UNITS, **kwargs)
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    return reference, ours, x


MASKS = {
    "post-padded": [12, 7, 3, 9],
    "holes": None,
    "one row left": [5, 0, 0, 0],
    "all empty": [0, 0, 0, 0],
}


def mask_for(pattern, rng):
    if MASKS[pattern] is None:
        mask = rng.random((BATCH, STEPS)) > 0.4
        mask[:, 10:] = False
        return tf.constant(mask)
    return tf.sequence_mask(MASKS[pattern], STEPS)


# ------------------------------------------------------------------ argument
@pytest.mark.parametrize("layer_name", ["SimpleRNN", "GRU", "LSTM"])
def test_jit_compile_defaults_to_auto_and_round_trips(layer_name):
    layer = getattr(tfrnn, layer_name)(3)
    assert layer.jit_compile == "auto"
    assert layer.get_config()["jit_compile"] == "auto"
    for value in (True, False):
        config = getattr(tfrnn, layer_name)(3, jit_compile=value).get_config()
        assert getattr(tfrnn, layer_name).from_config(config).jit_compile is value


def test_jit_compile_round_trips_through_rnn_and_conv_lstm():
    rnn = tfrnn.RNN(tfrnn.LSTMCell(3), jit_compile=False)
    assert tfrnn.RNN.from_config(rnn.get_config()).jit_compile is False
    conv = tfrnn.ConvLSTM2D(2, 3, jit_compile=True)
    assert tfrnn.ConvLSTM2D.from_config(conv.get_config()).jit_compile is True


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_bad_jit_compile_names_the_layer(value):
    with pytest.raises(ValueError, match=r"Layer 'enc'.*jit_compile.*'auto', True or False"):
        tfrnn.LSTM(3, jit_compile=value, name="enc")


# ------------------------------------------------------------------ policy
def _compiles(layer, batch, training):
    """Whether a traced call (a training step with a tape when ``training``)
    holds an XLA-compiled function."""
    spec = tf.TensorSpec([batch, STEPS, FEATURES])
    layer(tf.zeros([2, STEPS, FEATURES]))

    def call(x):
        if not training:
            return layer(x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, layer.trainable_weights)

    return bool(compiled_functions(tf.function(call).get_concrete_function(spec)))


@pytest.mark.parametrize(
    "make,batch,training,expected",
    [
        # inference: kernels up to 65536 values compile at any batch size
        (lambda: tfrnn.LSTM(128), 64, False, True),
        (lambda: tfrnn.LSTM(128), None, False, True),
        (lambda: tfrnn.SimpleRNN(256), 32, False, True),
        # larger ones only at small known batch sizes
        (lambda: tfrnn.LSTM(256), 8, False, False),
        (lambda: tfrnn.GRU(256), None, False, False),
        (lambda: tfrnn.GRU(256), 1, False, True),
        # training: batch x kernel values up to 2**19 ...
        (lambda: tfrnn.GRU(128), 8, True, True),
        (lambda: tfrnn.LSTM(128), 32, True, False),
        (lambda: tfrnn.SimpleRNN(32), 64, True, True),
        # ... and with the batch unknown (fit) small kernels only
        (lambda: tfrnn.LSTM(32), None, True, True),
        (lambda: tfrnn.LSTM(64), None, True, False),
        # stacks by their largest cell; ConvLSTM cells stay plain
        (lambda: tfrnn.RNN([tfrnn.GRUCell(8), tfrnn.LSTMCell(16)]), 32, False, True),
        (lambda: tfrnn.RNN([tfrnn.GRUCell(8), tfrnn.LSTMCell(256)]), 32, False, False),
    ],
)
def test_auto_follows_the_measured_rule_on_one_core(make, batch, training, expected, monkeypatch):
    """xla_policy's thresholds where the batch runs whole (measured: README,
    "How it runs")."""
    monkeypatch.setattr(batch_pieces, "parallel_cores", lambda: 1)
    assert _compiles(make(), batch, training) is expected


@pytest.mark.parametrize(
    "make,batch,training,expected",
    [
        # inference: kernels up to 2**18 values (256 LSTM units) at any batch size
        (lambda: tfrnn.LSTM(256), 64, False, True),
        (lambda: tfrnn.GRU(256), None, False, True),
        (lambda: tfrnn.LSTM(512), 32, False, False),
        # a batch too small to cut follows the one-core rule
        (lambda: tfrnn.LSTM(256), 4, False, True),
        (lambda: tfrnn.LSTM(256), 5, False, False),
        # training: batch x units up to 8192, an unknown batch counted as 32
        (lambda: tfrnn.LSTM(128), 64, True, True),
        (lambda: tfrnn.GRU(256), 32, True, True),
        (lambda: tfrnn.GRU(256), 64, True, False),
        (lambda: tfrnn.LSTM(256), None, True, True),
        (lambda: tfrnn.SimpleRNN(512), None, True, False),
    ],
)
def test_auto_follows_the_measured_rule_with_the_batch_in_pieces(
    make, batch, training, expected, monkeypatch
):
    """xla_policy's thresholds where the batch runs in pieces side by side
    (two cores)."""
    monkeypatch.setattr(batch_pieces, "parallel_cores", lambda: 2)
    assert _compiles(make(), batch, training) is expected


def test_auto_leaves_conv_lstm_plain():
    layer = tfrnn.ConvLSTM1D(2, 3, padding="same")
    spec = tf.TensorSpec([2, STEPS, 5, 1])
    layer(tf.zeros(spec.shape))
    assert not compiled_functions(tf.function(lambda x: layer(x)).get_concrete_function(spec))


@pytest.mark.parametrize(
    "make",
    [
        lambda: tfrnn.LSTM(UNITS, jit_compile=False),
        lambda: tfrnn.LSTM(UNITS, unroll=True),
        lambda: tfrnn.RNN(tf_keras.layers.LSTMCell(UNITS)),
    ],
    ids=["jit_compile=False", "unroll", "a foreign cell"],
)
def test_auto_leaves_these_plain(make):
    layer = make()
    spec = tf.TensorSpec([2, STEPS, FEATURES])
    layer(tf.zeros(spec.shape))
    assert not compiled_functions(tf.function(lambda x: layer(x)).get_concrete_function(spec))


def test_under_an_outer_jit_compile_the_layer_just_runs_inside(rng):
    reference, ours, x = twins("LSTM", rng, return_sequences=True)
    outer = tf.function(lambda x: ours(x), jit_compile=True)
    assert not compiled_functions(outer.get_concrete_function(x))  # no nested one
    np.testing.assert_allclose(outer(x), reference(x), atol=OUTPUT_TOL)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tfrnn.SimpleRNN(UNITS, return_sequences=True),
        lambda: tfrnn.GRU(UNITS, go_backwards=True),
        lambda: tfrnn.LSTM(UNITS, return_state=True),
        lambda: tfrnn.Bidirectional(tfrnn.LSTM(UNITS)),
        lambda: tfrnn.RNN(tfrnn.StackedRNNCells([tfrnn.GRUCell(UNITS), tfrnn.LSTMCell(UNITS)])),
    ],
    ids=["SimpleRNN", "GRU", "LSTM", "Bidirectional", "stacked cells"],
)
@pytest.mark.parametrize("training", [False, True])
def test_under_an_outer_jit_compile_no_shape_hangs_on_the_mask(make, training):
    """Inside an outer XLA function a masked run keeps its full length: a
    length read from the mask would be a compile-time constant, so XLA
    would compile once per distinct mask (every batch of ``fit``). The
    HLO must come from the input specs alone, forward and backward."""
    layer = make()
    layer(tf.zeros([2, STEPS, FEATURES]))

    def step(x, mask):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = sum(
                tf.reduce_sum(o) for o in tf.nest.flatten(layer(x, mask=mask, training=training))
            )
        return total, tape.gradient(total, [x, *layer.trainable_weights])

    outer = tf.function(step, jit_compile=True)
    specs = tf.TensorSpec([2, STEPS, FEATURES]), tf.TensorSpec([2, STEPS], tf.bool)
    assert "ENTRY" in outer.experimental_get_compiler_ir(*specs)(stage="hlo")


def test_a_gradient_without_training_true_runs_plain_and_matches(rng):
    """Inference compiled, but a tape recording: TensorFlow cannot
    differentiate a compiled loop from outside, so the run stays plain."""
    reference, ours, x = twins("GRU", rng, reset_after=False)
    ours.jit_compile = True

    def grads(layer, training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=training) ** 2)
        return tape.gradient(loss, [x, *layer.trainable_weights])

    for training in (None, False, True):
        for got, want in zip(grads(ours, training), grads(reference, training)):
            np.testing.assert_allclose(got, want, atol=GRAD_TOL)


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("pattern", list(MASKS))
@pytest.mark.parametrize(
    "go_backwards,jit_compile",
    [(False, True), (True, True), (True, False)],
    ids=["compiled", "compiled-backwards", "plain-backwards"],
)
@pytest.mark.parametrize("layer_name", ["SimpleRNN", "GRU", "LSTM"])
def test_masked_runs_stop_early_with_tf_keras_numbers(
    layer_name, go_backwards, jit_compile, pattern, rng
):
    """Stopped early (and, compiled, padded to a bucket length): outputs and
    states of the full run, eager and traced, with and without
    zero_output_for_mask."""
    reference, ours, x = twins(
        layer_name, rng, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    ours.jit_compile = jit_compile
    mask = mask_for(pattern, rng)
    for zero_output_for_mask in (False, True):
        reference.zero_output_for_mask = ours.zero_output_for_mask = zero_output_for_mask
        expected = reference(x, mask=mask)
        for call in (ours, tf.function(ours)):
            for got, want in zip(call(x, mask=mask), expected):
                np.testing.assert_allclose(got, want, atol=OUTPUT_TOL)


@pytest.mark.parametrize("layer_name", ["GRU", "LSTM"])
def test_stopped_early_training_gradients_match(layer_name, rng):
    reference, ours, x = twins(layer_name, rng, return_sequences=True)
    mask = tf.sequence_mask([6, 2, 5, 1], STEPS)

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, mask=mask, training=True) ** 2)
        return tape.gradient(loss, [x, *layer.trainable_weights])

    for got, want in zip(tf.function(lambda: grads(ours))(), grads(reference)):
        np.testing.assert_allclose(got, want, atol=GRAD_TOL)


def test_bidirectional_and_time_unknown_inputs_match(rng):
    reference = tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(UNITS, return_sequences=True))
    ours = tfrnn.Bidirectional(tfrnn.LSTM(UNITS, return_sequences=True))
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    mask = tf.sequence_mask([12, 4, 7, 1], STEPS)
    call = tf.function(
        lambda x, m: ours(x, mask=m),
        input_signature=[
            tf.TensorSpec([None, None, FEATURES]),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    np.testing.assert_allclose(call(x, mask), reference(x, mask=mask), atol=OUTPUT_TOL)


@pytest.mark.parametrize("make", [tfrnn.LSTM, tfrnn.GRU, tfrnn.SimpleRNN])
def test_a_fixed_batch_and_an_open_time_axis_build_and_predict(make, rng):
    """A Keras input of fixed batch size and unknown length: the compiled
    run's states and steps keep the same static batch."""
    inputs = tf_keras.Input((None, FEATURES), batch_size=2)
    model = tf_keras.Model(inputs, make(UNITS, return_sequences=True)(inputs))
    reference = tf_keras.Model(
        inputs, getattr(tf_keras.layers, make.__name__)(UNITS, return_sequences=True)(inputs)
    )
    reference.set_weights(model.get_weights())
    x = rng.normal(size=(2, STEPS, FEATURES)).astype("float32")
    np.testing.assert_allclose(
        model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=OUTPUT_TOL
    )


def test_a_compiled_layer_deep_copies(rng):
    """Its compiled functions are a cache: a deep copy starts without them."""
    layer = tfrnn.Bidirectional(tfrnn.LSTM(UNITS, return_sequences=True, jit_compile=True))
    x = tf.constant(rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32"))
    expected = layer(x)
    np.testing.assert_allclose(copy.deepcopy(layer)(x), expected, atol=OUTPUT_TOL)


def test_a_right_padded_run_steps_only_to_the_longest_row():
    """A cell that counts its steps: a batch whose longest row is 5 of 12
    timesteps runs 5 steps (rounded up to a whole block of the loop), with
    the outputs tf_keras's RNN gives."""

    class CountingCell(tf_keras.layers.Layer):
        state_size = 2
        output_size = 2

        def build(self, input_shape):
            self.steps = self.add_weight("steps", (), initializer="zeros", trainable=False)

        def call(self, inputs, states):
            with tf.control_dependencies([self.steps.assign_add(1.0)]):
                h = states[0] + tf.reduce_sum(inputs, -1, keepdims=True)
            return h, [h]

    x = tf.ones([3, STEPS, 2])
    mask = tf.sequence_mask([5, 2, 4], STEPS)
    for go_backwards in (False, True):
        cell = CountingCell()
        layer = tfrnn.RNN(cell, return_sequences=True, go_backwards=go_backwards)
        expected = tf_keras.layers.RNN(
            CountingCell(), return_sequences=True, go_backwards=go_backwards
        )(x, mask=mask)
        got = layer(x, mask=mask)
        assert 5 <= float(cell.steps) < 5 + scan.STEPS_PER_ITERATION
        np.testing.assert_allclose(got, expected, atol=OUTPUT_TOL)


def test_bucket_lengths():
    assert [int(lengths.bucket_length(n)) for n in (1, 3, 5, 7, 9, 13, 17, 25, 33, 97)] == [
        1,
        3,
        6,
        8,
        12,
        16,
        24,
        32,
        48,
        128,
    ]
    assert int(lengths.active_length(tf.zeros([7, 2], tf.bool))) == 1


# ------------------------------------------------------------------ export
def test_exported_artifacts_hold_no_compiled_function(tmp_path, rng):
    from tfrnn.export import export_saved_model

    inputs = tf_keras.Input((STEPS, FEATURES))
    model = tf_keras.Model(inputs, tfrnn.GRU(UNITS)(inputs))
    x = rng.normal(size=(2, STEPS, FEATURES)).astype("float32")
    expected = model.predict(x, verbose=0)
    export_saved_model(model, str(tmp_path / "sm"))
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    serving = loaded.signatures["serving_default"]
    assert not compiled_functions(serving)
    (got,) = serving(tf.constant(x)).values()
    np.testing.assert_allclose(got, expected, atol=OUTPUT_TOL)
    model.save(str(tmp_path / "keras_sm"))  # tf_keras's own SavedModel
    reloaded = tf_keras.models.load_model(str(tmp_path / "keras_sm"))
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=OUTPUT_TOL)


# ------------------------------------------------------------------ compilations
@pytest.mark.slow
def test_many_lengths_compile_a_bounded_number_of_times(tmp_path):
    """32 distinct lengths, eagerly (no mask) and through a tf.function with
    an unknown time axis (masked, go_backwards): tf_keras's numbers, and
    compilations bounded by the exact lengths plus the bucket lengths."""
    script = os.path.join(os.path.dirname(__file__), "xla_lengths_run.py")
    env = dict(os.environ, XLA_FLAGS=f"--xla_dump_to={tmp_path}", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=os.path.dirname(__file__),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["lengths"] == 32
    assert report["eager_error"] < OUTPUT_TOL
    assert report["graph_error"] < OUTPUT_TOL
    runs = sum(n for name, n in report["compiled"].items() if name.startswith("run"))
    # lengths 3..34: 4 exact lengths, then buckets 6, 8, 12, 16, 24, 32, 48
    # (eager); buckets 3, 4, 6, 8, 12, 16, 24, 32, 48 (graph)
    assert runs <= 4 + 7 + 9, report["compiled"]


def test_the_environment_switch_turns_auto_off_but_not_true(monkeypatch):
    monkeypatch.setenv("TFRNN_JIT_COMPILE", "0")
    spec = tf.TensorSpec([2, STEPS, FEATURES])
    for value, compiled in (("auto", False), (True, True)):
        layer = tfrnn.LSTM(UNITS, jit_compile=value)
        layer(tf.zeros(spec.shape))
        concrete = tf.function(lambda x, layer=layer: layer(x)).get_concrete_function(spec)
        assert bool(compiled_functions(concrete)) is compiled
