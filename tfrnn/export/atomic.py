"""Writing an artifact all at once: into a temporary sibling, then renamed."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputExistsError(FileExistsError, ValueError):
    """The output path exists and ``overwrite`` was not given."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    If the body raises, nothing is left behind and an existing ``path`` is
    untouched. The temporary lives next to ``path``, so the final rename
    stays on one file system.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"'{path}' already exists; pass overwrite=True (--overwrite) to replace it."
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"Cannot write '{path}': the directory '{parent}' does not exist.")
    workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    try:
        target = workdir / path.name
        yield target
        if path.exists() or path.is_symlink():
            os.replace(path, workdir / "replaced")
        os.replace(target, path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
