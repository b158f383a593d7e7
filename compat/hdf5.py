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
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
from tfrnn.compat.hdf5_safety import audit_hdf5, read_dataset


@dataclass(frozen=True)
class Generation:
    """What a file says about who wrote it (None where the file does not say)."""

    generation: str
    keras_version: str | None
    backend: str | None
    has_model_config: bool = False
    backend_evidence: str | None = None


MAX_TEXT_ATTR_BYTES = 32 * 1024 * 1024


def _text(value: Any, where: str) -> str:
    if isinstance(value, bytes | np.bytes_):
        try:
            return bytes(value).decode("utf8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{where}: not UTF-8 text (byte {bytes(value)[err.start]:#04x} at {err.start})."
            ) from None
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()], where)
    if isinstance(value, str):
        try:
            value.encode("utf8")  # h5py hands undecodable bytes over as lone surrogates
        except UnicodeEncodeError as err:
            raise ValueError(f"{where}: not UTF-8 text (at character {err.start}).") from None
        return value
    raise ValueError(f"{where}: expected text, got {type(value).__name__}.")


def _read_attr(group: h5py.Group, name: str, where: str) -> Any:
    """An attribute's value, after checking its size and that it is text or numbers."""
    try:
        attr = group.attrs.get_id(name)
        kind = attr.dtype.kind
        size = int(np.prod(attr.shape or (), dtype=object)) * attr.dtype.itemsize
    except (OSError, KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{where}: attribute '{name}' cannot be read ({err}).") from None
    if kind not in "SOUiuf":
        raise ValueError(
            f"{where}: attribute '{name}' has type {attr.dtype}, not text or numbers."
        )
    if size > MAX_TEXT_ATTR_BYTES:
        raise ValueError(
            f"{where}: attribute '{name}' holds {size:,} bytes, more than the "
            f"{MAX_TEXT_ATTR_BYTES:,} any Keras file needs."
        )
    try:
        return group.attrs[name]
    except (OSError, TypeError) as err:
        raise ValueError(f"{where}: attribute '{name}' cannot be read ({err}).") from None


def read_attr_list(group: h5py.Group, name: str, where: str = "file") -> list[str]:
    """A list-of-strings attribute, joined across ``name0, name1, ...`` chunks.

    ``where`` names the file in errors; duplicate entries are refused."""
    here = f"{where}: {group.name} attribute '{name}'"
    if name in group.attrs:
        values = list(np.atleast_1d(_read_attr(group, name, where)))
    else:
        values = []
        chunk = 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(np.atleast_1d(_read_attr(group, f"{name}{chunk}", where)))
            chunk += 1
    out = [_text(v, here) for v in values]
    seen: set[str] = set()
    for entry in out:
        if entry in seen:
            raise ValueError(
                f"{here} lists '{entry[:80]}' more than once; each entry must be unique."
            )
        seen.add(entry)
    return out


def _has_attr_list(group: h5py.Group, name: str) -> bool:
    return name in group.attrs or f"{name}0" in group.attrs


def open_h5(path: str | os.PathLike) -> h5py.File:
    """Open ``path`` read-only after ``audit_hdf5``; any failure is a ValueError naming it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(
            f"{path}: a directory, not an HDF5 file. tfrnn.compat reads the .h5/.hdf5 files "
            "Keras 0.x-2.x wrote (save_weights or model.save); a SavedModel directory is "
            "already modern: load it with tf_keras.models.load_model."
        )
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file.")
    if zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: a .keras archive (the modern format), not an old Keras HDF5 file; it "
            "needs no migration: load it with tf_keras.models.load_model (after import "
            "tfrnn if it holds tfrnn layers)."
        )
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}"
        ) from None
    try:
        audit_hdf5(f, path)
    except BaseException:
        f.close()
        raise
    return f


def _weights_root(f: h5py.File) -> h5py.Group:
    root = f.get("model_weights")
    return root if isinstance(root, h5py.Group) else f


def _attr_text(group: h5py.Group, name: str, where: str) -> str | None:
    if name not in group.attrs:
        return None
    return _text(_read_attr(group, name, where), f"{where}: attribute '{name}'")


def detect_in_file(f: h5py.File, path: str) -> Generation:
    """Generation of an open file; ValueError when it is not a Keras weights file."""
    if "nb_layers" in f.attrs or ("graph" in f and "nb_params" in f["graph"].attrs):
        return Generation("keras0", None, None)
    root = _weights_root(f)
    version = _attr_text(f, "keras_version", path) or _attr_text(root, "keras_version", path)
    backend = _attr_text(f, "backend", path) or _attr_text(root, "backend", path)
    has_config = "model_config" in f.attrs
    if not _has_attr_list(root, "layer_names"):
        raise ValueError(
            f"{path}: an HDF5 file, but not one Keras wrote (no 'nb_layers' or "
            "'layer_names' attribute); expected a file from save_weights() or model.save()."
        )
    if version is None or version.startswith(("0", "1")):
        evidence = None
        if backend is None:
            backend, evidence = keras1_backend_from_names(root, path)
        return Generation("keras1", version, backend, has_config, evidence)
    evidence = "the file's 'backend' attribute" if backend else None
    return Generation("keras2", version, backend, has_config, evidence)


def keras1_backend_from_names(root: h5py.Group, path: str) -> tuple[str | None, str | None]:
    """(backend, why) from a Keras 1 file's weight names, or (None, None).

    Keras 1 stored each weight under its backend variable's ``.name``:
    TensorFlow names end in ``:<output index>`` (``lstm_1_W:0``), Theano
    shared variables have none (``lstm_1_W``). Unnamed weights
    (``param_{i}``) say nothing; names that disagree decide nothing."""
    votes: set[str] = set()
    for layer in read_attr_list(root, "layer_names", path):
        group = root.get(layer)
        if not isinstance(group, h5py.Group):
            continue
        for weight in read_attr_list(group, "weight_names", path):
            if re.fullmatch(r"param_\d+", weight):
                continue
            votes.add("tensorflow" if re.search(r":\d+$", weight) else "theano")
    if len(votes) != 1:
        return None, None
    backend = votes.pop()
    why = (
        "its weight names end in ':0' (TensorFlow variable names)"
        if backend == "tensorflow"
        else "its weight names lack the ':0' of TensorFlow variable names (Theano)"
    )
    return backend, why


def detect_generation(path: str | os.PathLike) -> Generation:
    """Which Keras generation wrote ``path``: ``.generation`` in {'keras0', 'keras1',
    'keras2'}, ``.keras_version`` and ``.backend`` (None where the file does not say)."""
    with open_h5(path) as f:
        return detect_in_file(f, os.fspath(path))


def model_config_text(f: h5py.File, path: str) -> str | None:
    """The ``model_config`` text of an open full-model file, or None."""
    return _attr_text(f, "model_config", path)


def keras_version_text(f: h5py.File, path: str) -> str | None:
    """The ``keras_version`` attribute of an open file's root, or None."""
    return _attr_text(f, "keras_version", path)


def read_model_config(path: str | os.PathLike) -> str | None:
    """The ``model_config`` JSON text of a full-model file, or None."""
    with open_h5(path) as f:
        return model_config_text(f, os.fspath(path))


def _param_index(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def _count_attr(group: h5py.Group, name: str, limit: int, what: str, where: str) -> int:
    """An integer count attribute, at most ``limit`` (what the group really holds)."""
    value = _read_attr(group, name, where) if name in group.attrs else 0
    value = value[()] if isinstance(value, np.ndarray) and value.shape == () else value
    if isinstance(value, np.floating | float) and float(value).is_integer():
        value = int(min(float(value), limit + 1.0))
    if not isinstance(value, np.integer | int) or isinstance(value, bool):
        raise ValueError(f"{where}: {name} must be a whole number, got {str(value)[:40]}.")
    if not 0 <= value <= limit:
        raise ValueError(
            f"{where}: {name}={str(value)[:40]} but the group holds {limit} {what}; "
            "the file is damaged or crafted."
        )
    return int(value)


def _is_dataset(group: h5py.Group, name: str) -> bool:
    return isinstance(group.get(name), h5py.Dataset)


def _read_param_group(group: h5py.Group, where: str) -> list[h5py.Dataset]:
    names = [n for n in group if n.startswith("param_") and _is_dataset(group, n)]
    count = _count_attr(group, "nb_params", len(names), "param_ datasets", where)
    try:
        names.sort(key=_param_index)
        indices = [_param_index(n) for n in names]
    except ValueError:
        indices = None
    if indices != list(range(count)):
        listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"{where}: nb_params={count} but datasets are [{listed}].")
    return [group[n] for n in names]


def keras0_datasets(f: h5py.File, path: str) -> list[list[h5py.Dataset]]:
    """Keras 0.x weight datasets in file order (not yet read): one list per layer
    (``layer_{k}``) or one list for a whole Graph model (``graph``)."""
    if "graph" in f:
        return [_read_param_group(f["graph"], f"{path}/graph")]
    count = _count_attr(f, "nb_layers", len(f), "groups", path)
    layers = []
    for k in range(count):
        name = f"layer_{k}"
        if not isinstance(f.get(name), h5py.Group):
            raise ValueError(f"{path}: nb_layers={count} but group {name} is missing.")
        layers.append(_read_param_group(f[name], f"{path}/{name}"))
    return layers


def named_datasets(f: h5py.File, path: str) -> dict[str, list[h5py.Dataset]]:
    """Keras 1.x/2.x weight datasets (not yet read): layer name -> datasets in
    ``weight_names`` order. Names listed twice, or naming one dataset twice, are refused."""
    root = _weights_root(f)
    out: dict[str, list[h5py.Dataset]] = {}
    seen: set = set()
    for layer in read_attr_list(root, "layer_names", path):
        group = root.get(layer)
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{path}: layer '{layer[:80]}' listed in layer_names has no group.")
        datasets = []
        for weight in read_attr_list(group, "weight_names", path):
            dset = group.get(weight)
            if not isinstance(dset, h5py.Dataset):
                raise ValueError(f"{path}: weight '{layer[:80]}/{weight[:80]}' is missing.")
            if dset.id in seen:
                raise ValueError(
                    f"{path}: weight '{layer[:80]}/{weight[:80]}' is a dataset already read "
                    "under another name; each weight must be its own array."
                )
            seen.add(dset.id)
            datasets.append(dset)
        out[layer] = datasets
    return out


def read_keras0(f: h5py.File, path: str) -> list[list[np.ndarray]]:
    """Keras 0.x weights in file order, read (see ``keras0_datasets``)."""
    return [[_read(d, path) for d in layer] for layer in keras0_datasets(f, path)]


def read_named(f: h5py.File, path: str) -> dict[str, list[np.ndarray]]:
    """Keras 1.x/2.x weights, read: layer name -> arrays (see ``named_datasets``)."""
    return {
        layer: [_read(d, path) for d in datasets]
        for layer, datasets in named_datasets(f, path).items()
    }


def _read(dset: h5py.Dataset, path: str) -> np.ndarray:
    return read_dataset(dset, f"{path}: array {dset.name}")
