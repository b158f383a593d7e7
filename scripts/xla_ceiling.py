"""How fast any XLA-compiled recurrent loop can be here: the floor under tfrnn.

For LSTM, GRU and SimpleRNN (tf_keras's default arguments) it times, in
one process and interleaved rounds, with the same weights:

- tf_keras's layer in ``tf.function`` (the baseline of every ratio);
- tf_keras's layer in ``tf.function(jit_compile=True)``;
- the minimal loop: a hand-written ``tf.while_loop`` holding nothing but
  the step's two matmuls and its gate arithmetic, compiled with XLA, its
  result checked against tf_keras's (no masks, no states returned, no
  generality): what an engine compiled with XLA could reach at best;
- tfrnn's layer with its default ``jit_compile="auto"``.

The order alternates every round; ratios are medians over rounds of
tf_keras_time / candidate_time.

    python scripts/xla_ceiling.py                 # batch 1 and 32
    python scripts/xla_ceiling.py --batch 32 --rounds 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import tfrnn  # noqa: E402

STEPS, FEATURES, UNITS = 100, 64, 128


def _lstm_step(z, states):
    h, c = states
    i, f, g, o = tf.split(z, 4, axis=1)
    c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
    return [tf.sigmoid(o) * tf.tanh(c), c]


def minimal_loop(kind: str, weights: list[np.ndarray]):
    """``f(x) -> last output``: the bare recurrence of ``kind`` (tf_keras's
    default activations; GRU with reset_after), batch-major ``x``."""
    kernel, recurrent, bias = (tf.constant(w) for w in weights)
    units = recurrent.shape[0]

    def body(t, x_t_of, states):
        x_t = x_t_of(t)
        h = states[0]
        if kind == "LSTM":
            return _lstm_step(tf.matmul(x_t, kernel) + tf.matmul(h, recurrent) + bias, states)
        if kind == "SimpleRNN":
            return [tf.tanh(tf.matmul(x_t, kernel) + tf.matmul(h, recurrent) + bias)]
        x_z, x_r, x_h = tf.split(tf.matmul(x_t, kernel) + bias[0], 3, axis=1)
        h_z, h_r, h_h = tf.split(tf.matmul(h, recurrent) + bias[1], 3, axis=1)
        z, r = tf.sigmoid(x_z + h_z), tf.sigmoid(x_r + h_r)
        return [z * h + (1 - z) * tf.tanh(x_h + r * h_h)]

    def run(x):
        time_major = tf.transpose(x, [1, 0, 2])
        batch = tf.shape(x)[0]
        count = 2 if kind == "LSTM" else 1
        states = [tf.zeros([batch, units]) for _ in range(count)]
        _, states = tf.while_loop(
            lambda t, _: t < STEPS,
            lambda t, s: (t + 1, body(t, lambda i: time_major[i], s)),
            (0, states),
        )
        return states[0]

    return tf.function(run, jit_compile=True)


def measure(kind: str, batch: int, rounds: int) -> dict[str, float]:
    x = tf.random.normal([batch, STEPS, FEATURES], seed=1)
    reference = getattr(tf_keras.layers, kind)(UNITS)
    reference(x)
    ours = getattr(tfrnn, kind)(UNITS)
    ours(x)
    ours.set_weights(reference.get_weights())
    candidates = {
        "tf_keras": tf.function(lambda x: reference(x)),
        "tf_keras+jit": tf.function(lambda x: reference(x), jit_compile=True),
        "minimal XLA loop": minimal_loop(kind, reference.get_weights()),
        "tfrnn": tf.function(lambda x: ours(x)),
    }
    expected = reference(x).numpy()
    for name, fn in candidates.items():
        np.testing.assert_allclose(fn(x), expected, atol=1e-5, err_msg=name)
    repeat = max(3, 300 // batch)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for round_index in range(rounds):
        order = list(candidates.items())
        for name, fn in order if round_index % 2 else reversed(order):
            start = time.perf_counter()
            for _ in range(repeat):
                out = fn(x)
            out.numpy()
            times[name].append((time.perf_counter() - start) / repeat * 1e3)
    base = np.array(times["tf_keras"])
    return {
        name: (statistics.median(t), float(np.median(base / np.array(t))))
        for name, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, action="append", help="default: 1 and 32")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"tensorflow {tf.__version__}; time {STEPS}, features {FEATURES}, units {UNITS}")
    print("ms = median per call; x = median ratio tf_keras_time / candidate_time")
    for batch in args.batch or [1, 32]:
        for kind in ("LSTM", "GRU", "SimpleRNN"):
            row = measure(kind, batch, args.rounds)
            cells = "  ".join(
                f"{name} {ms:.2f} ms x{ratio:.2f}" for name, (ms, ratio) in row.items()
            )
            print(f"{kind:9s} b{batch:<3d} {cells}", flush=True)


if __name__ == "__main__":
    main()
