"""Benchmark tfrnn against tf_keras, in one process, with the same weights.

For each case both layers run in interleaved rounds (the order alternates
every round); a round times ``--repeat`` calls of each. The table gives the
median over rounds of the paired ratio tf_keras_time / tfrnn_time: above 1.0
means tfrnn is faster.

    python scripts/bench.py                 # every case
    python scripts/bench.py --only lstm     # cases whose name contains 'lstm'
    python scripts/bench.py --quick         # tiny shapes, a smoke run
    python scripts/bench.py --tflite        # batch-1 TFLite latency (see tflite_latency)
    python scripts/bench.py --xla --train   # tfrnn train steps under XLA, tf_keras without

With ``--xla`` tfrnn's functions are compiled with XLA
(``jit_compile=True``) and tf_keras's are not; each row also gives both
functions' first call (trace, compile and one run) in seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import tfrnn  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One benchmarked layer: ``make(lib)`` builds it from tf_keras.layers or tfrnn."""

    name: str
    input_shape: tuple[int, ...]
    make: Callable[[object], tf_keras.layers.Layer]


def recurrent_cases(shapes) -> list[Case]:
    cases = []
    for layer_name in ("LSTM", "GRU", "SimpleRNN"):
        for batch, steps, features, units in shapes:

            def make(lib, layer_name=layer_name, units=units):
                return getattr(lib, layer_name)(units, return_sequences=True)

            cases.append(
                Case(
                    f"{layer_name} b{batch} t{steps} f{features} u{units}",
                    (batch, steps, features),
                    make,
                )
            )
    return cases


def conv_lstm_cases(quick: bool) -> list[Case]:
    """ConvLSTM2D, 3x3 'same': batch 8, time 10, 32x32x8 input, 16 filters."""
    batch, steps, side, channels, filters = (2, 4, 8, 4, 8) if quick else (8, 10, 32, 8, 16)

    def make(lib):
        return lib.ConvLSTM2D(filters, 3, padding="same", return_sequences=True)

    name = f"ConvLSTM2D b{batch} t{steps} {side}x{side}x{channels} f{filters}"
    return [Case(name, (batch, steps, side, side, channels), make)]


FULL_SHAPES = [(32, 100, 64, 128), (64, 200, 128, 256), (1, 100, 64, 128)]
QUICK_SHAPES = [(4, 10, 8, 16)]


def twin_layers(case: Case, x: tf.Tensor):
    reference, ours = case.make(tf_keras.layers), case.make(tfrnn)
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    return reference, ours


def inference_fn(layer, jit_compile: bool = False):
    return tf.function(lambda x: layer(x), jit_compile=jit_compile)


def train_step_fn(layer, jit_compile: bool = False):
    optimizer = tf_keras.optimizers.SGD(1e-3)

    @tf.function(jit_compile=jit_compile)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x, training=True)))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))
        return loss

    return step


def time_calls(fn, x, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn(x)
    tf.nest.map_structure(lambda t: t.numpy(), result)
    return (time.perf_counter() - start) / repeat


def paired_ratio(reference_fn, ours_fn, x, rounds: int, repeat: int) -> tuple[float, float, float]:
    """Median tf_keras/tfrnn time ratio over interleaved rounds, and both medians."""
    for fn in (reference_fn, ours_fn):
        time_calls(fn, x, 2)
    ratios, reference_times, our_times = [], [], []
    for round_index in range(rounds):
        if round_index % 2:
            ours_t = time_calls(ours_fn, x, repeat)
            ref_t = time_calls(reference_fn, x, repeat)
        else:
            ref_t = time_calls(reference_fn, x, repeat)
            ours_t = time_calls(ours_fn, x, repeat)
        ratios.append(ref_t / ours_t)
        reference_times.append(ref_t)
        our_times.append(ours_t)
    return (
        statistics.median(ratios),
        statistics.median(reference_times),
        statistics.median(our_times),
    )


MODES = {"inference": inference_fn, "train step": train_step_fn}


def run(
    cases: list[Case], rounds: int, repeat: int, modes: list[str], xla: bool = False
) -> list[tuple[str, str, float, float, float]]:
    """Rows of (case, mode, tf_keras ms, tfrnn ms, ratio); ``xla``: tfrnn's
    functions compiled with XLA, and both first calls printed."""
    rows = []
    rng = np.random.default_rng(0)
    for case in cases:
        x = tf.constant(rng.standard_normal(case.input_shape).astype("float32"))
        reference, ours = twin_layers(case, x)
        for mode in modes:
            reference_fn, ours_fn = MODES[mode](reference), MODES[mode](ours, jit_compile=xla)
            first = ""
            if xla:
                ref_first, ours_first = (time_calls(fn, x, 1) for fn in (reference_fn, ours_fn))
                first = f"  first call: tf_keras {ref_first:6.2f} s, tfrnn {ours_first:6.2f} s"
            ratio, ref_t, ours_t = paired_ratio(reference_fn, ours_fn, x, rounds, repeat)
            rows.append((case.name, mode, ref_t * 1e3, ours_t * 1e3, ratio))
            print(
                f"{case.name:<32} {mode:<11} tf_keras {ref_t * 1e3:9.2f} ms  "
                f"tfrnn {ours_t * 1e3:9.2f} ms  ratio {ratio:5.2f}{first}",
                flush=True,
            )
    return rows


def _tflite_artifact(converter) -> tuple[bytes | None, str]:
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert(), ""
    except Exception as err:  # report, do not hide, a failed conversion
        return None, str(err).strip().splitlines()[-1][:120]


def _invoke_ms(content: bytes, x: np.ndarray, rounds: int, repeat: int) -> float:
    from tfrnn.export import run_tflite
    from tfrnn.export.tflite import interpreter

    runner = interpreter(content)
    (name,) = runner.get_signature_list()["serving_default"]["inputs"]
    run_tflite(runner, {name: x})
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            run_tflite(runner, {name: x})
        times.append((time.perf_counter() - start) / repeat)
    return statistics.median(times) * 1e3


def tflite_latency(rounds: int, repeat: int) -> None:
    """Batch-1 latency (T=100, 64 features, 128 units) of the LSTM and GRU
    models as tfrnn's TFLite artifacts (dynamic batch; and fixed batch 1,
    where the LSTM fuses), tf_keras's converted artifacts of the same
    weights (builtin ops only), and the tfrnn model in tf.function."""
    from tfrnn.export import export_tflite, tflite_ops

    x = np.random.default_rng(0).standard_normal((1, 100, 64)).astype("float32")
    print("\n| model | artifact | ms (batch 1) | ops |\n|---|---|---|---|")
    for layer_name in ("LSTM", "GRU"):
        for batch_size in (None, 1):
            models = {}
            for lib, key in ((tf_keras.layers, "tf_keras"), (tfrnn, "tfrnn")):
                inputs = tf_keras.Input((None, 64), batch_size=batch_size, name="x")
                out = getattr(lib, layer_name)(128, return_sequences=True)(inputs)
                models[key] = tf_keras.Model(inputs, out)
            models["tfrnn"].set_weights(models["tf_keras"].get_weights())
            batch = "dynamic batch" if batch_size is None else "batch 1"
            path = f"/tmp/tfrnn_bench_{layer_name}_{batch_size}.tflite"
            report = export_tflite(models["tfrnn"], path, batch_size=batch_size, overwrite=True)
            with open(path, "rb") as f:
                ours = f.read()
            theirs, error = _tflite_artifact(
                tf.lite.TFLiteConverter.from_keras_model(models["tf_keras"])
            )
            rows = [(f"tfrnn ({batch})", ours, ", ".join(report.ops))]
            if theirs is None:
                print(f"| {layer_name} | tf_keras ({batch}) | conversion failed | {error} |")
            else:
                ops = ", ".join(tflite_ops(theirs))
                rows.append((f"tf_keras ({batch})", theirs, ops))
            for label, content, ops in rows:
                ms = _invoke_ms(content, x, rounds, repeat)
                print(f"| {layer_name} | {label} | {ms:.2f} | {ops} |", flush=True)
        model_fn = inference_fn(models["tfrnn"])
        model_ms = statistics.median(
            time_calls(model_fn, tf.constant(x), repeat) for _ in range(rounds)
        )
        print(f"| {layer_name} | tfrnn model, tf.function | {model_ms * 1e3:.2f} | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="run cases whose name contains this (case-insensitive)"
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny shapes (smoke run)")
    parser.add_argument("--tflite", action="store_true", help="TFLite batch-1 latency only")
    parser.add_argument(
        "--xla", action="store_true", help="compile tfrnn's functions with XLA (jit_compile=True)"
    )
    parser.add_argument("--train", action="store_true", help="train steps only")
    args = parser.parse_args()
    if args.tflite:
        tflite_latency(args.rounds, args.repeat)
        return
    cases = all_cases(quick=args.quick)
    cases = [c for c in cases if args.only.lower() in c.name.lower()]
    print(
        f"tensorflow {tf.__version__}, tf_keras {tf_keras.__version__}, tfrnn {tfrnn.__version__}"
    )
    print(f"ratio = median over {args.rounds} interleaved rounds of tf_keras_time / tfrnn_time")
    modes = ["train step"] if args.train else list(MODES)
    if args.xla:
        print("tfrnn in tf.function(jit_compile=True), tf_keras in tf.function")
    rows = run(cases, args.rounds, args.repeat, modes, xla=args.xla)
    print("\n| case | mode | tf_keras ms | tfrnn ms | ratio |\n|---|---|---|---|---|")
    for name, mode, ref_ms, ours_ms, ratio in rows:
        print(f"| {name} | {mode} | {ref_ms:.2f} | {ours_ms:.2f} | {ratio:.2f} |")
    if rows:
        print(f"\nlowest ratio: {min(r[4] for r in rows):.2f}")


def all_cases(quick: bool) -> list[Case]:
    """Every benchmark case; other modules' cases are appended here."""
    return recurrent_cases(QUICK_SHAPES if quick else FULL_SHAPES) + conv_lstm_cases(quick)


if __name__ == "__main__":
    main()
