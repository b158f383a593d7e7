"""``tfrnn-migrate SRC -o DST``: the arguments, checked before TensorFlow loads.

The conversion itself is ``tfrnn.compat.migrate.run``.
"""

from __future__ import annotations

import argparse
import os
import sys

from tfrnn_cli.command import add_standard_flags, fail, missing_directory, run_command

PROG = "tfrnn-migrate"
#: output suffix -> the format written
OUTPUT_SUFFIXES = {".keras": "keras", ".h5": "h5", ".hdf5": "h5"}
ACCEPTED_OUTPUTS = (
    "DST.keras (a Keras archive), DST.h5 or DST.hdf5 (HDF5), or a directory for a "
    "SavedModel (a name without a suffix, or ending in '/')"
)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert a Keras 0.x/1.x/2.x HDF5 file into a modern model with tfrnn "
        "layers (tf_keras, or Keras 3 with --keras 3), written atomically, reloaded and "
        "checked to predict the same.",
        epilog="Exit codes: 0 written, 2 bad input (nothing is written), 1 the written model "
        "does not reproduce the predictions, 130/143 interrupted.",
    )
    parser.add_argument(
        "src", help="old Keras HDF5 file (.h5/.hdf5, from save_weights or model.save)"
    )
    parser.add_argument(
        "--config",
        metavar="CFG",
        help="the model's JSON or YAML config (to_json/to_yaml), needed for weights-only "
        "files (save_weights, every Keras 0.x file)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DST",
        required=True,
        help=f"where to write: {ACCEPTED_OUTPUTS}",
    )
    parser.add_argument(
        "--backend",
        choices=("theano", "tensorflow", "cntk"),
        help="the backend that wrote SRC, where the file does not say (Keras 0.x/1.x). "
        "theano: its ConvLSTM2D kernels are true convolutions and are flipped; tensorflow "
        "and cntk compute correlations, so kernels are kept. A value that contradicts what "
        "the file records is used, with a warning",
    )
    parser.add_argument(
        "--keras",
        choices=("2", "3"),
        default="2",
        help="the Keras of the written model: 2 (default) a tf_keras model of tfrnn layers, "
        "3 a Keras 3 model of tfrnn.keras3 layers (DST must be a .keras file; load it with "
        "keras.models.load_model after `import tfrnn.keras3`). Old files' hard_sigmoid is "
        "Keras 2's (slope 0.2) either way, so the numbers stay the old ones",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing DST (a file, a SavedModel or an empty directory; never "
        "another directory)",
    )
    add_standard_flags(parser)
    return parser


def output_format(dst: str, keras: int = 2) -> str:
    """'keras', 'h5' or 'savedmodel': what ``dst`` asks for by its suffix (a
    ValueError listing the accepted ones for any other, and with ``keras=3``
    for any but .keras)."""
    fmt = _suffix_format(dst)
    if keras == 3 and fmt != "keras":
        raise ValueError(
            f"'{dst}': with --keras 3 (keras=3) tfrnn-migrate writes a .keras file, the format "
            "Keras 3 saves and loads models in; name the output DST.keras (for a SavedModel "
            "run `tfrnn-export DST.keras DIR` on it)."
        )
    return fmt


def _suffix_format(dst: str) -> str:
    directory = dst.endswith(("/", os.sep))
    suffix = os.path.splitext(dst.rstrip("/" + os.sep))[1]
    if directory or not suffix:
        return "savedmodel"
    if suffix in OUTPUT_SUFFIXES:
        return OUTPUT_SUFFIXES[suffix]
    if os.path.isdir(dst):
        return "savedmodel"
    tflite = suffix == ".tflite"
    hint = " (for TFLite, migrate to .keras and run tfrnn-export on that)" if tflite else ""
    raise ValueError(
        f"'{dst}': the suffix '{suffix}' names no format tfrnn-migrate writes{hint}. "
        f"Accepted: {ACCEPTED_OUTPUTS}."
    )


def argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, found without reading any file."""
    if not os.path.lexists(args.src):
        return f"{args.src}: no such file."
    if args.config is not None and not os.path.lexists(args.config):
        return f"--config {args.config}: no such file."
    try:
        output_format(args.output, int(args.keras))
    except ValueError as err:
        return str(err)
    return missing_directory(args.output)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 2 bad input, 1 the saved
    model does not reproduce the predictions, 130/143 interrupted)."""
    args = parser().parse_args(argv)
    problem = argument_problem(args)
    if problem:
        return fail(PROG, problem)
    return run_command(PROG, "tfrnn.compat.migrate", args)


if __name__ == "__main__":
    sys.exit(main())
