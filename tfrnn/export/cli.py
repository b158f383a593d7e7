"""``tfrnn-export MODEL OUT``: a saved Keras model to a SavedModel or a .tflite file."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from tfrnn.cli_support import (
    EXIT_BAD_INPUT,
    check_room,
    cli_signals,
    interrupted_exit,
    naming,
)

PROG = "tfrnn-export"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export a saved Keras model holding tfrnn layers (.keras, .h5 or "
        "SavedModel) to a SavedModel directory or a TFLite file.",
        epilog="Security: a .keras or .h5 config that would run code when loaded (Lambda "
        "layers, serialized lambdas, modules outside keras/tf_keras/tfrnn/tensorflow/numpy, "
        "TF-op layers calling TensorFlow functions with side effects) is refused unless "
        "--unsafe is given. A SavedModel is a program: its TensorFlow graphs can read and "
        "write files and run when the model is exported, so only export SavedModels you "
        "trust. See docs/security.md.",
    )
    parser.add_argument(
        "model",
        help="model file or directory: .keras, .h5, or a SavedModel (a program: trust it first)",
    )
    parser.add_argument("out", help="output path (a .tflite file or a SavedModel directory)")
    parser.add_argument(
        "--format",
        choices=("savedmodel", "tflite"),
        help="default: tflite if OUT ends in .tflite, else savedmodel",
    )
    parser.add_argument("--quantize", choices=("float16", "dynamic", "int8"), help="TFLite only")
    parser.add_argument(
        "--representative-data",
        metavar="FILE",
        help="TFLite only, needed by --quantize int8: typical inputs, a .npy array "
        "(one-input models) or a .npz with one array per input name, examples on the "
        "first axis (fed in batches of --batch-size, else of up to 8)",
    )
    parser.add_argument("--batch-size", type=int, help="TFLite only: fixed batch size")
    parser.add_argument("--streaming", action="store_true", help="chunk + states signature")
    parser.add_argument("--no-fuse-lstm", action="store_true", help="TFLite only")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing OUT (a file, a SavedModel or an empty directory; never another "
        "directory)",
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="trust MODEL: load Lambda layers, serialized lambdas and any module or TF op its "
        "config names (Keras safe_mode=False); this runs code the file supplies",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 2 bad input, 130/143 interrupted)."""
    args = _parser().parse_args(argv)
    with cli_signals():
        try:
            return _run(args)
        except KeyboardInterrupt as err:
            return interrupted_exit(PROG, err)


def _run(args: argparse.Namespace) -> int:
    fmt = args.format or ("tflite" if args.out.endswith(".tflite") else "savedmodel")
    tflite_only = (args.quantize, args.batch_size, args.no_fuse_lstm, args.representative_data)
    if fmt == "savedmodel" and any(tflite_only):
        return _fail(
            "--quantize, --batch-size, --no-fuse-lstm and --representative-data apply to "
            "--format tflite."
        )
    if args.quantize == "int8" and not args.representative_data:
        return _fail(
            "--quantize int8 needs --representative-data FILE (.npy or .npz of typical "
            "inputs) to calibrate the activation ranges."
        )
    if not Path(args.model).exists():
        return _fail(f"'{args.model}' does not exist.")
    try:
        _export(args, fmt)
    except (ValueError, TypeError) as err:
        return _fail(str(err))
    return 0


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _export(args: argparse.Namespace, fmt: str) -> None:
    from tfrnn.export import export_saved_model, export_tflite
    from tfrnn.export.atomic import check_output
    from tfrnn.export.model_loading import load_model_for_export

    with naming(args.out, "writing"):
        check_output(
            args.out, overwrite=args.overwrite, protect=(args.model, args.representative_data)
        )
    loaded = None
    if args.representative_data:  # checked first: it is quick
        with naming(args.representative_data, "reading"):
            loaded = _read_representative_data(args.representative_data)
    with naming(args.model, "reading"):
        model = load_model_for_export(args.model, unsafe=args.unsafe)
    samples = None
    if loaded is not None:
        samples = _representative_batches(model, loaded, args.representative_data, args.batch_size)
    weight_bytes = sum(v.dtype.size * v.shape.num_elements() for v in model.variables)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    check_room(weight_bytes, [out_dir, tempfile.gettempdir()], f"exporting to '{args.out}'")
    with naming(args.out, "exporting to"):
        if fmt == "tflite":
            report = export_tflite(
                model,
                args.out,
                batch_size=args.batch_size,
                quantize=args.quantize,
                representative_data=samples,
                fuse_lstm=not args.no_fuse_lstm,
                streaming=args.streaming,
                overwrite=args.overwrite,
            )
            print(report)
        else:
            export_saved_model(model, args.out, overwrite=args.overwrite, streaming=args.streaming)
            print(f"wrote SavedModel {args.out}")


def _read_representative_data(path: str):
    """The array (.npy) or arrays by name (.npz) of a --representative-data file."""
    from tfrnn.export.array_files import load_arrays

    if not Path(path).is_file():
        raise ValueError(f"--representative-data '{path}' does not exist or is not a file.")
    try:
        return load_arrays(path)
    except ValueError as err:
        raise ValueError(f"--representative-data {err}") from None


def _representative_batches(model, loaded, path: str, batch_size: int | None) -> list:
    """Batches of typical inputs from the arrays of a .npy (one input) or .npz (by input
    name) file: of ``batch_size`` examples each where the export fixes it, else of up to 8."""
    import numpy as np

    exact = batch_size is not None
    batch = batch_size or 8

    if isinstance(loaded, np.ndarray):
        if len(model.input_names) != 1:
            raise ValueError(
                f"--representative-data '{path}' holds one array but model '{model.name}' "
                f"has inputs {model.input_names}: pass a .npz with one array per input name."
            )
        arrays = {model.input_names[0]: loaded}
    else:
        missing = [n for n in model.input_names if n not in loaded]
        if missing:
            raise ValueError(
                f"--representative-data '{path}' lacks arrays for inputs {missing} of "
                f"model '{model.name}' (it has {sorted(loaded)[:20]})."
            )
        arrays = {n: loaded[n] for n in model.input_names}
    count = min(len(a) for a in arrays.values())
    if count < (batch if exact else 1):
        raise ValueError(
            f"--representative-data '{path}' holds {count} example(s); the export needs "
            f"at least {batch if exact else 1}."
        )
    last_start = count - batch + 1 if exact else count
    return [
        {n: a[start : start + batch] for n, a in arrays.items()}
        for start in range(0, last_start, batch)
    ]


if __name__ == "__main__":
    sys.exit(main())
