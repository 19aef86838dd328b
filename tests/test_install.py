"""The README's set-up: two commands; the first installs analysis and its tests, not torch or
Ray; the extras carry what the training and Ray tests need; the measured libraries are bounded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()


def test_readme_set_up_is_two_commands_and_the_first_installs_no_torch_or_ray():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Set up", 1)[1].split("```", 2)[1]
    assert [line for line in block.splitlines() if line.strip()] == ['pip install -e ".[test]"', "pytest"]
    extras = _project()["optional-dependencies"]
    assert {_name(r) for r in extras["test"]}.isdisjoint({"torch", "ray", "onnx"})
    assert {"torch", "onnx"} <= {_name(r) for r in extras["train"]}
    assert any(r.startswith("ray[client]") for r in extras["ray"])  # ray:// addresses need the client
    setup = readme.split("## Set up", 1)[1].split("## Quick start", 1)[0]
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup  # before anyone installs .[train]
    assert '.[test,train,ray]' in (ROOT / ".ci" / "run").read_text()


def test_the_libraries_the_numbers_depend_on_have_upper_bounds():
    bounded = {_name(r): r for r in _project()["dependencies"]}
    for name in ("mediapipe", "onnxruntime", "numpy", "pandas", "pyarrow", "duckdb"):
        assert "<" in bounded[name], bounded[name]


def test_analysis_imports_neither_torch_nor_ray(media, tmp_path):
    code = ("import sys, mien; mien.analyze(sys.argv[1]); "
            "print(sorted(m for m in ('torch', 'ray', 'onnx') if m in sys.modules))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, media("happy")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
