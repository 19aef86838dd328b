"""mien batch / mien query: a small study of real clips and photos, a manifest with metadata, a broken
file, a run killed with SIGKILL and restarted, and the Ray backend against the local one."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from mien.batch.catalog import read_catalog
from mien.batch.run import run_batch
from mien.cli import app
from mien.pipeline import Options

runner = CliRunner()
FRAMES = 24  # per video: enough to show the workings, short enough for CI


@pytest.fixture(scope="module")
def study(media, tmp_path_factory):
    """A manifest: two videos and a photo of two participants, plus a file that is not media."""
    root = tmp_path_factory.mktemp("study")
    shutil.copy(media("single_face_video"), root / "p1_task.mp4")
    shutil.copy(media("face_video"), root / "p2_task.mp4")
    shutil.copy(media("happy"), root / "p2_photo.jpg")
    (root / "p3_task.mp4").write_bytes(b"this is not a video" * 100)
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "participant", "condition"])
        writer.writerows([["p1_task.mp4", "p1", "task"], ["p2_task.mp4", "p2", "task"],
                          ["p2_photo.jpg", "p2", "rest"], ["p3_task.mp4", "p3", "task"]])  # fmt: skip
    return manifest


def _batch(manifest, out, *extra) -> object:
    return runner.invoke(app, ["batch", str(manifest), "--out", str(out), "--max-frames", str(FRAMES),
                               "--workers", "2", *extra])  # fmt: skip


def _catalog(out) -> pd.DataFrame:
    return read_catalog(out)  # every input with its analysis


@pytest.fixture(scope="module")
def finished(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    result = _batch(study, out)
    return out, result


def test_every_input_gets_its_own_file_and_a_catalog_row(finished):
    out, result = finished
    assert result.exit_code == 1  # one input failed...
    catalog = _catalog(out).set_index("path")
    assert sorted(catalog.status) == ["done", "done", "done", "failed"]
    broken = catalog[catalog.status == "failed"].iloc[0]
    assert broken.name.endswith("p3_task.mp4") and broken.error  # ...with its reason recorded
    for _, row in catalog[catalog.status == "done"].iterrows():
        frames = pd.read_parquet(out / row.frames_file)
        assert len(frames) == row.rows and json.loads(row.metadata)["participant"]
        assert "participant" not in frames  # metadata live in the catalog, joined by mien query
        assert row.mien_version and "face_landmarker" in row.models
    assert not list(out.rglob("*.part"))
    assert "3 analysed" in result.output and "1 failed" in result.output


def test_a_second_run_skips_what_is_done_and_retry_failed_tries_again(study, finished):
    out, _ = finished
    again = _batch(study, out)
    assert "0 analysed, 4 done before" in again.output
    assert set(_catalog(out).attempts) == {1}
    retried = _batch(study, out, "--retry-failed")
    catalog = _catalog(out)
    assert catalog[catalog.status == "failed"].attempts.iloc[0] == 2
    assert (catalog[catalog.status == "done"].attempts == 1).all()
    assert retried.exit_code == 1


def test_other_settings_are_refused_unless_asked(study, finished):
    out, _ = finished
    refused = _batch(study, out, "--max-faces", "2")
    assert refused.exit_code == 1 and "other settings" in refused.output and "max_faces" in refused.output
    assert "Traceback" not in refused.output


def test_a_manifest_column_named_like_an_output_column_is_refused(study, tmp_path):
    clashing = tmp_path / "manifest.csv"
    clashing.write_text(f"path,participant,frame\n{study.parent / 'p1_task.mp4'},p1,3\n")
    result = _batch(clashing, tmp_path / "out")
    assert result.exit_code == 1 and "frame" in result.output and "clash" in result.output


def test_query_over_all_outputs(finished):
    out, _ = finished
    answer = runner.invoke(app, ["query", str(out), "SELECT participant, condition, count(*) AS n, "
                                 "avg(AU12) AS au12 FROM frames GROUP BY 1, 2 ORDER BY 1, 2", "--format", "csv"])  # fmt: skip
    assert answer.exit_code == 0, answer.output
    table = pd.read_csv(pd.io.common.StringIO(answer.output))
    assert list(zip(table.participant, table.condition)) == [("p1", "task"), ("p2", "rest"), ("p2", "task")]
    assert table.set_index(["participant", "condition"]).n[("p1", "task")] == FRAMES
    inputs = runner.invoke(app, ["query", str(out), "SELECT status, count(*) AS n FROM inputs GROUP BY 1",
                                 "--format", "json"])  # fmt: skip
    assert {json.loads(line)["status"] for line in inputs.output.splitlines()} == {"done", "failed"}
    events = runner.invoke(app, ["query", str(out), "SELECT count(*) AS n FROM events"])
    assert events.exit_code == 0
    bad = runner.invoke(app, ["query", str(out), "SELECT nothing FROM nowhere"])
    assert bad.exit_code == 1 and "query failed" in bad.output


def test_an_empty_results_folder_still_has_the_views(tmp_path):
    run_batch([], tmp_path, Options())
    for view in ("frames", "events", "inputs"):
        answer = runner.invoke(app, ["query", str(tmp_path), f"SELECT count(*) AS n FROM {view}", "--format", "csv"])
        assert answer.exit_code == 0 and answer.output.splitlines()[1] == "0"


def test_a_run_killed_with_sigkill_finishes_every_input_exactly_once(media, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i in range(4):
        shutil.copy(media("single_face_video"), inputs / f"clip{i}.mp4")
        with open(inputs / f"clip{i}.mp4", "ab") as f:
            f.write(bytes([i]))  # four different files (the same video)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "mien.cli", "batch", str(inputs), "--out", str(out), "--workers", "1", "-q"]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill as soon as the first input is recorded done
        if (out / "catalog.sqlite").exists() and (_catalog(out).status == "done").sum() >= 1:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert (_catalog(out).status == "done").sum() < 4  # it really was cut short

    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    catalog = _catalog(out)
    assert (catalog.status == "done").all() and len(catalog) == 4
    frames = pd.concat([pd.read_parquet(out / name) for name in catalog.frames_file])
    assert not frames.duplicated(["input", "frame", "face_id"]).any()
    assert frames.groupby("input").size().nunique() == 1  # every clip complete, none twice
    assert not list(out.rglob("*.part"))  # the killed run's half-written files are swept by the rerun


def test_ray_backend_gives_the_local_backends_rows(study, finished, tmp_path):
    pytest.importorskip("ray", reason="needs the ray extra: pip install -e '.[ray]'")
    local, _ = finished
    report = run_batch([str(study)], tmp_path, Options(max_frames=FRAMES), backend="ray", workers=2)
    assert report.done == 3 and len(report.failed) == 1
    by_path = _catalog(tmp_path).set_index("path")
    for path, row in _catalog(local).set_index("path").iterrows():
        if row.status != "done":
            continue
        ours = pd.read_parquet(local / row.frames_file)
        theirs = pd.read_parquet(tmp_path / by_path.loc[path].frames_file)
        pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-5, atol=1e-4)
