"""Writing an artifact all at once: into a temporary sibling, then renamed.

Only what the tools themselves write is ever replaced: a regular file, a
symlink (the link, never its target), a SavedModel directory, or an empty
directory (nothing is lost). Anything else at the output path (a project folder, a device) is refused, and so is
an output that is, contains or lies inside one of the inputs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

SAVED_MODEL_FILE = "saved_model.pb"
OVERWRITE_HINT = "pass overwrite=True (--overwrite) to replace it"


class OutputExistsError(FileExistsError, ValueError):
    """The output path exists and ``overwrite`` was not given."""


def check_output(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    protect: Iterable[str | os.PathLike | None] = (),
    hint: str = OVERWRITE_HINT,
) -> Path:
    """Refuse, with a ValueError, an output ``atomic_output`` must not write.

    Checks what ``atomic_output`` checks, and also that the directory is
    writable, so a tool can call it before any long work. ``protect`` names
    the inputs, which the output must not be, contain or lie inside.
    """
    path = _check(path, overwrite, protect, hint)
    os.rmdir(_make_workdir(path))
    return path


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    protect: Iterable[str | os.PathLike | None] = (),
    hint: str = OVERWRITE_HINT,
) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    If the body raises, nothing is left behind and an existing ``path`` is
    untouched. The temporary lives next to ``path``, so the final rename
    stays on one file system; a replaced output is moved into it and deleted
    with it, so no other name is ever taken. See ``check_output`` for what
    is refused.
    """
    protect = list(protect)
    path = _check(path, overwrite, protect, hint)
    workdir = _make_workdir(path)
    try:
        target = workdir / path.name
        yield target
        _check(path, overwrite, protect, hint)  # the output may have appeared meanwhile
        if not os.path.lexists(path):
            os.replace(target, path)
            return
        old = workdir / "replaced"
        os.replace(path, old)
        try:
            os.replace(target, path)
        except BaseException:
            os.replace(old, path)
            raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check(
    path: str | os.PathLike,
    overwrite: bool,
    protect: Iterable[str | os.PathLike | None],
    hint: str,
) -> Path:
    path = Path(path)
    for source in protect:
        if source is not None:
            _check_not_input(path, Path(source))
    if os.path.lexists(path):
        if not overwrite:
            raise OutputExistsError(f"'{path}' already exists; {hint}.")
        _check_replaceable(path)
    parent = path.parent
    if not parent.is_dir():
        raise ValueError(f"Cannot write '{path}': the directory '{parent}' does not exist.")
    return path


def _check_not_input(path: Path, source: Path) -> None:
    if not os.path.lexists(source):
        return
    out, src = os.path.realpath(path), os.path.realpath(source)
    same = out == src or (os.path.exists(path) and os.path.samefile(path, source))
    if same or out.startswith(src.rstrip(os.sep) + os.sep):
        where = "is" if same else "lies inside"
        raise ValueError(
            f"The output '{path}' {where} the input '{source}'; writing it would destroy the "
            "input. Choose another output path."
        )
    if src.startswith(out.rstrip(os.sep) + os.sep):
        raise ValueError(
            f"The output '{path}' contains the input '{source}'; replacing it would destroy "
            "the input. Choose another output path."
        )


def _check_replaceable(path: Path) -> None:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode) or stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        if (path / SAVED_MODEL_FILE).is_file() or not any(path.iterdir()):
            return
        raise ValueError(
            f"'{path}' is a directory but not a SavedModel (it has no {SAVED_MODEL_FILE}); "
            "only a file, a SavedModel directory or an empty directory is ever replaced, so it "
            "is left alone. "
            "Choose another output path, or remove the directory yourself."
        )
    raise ValueError(
        f"'{path}' is not a regular file, symlink or SavedModel directory; refusing to "
        "replace it. Choose another output path."
    )


def _make_workdir(path: Path) -> Path:
    """The hidden temporary directory next to ``path`` (a ValueError if there is no
    writing there)."""
    parent = path.parent
    try:
        return Path(tempfile.mkdtemp(prefix=f".{path.name[:80]}.", suffix=".tmp", dir=parent))
    except OSError as err:
        raise ValueError(
            f"Cannot write '{path}': cannot create files in the directory '{parent}' "
            f"({err.strerror or err})."
        ) from None
