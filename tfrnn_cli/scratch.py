"""A temporary folder of the run's own, removed with whatever it holds.

TensorFlow writes temporaries of its own while a CLI works (AutoGraph's
generated modules, the TFLite converter's SavedModel) and removes some of
them only at interpreter exit, or not at all when interrupted at the wrong
moment. Pointing ``tempfile`` and ``TMPDIR`` into one fresh folder for the
run, and removing that folder when the run ends, leaves nothing behind in the
user's temporary directory, also after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _mask_stop_signals(how: int) -> None:
    """Block or unblock Ctrl-C and SIGTERM (main thread, where the OS allows)."""
    if (
        hasattr(signal, "pthread_sigmask")
        and threading.current_thread() is threading.main_thread()
    ):
        signal.pthread_sigmask(how, _STOP_SIGNALS)


@contextlib.contextmanager
def private_temp_dir(prefix: str) -> Iterator[str]:
    """Within the block, ``tempfile`` and the ``TMPDIR`` variable point into a
    fresh folder inside the usual temporary directory; the folder and all it
    holds are removed when the block ends, however it ends.

    A stop signal that arrives while the folder is being made waits until the
    clean-up is sure to run, so no interruption can leave the folder behind.
    """
    previous_dir, previous_env = tempfile.tempdir, os.environ.get("TMPDIR")
    path = None
    _mask_stop_signals(signal.SIG_BLOCK)
    try:
        path = tempfile.mkdtemp(prefix=prefix)
        tempfile.tempdir = path
        os.environ["TMPDIR"] = path
        _mask_stop_signals(signal.SIG_UNBLOCK)  # a pending signal is raised here, inside try
        yield path
    finally:
        _mask_stop_signals(signal.SIG_UNBLOCK)
        tempfile.tempdir = previous_dir
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
