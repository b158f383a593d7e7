"""``tfrnn-export MODEL OUT``: the arguments, checked before TensorFlow loads.

The export itself is ``tfrnn.export.cli.run``.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfrnn_cli.command import (
    add_standard_flags,
    fail,
    missing_directory,
    run_command,
    stage_reporter,
    warn,
)

PROG = "tfrnn-export"
TFLITE_ONLY = ("--quantize", "--batch-size", "--no-fuse-lstm", "--representative-data")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export a saved Keras model holding tfrnn layers (tf_keras: .keras, .h5 "
        "or SavedModel; Keras 3 with tfrnn.keras3 layers: .keras) to a SavedModel directory "
        "or a TFLite file. The artifact is run and compared with the model before it is "
        "written; a failed export leaves nothing.",
        epilog="Security: a .keras or .h5 config that would run code when loaded (Lambda "
        "layers, serialized lambdas, modules outside keras/tf_keras/tfrnn/tensorflow/numpy, "
        "TF-op layers calling TensorFlow functions with side effects) is refused unless "
        "--unsafe is given. A SavedModel is a program: its TensorFlow graphs can read and "
        "write files and run when the model is exported, so only export SavedModels you "
        "trust. See docs/security.md. Exit codes: 0 written, 2 bad input (nothing is "
        "written), 130/143 interrupted.",
    )
    parser.add_argument(
        "model",
        help="model file or directory: .keras (tf_keras's or Keras 3's, told apart by its "
        "metadata), .h5, or a SavedModel (a program: trust it first)",
    )
    parser.add_argument("out", help="output path: a .tflite file or a SavedModel directory")
    parser.add_argument(
        "--format",
        choices=("savedmodel", "tflite"),
        help="default: tflite if OUT ends in .tflite, else savedmodel",
    )
    parser.add_argument(
        "--quantize",
        choices=("float16", "dynamic", "int8"),
        help="TFLite only. float16: float16 weights; dynamic: int8 weights (only weight "
        "tensors of 1024 values or more); int8: int8 weights and activations, calibrated on "
        "--representative-data, with every recurrent loop unrolled over one fixed time length",
    )
    parser.add_argument(
        "--representative-data",
        metavar="FILE",
        help="TFLite only, needed by --quantize int8: typical inputs, a .npy array "
        "(one-input models) or a .npz with one array per input name, examples on the "
        "first axis (fed in batches of --batch-size, else of up to 8). The first batch is "
        "also the input the artifact is checked on",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="TFLite only: a fixed batch size (default: dynamic). Needed for LSTM layers to "
        "become TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM kernel",
    )
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="add a 'streaming' signature (the only one of a .tflite) that takes a chunk of "
        "timesteps plus every recurrent layer's states (<layer>_h, and <layer>_c for LSTMs) "
        "and returns the outputs plus the new states; needed for stateful models",
    )
    parser.add_argument(
        "--no-fuse-lstm",
        action="store_true",
        help="TFLite only: keep LSTM layers as loops instead of the fused kernel, which "
        "clips the cell state at +-10 (tf_keras does not; export warns when that changes "
        "the outputs) and keeps its state between invocations",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing OUT (a file, a SavedModel or an empty directory; never "
        "another directory)",
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="trust MODEL: load Lambda layers, serialized lambdas and any module or TF op its "
        "config names (Keras safe_mode=False); this runs code the file supplies",
    )
    add_standard_flags(parser)
    return parser


def output_format(args: argparse.Namespace) -> str:
    """'tflite' or 'savedmodel': ``--format``, else what OUT's suffix says."""
    return args.format or ("tflite" if args.out.endswith(".tflite") else "savedmodel")


def argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, found without reading any file."""
    given = (args.quantize, args.batch_size, args.no_fuse_lstm, args.representative_data)
    if output_format(args) == "savedmodel" and any(given):
        used = [flag for flag, value in zip(TFLITE_ONLY, given) if value]
        return f"{', '.join(used)} apply to TFLite: end OUT in .tflite or pass --format tflite."
    if args.quantize == "int8" and not args.representative_data:
        return (
            "--quantize int8 needs --representative-data FILE (.npy or .npz of typical "
            "inputs) to calibrate the activation ranges."
        )
    if args.batch_size is not None and args.batch_size <= 0:
        return f"--batch-size must be a positive number of examples, got {args.batch_size}."
    if not os.path.lexists(args.model):
        return f"'{args.model}' does not exist."
    return missing_directory(args.out)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 2 bad input, 130/143 interrupted)."""
    args = parser().parse_args(argv)
    problem = argument_problem(args)
    if problem:
        return fail(PROG, problem)
    if args.representative_data and args.quantize != "int8":
        warn(
            PROG,
            "--representative-data calibrates --quantize int8 only; without it the file's "
            "first batch is only the input the artifact is checked on.",
        )
    args.progress = stage_reporter(PROG)
    if args.progress:
        args.progress("loading TensorFlow")
    return run_command(PROG, "tfrnn.export.cli", args)


if __name__ == "__main__":
    sys.exit(main())
