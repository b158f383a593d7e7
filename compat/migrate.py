"""``tfrnn-migrate``: an old Keras file -> a modern .keras / .h5 / SavedModel.

The command's arguments are parsed and checked by ``tfrnn_cli.migrate`` before
TensorFlow loads; ``run`` does the work.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator

import numpy as np

from tfrnn.cli_support import naming
from tfrnn_cli.command import fail
from tfrnn_cli.migrate import PROG, main, output_format  # noqa: F401  (main: the entry point)

TOLERANCE = 1e-5


def _random_inputs(model, rng: np.random.Generator) -> list[np.ndarray] | np.ndarray:
    """Inputs for ``model`` (either Keras): an array for a one-input model, else a list."""
    arrays = []
    for tensor in model.inputs:
        shape = [2 if d is None and k == 0 else (d or 5) for k, d in enumerate(tensor.shape)]
        dtype = np.dtype(getattr(tensor.dtype, "name", tensor.dtype))  # tf.DType or str
        if np.issubdtype(dtype, np.integer):
            arrays.append(rng.integers(0, 3, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays[0] if len(arrays) == 1 else arrays


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _save(model, target: str, fmt: str, keras: int) -> None:
    if keras == 3:  # Keras 3 writes .keras only here (see tfrnn_cli.migrate)
        model.save(target)
    elif fmt == "keras":
        model.save(target, save_format="keras")
    elif fmt == "h5":
        _save_h5(model, target)
    else:
        model.save(target, save_format="tf")


@contextlib.contextmanager
def _temporaries_in(directory: os.PathLike) -> Iterator[None]:
    """Within the block, ``tempfile`` creates temporaries in ``directory``, which is
    deleted with everything in it: a failed .keras save leaves tf_keras's asset
    directory behind otherwise."""
    previous = tempfile.tempdir
    tempfile.tempdir = os.fspath(directory)
    try:
        yield
    finally:
        tempfile.tempdir = previous


def _save_h5(model, target: str) -> None:
    """Write the .h5 in memory, then to disk with plain file I/O: HDF5 does not survive
    a failed write (after EFBIG/ENOSPC its file cannot be closed and the process
    crashes at exit), a plain write just raises OSError."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        model.save(f, save_format="h5")
    with open(target, "wb") as out:
        out.write(buffer.getbuffer())


def _reload(target: str, keras: int):
    if keras == 3:
        import keras as keras3

        import tfrnn.keras3  # noqa: F401  (registers the layers)

        return keras3.saving.load_model(target, compile=False)
    import tf_keras

    return tf_keras.models.load_model(target, compile=False)


def _non_finite_weights(model) -> dict[str, int]:
    """Layer name -> how many of its weight values are NaN or infinite (where any are)."""
    counts = {}
    for layer in model.layers:
        bad = sum(int(np.size(w) - np.count_nonzero(np.isfinite(w))) for w in layer.get_weights())
        if bad:
            counts[layer.name] = bad
    return counts


def _compare(expected: list, got: list) -> tuple[bool, float, int]:
    """(reproduced, max |diff| over finite values, count of NaN/inf values).

    Reproduced means same shapes, NaN/inf in the same places with the same
    values (NaN where NaN, +inf where +inf), and finite values within TOLERANCE.
    """
    worst, non_finite = 0.0, 0
    if len(expected) != len(got):
        return False, float("nan"), 0
    for e, g in zip(expected, got):
        e, g = np.asarray(e, np.float64), np.asarray(g, np.float64)
        if e.shape != g.shape:
            return False, float("nan"), non_finite
        finite = np.isfinite(e)
        if not np.array_equal(finite, np.isfinite(g)):
            return False, float("nan"), non_finite
        if not np.array_equal(e[~finite], g[~finite], equal_nan=True):
            return False, float("nan"), non_finite
        non_finite += int(np.count_nonzero(~finite))
        worst = max(worst, float(np.max(np.abs(e[finite] - g[finite]), initial=0.0)))
    return worst <= TOLERANCE, worst, non_finite


def _verify(model, target: str, dst: str, keras: int) -> None:
    """Reload ``target`` and check it predicts what ``model`` does; RuntimeError if not."""
    inputs = _random_inputs(model, np.random.default_rng(0))
    expected = _as_list(model.predict(inputs, verbose=0))
    got = _as_list(_reload(target, keras).predict(inputs, verbose=0))
    same, worst, non_finite = _compare(expected, got)
    total = sum(int(np.size(e)) for e in expected)
    if not same:
        raise RuntimeError(
            f"{dst}: the saved model does not reproduce the predictions (max |diff| of "
            f"finite values {worst:.2e}, or NaN/inf in different places); nothing was written."
        )
    if non_finite == total:
        print(
            f"  reloaded {dst}: every prediction is NaN/inf, in the original and the reloaded "
            "model alike (the weights are not finite): nothing else could be compared"
        )
    elif non_finite:
        print(
            f"  reloaded {dst}: predictions match (max |diff| {worst:.2e}); {non_finite} of "
            f"{total} are NaN/inf, in the same places in both"
        )
    else:
        print(f"  reloaded {dst}: predictions match (max |diff| {worst:.2e})")


def migrate(
    src: str,
    dst: str,
    config: str | None = None,
    force: bool = False,
    backend: str | None = None,
    keras: int = 2,
) -> None:
    """Convert ``src`` into ``dst`` atomically; ValueError on bad input.

    ``keras`` 2 (the default) writes a tf_keras model of tfrnn layers, 3 a
    Keras 3 model of tfrnn.keras3 layers. ``dst``'s suffix says the format:
    ``.keras``, ``.h5`` or ``.hdf5``, and no suffix or a trailing ``/`` a
    SavedModel directory (with ``keras=3``, ``.keras`` only); any other is
    refused before anything is read. ``dst`` may replace (with ``force``) only a file,
    a symlink, a SavedModel directory or an empty directory, never ``src`` or
    the config file, nor a directory holding them.
    """
    from tfrnn.compat import detect_generation, load_legacy_model
    from tfrnn.compat.targets import check_keras

    from tfrnn.export.atomic import atomic_output, check_output

    check_keras(keras)
    protect = (src, config if config and os.path.exists(config) else None)
    output = {"overwrite": force, "protect": protect, "hint": "pass --force to replace it"}
    fmt = output_format(dst, keras)
    with naming(dst, "writing"):
        check_output(dst, **output)
    with naming(src, "reading"):
        gen = detect_generation(src)
        print(f"{src}: {gen.generation}, keras_version={gen.keras_version}, backend={gen.backend}")
        if gen.backend_evidence:
            print(f"  backend {gen.backend}: {gen.backend_evidence}")
        if backend is not None:
            print(f"  reading it as written by the {backend} backend (--backend)")
        model = load_legacy_model(src, config=config, backend=backend, keras=keras)
    for layer in model.layers:
        if layer.weights:
            shapes = ", ".join(str(tuple(w.shape)) for w in layer.weights)
            print(f"  converted {layer.name} ({type(layer).__name__}): {shapes}")
    for name, count in _non_finite_weights(model).items():
        print(f"  warning: layer {name} has {count} NaN/infinite weight values (as in {src})")
    with naming(dst, "writing"), atomic_output(dst, **output) as target:
        with _temporaries_in(target.parent):
            _save(model, str(target), fmt, keras)
        _verify(model, str(target), dst, keras)


def run(args: argparse.Namespace) -> int:
    """The command, on arguments ``tfrnn_cli.migrate`` parsed and checked; returns the
    exit code (0 ok, 2 bad input, 1 the saved model does not reproduce the predictions)."""
    try:
        migrate(
            args.src,
            args.output,
            config=args.config,
            force=args.force,
            backend=args.backend,
            keras=int(args.keras),
        )
    except (ValueError, TypeError) as err:
        return fail(PROG, str(err))
    except RuntimeError as err:
        fail(PROG, str(err))
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
