"""What both tools' ``main`` does around its work: flags, messages, quiet, signals."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

from tfrnn_cli.quiet import quiet_tensorflow
from tfrnn_cli.scratch import private_temp_dir
from tfrnn_cli.signals import (
    EXIT_BAD_INPUT,
    cli_signals,
    interrupted_exit,
    interruption_behind,
)


def add_standard_flags(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` and ``--version``."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show TensorFlow's own log lines and warnings (hidden by default); "
        "use it when a run fails without a message",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the versions of tfrnn and TensorFlow"
    )


class _VersionAction(argparse.Action):
    """``--version``, whose text is looked up only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, help=help
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(version_text(parser.prog))
        parser.exit()


def version_text(prog: str) -> str:
    """``prog`` with the versions of tfrnn and the TensorFlow it would run on."""
    parts = []
    for package in ("tfrnn", "tensorflow", "tf_keras"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} not installed")
    return f"{prog} ({', '.join(parts)})"


def fail(prog: str, message: str) -> int:
    """Print ``prog: error: message`` to stderr; return the bad-input exit code."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def warn(prog: str, message: str) -> None:
    print(f"{prog}: warning: {message}", file=sys.stderr)


def run_command(prog: str, module: str, args: argparse.Namespace) -> int:
    """Import ``module`` (which loads TensorFlow) and return ``module.run(args)``,
    with TensorFlow's log hidden unless ``args.verbose`` and Python warnings shown as
    ``prog: warning: ...``, and TensorFlow's temporaries kept in a folder of the
    run's own (``private_temp_dir``); Ctrl-C and SIGTERM end it with exit code
    130/143 after its clean-up ran."""
    with cli_signals(), warnings.catch_warnings():
        warnings.showwarning = lambda message, *rest, **kwargs: warn(prog, str(message))
        try:
            with private_temp_dir(f"{prog}-"), quiet_tensorflow(args.verbose):
                return importlib.import_module(module).run(args)
        except KeyboardInterrupt as err:
            return interrupted_exit(prog, err)
        except Exception as err:
            stop = interruption_behind(err)
            if stop is None:
                raise
            return interrupted_exit(prog, stop)


class StageReporter:
    """Prints each stage of a long run, with the time since the first, to stderr."""

    def __init__(self, prog: str) -> None:
        self.prog = prog
        self.start = time.monotonic()

    def __call__(self, stage: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"{self.prog} [{elapsed:5.1f} s] {stage}", file=sys.stderr, flush=True)


def stage_reporter(prog: str) -> StageReporter | None:
    """A ``StageReporter`` when stderr is a terminal (someone is waiting), else None."""
    return StageReporter(prog) if sys.stderr.isatty() else None


def missing_directory(path: str) -> str | None:
    """The complaint when the directory ``path`` would be written in does not exist."""
    parent = Path(path).parent
    if parent.is_dir():
        return None
    return f"cannot write '{path}': the directory '{parent}' does not exist; create it first."
