"""``tfrnn-export MODEL OUT``: a saved Keras model to a SavedModel or a .tflite file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfrnn-export",
        description="Export a saved Keras model holding tfrnn layers (.keras, .h5 or "
        "SavedModel) to a SavedModel directory or a TFLite file.",
    )
    parser.add_argument("model", help="model file or directory (tf_keras.models.load_model)")
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
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fmt = args.format or ("tflite" if args.out.endswith(".tflite") else "savedmodel")
    tflite_only = (args.quantize, args.batch_size, args.no_fuse_lstm, args.representative_data)
    if fmt == "savedmodel" and any(tflite_only):
        print(
            "tfrnn-export: --quantize, --batch-size, --no-fuse-lstm and "
            "--representative-data apply to --format tflite.",
            file=sys.stderr,
        )
        return 2
    if args.quantize == "int8" and not args.representative_data:
        print(
            "tfrnn-export: --quantize int8 needs --representative-data FILE (.npy or .npz "
            "of typical inputs) to calibrate the activation ranges.",
            file=sys.stderr,
        )
        return 2
    if not Path(args.model).exists():
        print(f"tfrnn-export: '{args.model}' does not exist.", file=sys.stderr)
        return 2
    import tf_keras

    import tfrnn  # noqa: F401  (registers the layers for load_model)
    from tfrnn.export import export_saved_model, export_tflite

    try:
        model = tf_keras.models.load_model(args.model, compile=False)
        samples = None
        if args.representative_data:
            samples = _representative_batches(model, args.representative_data, args.batch_size)
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
    except (ValueError, TypeError, OSError) as err:
        print(f"tfrnn-export: {err}", file=sys.stderr)
        return 2
    return 0


def _representative_batches(model, path: str, batch_size: int | None) -> list:
    """Batches of typical inputs from a .npy (one input) or .npz (by input name)
    file: of ``batch_size`` examples each where the export fixes it, else of up to 8."""
    import numpy as np

    exact = batch_size is not None
    batch = batch_size or 8

    if not Path(path).exists():
        raise ValueError(f"--representative-data '{path}' does not exist.")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"--representative-data '{path}' is not a .npy or .npz file numpy can read: {err}"
        ) from err
    if isinstance(loaded, np.ndarray):
        if len(model.input_names) != 1:
            raise ValueError(
                f"--representative-data '{path}' holds one array but model '{model.name}' "
                f"has inputs {model.input_names}: pass a .npz with one array per input name."
            )
        arrays = {model.input_names[0]: loaded}
    else:
        with loaded:
            missing = [n for n in model.input_names if n not in loaded.files]
            if missing:
                raise ValueError(
                    f"--representative-data '{path}' lacks arrays for inputs {missing} of "
                    f"model '{model.name}' (it has {loaded.files})."
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
