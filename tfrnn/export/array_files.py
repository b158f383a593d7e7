"""Reading .npy / .npz arrays after checking they hold what they declare.

``np.load`` trusts an array's header: a 2 MB .npz can declare (and inflate
to) 2 GB. Here every array's header shape and dtype are read first, its
declared size is compared with the bytes the file (or the zip member) holds,
and a compressed member may inflate at most MAX_COMPRESSION_RATIO times.
"""

from __future__ import annotations

import os
import zipfile
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from tfrnn.compat.hdf5_safety import COMPRESSION_SLACK_BYTES, MAX_COMPRESSION_RATIO

NPY_MAGIC = b"\x93NUMPY"
MAX_NPZ_MEMBERS = 10_000


def load_arrays(path: str) -> np.ndarray | dict[str, np.ndarray]:
    """The array of a .npy file, or the arrays (by name) of a .npz file.

    ValueError naming ``path`` if it is neither, or declares more data than it
    holds, or holds objects (which would need pickle)."""
    with open(path, "rb") as f:
        magic = f.read(len(NPY_MAGIC))
    if magic == NPY_MAGIC:
        with open(path, "rb") as f:
            _check_npy(f, os.path.getsize(path), path)
        return np.load(path, allow_pickle=False)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"'{path}' is not a .npy or .npz file (no NumPy or zip header).")
    try:
        with zipfile.ZipFile(path) as archive:
            _check_npz(archive, path)
            with np.load(path, allow_pickle=False) as loaded:
                return {name: loaded[name] for name in loaded.files}
    except zipfile.BadZipFile as err:
        raise ValueError(f"'{path}' is a damaged .npz (zip) file: {err}") from None


def _check_npz(archive: zipfile.ZipFile, path: str) -> None:
    members = archive.infolist()
    if len(members) > MAX_NPZ_MEMBERS:
        raise ValueError(f"'{path}' holds {len(members):,} members, more than any .npz needs.")
    for info in members:
        where = f"'{path}' member '{info.filename[:80]}'"
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{where} is not a .npy array; a .npz holds only arrays.")
        if info.compress_type == zipfile.ZIP_STORED:
            inflated_limit = info.compress_size
        else:
            inflated_limit = MAX_COMPRESSION_RATIO * info.compress_size + COMPRESSION_SLACK_BYTES
        if info.file_size > inflated_limit:
            raise ValueError(
                f"{where} declares {info.file_size:,} bytes but stores {info.compress_size:,} "
                f"(more than {MAX_COMPRESSION_RATIO}x compression: a zip bomb or a damaged "
                "file); refused before decompressing it."
            )
        with archive.open(info) as member:
            _check_npy(member, info.file_size, where)


def _check_npy(f: IO[bytes], size: int, where: str) -> None:
    """Check the .npy header at the start of ``f`` against the ``size`` bytes it has."""
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(f)
        else:
            shape, _, dtype = npy_format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        raise ValueError(f"{where} has no valid .npy header: {err}") from None
    if dtype.hasobject:
        raise ValueError(
            f"{where} holds Python objects (dtype {dtype}), which need pickle to read; "
            "save plain numeric arrays."
        )
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    present = size - f.tell()
    if declared > present:
        raise ValueError(
            f"{where} declares shape {shape} of {dtype} ({declared:,} bytes) but holds "
            f"{max(present, 0):,} bytes of data (truncated or crafted)."
        )
