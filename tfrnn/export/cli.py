"""``tfrnn-export MODEL OUT``: a saved Keras model to a SavedModel or a .tflite file.

The command's arguments are parsed and checked by ``tfrnn_cli.export`` before
TensorFlow loads; ``run`` does the work.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

from tfrnn.cli_support import check_room, naming
from tfrnn_cli.command import fail
from tfrnn_cli.export import PROG, main, output_format  # noqa: F401  (main: the entry point)


def run(args: argparse.Namespace) -> int:
    """The command, on arguments ``tfrnn_cli.export`` parsed and checked (``args.progress``:
    None or called with each stage's name); returns the exit code (0 ok, 2 bad input)."""
    try:
        _export(args, output_format(args))
    except (ValueError, TypeError) as err:
        return fail(PROG, str(err))
    return 0


def _export(args: argparse.Namespace, fmt: str) -> None:
    import tensorflow as tf

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
    progress = args.progress
    if progress:
        progress(f"loading {args.model}")
    with naming(args.model, "reading"):
        model = load_model_for_export(args.model, unsafe=args.unsafe)
    samples = None
    if loaded is not None:
        samples = _representative_batches(model, loaded, args.representative_data, args.batch_size)
    weight_bytes = sum(  # dtypes and shapes are strings and tuples in Keras 3
        tf.as_dtype(v.dtype).size * math.prod(v.shape) for v in model.variables
    )
    out_dir = os.path.dirname(os.path.abspath(args.out))
    check_room(weight_bytes, [out_dir, tempfile.gettempdir()], f"exporting to '{args.out}'")
    with naming(args.out, "exporting to"), warnings.catch_warnings():
        # export_tflite's warnings (attributed to its caller) are lines of the report
        warnings.filterwarnings("ignore", category=UserWarning, module=__name__)
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
                progress=progress,
            )
            print(report)
        else:
            export_saved_model(
                model,
                args.out,
                overwrite=args.overwrite,
                streaming=args.streaming,
                progress=progress,
            )
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

    from tfrnn.export.keras_models import input_names
    from tfrnn.export.tflite import check_input_shape
    from tfrnn.export.tracing import input_specs

    exact = batch_size is not None
    batch = batch_size or 8
    names = input_names(model)

    if isinstance(loaded, np.ndarray):
        if len(names) != 1:
            raise ValueError(
                f"--representative-data '{path}' holds one array but model '{model.name}' "
                f"has inputs {names}: pass a .npz with one array per input name."
            )
        arrays = {names[0]: loaded}
    else:
        missing = [n for n in names if n not in loaded]
        if missing:
            raise ValueError(
                f"--representative-data '{path}' lacks arrays for inputs {missing} of "
                f"model '{model.name}' (it has {sorted(loaded)[:20]})."
            )
        arrays = {n: loaded[n] for n in names}
    for spec, (name, array) in zip(input_specs(model, None), arrays.items()):
        what = f"--representative-data '{path}': the array for input '{name}'"
        check_input_shape(array.shape, spec, what)
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
