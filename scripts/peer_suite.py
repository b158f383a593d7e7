"""Run tf_keras's own recurrent-layer tests against tfrnn (issue 14, part B).

The test files of a tf-keras release are read from a bare git copy of the
tf-keras repository (never copied into this repository), their imports are
rewritten for the installed ``tf_keras`` package, and pytest runs them twice
in subprocesses: once plain, once with tf_keras's recurrent classes replaced
by tfrnn's. The per-file pass counts show how "drop-in" tfrnn is; the report
lists every test that passes plain but not with tfrnn.

    python scripts/peer_suite.py --report /tmp/peer_suite.json
    python scripts/peer_suite.py --files simple_rnn,gru --report /tmp/r.txt -k masking
    python scripts/peer_suite.py --parallel --keep --report /tmp/r.json

See docs/peer_suite.md for what is replaced and how to read the results.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MIRROR = Path("/work/.mirror/keras-team+tf-keras/repo")
DEFAULT_TAG = "v2.21.0"
TEST_DIR = "tf_keras/layers/rnn"
REPO_ROOT = Path(__file__).resolve().parent.parent

#: the test files run by default (cudnn_test needs a GPU)
DEFAULT_FILES = (
    "simple_rnn",
    "gru_lstm",
    "bidirectional",
    "conv_lstm",
    "base_rnn",
    "gru",
    "lstm",
    "time_distributed",
    "cell_wrappers",
    "gru_v1",
    "lstm_v1",
)

#: the tfrnn classes that replace tf_keras's, by tf_keras name
REPLACED = (
    "SimpleRNN",
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "SimpleRNNCell",
    "GRUCell",
    "LSTMCell",
    "StackedRNNCells",
    "CuDNNLSTM",
    "CuDNNGRU",
)
#: tf_keras's explicit names for its TF2 classes -> the tfrnn class's name
V2_ALIASES = {"GRUV2": "GRU", "GRUCellV2": "GRUCell", "LSTMV2": "LSTM", "LSTMCellV2": "LSTMCell"}

_NAMESPACE = {**{name: name for name in REPLACED}, **V2_ALIASES}
_RNN = "tf_keras.src.layers.rnn"
#: module -> {attribute: tfrnn class name}: the public ``tf_keras.layers`` and
#: the namespaces the tests take the classes from (``keras.layers.X`` and
#: ``layers.X`` are ``tf_keras.src.layers``; ``gru.GRU``, ``lstm.LSTMCell``);
#: attributes a module lacks are skipped. The modules tf_keras itself reads
#: at run time (``base_rnn.RNN`` in its SavedModel code, the ``rnn`` package
#: in its deserializer) stay as they are, as they do for a user who imports
#: tfrnn. The v1 classes (gru_v1, lstm_v1, ``*V1``) stay tf_keras's: tfrnn
#: replaces the TF2 layers, which are what ``tf_keras.layers`` exports under TF2.
PATCH_TARGETS: dict[str, dict[str, str]] = {
    "tf_keras.layers": _NAMESPACE,
    "tf_keras.src.layers": _NAMESPACE,
    f"{_RNN}.gru": {"GRU": "GRU", "GRUCell": "GRUCell"},
    f"{_RNN}.lstm": {"LSTM": "LSTM", "LSTMCell": "LSTMCell"},
}

PYTEST_INI = """\
[pytest]
python_files = *_test.py
addopts =
"""

#: conftest.py of the temporary test directory; {targets} is PATCH_TARGETS as JSON.
CONFTEST = '''\
"""Written by tfrnn's scripts/peer_suite.py. With PEER_SUITE_PATCH=tfrnn it
replaces tf_keras's recurrent classes by tfrnn's before the tests import;
in every run it appends each test's outcome to $PEER_SUITE_RESULTS."""

import importlib
import json
import os
import platform
import re

import tensorflow as tf
import tf_keras

TARGETS = json.loads({targets!r})
RESULTS = os.environ["PEER_SUITE_RESULTS"]


def _write(record):
    with open(RESULTS, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\\n")


def _patch():
    import tfrnn
    from tf_keras.src.layers import serialization

    # tf_keras's class-name table for deserializing, built before the
    # patches so that it holds tf_keras's classes, as it does for a user.
    serialization.populate_deserializable_objects()
    patched, renames = [], {{}}
    for module_name, names in TARGETS.items():
        module = importlib.import_module(module_name)
        for attribute, tfrnn_name in names.items():
            if hasattr(module, attribute):
                original, replacement = getattr(module, attribute), getattr(tfrnn, tfrnn_name)
                setattr(module, attribute, replacement)
                patched.append(f"{{module_name}}.{{attribute}}")
                renames[_id_token(replacement)] = _id_token(original)
    assert tf_keras.layers.LSTM is tfrnn.LSTM
    return patched, renames, f"{{tfrnn.__version__}} ({{os.path.dirname(tfrnn.__file__)}})"


def _id_token(cls):
    # how absl's parameterized names a test parametrized by a class:
    # str(cls) without its non-alphanumerics, e.g. classtfkerassrclayersrnngruGRU
    return re.sub("[^0-9a-zA-Z]", "", str(cls))


def _first_line(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:400] if lines else ""


_patched, _renames, _tfrnn_version = ([], {{}}, None)
if os.environ.get("PEER_SUITE_PATCH") == "tfrnn":
    _patched, _renames, _tfrnn_version = _patch()
_write(
    {{
        "kind": "meta",
        "patched": _patched,
        "renames": _renames,
        "versions": {{
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "tfrnn": _tfrnn_version,
        }},
    }}
)


def pytest_runtest_logreport(report):
    record = {{"kind": "test", "nodeid": report.nodeid, "when": report.when}}
    if hasattr(report, "wasxfail"):
        record["outcome"] = "xfail"
    else:
        record["outcome"] = report.outcome
    if report.failed:
        record["error"] = _first_line(report)
    _write(record)


def pytest_collectreport(report):
    if report.failed:
        _write({{"kind": "collect", "nodeid": report.nodeid, "error": _first_line(report)}})
'''

_IMPORT = re.compile(r"^(\s*)from tf_keras((?:\.[\w.]+)?) import ", re.MULTILINE)
_IMPORT_AS = re.compile(r"^(\s*)import tf_keras as (\w+)$", re.MULTILINE)


class HarnessError(Exception):
    """A problem with the harness's inputs; main() prints it and exits 2."""


@dataclass
class RunResult:
    """One pytest run: each test's outcome and first error line, by node id."""

    outcomes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    returncode: int = 0
    seconds: float = 0.0


# ------------------------------------------------------------------ arguments
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", required=True, type=Path, help="*.json, else text")
    parser.add_argument("--files", help="comma-separated, e.g. simple_rnn,gru (default: all)")
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="bare tf-keras git")
    parser.add_argument("--tag", default=DEFAULT_TAG, help="tf-keras tag to read the tests at")
    parser.add_argument("-k", dest="keyword", help="passed to pytest -k")
    parser.add_argument("--parallel", action="store_true", help="run both passes at once")
    parser.add_argument("--timeout", type=float, help="seconds allowed for each pytest run")
    parser.add_argument("--workdir", type=Path, help="directory for tests and logs (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--tfrnn-commit",
        help="run the tfrnn pass on this commit of the checkout (git archive), not the work tree",
    )
    return parser.parse_args(argv)


def selected_files(spec: str | None) -> list[str]:
    """Test file stems from ``--files`` (``gru`` or ``gru_test``), default all."""
    if not spec:
        return list(DEFAULT_FILES)
    names = [n.strip().removesuffix(".py").removesuffix("_test") for n in spec.split(",")]
    return [n for n in names if n]


# ------------------------------------------------------------ the test files
def git_show(mirror: Path, revision: str) -> str:
    """``git -C mirror show revision`` as text."""
    done = subprocess.run(
        ["git", "-C", str(mirror), "show", revision], capture_output=True, text=True
    )
    if done.returncode:
        raise HarnessError(f"git show {revision} failed in {mirror}: {done.stderr.strip()}")
    return done.stdout


def check_mirror(mirror: Path, tag: str) -> None:
    """Refuse a missing mirror or tag, with a message saying what to pass."""
    if not mirror.is_dir():
        raise HarnessError(
            f"tf-keras mirror not found at {mirror}; pass --mirror PATH to a git copy "
            "of https://github.com/keras-team/tf-keras"
        )
    done = subprocess.run(
        ["git", "-C", str(mirror), "rev-parse", "--verify", "--quiet", f"{tag}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise HarnessError(f"{mirror} is not a git repository holding tag {tag} (see --tag)")


def rewrite_imports(source: str) -> str:
    """Point the repository-layout imports at the installed package.

    In the tf-keras repository the sources live at ``tf_keras/...``; the pip
    package keeps them under ``tf_keras/src/...`` and makes ``tf_keras`` the
    generated public API. So ``from tf_keras.X import Y`` (and ``from
    tf_keras import layers``) become ``tf_keras.src`` imports, and ``import
    tf_keras as keras`` becomes ``from tf_keras import src as keras``: the
    tests use ``keras.backend`` functions the public API does not export
    (``convert_inputs_if_ragged``).
    """

    def repl(match: re.Match) -> str:
        indent, path = match.group(1), match.group(2)
        return f"{indent}from tf_keras.src{path} import "

    source = _IMPORT.sub(repl, source)
    return _IMPORT_AS.sub(r"\1from tf_keras import src as \2", source)


def extract_tests(mirror: Path, tag: str, files: list[str], dest: Path) -> list[str]:
    """Write the rewritten test files and the pytest support files into ``dest``."""
    written = []
    for stem in files:
        source = git_show(mirror, f"{tag}:{TEST_DIR}/{stem}_test.py")
        (dest / f"{stem}_test.py").write_text(rewrite_imports(source), encoding="utf-8")
        written.append(f"{stem}_test.py")
    (dest / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    conftest = CONFTEST.format(targets=json.dumps(PATCH_TARGETS))
    (dest / "conftest.py").write_text(conftest, encoding="utf-8")
    return written


def snapshot_tfrnn(commit: str, dest: Path) -> Path:
    """``git archive`` of ``commit`` of this checkout, laid out as the editable
    install maps it (``compat/`` is the package ``tfrnn.compat``); returns the
    directory to put first on PYTHONPATH."""
    root = dest / "tfrnn_src"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", commit, "tfrnn", "compat"], capture_output=True
    )
    if archive.returncode:
        raise HarnessError(f"git archive {commit} failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    (root / "tfrnn" / "compat").symlink_to(root / "compat", target_is_directory=True)
    return root


def check_outside_repo(path: Path) -> None:
    """The extracted tests must not land in this repository."""
    resolved = path.resolve()
    if resolved == REPO_ROOT or REPO_ROOT in resolved.parents:
        raise HarnessError(f"--workdir {path} is inside the repository {REPO_ROOT}")


# ----------------------------------------------------------------- the runs
def start_pytest(
    workdir: Path,
    label: str,
    patch: bool,
    test_files: list[str],
    keyword: str | None,
    tfrnn_src: Path | None = None,
) -> subprocess.Popen:
    """Start one pytest pass; output goes to ``<workdir>/<label>.log``. With
    ``tfrnn_src`` that directory's tfrnn comes first on the path."""
    results = workdir / f"{label}.jsonl"
    results.unlink(missing_ok=True)
    env = {**os.environ, "PEER_SUITE_RESULTS": str(results)}
    env["PEER_SUITE_PATCH"] = "tfrnn" if patch else ""
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if tfrnn_src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tfrnn_src), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["--continue-on-collection-errors", "-o", "console_output_style=classic"]
    if keyword:
        command += ["-k", keyword]
    with open(workdir / f"{label}.log", "w", encoding="utf-8") as log:
        return subprocess.Popen(
            command + test_files, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def wait_pytest(process: subprocess.Popen, timeout: float | None, label: str) -> int:
    """Wait for a pass; kill it (and report) if it overruns ``timeout``."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        print(f"[{label}] killed after {timeout:.0f}s; counting what it finished", flush=True)
        return -9


def merge_outcome(previous: str | None, when: str, outcome: str) -> str:
    """One test's outcome from its setup/call/teardown reports."""
    if outcome == "failed":
        return "failed" if when == "call" else "error"
    if outcome in ("skipped", "xfail"):
        return "skipped"
    return previous or "passed"


def plain_nodeid(nodeid: str, renames: dict[str, str]) -> str:
    """A tfrnn-pass test id as the plain pass names it: a test parametrized
    by a class carries the class's path in its name (``..._classtfrnnlayersgruGRU``)."""
    for ours in sorted(renames, key=len, reverse=True):
        nodeid = nodeid.replace(ours, renames[ours])
    return nodeid


def read_results(path: Path) -> RunResult:
    """A pass's outcomes from the JSON lines its conftest wrote."""
    result = RunResult()
    if not path.exists():
        return result
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["kind"] == "meta":
            result.meta = record
        elif record["kind"] == "collect":
            result.collect_errors[record["nodeid"]] = record["error"]
        else:
            nodeid = plain_nodeid(record["nodeid"], result.meta.get("renames", {}))
            previous = result.outcomes.get(nodeid)
            if previous in ("failed", "error", "skipped"):
                continue
            result.outcomes[nodeid] = merge_outcome(previous, record["when"], record["outcome"])
            if "error" in record:
                result.errors.setdefault(nodeid, record["error"])
    return result


def run_passes(
    workdir: Path, test_files: list[str], args: argparse.Namespace
) -> dict[str, RunResult]:
    """The plain and the tfrnn pass, one after the other or (--parallel) at once."""
    labels = {"plain": False, "tfrnn": True}
    results: dict[str, RunResult] = {}
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    for label, patch in labels.items():
        print(f"[{label}] pytest started; log: {workdir / (label + '.log')}", flush=True)
        source = args.tfrnn_src if patch else None
        process = start_pytest(workdir, label, patch, test_files, args.keyword, source)
        running[label] = (process, time.time())
        if not args.parallel:
            results[label] = finish(workdir, label, *running.pop(label), args.timeout)
    for label, (process, started) in running.items():
        results[label] = finish(workdir, label, process, started, args.timeout)
    return results


def finish(
    workdir: Path, label: str, process: subprocess.Popen, started: float, timeout: float | None
) -> RunResult:
    """Wait for one pass and read its results."""
    returncode = wait_pytest(process, timeout, label)
    result = read_results(workdir / f"{label}.jsonl")
    result.returncode, result.seconds = returncode, time.time() - started
    counts = Counter(result.outcomes.values())
    print(
        f"[{label}] done in {result.seconds:.0f}s (exit {returncode}): {dict(counts)}", flush=True
    )
    return result


# ---------------------------------------------------------------- the report
def file_of(nodeid: str) -> str:
    """``gru_test.py::GRUTest::test_x`` -> ``gru``."""
    return nodeid.split("::")[0].removesuffix(".py").removesuffix("_test")


def file_counts(result: RunResult, files: list[str]) -> dict[str, Counter]:
    """Outcome counts per test file."""
    counts = {stem: Counter() for stem in files}
    for nodeid, outcome in result.outcomes.items():
        counts.setdefault(file_of(nodeid), Counter())[outcome] += 1
    return counts


def regressions(plain: RunResult, patched: RunResult) -> list[dict[str, str]]:
    """Tests that pass plain but not with tfrnn, with tfrnn's first error line."""
    found = []
    for nodeid, outcome in plain.outcomes.items():
        theirs = patched.outcomes.get(nodeid, "missing")
        if outcome == "passed" and theirs != "passed":
            error = patched.errors.get(nodeid, "")
            if theirs == "missing":
                error = patched.collect_errors.get(nodeid.split("::")[0], "not run")
            found.append(
                {"test": nodeid, "file": file_of(nodeid), "outcome": theirs, "error": error}
            )
    return sorted(found, key=lambda r: r["test"])


def improvements(plain: RunResult, patched: RunResult) -> list[str]:
    """Tests that fail plain but pass with tfrnn."""
    return sorted(
        nodeid
        for nodeid, outcome in patched.outcomes.items()
        if outcome == "passed" and plain.outcomes.get(nodeid, "missing") != "passed"
    )


def count_table(plain: dict[str, Counter], patched: dict[str, Counter]) -> list[str]:
    """Lines of the per-file table: passed plain -> passed with tfrnn (of total)."""
    lines = [f"{'file':<18}{'plain':>7}{'tfrnn':>7}{'lost':>6}{'collected':>11}"]
    total_plain = total_patched = total = 0
    for stem in plain:
        ours, theirs = plain[stem]["passed"], patched.get(stem, Counter())["passed"]
        collected = sum(plain[stem].values())
        total_plain, total_patched, total = (
            total_plain + ours,
            total_patched + theirs,
            total + collected,
        )
        lines.append(f"{stem:<18}{ours:>7}{theirs:>7}{ours - theirs:>6}{collected:>11}")
    lines.append(
        f"{'total':<18}{total_plain:>7}{total_patched:>7}{total_plain - total_patched:>6}{total:>11}"
    )
    return lines


def build_report(args: argparse.Namespace, files: list[str], runs: dict[str, RunResult]) -> dict:
    """Everything the report file holds."""
    plain, patched = runs["plain"], runs["tfrnn"]
    plain_counts, patched_counts = file_counts(plain, files), file_counts(patched, files)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "mirror": str(args.mirror),
        "tag": args.tag,
        "keyword": args.keyword,
        "versions": patched.meta.get("versions", plain.meta.get("versions", {})),
        "tfrnn_checkout": args.repo_state,
        "patched": patched.meta.get("patched", []),
        "seconds": {label: round(run.seconds) for label, run in runs.items()},
        "exit_codes": {label: run.returncode for label, run in runs.items()},
        "counts": {
            stem: {"plain": dict(plain_counts[stem]), "tfrnn": dict(patched_counts.get(stem, {}))}
            for stem in plain_counts
        },
        "table": count_table(plain_counts, patched_counts),
        "collect_errors": {label: run.collect_errors for label, run in runs.items()},
        "regressions": regressions(plain, patched),
        "improvements": improvements(plain, patched),
    }


def report_text(report: dict) -> str:
    """The report as plain text."""
    lines = [f"peer suite: tf-keras {report['tag']} tests, {report['date']}"]
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    checkout = report["tfrnn_checkout"]
    modified = ", ".join(checkout["modified"]) or "none"
    kind = "snapshot of" if checkout.get("snapshot") else "work tree at"
    lines.append(f"tfrnn: {kind} {checkout['commit']} (modified: {modified})")
    lines += ["", *report["table"], ""]
    for label, errors in report["collect_errors"].items():
        lines += [f"collection error ({label}): {node}: {error}" for node, error in errors.items()]
    lines.append(f"regressions (pass plain, not with tfrnn): {len(report['regressions'])}")
    lines += [f"{r['test']} [{r['outcome']}]: {r['error']}" for r in report["regressions"]]
    lines += ["", f"improvements (fail plain, pass with tfrnn): {len(report['improvements'])}"]
    lines += report["improvements"]
    return "\n".join(lines) + "\n"


def write_report(path: Path, report: dict) -> None:
    """JSON for a ``.json`` path, text otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    else:
        path.write_text(report_text(report), encoding="utf-8")


def repo_state(commit: str | None) -> dict[str, object]:
    """The tfrnn the tfrnn pass imports: ``commit`` (a snapshot), or the
    checkout's commit and its locally modified files."""

    def git(*command: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *command], capture_output=True, text=True
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    if commit is not None:
        return {"commit": git("rev-parse", "--short", commit), "modified": [], "snapshot": True}
    modified = git("status", "--porcelain", "--", "tfrnn", "compat").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "modified": modified}


# --------------------------------------------------------------------- main
def prepare_workdir(args: argparse.Namespace) -> tuple[Path, bool]:
    """The directory for the tests; whether to delete it afterwards."""
    if args.workdir is None:
        return Path(tempfile.mkdtemp(prefix="tfrnn_peer_suite_")), not args.keep
    check_outside_repo(args.workdir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args.workdir, False


def main(argv: list[str] | None = None) -> int:
    """Extract, run both passes, print the table, write the report."""
    args = parse_args(argv)
    workdir, cleanup = None, False
    try:
        check_mirror(args.mirror, args.tag)
        files = selected_files(args.files)
        workdir, cleanup = prepare_workdir(args)
        args.repo_state = repo_state(args.tfrnn_commit)
        args.tfrnn_src = None
        if args.tfrnn_commit:
            args.tfrnn_src = snapshot_tfrnn(args.tfrnn_commit, workdir)
        test_files = extract_tests(args.mirror, args.tag, files, workdir)
    except HarnessError as err:
        if cleanup:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"peer_suite: error: {err}", file=sys.stderr)
        return 2
    try:
        runs = run_passes(workdir, test_files, args)
        report = build_report(args, files, runs)
        write_report(args.report, report)
    finally:
        if cleanup:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"tests and logs kept in {workdir}")
    print("\n".join(["", *report["table"], ""]))
    print(f"{len(report['regressions'])} regressions; report written to {args.report}")
    if not any(run.outcomes for run in runs.values()):
        print("peer_suite: error: no test ran; see the pytest logs (--keep)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
