"""Exit codes and signal handling of the command-line tools.

Both tools promise exit code 2 with a message for bad input, and no partial
output when interrupted: ``cli_signals`` makes SIGTERM clean up like Ctrl-C
and turns a write past the file-size limit into an error instead of a kill.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that every ``finally`` runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def cli_signals() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` and SIGXFSZ is ignored.

    SIGXFSZ (a write past RLIMIT_FSIZE) kills a process by default; ignored,
    the write fails with EFBIG and the usual clean-up runs. The previous
    handlers are restored on exit (``main()`` is also called in-process).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = {signal.SIGTERM: _raise_terminated}
    if hasattr(signal, "SIGXFSZ"):
        wanted[signal.SIGXFSZ] = signal.SIG_IGN
    previous = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def interruption_behind(err: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM an error stands for, if any.

    A signal's exception raised while a C extension runs (TensorFlow's, h5py's)
    can come back as that extension's ``SystemError`` ("returned a result with
    an exception set"), with the interruption as its cause or context.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def interrupted_exit(prog: str, err: KeyboardInterrupt) -> int:
    """Report an interruption (Ctrl-C or SIGTERM) and return the exit code."""
    what = "terminated" if isinstance(err, Terminated) else "interrupted"
    print(f"{prog}: {what}; unfinished output was removed.", file=sys.stderr)
    return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
