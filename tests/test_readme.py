"""Every Python example in README.md runs as written, and again in the same folder,
as a user's second run would (the files a first run wrote must not break it)."""

import pathlib
import re

import pytest
import tf_keras

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = compile(BLOCKS[index], f"README.md python block {index}", "exec")
    for _ in range(2):
        tf_keras.backend.clear_session()  # a new run starts with fresh layer names
        exec(code, {})
