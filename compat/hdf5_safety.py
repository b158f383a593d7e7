"""Reading HDF5 files from anywhere: only plain data, only what the file really holds.

HDF5 can make a reader open other files (external links, external raw storage,
virtual datasets) and can declare datasets far larger than what it stores
(chunks never written, highly compressed fill). No Keras writer uses any of
these features, so ``audit_hdf5`` refuses them outright, and ``read_dataset``
checks a dataset's type and declared size before any data is read.
"""

from __future__ import annotations

import warnings

import h5py
import numpy as np

# A filtered (compressed) dataset may declare at most this many times the bytes
# it stores: trained weights compress by a few times at best, a "bomb" by ~1000.
MAX_COMPRESSION_RATIO = 256
COMPRESSION_SLACK_BYTES = 64 * 1024
# dtype kinds a weight dataset may have: float, signed/unsigned integer, bool.
NUMERIC_KINDS = "fiub"
# dtype kinds any dataset in the file may have (fixed-length bytes are inert data).
PLAIN_KINDS = NUMERIC_KINDS + "S"


def audit_hdf5(f: h5py.File, where: str) -> None:
    """Refuse a file that points outside itself or declares more than it stores.

    Walks every link: external and soft links, datasets with external raw
    storage or a virtual layout, datasets of a non-plain type (references,
    variable-length, compound, complex), and datasets whose declared size is
    not backed by stored bytes all raise a ValueError naming ``where``.
    """
    problems: list[str] = []

    def visit(name: str) -> bool | None:
        link = f.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            problems.append(
                f"'{name}' is an external link to '{link.filename}'; a weights file must not "
                "make the reader open other files"
            )
        elif isinstance(link, h5py.SoftLink):
            problems.append(
                f"'{name}' is a soft link (to '{link.path}'); Keras never writes links"
            )
        else:
            obj = f.get(name)
            if isinstance(obj, h5py.Dataset):
                problem = _dataset_problem(obj, PLAIN_KINDS)
                if problem:
                    problems.append(f"dataset '{name}' {problem}")
        return True if problems else None  # a non-None value stops the walk

    try:
        f.visit_links(visit)
    except (OSError, RuntimeError, KeyError) as err:
        raise ValueError(f"{where}: the file's links cannot be walked ({err}).") from None
    if problems:
        raise ValueError(f"{where}: refused: {problems[0]}.")


def _dataset_problem(dset: h5py.Dataset, kinds: str) -> str | None:
    """Why ``dset`` may not be read, or None."""
    if dset.is_virtual:
        return "is a virtual dataset (its data lives in other files)"
    if dset.external:
        files = ", ".join(f"'{entry[0]}'" for entry in dset.external)
        return f"keeps its data in external file(s) {files}"
    if dset.dtype.kind not in kinds:
        return f"has type {dset.dtype} ({_kind_name(dset.dtype)}), not plain numbers"
    declared = _declared_bytes(dset)
    stored = dset.id.get_storage_size()
    filtered = dset.id.get_create_plist().get_nfilters() > 0
    if filtered:
        limit = MAX_COMPRESSION_RATIO * stored + COMPRESSION_SLACK_BYTES
        if declared > limit:
            return (
                f"declares {declared:,} bytes but stores {stored:,} compressed "
                f"(more than {MAX_COMPRESSION_RATIO}x: never written, or a decompression bomb)"
            )
    elif declared > stored:
        return (
            f"declares {declared:,} bytes but the file stores {stored:,} of them "
            "(never written, truncated or crafted)"
        )
    return None


def _declared_bytes(dset: h5py.Dataset) -> int:
    if dset.shape is None:
        return 0
    return int(np.prod(dset.shape, dtype=object)) * dset.dtype.itemsize


def _kind_name(dtype: np.dtype) -> str:
    return {
        "c": "complex",
        "O": "references or variable-length data",
        "V": "compound or opaque",
        "U": "text",
        "S": "bytes",
    }.get(dtype.kind, "unsupported")


def declared_shape(dset: h5py.Dataset) -> tuple[int, ...]:
    """The dataset's shape without reading it (a null dataspace is ``()``)."""
    return tuple(dset.shape) if dset.shape is not None else ()


def read_dataset(dset: h5py.Dataset, where: str, *, max_elements: int | None = None) -> np.ndarray:
    """The dataset's values as a float32/float64 array, after checking it may be read.

    ``where`` names the file and array in errors and warnings. Integer, bool and
    float16 weights are converted to float32 with a warning; non-finite values
    are reported with a warning.
    """
    problem = _dataset_problem(dset, NUMERIC_KINDS)
    if problem:
        raise ValueError(f"{where}: refused: the array {problem}.")
    size = int(np.prod(declared_shape(dset), dtype=object))
    if max_elements is not None and size > max_elements:
        raise ValueError(
            f"{where}: the array has shape {declared_shape(dset)} ({size:,} values), more "
            f"than the {max_elements:,} the layer's weights hold in all; the file does not "
            "belong to this layer."
        )
    try:
        array = np.asarray(dset[()])
    except (OSError, ValueError) as err:
        raise ValueError(f"{where}: the array cannot be read ({err}).") from None
    if array.dtype.kind != "f" or array.dtype.itemsize < 4:
        warnings.warn(
            f"{where}: {array.dtype} weights converted to float32.", UserWarning, stacklevel=2
        )
        array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        warnings.warn(
            f"{where}: {bad} of {array.size} values are NaN or infinite.",
            UserWarning,
            stacklevel=2,
        )
    return array
