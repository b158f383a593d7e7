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
    parser.add_argument("--quantize", choices=("float16", "dynamic"), help="TFLite only")
    parser.add_argument("--batch-size", type=int, help="TFLite only: fixed batch size")
    parser.add_argument("--streaming", action="store_true", help="chunk + states signature")
    parser.add_argument("--no-fuse-lstm", action="store_true", help="TFLite only")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fmt = args.format or ("tflite" if args.out.endswith(".tflite") else "savedmodel")
    if fmt == "savedmodel" and (args.quantize or args.batch_size or args.no_fuse_lstm):
        print(
            "tfrnn-export: --quantize, --batch-size and --no-fuse-lstm apply to --format tflite.",
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
        if fmt == "tflite":
            report = export_tflite(
                model,
                args.out,
                batch_size=args.batch_size,
                quantize=args.quantize,
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


if __name__ == "__main__":
    sys.exit(main())
