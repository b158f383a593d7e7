"""Many distinct sequence lengths through compiled loops, in a process of its
own for tests/test_xla_auto.py (XLA reads ``XLA_FLAGS`` once per process, so
counting compilations through its dump directory needs a fresh one).

``python xla_lengths_run.py DUMP_DIR`` with ``XLA_FLAGS=--xla_dump_to=DUMP_DIR``
prints one JSON line: for 32 distinct lengths, called eagerly and through a
``tf.function`` whose time axis is unknown, the largest difference from
tf_keras's layer with the same weights, the lengths seen and the XLA
compilations of tfrnn's loop.
"""

import json
import sys

import numpy as np
import tensorflow as tf
import tf_keras
from xla_training_run import compilations

import tfrnn

BATCH, FEATURES, UNITS = 3, 4, 6
LENGTHS = list(range(3, 35))  # 32 distinct lengths


def twins(layer_name: str, **kwargs):
    reference = getattr(tf_keras.layers, layer_name)(UNITS, return_sequences=True, **kwargs)
    ours = getattr(tfrnn, layer_name)(UNITS, return_sequences=True, jit_compile=True, **kwargs)
    x = tf.zeros([BATCH, 5, FEATURES])
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    return reference, ours


def largest_error(reference, run, lengths, masked: bool) -> float:
    rng = np.random.default_rng(0)
    error = 0.0
    for steps in lengths:
        x = tf.constant(rng.normal(size=(BATCH, steps, FEATURES)).astype("float32"))
        mask = None
        if masked:
            rows = np.array([steps, max(1, steps // 2), 1])
            mask = tf.constant(np.arange(steps)[None] < rows[:, None])
        expected = reference(x, mask=mask)
        error = max(error, float(np.max(np.abs(run(x, mask) - expected))))
    return error


def main(dump_dir: str) -> dict:
    reference, ours = twins("LSTM")
    eager_error = largest_error(reference, lambda x, m: ours(x, mask=m), LENGTHS, masked=False)

    reference_gru, gru = twins("GRU", go_backwards=True)
    spec = tf.TensorSpec([None, None, FEATURES])

    @tf.function(input_signature=[spec, tf.TensorSpec([None, None], tf.bool)])
    def masked_call(x, mask):
        return gru(x, mask=mask)

    graph_error = largest_error(reference_gru, masked_call, LENGTHS, masked=True)
    return {
        "lengths": len(LENGTHS),
        "eager_error": eager_error,
        "graph_error": graph_error,
        "compiled": compilations(dump_dir),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
