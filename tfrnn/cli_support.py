"""What ``tfrnn-migrate`` and ``tfrnn-export`` share once they run: file-naming errors.

Both tools promise exit code 2 with a message naming the file for bad input
or a hostile environment (full disk, read-only directory), and no partial
output. ``naming`` turns the errors that are not ValueErrors (OSError,
MemoryError, ...) into a ValueError that says which file was being read or
written. The exit codes and signal handling live in ``tfrnn_cli.signals``
(importable without TensorFlow) and are re-exported here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from collections.abc import Iterator

from tfrnn_cli.signals import (  # noqa: F401  (re-exported)
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    cli_signals,
    interrupted_exit,
)

_NO_ROOM = (errno.EFBIG, errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NO_ROOM_TEXT = ("File too large", "No space left on device", "Disk quota exceeded")


class FileProblem(ValueError):
    """An error while reading or writing a named file, worded for the user."""


def describe(err: BaseException) -> str | None:
    """What went wrong, for a user, or None if ``err`` is not about the files or
    the machine (a ValueError already says what it means; a bug should show)."""
    if isinstance(err, MemoryError):
        return (
            "ran out of memory (is the file damaged, or crafted to declare huge arrays? "
            "otherwise it is larger than this machine can hold)"
        )
    if isinstance(err, RecursionError):
        return "nested too deeply to process (a damaged or crafted file)"
    if isinstance(err, OverflowError):
        return f"holds a size or number too large to process ({err})"
    if isinstance(err, UnicodeDecodeError):
        return (
            f"holds text that is not valid {err.encoding} (byte {err.object[err.start]:#04x} "
            f"at offset {err.start})"
        )
    if isinstance(err, OSError) or _is_tf_op_error(err):
        return _describe_io(err)
    return None


def _is_tf_op_error(err: BaseException) -> bool:
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(err, tf.errors.OpError)


def _describe_io(err: BaseException) -> str:
    code = getattr(err, "errno", None)
    text = getattr(err, "message", None) or str(err)
    said = [t for t in _NO_ROOM_TEXT if t in text]
    if code in _NO_ROOM or said:
        reason = os.strerror(code) if code in _NO_ROOM else said[0]
        return (
            f"{reason}: free some disk space (or raise the file-size limit, ulimit -f) "
            "and retry; nothing was written"
        )
    if isinstance(err, PermissionError):
        return (
            f"permission denied{_filename(err)}: check the file's and its directory's permissions"
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return first_line[:500]


def _filename(err: OSError) -> str:
    return f" on '{err.filename}'" if getattr(err, "filename", None) else ""


@contextlib.contextmanager
def naming(path: str | os.PathLike, doing: str) -> Iterator[None]:
    """Re-raise I/O, memory and decoding errors of the block as a FileProblem
    "{doing} '{path}': ..."; ValueErrors (which already name the file) and
    anything unexpected pass unchanged."""
    try:
        yield
    except ValueError as err:
        if not isinstance(err, UnicodeDecodeError):
            raise
        raise FileProblem(f"{doing} '{os.fspath(path)}': {describe(err)}.") from None
    except Exception as err:
        message = describe(err)
        if message is None:
            raise
        raise FileProblem(f"{doing} '{os.fspath(path)}': {message}.") from None


def check_room(need: int, directories: list[str], doing: str) -> None:
    """Refuse up front (ValueError) to write files of about ``need`` bytes into
    ``directories`` when the file-size limit or the free space is smaller.

    Needed where a library hides the cause of a failed write: TensorFlow's TFLite
    converter swallows the error of its temporary SavedModel and reports a
    missing signature instead."""
    limit = _file_size_limit()
    if limit is not None and limit < need:
        raise ValueError(
            f"{doing}: needs files of about {need:,} bytes but the file-size limit "
            f"(ulimit -f) is {limit:,} bytes; raise it and retry. Nothing was written."
        )
    for directory in directories:
        free = shutil.disk_usage(directory).free
        if free < need:
            raise ValueError(
                f"{doing}: needs about {need:,} bytes in '{directory}' but only {free:,} are "
                "free; free some space and retry. Nothing was written."
            )


def _file_size_limit() -> int | None:
    """RLIMIT_FSIZE's soft limit in bytes, None where unlimited or unknown."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft
