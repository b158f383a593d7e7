"""Where tfrnn-migrate and tfrnn-export write: only what they would have written is
replaced, inputs are never destroyed, a full disk or a SIGTERM leaves nothing behind,
and non-finite weights are verified and reported truthfully."""

import errno
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np
import pytest
import tf_keras
from tfrnn.compat.migrate import _compare
from tfrnn.compat.migrate import main as migrate_main

import tfrnn
from tfrnn.export.atomic import OutputExistsError, atomic_output, check_output
from tfrnn.export.cli import main as export_main
from tfrnn_cli.scratch import private_temp_dir
from tfrnn_cli.signals import Terminated, interruption_behind


def _write(path, text="new"):
    with atomic_output(path, overwrite=True) as target:
        target.write_text(text)


def _entries(directory):
    return sorted(p.name for p in directory.iterdir())


def _unwritable_dir(tmp_path):
    """A directory this process cannot create files in (root ignores chmod)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for candidate in (locked, "/sys"):
        try:
            os.rmdir(tempfile.mkdtemp(dir=candidate))
        except OSError:
            return candidate
    pytest.skip("no unwritable directory available")


# ---------------------------------------------------------------- atomic_output
def test_dangling_symlink_is_an_existing_output(tmp_path):
    link = tmp_path / "out.tflite"
    link.symlink_to(tmp_path / "missing")
    with (
        pytest.raises(OutputExistsError, match="already exists"),
        atomic_output(link, overwrite=False),
    ):
        pass
    assert link.is_symlink()
    _write(link)
    assert not link.is_symlink() and link.read_text() == "new"
    assert not (tmp_path / "missing").exists()


def test_symlink_is_replaced_not_its_target(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "keep").write_text("keep")
    (tmp_path / "out").symlink_to(tmp_path / "real")
    _write(tmp_path / "out")
    assert (tmp_path / "out").read_text() == "new"
    assert (tmp_path / "real" / "keep").read_text() == "keep"


def test_only_files_saved_models_and_empty_dirs_are_replaced(tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("work")
    with pytest.raises(ValueError, match="not a SavedModel"):
        _write(project)
    with pytest.raises(ValueError, match="not a SavedModel"):
        check_output(project, overwrite=True)
    assert (project / "src" / "main.py").read_text() == "work"
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "fifo")
    _write(tmp_path / "sm")
    _write(tmp_path / "empty")
    with pytest.raises(ValueError, match="not a regular file"):
        _write(tmp_path / "fifo")
    assert (tmp_path / "sm").read_text() == (tmp_path / "empty").read_text() == "new"
    assert _entries(tmp_path) == ["empty", "fifo", "project", "sm"]


def test_output_never_is_contains_or_lies_inside_an_input(tmp_path):
    model = tmp_path / "m.h5"
    model.write_text("model")
    os.link(model, tmp_path / "hard.h5")
    saved = tmp_path / "sm"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    for out, source, why in [
        (model, model, "is the input"),
        (tmp_path / "hard.h5", model, "is the input"),
        (saved / "x.tflite", saved, "lies inside"),
        (saved, saved / "saved_model.pb", "contains the input"),
    ]:
        with pytest.raises(ValueError, match=why):
            check_output(out, overwrite=True, protect=[source])
    assert model.read_text() == "model"


def test_unwritable_directory_is_refused_up_front(tmp_path):
    locked = _unwritable_dir(tmp_path)
    with pytest.raises(ValueError, match="cannot create files"):
        check_output(os.path.join(locked, "out.h5"), overwrite=False)


def test_failed_final_rename_puts_the_old_output_back(tmp_path, monkeypatch):
    out = tmp_path / "out.h5"
    out.write_text("old")
    real_replace = os.replace

    def replace(src, dst):
        if str(dst) == str(out) and "replaced" not in str(src):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        _write(out)
    assert out.read_text() == "old" and _entries(tmp_path) == ["out.h5"]


# ---------------------------------------------------------------- tfrnn-migrate
def _legacy_h5(path, units=4, nan=False):
    """A Keras 2 .h5 (as tf_keras writes it) with an LSTM, optionally holding a NaN."""
    model = tf_keras.Sequential(
        [tf_keras.Input((5, 8)), tf_keras.layers.LSTM(units, name="lstm_1")]
    )
    if nan:
        kernel, recurrent, bias = model.layers[0].get_weights()
        kernel[0, 0] = np.nan
        model.layers[0].set_weights([kernel, recurrent, bias])
    model.save(path)


def test_migrate_force_replaces_only_what_it_writes(tmp_path, capsys):
    _legacy_h5(tmp_path / "old.h5")
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    assert migrate_main([str(tmp_path / "old.h5"), "-o", str(project), "--force"]) == 2
    captured = capsys.readouterr()
    assert "not a SavedModel" in captured.err and "converted" not in captured.out
    assert migrate_main([str(tmp_path / "old.h5"), "-o", str(tmp_path / "old.h5"), "--force"]) == 2
    assert "is the input" in capsys.readouterr().err
    (tmp_path / "new.keras").write_text("previous")
    (tmp_path / "new.keras.tfrnn-old").write_text("the user's own file")
    assert (
        migrate_main([str(tmp_path / "old.h5"), "-o", str(tmp_path / "new.keras"), "--force"]) == 0
    )
    assert (tmp_path / "new.keras.tfrnn-old").read_text() == "the user's own file"
    assert (project / "notes.txt").read_text() == "mine"
    assert _entries(tmp_path) == ["new.keras", "new.keras.tfrnn-old", "old.h5", "project"]


def test_both_clis_check_the_output_directory_before_any_work(tmp_path, capsys):
    _legacy_h5(tmp_path / "old.h5")
    out = os.path.join(_unwritable_dir(tmp_path), "out.h5")
    assert migrate_main([str(tmp_path / "old.h5"), "-o", out]) == 2
    captured = capsys.readouterr()
    assert out in captured.err and "converted" not in captured.out
    (tmp_path / "m.keras").write_bytes(b"never read")  # refused before the model is read
    assert export_main([str(tmp_path / "m.keras"), out[:-3] + ".tflite"]) == 2
    assert "cannot create files" in capsys.readouterr().err


def test_migrate_nan_weights_are_reported_and_verified(tmp_path, capsys):
    _legacy_h5(tmp_path / "nan.h5", nan=True)
    assert migrate_main([str(tmp_path / "nan.h5"), "-o", str(tmp_path / "out.keras")]) == 0
    out = capsys.readouterr().out
    assert "warning: layer lstm_1 has 1 NaN/infinite weight values" in out
    assert "NaN/inf" in out.split("reloaded")[1] and "max |diff|" not in out


def test_migrate_full_disk_during_keras_save_leaves_no_temporaries(tmp_path, capsys, monkeypatch):
    _legacy_h5(tmp_path / "old.h5")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    real_writestr = zipfile.ZipFile.writestr

    def full_disk(self, name, data, *args, **kwargs):
        if str(getattr(name, "filename", name)).endswith(".h5"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full_disk)
    assert migrate_main([str(tmp_path / "old.h5"), "-o", str(tmp_path / "new.keras")]) == 2
    err = capsys.readouterr().err
    assert "writing" in err and "new.keras" in err and "No space left on device" in err
    assert _entries(tmp_path) == ["old.h5", "tmp"] and _entries(tmp_path / "tmp") == []


def test_prediction_comparison_is_nan_aware():
    a = np.array([1.0, np.nan, np.inf])
    assert _compare([a], [a.copy()])[0]
    assert not _compare([a], [np.array([1.0, 2.0, np.inf])])[0]  # NaN not reproduced
    assert not _compare([a], [np.array([1.0, np.nan, -np.inf])])[0]
    fine = np.zeros(3)
    assert not _compare([fine, a], [fine, np.array([1.0, 0.0, np.inf])])[0]  # order-proof
    assert not _compare([fine], [fine + 1e-3])[0]
    assert _compare([fine], [fine + 1e-7]) == (True, pytest.approx(1e-7), 0)


ENVIRONMENT_ERRORS = [
    MemoryError(),
    RecursionError("maximum recursion depth exceeded"),
    OverflowError("cannot convert float infinity to integer"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    PermissionError(13, "Permission denied", "weights"),
    OSError(5, "Input/output error"),
]


@pytest.mark.parametrize("error", ENVIRONMENT_ERRORS, ids=lambda e: type(e).__name__)
def test_environment_errors_are_exit_2_naming_the_file(error, tmp_path, capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise error

    import tfrnn.compat

    import tfrnn.export.model_loading

    monkeypatch.setattr(tfrnn.compat, "detect_generation", fail)
    monkeypatch.setattr(tfrnn.export.model_loading, "load_model_for_export", fail)
    src = tmp_path / "in.h5"
    src.write_bytes(b"")
    assert migrate_main([str(src), "-o", str(tmp_path / "out.keras")]) == 2
    assert export_main([str(src), str(tmp_path / "out.tflite")]) == 2
    for line in capsys.readouterr().err.splitlines():
        assert line.startswith(
            ("tfrnn-migrate: error: reading '", "tfrnn-export: error: reading '")
        )
        assert str(src) in line
    assert _entries(tmp_path) == ["in.h5"]


# ---------------------------------------------------- both CLIs, as processes
CLIS = {"migrate": "tfrnn.compat.migrate", "export": "tfrnn.export.cli"}


def _cli_args(kind, tmp_path):
    """(CLI module, arguments) for an input big enough (~80 kB of weights) for the
    limits and timings below."""
    if kind == "migrate":
        _legacy_h5(tmp_path / "in.h5", units=64)
        return CLIS[kind], [str(tmp_path / "in.h5"), "-o", str(tmp_path / "out.h5")]
    model = tf_keras.Sequential([tf_keras.Input((None, 8)), tfrnn.LSTM(64)])
    model.save(tmp_path / "in.keras")
    return CLIS[kind], [str(tmp_path / "in.keras"), str(tmp_path / "out.tflite")]


def _env(tmp_path):
    (tmp_path / "tmp").mkdir()
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CLIS))
def test_disk_full_exits_2_and_leaves_nothing(kind, tmp_path):
    module, args = _cli_args(kind, tmp_path)
    before = _entries(tmp_path)

    def small_file_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (32_000, 32_000))

    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=_env(tmp_path),
        preexec_fn=small_file_limit,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "File too large" in done.stderr or "file-size limit (ulimit -f)" in done.stderr
    assert _entries(tmp_path) == [*before, "tmp"] and _entries(tmp_path / "tmp") == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CLIS))
def test_sigterm_while_writing_leaves_nothing(kind, tmp_path):
    module, args = _cli_args(kind, tmp_path)
    before = _entries(tmp_path)
    env = _env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            # the first file the run writes: a hidden output, or a temporary
            # (tfrnn's or TensorFlow's own, e.g. an AutoGraph module) under TMPDIR
            hidden = [n for n in _entries(tmp_path) if n.startswith(".")]
            if hidden or any(p.is_file() for p in (tmp_path / "tmp").rglob("*")):
                proc.send_signal(signal.SIGTERM)
                break
            time.sleep(0.01)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert "terminated" in err
    assert _entries(tmp_path) == [*before, "tmp"] and _entries(tmp_path / "tmp") == []


@pytest.mark.parametrize("stop", [Terminated, KeyboardInterrupt, OSError])
def test_temporaries_of_a_run_go_with_it(stop, tmp_path, monkeypatch):
    """Whatever a CLI run leaves in its temporary folder (TensorFlow removes
    AutoGraph's modules only at exit, and not at all when a signal lands while
    it writes one) goes when the run ends, however it ends; tempfile and TMPDIR
    are restored."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    with pytest.raises(stop):
        with private_temp_dir("tfrnn-export-") as scratch:
            assert tempfile.gettempdir() == scratch and os.environ["TMPDIR"] == scratch
            with tempfile.NamedTemporaryFile(suffix=".py", delete=False) as leftover:
                leftover.write(b"# as AutoGraph leaves it")
            os.makedirs(os.path.join(tempfile.mkdtemp(), "saved_model"))
            raise stop()
    assert _entries(tmp_path) == []
    assert tempfile.tempdir == str(tmp_path) and os.environ["TMPDIR"] == str(tmp_path)


def test_a_signal_surfacing_as_an_extension_error_is_still_an_interruption():
    """A SIGTERM raised while TensorFlow's C++ runs comes back as its
    SystemError ("returned a result with an exception set"), the Terminated as
    its cause: the CLIs report it as the interruption it is (exit 143)."""
    stop = Terminated()
    try:
        try:
            raise stop
        except Terminated as err:
            raise SystemError("<built-in method IsNested> returned a result") from err
    except SystemError as surfaced:
        assert interruption_behind(surfaced) is stop
    try:
        try:
            raise ValueError("bad")
        except ValueError:
            raise OSError("disk") from None
    except OSError as plain:
        assert interruption_behind(plain) is None
