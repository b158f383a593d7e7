"""Benchmark tfrnn against tf_keras, in one process, with the same weights.

For each case both layers run in interleaved rounds (the order alternates
every round); a round times ``--repeat`` calls of each. The ratio column is
the median over rounds of the paired ratio tf_keras_time / tfrnn_time (above
1.0: tfrnn is faster); the ms columns are the median of each one's own round
times, so their quotient can differ a little from the ratio. tfrnn's layers
run with their default arguments (``jit_compile="auto"``) unless
``--jit-compile`` says otherwise. Each row also gives the first call of
both (trace, XLA compilation where used, one run), and, where asked, two
more candidates against the same tf_keras baseline: tf_keras inside
``tf.function(jit_compile=True)`` (``--keras-jit``) and PyTorch's nn.LSTM /
nn.GRU / nn.RNN when torch is importable (``--torch``; never a dependency).

    python scripts/bench.py                 # every case
    python scripts/bench.py --only lstm     # cases whose name contains 'lstm'
    python scripts/bench.py --quick         # tiny shapes, a smoke run
    python scripts/bench.py --tflite        # batch-1 TFLite latency (see tflite_latency)
    python scripts/bench.py --xla --train   # tfrnn train steps under XLA, tf_keras without
    python scripts/bench.py --varlen        # masked batches, lengths 10-100% (early stop)
    python scripts/bench.py --first-call    # first fit epoch and first predict of a model

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


def twin_layers(case: Case, x: tf.Tensor, jit_compile="auto"):
    reference, ours = case.make(tf_keras.layers), case.make(tfrnn)
    ours.jit_compile = jit_compile
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    return reference, ours


def inference_fn(layer, jit_compile: bool = False):
    return tf.function(
        lambda x, *mask: layer(x, mask=mask[0] if mask else None), jit_compile=jit_compile
    )


def train_step_fn(layer, jit_compile: bool = False):
    optimizer = tf_keras.optimizers.SGD(1e-3)

    @tf.function(jit_compile=jit_compile)
    def step(x, *mask):
        with tf.GradientTape() as tape:
            output = layer(x, mask=mask[0] if mask else None, training=True)
            loss = tf.reduce_mean(tf.square(output))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))
        return loss

    return step


def _wait_for(result) -> None:
    """Block until ``result`` (TensorFlow or PyTorch values) is computed."""
    for value in tf.nest.flatten(result):
        if hasattr(value, "numpy"):
            value.numpy()
        elif hasattr(value, "item"):
            value.item()


def time_calls(fn, args: tuple, repeat: int) -> float:
    """Seconds per call of ``fn(*args)`` (each of ``args`` a tuple: one call a tuple)."""
    calls = args if isinstance(args, list) else [args]
    start = time.perf_counter()
    for _ in range(repeat):
        for call in calls:
            result = fn(*call)
    _wait_for(result)
    return (time.perf_counter() - start) / repeat


def paired_ratio(
    reference_fn, ours_fn, args, rounds: int, repeat: int, our_args=None
) -> tuple[float, float, float]:
    """Median tf_keras/candidate time ratio over interleaved rounds, and both medians."""
    our_args = args if our_args is None else our_args
    for fn, a in ((reference_fn, args), (ours_fn, our_args)):
        time_calls(fn, a, 2)
    ratios, reference_times, our_times = [], [], []
    for round_index in range(rounds):
        if round_index % 2:
            ours_t = time_calls(ours_fn, our_args, repeat)
            ref_t = time_calls(reference_fn, args, repeat)
        else:
            ref_t = time_calls(reference_fn, args, repeat)
            ours_t = time_calls(ours_fn, our_args, repeat)
        ratios.append(ref_t / ours_t)
        reference_times.append(ref_t)
        our_times.append(ours_t)
    return (
        statistics.median(ratios),
        statistics.median(reference_times),
        statistics.median(our_times),
    )


MODES = {"inference": inference_fn, "train step": train_step_fn}


def torch_fn(case: Case, mode: str):
    """PyTorch's layer of ``case`` (LSTM, GRU, SimpleRNN) as ``fn(x)`` and its
    input, or None when torch is missing or has no such layer."""
    try:
        import torch
    except ImportError:
        return None
    kinds = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}
    kind = kinds.get(case.name.split()[0])
    if kind is None:
        return None
    torch.set_num_threads(2)
    batch, steps, features = case.input_shape
    units = int(case.name.split(" u")[-1])
    layer = kind(features, units, batch_first=True)
    x = torch.randn(batch, steps, features)
    if mode == "inference":

        def infer(x):
            with torch.no_grad():
                return layer(x)[0]

        return infer, (x,)
    optimizer = torch.optim.SGD(layer.parameters(), lr=1e-3)

    def train(x):
        optimizer.zero_grad()
        loss = layer(x)[0].square().mean()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return train, (x,)


@dataclass
class Row:
    case: str
    mode: str
    reference_ms: float
    ours_ms: float
    ratio: float
    first_call: tuple[float, float]
    others: dict[str, float]


def run(
    cases: list[Case],
    rounds: int,
    repeat: int,
    modes: list[str],
    xla: bool = False,
    jit_compile="auto",
    keras_jit: bool = False,
    with_torch: bool = False,
) -> list[Row]:
    """One Row per case and mode. ``xla``: tfrnn's functions compiled with
    XLA as a whole; ``keras_jit`` / ``with_torch``: also tf_keras under
    jit_compile and PyTorch against the same tf_keras baseline."""
    rows = []
    rng = np.random.default_rng(0)
    for case in cases:
        x = tf.constant(rng.standard_normal(case.input_shape).astype("float32"))
        reference, ours = twin_layers(case, x, jit_compile)
        for mode in modes:
            reference_fn, ours_fn = MODES[mode](reference), MODES[mode](ours, jit_compile=xla)
            first = tuple(time_calls(fn, (x,), 1) for fn in (reference_fn, ours_fn))
            ratio, ref_t, ours_t = paired_ratio(reference_fn, ours_fn, (x,), rounds, repeat)
            others = {}
            if keras_jit:
                jit_fn = MODES[mode](reference, jit_compile=True)
                others["tf_keras+jit"] = paired_ratio(reference_fn, jit_fn, (x,), rounds, repeat)[
                    0
                ]
            torch_case = torch_fn(case, mode) if with_torch else None
            if torch_case is not None:
                fn, args = torch_case
                others["torch"] = paired_ratio(reference_fn, fn, (x,), rounds, repeat, args)[0]
            row = Row(case.name, mode, ref_t * 1e3, ours_t * 1e3, ratio, first, others)
            rows.append(row)
            extra = "".join(f"  {k} {v:5.2f}" for k, v in others.items())
            print(
                f"{case.name:<32} {mode:<11} tf_keras {ref_t * 1e3:9.2f} ms  "
                f"tfrnn {ours_t * 1e3:9.2f} ms  ratio {ratio:5.2f}  first call: "
                f"tf_keras {first[0]:5.2f} s, tfrnn {first[1]:5.2f} s{extra}",
                flush=True,
            )
    return rows


def varlen_batches(batch: int, steps: int, features: int, sorted_lengths: bool, rng):
    """Eight masked batches with row lengths spread uniformly over 10-100% of
    ``steps``: drawn independently per row, or (``sorted_lengths``) as a
    length-sorted input pipeline gives them (each batch's rows of similar
    length, the batches spread over the range)."""
    calls = []
    for index in range(8):
        if sorted_lengths:
            low = int(steps * (0.1 + 0.9 * index / 8))
            high = int(steps * (0.1 + 0.9 * (index + 1) / 8))
            lengths = rng.integers(max(low, 1), max(high, low + 1) + 1, batch)
        else:
            lengths = rng.integers(int(steps * 0.1), steps + 1, batch)
        x = rng.standard_normal((batch, steps, features)).astype("float32")
        mask = np.arange(steps)[None] < np.minimum(lengths, steps)[:, None]
        calls.append((tf.constant(x), tf.constant(mask)))
    return calls


def run_varlen(rounds: int, repeat: int, quick: bool, jit_compile="auto") -> list[Row]:
    """Masked batches (lengths 10-100%), tf_keras and tfrnn with the same weights."""
    batch, steps, features, units = (4, 10, 8, 16) if quick else (32, 100, 64, 128)
    rng = np.random.default_rng(0)
    rows = []
    for layer_name in ("LSTM", "GRU", "SimpleRNN"):
        case = Case(
            f"{layer_name} b{batch} t{steps} f{features} u{units}",
            (batch, steps, features),
            lambda lib, n=layer_name: getattr(lib, n)(units, return_sequences=True),
        )
        reference, ours = twin_layers(case, tf.zeros(case.input_shape), jit_compile)
        for sorted_lengths in (False, True):
            calls = varlen_batches(batch, steps, features, sorted_lengths, rng)
            label = "sorted lengths" if sorted_lengths else "random lengths"
            for mode in MODES:
                reference_fn, ours_fn = MODES[mode](reference), MODES[mode](ours)
                first = tuple(time_calls(fn, calls, 1) for fn in (reference_fn, ours_fn))
                ratio, ref_t, ours_t = paired_ratio(reference_fn, ours_fn, calls, rounds, repeat)
                row = Row(
                    f"{case.name} {label}", mode, ref_t * 1e3, ours_t * 1e3, ratio, first, {}
                )
                rows.append(row)
                print(
                    f"{row.case:<48} {mode:<11} tf_keras {row.reference_ms:9.2f} ms  "
                    f"tfrnn {row.ours_ms:9.2f} ms (8 batches)  ratio {ratio:5.2f}",
                    flush=True,
                )
    return rows


def first_call_model(lib, vocabulary: int, steps: int):
    """Embedding -> Bidirectional(LSTM) -> GRU -> Dense, built from ``lib``."""
    inputs = tf_keras.Input((steps,), dtype="int32")
    x = tf_keras.layers.Embedding(vocabulary, 32, mask_zero=True)(inputs)
    x = lib.Bidirectional(lib.LSTM(32, return_sequences=True))(x)
    x = lib.GRU(32)(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(x))
    model.compile("adam", "mse")
    return model


def run_first_call(rounds: int, quick: bool) -> None:
    """Seconds to the end of the first ``fit`` epoch and of the first
    ``predict`` of a fresh model, tf_keras and tfrnn alternately."""
    examples, steps, vocabulary = (64, 10, 50) if quick else (512, 40, 1000)
    rng = np.random.default_rng(0)
    lengths = rng.integers(steps // 4, steps + 1, examples)
    tokens = rng.integers(1, vocabulary, (examples, steps))
    tokens[np.arange(steps)[None] >= lengths[:, None]] = 0
    targets = rng.standard_normal((examples, 1)).astype("float32")
    times: dict[str, dict[str, list[float]]] = {
        "tf_keras": {"fit": [], "predict": []},
        "tfrnn": {"fit": [], "predict": []},
    }
    libraries = {"tf_keras": tf_keras.layers, "tfrnn": tfrnn}
    for round_index in range(rounds):
        order = ["tf_keras", "tfrnn"] if round_index % 2 == 0 else ["tfrnn", "tf_keras"]
        for name in order:
            tf_keras.backend.clear_session()
            model = first_call_model(libraries[name], vocabulary, steps)
            start = time.perf_counter()
            model.fit(tokens, targets, batch_size=32, epochs=1, verbose=0)
            times[name]["fit"].append(time.perf_counter() - start)
            start = time.perf_counter()
            model.predict(tokens, batch_size=32, verbose=0)
            times[name]["predict"].append(time.perf_counter() - start)
    print("\n| first call (fresh model) | tf_keras s | tfrnn s | ratio |\n|---|---|---|---|")
    for what in ("fit", "predict"):
        ref, ours = (statistics.median(times[n][what]) for n in ("tf_keras", "tfrnn"))
        label = "fit, first epoch" if what == "fit" else "first predict"
        print(f"| {label} | {ref:.2f} | {ours:.2f} | {ref / ours:.2f} |", flush=True)


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
            time_calls(model_fn, (tf.constant(x),), repeat) for _ in range(rounds)
        )
        print(f"| {layer_name} | tfrnn model, tf.function | {model_ms * 1e3:.2f} | - |")


def _jit_compile_value(text: str):
    return {"auto": "auto", "true": True, "false": False}[text.lower()]


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
        "--xla",
        action="store_true",
        help="compile tfrnn's whole benchmarked functions with XLA (jit_compile=True)",
    )
    parser.add_argument("--train", action="store_true", help="train steps only")
    parser.add_argument(
        "--jit-compile",
        default="auto",
        choices=["auto", "true", "false"],
        help="tfrnn layers' jit_compile argument (default: auto, the layers' default)",
    )
    parser.add_argument(
        "--keras-jit", action="store_true", help="also tf_keras in tf.function(jit_compile=True)"
    )
    parser.add_argument(
        "--torch", action="store_true", help="also PyTorch's layers, when torch is importable"
    )
    parser.add_argument(
        "--varlen", action="store_true", help="masked batches of lengths 10-100%% only"
    )
    parser.add_argument(
        "--first-call",
        action="store_true",
        help="first fit epoch and first predict of a fresh model only",
    )
    args = parser.parse_args()
    print(
        f"tensorflow {tf.__version__}, tf_keras {tf_keras.__version__}, tfrnn {tfrnn.__version__}"
    )
    if args.tflite:
        tflite_latency(args.rounds, args.repeat)
        return
    if args.first_call:
        run_first_call(args.rounds, args.quick)
        return
    print(
        f"ratio = median over {args.rounds} interleaved rounds of tf_keras_time / tfrnn_time; "
        f"ms = median of each one's own times; tfrnn jit_compile={args.jit_compile}"
    )
    jit_compile = _jit_compile_value(args.jit_compile)
    if args.varlen:
        rows = run_varlen(args.rounds, args.repeat, args.quick, jit_compile)
    else:
        cases = all_cases(quick=args.quick)
        cases = [c for c in cases if args.only.lower() in c.name.lower()]
        modes = ["train step"] if args.train else list(MODES)
        if args.xla:
            print("tfrnn in tf.function(jit_compile=True), tf_keras in tf.function")
        rows = run(
            cases,
            args.rounds,
            args.repeat,
            modes,
            xla=args.xla,
            jit_compile=jit_compile,
            keras_jit=args.keras_jit,
            with_torch=args.torch,
        )
    others = sorted({k for row in rows for k in row.others})
    print(
        "\n| case | mode | tf_keras ms | tfrnn ms | ratio | first call s (tf_keras / tfrnn) |"
        + "".join(f" {k} |" for k in others)
    )
    print("|---|---|---|---|---|---|" + "---|" * len(others))
    for row in rows:
        cells = "".join(f" {row.others[k]:.2f} |" if k in row.others else " - |" for k in others)
        print(
            f"| {row.case} | {row.mode} | {row.reference_ms:.2f} | {row.ours_ms:.2f} | "
            f"{row.ratio:.2f} | {row.first_call[0]:.2f} / {row.first_call[1]:.2f} |{cells}"
        )
    if rows:
        print(f"\nlowest ratio: {min(row.ratio for row in rows):.2f}")


def all_cases(quick: bool) -> list[Case]:
    """Every benchmark case; other modules' cases are appended here."""
    return recurrent_cases(QUICK_SHAPES if quick else FULL_SHAPES) + conv_lstm_cases(quick)


if __name__ == "__main__":
    main()
