"""Training under XLA in a process of its own, for tests/test_xla_training.py
(XLA reads ``XLA_FLAGS`` once per process, so counting compilations through
its dump directory needs a fresh one).

``python xla_training_run.py DUMP_DIR`` with ``XLA_FLAGS=--xla_dump_to=DUMP_DIR``
prints one JSON line: the traces of a hand-written training step compiled
with XLA, the losses it gave while its weights changed, how ``fit`` with
``jit_compile=True`` compares with tf_keras's model fitted without XLA, and
the XLA compilations per function.
"""

import collections
import json
import os
import re
import sys

import numpy as np
import tensorflow as tf
import tf_keras

import tfrnn

BATCH, STEPS, FEATURES, UNITS = 4, 7, 3, 5


def hand_written_step() -> dict:
    """Three training steps of an LSTM on a masked batch, its weights given
    new values (same shapes) after each."""
    layer = tfrnn.LSTM(UNITS)
    x = tf.random.normal([BATCH, STEPS, FEATURES])
    mask = tf.sequence_mask([7, 4, 1, 6], STEPS)
    layer(x)
    weights = layer.trainable_weights
    optimizer = tf_keras.optimizers.SGD(0.01)
    optimizer.build(weights)

    @tf.function(jit_compile=True)
    def train_step(x, mask):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, mask=mask, training=True) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    losses, rng = [], np.random.default_rng(0)
    for _ in range(3):
        losses.append(float(train_step(x, mask)))
        for w in weights:
            w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    return {"traces": train_step.experimental_get_tracing_count(), "losses": losses}


def side_by_side(module) -> tf_keras.Model:
    """Masking, then SimpleRNN, GRU (backwards) and LSTM of ``module`` side by side, then Dense."""
    inputs = tf_keras.Input((STEPS, FEATURES))
    masked = tf_keras.layers.Masking()(inputs)
    gru = module.GRU(UNITS, return_sequences=True, go_backwards=True)(masked)
    branches = [
        module.SimpleRNN(UNITS)(masked),
        tf_keras.layers.GlobalAveragePooling1D()(gru),
        module.LSTM(UNITS)(masked),
    ]
    merged = tf_keras.layers.Concatenate()(branches)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(1)(merged))


def fit_against_tf_keras() -> dict:
    """fit(jit_compile=True) on post-padded sequences next to tf_keras's
    twin fitted without XLA from the same weights: the losses of both and
    the largest weight difference at the end."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(8, STEPS, FEATURES)).astype("float32")
    inputs[np.arange(STEPS)[None] >= np.array([7, 4, 1, 6, 2, 7, 5, 3])[:, None]] = 0.0
    targets = rng.normal(size=(8, 1)).astype("float32")
    reference, ours = side_by_side(tf_keras.layers), side_by_side(tfrnn)
    reference.set_weights([0.5 * w for w in reference.get_weights()])
    ours.set_weights(reference.get_weights())
    reference.compile(tf_keras.optimizers.SGD(0.1), "mse")
    ours.compile(tf_keras.optimizers.SGD(0.1), "mse", jit_compile=True)
    fit = dict(batch_size=4, epochs=3, shuffle=False, verbose=0)
    losses = [m.fit(inputs, targets, **fit).history["loss"] for m in (reference, ours)]
    weight_error = max(
        float(np.abs(a - b).max()) for a, b in zip(ours.get_weights(), reference.get_weights())
    )
    return {"reference_losses": losses[0], "losses": losses[1], "weight_error": weight_error}


def compilations(dump_dir: str) -> dict[str, int]:
    """XLA compilations by function: one ``module_<id>.a_inference_<name>_<n>__...``
    ``before_optimizations.txt`` file a compilation."""
    pattern = re.compile(r"module_\d+\.a_inference_(.+?)_\d+__.*before_optimizations\.txt$")
    found = (pattern.match(name) for name in os.listdir(dump_dir))
    return dict(collections.Counter(m.group(1) for m in found if m))


if __name__ == "__main__":
    result = {"step": hand_written_step(), "fit": fit_against_tf_keras()}
    result["compiled"] = compilations(sys.argv[1])
    print(json.dumps(result))
