"""``tfrnn-migrate``: an old Keras file -> a modern .keras / .h5 / SavedModel."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfrnn-migrate",
        description="Convert a Keras 0.x/1.x/2.x HDF5 file into a modern tf_keras model.",
    )
    parser.add_argument("src", help="old Keras HDF5 file (save_weights or model.save)")
    parser.add_argument("--config", help="JSON/YAML model config, for weights-only files")
    parser.add_argument(
        "-o", "--output", required=True, help="DST: *.keras, *.h5, or a directory (SavedModel)"
    )
    parser.add_argument(
        "--backend",
        choices=("theano", "tensorflow", "cntk"),
        help="backend that wrote SRC, where the file does not say (Keras 0.x/1.x)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing DST")
    return parser


def _random_inputs(model, rng: np.random.Generator) -> list[np.ndarray]:
    arrays = []
    for tensor in model.inputs:
        shape = [2 if d is None and k == 0 else (d or 5) for k, d in enumerate(tensor.shape)]
        if tensor.dtype.is_integer:
            arrays.append(rng.integers(0, 3, size=shape).astype(tensor.dtype.as_numpy_dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return arrays


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _save(model, target: str, dst: str) -> None:
    if dst.endswith(".keras"):
        model.save(target, save_format="keras")
    elif dst.endswith(".h5"):
        model.save(target, save_format="h5")
    else:
        model.save(target, save_format="tf")


def _reload(target: str):
    import tf_keras

    return tf_keras.models.load_model(target, compile=False)


def migrate(
    src: str,
    dst: str,
    config: str | None = None,
    force: bool = False,
    backend: str | None = None,
) -> None:
    """Convert ``src`` into ``dst`` atomically; ValueError on bad input."""
    from tfrnn.compat import detect_generation, load_legacy_model

    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError(f"{dst}: the output must not be the input file.")
    if os.path.lexists(dst) and not force:
        raise ValueError(f"{dst}: already exists; pass --force to replace it.")
    gen = detect_generation(src)
    print(f"{src}: {gen.generation}, keras_version={gen.keras_version}, backend={gen.backend}")
    if backend is not None:
        print(f"  reading it as written by the {backend} backend (--backend)")
    model = load_legacy_model(src, config=config, backend=backend)
    for layer in model.layers:
        if layer.weights:
            shapes = ", ".join(str(tuple(w.shape)) for w in layer.weights)
            print(f"  converted {layer.name} ({type(layer).__name__}): {shapes}")
    parent = os.path.dirname(os.path.abspath(dst))
    workdir = tempfile.mkdtemp(prefix=".tfrnn-migrate-", dir=parent)
    try:
        suffix = os.path.splitext(dst)[1] if dst.endswith((".keras", ".h5")) else ""
        target = os.path.join(workdir, "model" + suffix)
        _save(model, target, dst)
        inputs = _random_inputs(model, np.random.default_rng(0))
        expected = model.predict(inputs, verbose=0)
        got = _reload(target).predict(inputs, verbose=0)
        diff = max(
            float(np.max(np.abs(np.asarray(e) - np.asarray(g))))
            for e, g in zip(_as_list(expected), _as_list(got))
        )
        if not diff <= 1e-5:
            raise RuntimeError(f"{dst}: the saved model does not reproduce the predictions.")
        print(f"  reloaded {dst}: predictions match (max |diff| {diff:.2e})")
        if os.path.lexists(dst):
            old = dst.rstrip(os.sep) + ".tfrnn-old"
            os.replace(dst, old)
            os.replace(target, dst)
            shutil.rmtree(old) if os.path.isdir(old) else os.remove(old)
        else:
            os.replace(target, dst)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        migrate(args.src, args.output, config=args.config, force=args.force, backend=args.backend)
    except (ValueError, TypeError) as err:
        print(f"tfrnn-migrate: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(f"tfrnn-migrate: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
