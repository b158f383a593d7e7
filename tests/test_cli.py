"""tfrnn-migrate and tfrnn-export as a user meets them: --help, --version and argument
errors answer before TensorFlow loads; TensorFlow's log stays hidden unless --verbose;
every flag is explained, and the README's synopses list what the parsers accept."""

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import time

import pytest

from tfrnn_cli import export as export_cli
from tfrnn_cli import migrate as migrate_cli

README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()

# Calls the installed console scripts in one fresh process and reports, as JSON,
# each call's exit code, output and time, and whether TensorFlow was imported.
ENTRY_POINTS = textwrap.dedent(
    """
    import contextlib, io, json, sys, time
    from importlib.metadata import entry_points

    scripts = {ep.name: ep for ep in entry_points(group="console_scripts")}
    calls = json.loads(sys.argv[1])
    results = []
    for name, *argv in calls:
        out, err = io.StringIO(), io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = scripts[name].load()(argv)
            except SystemExit as done:
                code = done.code
        seconds = time.perf_counter() - start
        results.append({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                        "seconds": seconds})
    loaded = sorted(m for m in ("tensorflow", "tf_keras", "tfrnn") if m in sys.modules)
    targets = {n: scripts[n].value for n in ("tfrnn-migrate", "tfrnn-export")}
    print(json.dumps({"results": results, "loaded": loaded, "targets": targets}))
    """
)


def test_help_version_and_argument_errors_come_before_tensorflow(tmp_path):
    for name in ("old.h5", "m.keras", "data.npy"):
        (tmp_path / name).write_bytes(b"")  # never read: the arguments are wrong
    old, model = str(tmp_path / "old.h5"), str(tmp_path / "m.keras")
    out = str(tmp_path / "out.tflite")
    calls = [
        (["tfrnn-export", "--help"], 0, r"--no-fuse-lstm.*\+-10"),
        (["tfrnn-migrate", "--help"], 0, r"--backend \{theano,tensorflow,cntk\}"),
        (["tfrnn-export", "--version"], 0, r"^tfrnn-export \(tfrnn \S+, tensorflow 2\.21"),
        (["tfrnn-migrate", "--version"], 0, r"^tfrnn-migrate \(tfrnn \S+, tensorflow"),
        (["tfrnn-export", model, out, "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["tfrnn-export", model, out, "--quantize", "int8"], 2, "needs --representative-data"),
        (["tfrnn-export", model, out, "--batch-size", "0"], 2, "positive number"),
        (["tfrnn-export", model, str(tmp_path / "sm"), "--quantize", "dynamic"], 2, "TFLite"),
        (["tfrnn-export", str(tmp_path / "nothing.keras"), out], 2, "does not exist"),
        (["tfrnn-export", model, str(tmp_path / "no" / "m.tflite")], 2, "does not exist"),
        (["tfrnn-migrate", old, "-o", str(tmp_path / "out.txt")], 2, r"suffix '\.txt'"),
        (["tfrnn-migrate", old, "-o", str(tmp_path / "no" / "m.keras")], 2, "does not exist"),
        (["tfrnn-migrate", old, "-o", "m.keras", "--backend", "mxnet"], 2, "invalid choice"),
        (["tfrnn-migrate", str(tmp_path / "gone.h5"), "-o", "m.keras"], 2, "no such file"),
    ]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_POINTS, json.dumps([argv for argv, _, _ in calls])],
        cwd=tmp_path,  # where users are: not the checkout, whose build metadata may be stale
        capture_output=True,
        text=True,
        timeout=60,
    )
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["targets"] == {
        "tfrnn-migrate": "tfrnn_cli.migrate:main",
        "tfrnn-export": "tfrnn_cli.export:main",
    }
    for (argv, code, pattern), result in zip(calls, report["results"]):
        text = result["out"] + result["err"]
        assert result["code"] == code, (argv, text)
        assert re.search(pattern, " ".join(text.split()), flags=re.M), (argv, text)
        assert "Traceback" not in text
    assert report["loaded"] == []  # neither TensorFlow nor tfrnn was imported
    print(f"{len(calls)} calls in one process: {wall:.2f} s")
    assert wall < 5  # importing TensorFlow alone takes longer


def test_help_answers_in_well_under_a_second():
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tfrnn_cli.export", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    wall = time.perf_counter() - start
    print(f"tfrnn-export --help: {wall:.2f} s")
    assert done.returncode == 0 and "usage: tfrnn-export" in done.stdout and not done.stderr
    assert wall < 1.5


def test_tensorflow_start_up_lines_are_hidden(tmp_path):
    """TensorFlow prints its start-up notices (oneDNN, cuInit, ...) whatever
    TF_CPP_MIN_LOG_LEVEL says; a tool's user sees only the tool's message."""
    (tmp_path / "empty.keras").write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "tfrnn_cli.export", "empty.keras", "out.tflite"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "tfrnn-export: error: 'empty.keras' is empty (0 bytes): expected a .keras archive, "
        "an HDF5 (.h5) model or a SavedModel directory; was it written completely?"
    ]


@pytest.mark.parametrize("cli", [export_cli, migrate_cli], ids=["export", "migrate"])
def test_every_flag_is_explained_and_in_the_readme(cli):
    parser = cli.parser()
    synopsis = re.search(rf"`{cli.PROG} [^`]*`", README.replace("\n", " ")).group(0)
    for action in parser._actions:
        if action.help == "show this help message and exit":
            continue
        assert action.help and len(action.help) > 20, action.option_strings or action.dest
        if action.option_strings and "--version" not in action.option_strings:
            assert any(o in synopsis for o in action.option_strings), (action, synopsis)
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        if flag and action.choices:
            assert f"{flag} {'|'.join(action.choices)}" in synopsis, (flag, synopsis)
    text = " ".join(parser.format_help().split())
    if cli is export_cli:
        assert "clips the cell state at +-10" in text
        assert "add a 'streaming' signature" in text and "<layer>_h" in text
    else:
        assert "tensorflow and cntk compute correlations" in text
