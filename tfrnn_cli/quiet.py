"""Keeping TensorFlow's own log off a command-line user's terminal.

TensorFlow writes from C++ straight to file descriptor 2 (start-up lines such
as the oneDNN notice and ``cuInit ... UNKNOWN ERROR (303)``, printed before
``TF_CPP_MIN_LOG_LEVEL`` is even read; the TFLite converter's
``fully_quantize: 0, inference_type: 6, ...``; the interpreter's XNNPACK
line), and from Python through its logger and the ``warnings`` module. A
tool's users need none of it: its own messages say what happened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import TextIO

#: Python loggers of the libraries a tool runs.
LIBRARY_LOGGERS = ("tensorflow", "absl", "h5py")
#: modules whose Python warnings a tool's user cannot act on.
LIBRARY_WARNINGS = r"(tensorflow|tf_keras|keras|absl|h5py|google|flatbuffers)(\.|$)"
_STREAMS = {1: "stdout", 2: "stderr"}


@contextlib.contextmanager
def quiet_tensorflow(verbose: bool) -> Iterator[None]:
    """Within the block, TensorFlow's and tf_keras's log lines and warnings are
    hidden, unless ``verbose``.

    Native code's output to file descriptors 1 and 2 goes to ``os.devnull``;
    Python's ``sys.stdout`` and ``sys.stderr`` (where they are the process's
    own) are reopened on the original descriptors, so the tool's messages still
    reach the terminal. Everything is restored on exit.
    """
    if verbose:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read when TensorFlow loads
    with _library_logs_at_error(), warnings.catch_warnings(), _native_output_hidden():
        warnings.filterwarnings("ignore", module=LIBRARY_WARNINGS)
        yield


@contextlib.contextmanager
def _library_logs_at_error() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _native_output_hidden() -> Iterator[None]:
    for name in _STREAMS.values():
        _flush(getattr(sys, name))
    saved = {fd: os.dup(fd) for fd in _STREAMS}
    replaced = {}
    for fd, name in _STREAMS.items():
        stream = getattr(sys, name)
        if stream is not None and stream is getattr(sys, f"__{name}__"):
            replaced[name] = stream
            setattr(sys, name, _reopened(stream, saved[fd]))
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in _STREAMS:
            os.dup2(null, fd)
    finally:
        os.close(null)
    try:
        yield
    finally:
        for name in _STREAMS.values():
            _flush(getattr(sys, name))
        for fd, original in saved.items():
            os.dup2(original, fd)
            os.close(original)
        for name, stream in replaced.items():
            setattr(sys, name, stream)


def _reopened(stream: TextIO, fd: int) -> TextIO:
    """A line-buffered text stream like ``stream`` on a copy of descriptor ``fd``.

    Never closed here: a logging handler created meanwhile may keep it, and it
    keeps writing where ``stream`` does."""
    return open(
        os.dup(fd),
        "w",
        buffering=1,
        encoding=stream.encoding,
        errors=stream.errors,
    )


def _flush(stream: TextIO | None) -> None:
    if stream is not None:
        stream.flush()
