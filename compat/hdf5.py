"""Reading the HDF5 files every Keras generation wrote (h5py + numpy only).

Keras 0.x ``save_weights``: root attr ``nb_layers``; groups ``layer_{k}`` (weightless
layers counted) with attr ``nb_params`` and datasets ``param_{n}``; a Graph model
writes one group ``graph``. Keras 1.x/2.x: attr ``layer_names`` (root for
``save_weights``, group ``model_weights`` for ``model.save``), a group per layer
with attr ``weight_names`` (fixed-length byte strings; Keras 2 splits large lists
into ``name0``, ``name1``, ...), datasets at those (possibly nested) paths; Keras
2 adds ``keras_version`` and ``backend``, full-model files ``model_config``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np


@dataclass(frozen=True)
class Generation:
    """What a file says about who wrote it (None where the file does not say)."""

    generation: str
    keras_version: str | None
    backend: str | None
    has_model_config: bool = False


def _text(value: Any) -> str:
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def read_attr_list(group: h5py.Group, name: str) -> list[str]:
    """A list-of-strings attribute, joined across ``name0, name1, ...`` chunks."""
    if name in group.attrs:
        return [_text(v) for v in np.atleast_1d(group.attrs[name])]
    out: list[str] = []
    chunk = 0
    while f"{name}{chunk}" in group.attrs:
        out.extend(_text(v) for v in np.atleast_1d(group.attrs[f"{name}{chunk}"]))
        chunk += 1
    return out


def _has_attr_list(group: h5py.Group, name: str) -> bool:
    return name in group.attrs or f"{name}0" in group.attrs


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open ``path`` read-only, turning any failure into a ValueError naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file.")
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}"
        ) from None


def _weights_root(f: h5py.File) -> h5py.Group:
    return f["model_weights"] if "model_weights" in f else f


def _attr_text(group: h5py.Group, name: str) -> str | None:
    return _text(group.attrs[name]) if name in group.attrs else None


def detect_in_file(f: h5py.File, path: str) -> Generation:
    """Generation of an open file; ValueError when it is not a Keras weights file."""
    if "nb_layers" in f.attrs or ("graph" in f and "nb_params" in f["graph"].attrs):
        return Generation("keras0", None, None)
    root = _weights_root(f)
    version = _attr_text(f, "keras_version") or _attr_text(root, "keras_version")
    backend = _attr_text(f, "backend") or _attr_text(root, "backend")
    has_config = "model_config" in f.attrs
    if not _has_attr_list(root, "layer_names"):
        raise ValueError(
            f"{path}: an HDF5 file, but not one Keras wrote (no 'nb_layers' or "
            "'layer_names' attribute); expected a file from save_weights() or model.save()."
        )
    if version is None or version.startswith(("0", "1")):
        return Generation("keras1", version, backend, has_config)
    return Generation("keras2", version, backend, has_config)


def detect_generation(path: str | os.PathLike) -> Generation:
    """Which Keras generation wrote ``path``: ``.generation`` in {'keras0', 'keras1',
    'keras2'}, ``.keras_version`` and ``.backend`` (None where the file does not say)."""
    with open_h5(path) as f:
        return detect_in_file(f, os.fspath(path))


def read_model_config(path: str | os.PathLike) -> str | None:
    """The ``model_config`` JSON text of a full-model file, or None."""
    with open_h5(path) as f:
        return _attr_text(f, "model_config")


def _param_index(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def _read_param_group(group: h5py.Group, where: str) -> list[np.ndarray]:
    count = int(group.attrs.get("nb_params", 0))
    names = sorted((n for n in group if n.startswith("param_")), key=_param_index)
    if [_param_index(n) for n in names] != list(range(count)):
        raise ValueError(f"{where}: nb_params={count} but datasets are {names}.")
    return [np.asarray(group[n]) for n in names]


def read_keras0(f: h5py.File, path: str) -> list[list[np.ndarray]]:
    """Keras 0.x weights in file order: one list per layer (``layer_{k}``) or one
    list for a whole Graph model (``graph``)."""
    if "graph" in f:
        return [_read_param_group(f["graph"], f"{path}/graph")]
    count = int(f.attrs["nb_layers"])
    layers = []
    for k in range(count):
        name = f"layer_{k}"
        if name not in f:
            raise ValueError(f"{path}: nb_layers={count} but group {name} is missing.")
        layers.append(_read_param_group(f[name], f"{path}/{name}"))
    return layers


def read_named(f: h5py.File, path: str) -> dict[str, list[np.ndarray]]:
    """Keras 1.x/2.x weights: layer name -> arrays in ``weight_names`` order."""
    root = _weights_root(f)
    out: dict[str, list[np.ndarray]] = {}
    for layer in read_attr_list(root, "layer_names"):
        if layer not in root:
            raise ValueError(f"{path}: layer '{layer}' listed in layer_names has no group.")
        group = root[layer]
        arrays = []
        for weight in read_attr_list(group, "weight_names"):
            if weight not in group:
                raise ValueError(f"{path}: weight '{layer}/{weight}' is missing.")
            arrays.append(np.asarray(group[weight]))
        out[layer] = arrays
    return out
