"""`mien summarize` prints every measure of every person, readably, with nothing cut to '...'."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd


def mien(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mien.cli", *args], capture_output=True, text=True)


def test_summarize_prints_every_column_per_person(media, tmp_path):
    results = tmp_path / "results.parquet"
    assert mien("analyze", media("single_face_video"), media("happy"), "-o", str(results), "-q").returncode == 0
    printed = mien("summarize", str(results))
    assert printed.returncode == 0, printed.stderr
    assert mien("summarize", str(results), "-o", str(tmp_path / "summary.csv")).returncode == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 2 and len(summary.columns) > 50
    text = printed.stdout
    assert "..." not in text and max(len(line) for line in text.splitlines()) <= 100
    sections = text.split("== ")[1:]
    assert sorted(s.split(",")[0] for s in sections) == ["0-f15-hao-ph.jpg", "single_face.mp4"]
    first_words = {line.split()[0] for line in text.splitlines() if line.strip()}
    for column in summary.columns.drop(["input", "face_id"]):
        stem = re.sub(r"_(mean|peak|rate|sd|min|max|median)$", "", column)
        assert column in first_words or stem in first_words, column
    happy = next(s for s in sections if s.startswith("0-f15"))
    assert re.search(r"^happiness\s+0\.9", happy, re.MULTILINE)  # the posed smile, in the table
