"""`mien batch` under concurrency, crashes and interruptions, and what it knows about its inputs:
two drivers on one folder, a killed worker, a killed driver, Ctrl-C, identical files, duplicate
and corrected manifests. Each through the real CLI on real clips."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from child_process import default_ctrl_c

from mien.batch.catalog import read_catalog
from tests.test_cli import mien

DEADLINE = 180  # seconds a test waits for something that must happen, before it gives up


def _command(inputs, out, *extra) -> list[str]:
    return [sys.executable, "-m", "mien.cli", "batch", str(inputs), "--out", str(out), *extra]


def _clips(media, folder: Path, count: int, sample: str = "single_face_video") -> Path:
    """``count`` different files of one real video (each with one extra byte: its own content)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        shutil.copy(media(sample), folder / f"clip{i}.mp4")
        with open(folder / f"clip{i}.mp4", "ab") as f:
            f.write(bytes([i]))
    return folder


def _catalog(out) -> pd.DataFrame:
    return read_catalog(out).set_index("path")


def _until(condition, what: str):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def _worker_on(out, path: str, not_pid: int | None = None) -> int | None:
    """The pid of the worker analysing ``path`` now (from the catalog), if any."""
    try:
        catalog = _catalog(out)
    except (FileNotFoundError, pd.errors.DatabaseError):  # not made yet, or its tables not yet
        return None
    if path not in catalog.index:
        return None
    row = catalog.loc[path]
    if row.status != "running" or not isinstance(row.worker, str):
        return None
    pid = int(row.worker.rsplit(":", 1)[1])
    return pid if pid != not_pid else None


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie nobody has reaped yet (it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _complete_and_unique(out) -> pd.DataFrame:
    """Every input done; every file under a final name complete and listed; no temporary left."""
    catalog = _catalog(out)
    assert (catalog.status == "done").all(), catalog[["status", "error"]]
    listed = set(catalog.frames_file) | set(catalog.events_file)
    on_disk = {str(p.relative_to(out)) for p in out.glob("*/*.parquet")}
    assert on_disk == listed  # nothing the catalog does not know of
    for _, row in catalog.drop_duplicates("key").iterrows():
        assert len(pd.read_parquet(out / row.frames_file)) == row.rows
    assert not list(out.rglob("*.part")) and not list(out.rglob("*.partial.*"))
    return catalog


def test_two_drivers_on_one_folder_analyse_everything_once(media, tmp_path):
    inputs = _clips(media, tmp_path / "inputs", 6)
    out = tmp_path / "out"
    command = _command(inputs, out, "--workers", "1", "--max-frames", "48")
    first, second = (subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2))
    said = [process.communicate()[1] for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, said
    catalog = _complete_and_unique(out)
    assert len(catalog) == 6 and (catalog.attempts == 1).all()  # each analysed exactly once
    analysed = [int(re.search(r"(\d+) analysed", text).group(1)) for text in said]
    assert sum(analysed) == 6
    for text, own in zip(said, analysed):  # each driver accounts for every input
        elsewhere = re.search(r"(\d+) by another run at the same time", text)
        assert own + (int(elsewhere.group(1)) if elsewhere else 0) == 6, text
    counts = mien("query", str(out), "SELECT input, count(*) AS n FROM frames GROUP BY 1", "--format", "csv")
    table = pd.read_csv(pd.io.common.StringIO(counts.stdout))
    assert len(table) == 6 and (table.n == 48).all()  # query sees all six, whole


@pytest.mark.parametrize("kills", [1, 2])
def test_a_killed_worker_costs_only_its_own_input(media, tmp_path, kills):
    inputs = _clips(media, tmp_path / "inputs", 3)
    shutil.copy(media("face_video"), inputs / "long.mp4")  # 492 frames: time to find and kill its worker
    long = str(inputs / "long.mp4")
    out = tmp_path / "out"
    process = subprocess.Popen(_command(inputs, out, "--workers", "2"), stderr=subprocess.PIPE, text=True)
    killed = None
    for _ in range(kills):
        killed = _until(lambda: _worker_on(out, long, not_pid=killed), "a worker on long.mp4")
        os.kill(killed, signal.SIGKILL)
    said = process.communicate()[1]
    catalog = _catalog(out)
    others = catalog.drop(long)
    assert (others.status == "done").all() and (others.attempts == 1).all() and (others.crashes == 0).all()
    row = catalog.loc[long]
    if kills == 1:  # recorded against its input, tried again, done
        assert process.returncode == 0, said
        assert row.status == "done" and row.crashes == 1 and row.attempts == 2
        _complete_and_unique(out)
    else:  # broke a worker twice: failed, with the reason
        assert process.returncode == 1
        assert row.status == "failed" and row.crashes == 2
        reason = "the worker process died while analysing it (killed by SIGKILL) (2 times)"
        assert row.error == reason and f"mien: error: {long}: {reason}" in said  # a log (not a terminal) gets the error lines


def test_workers_die_with_their_driver_and_the_rerun_finishes(media, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("a", "b"):
        shutil.copy(media("face_video"), inputs / f"{name}.mp4")
        with open(inputs / f"{name}.mp4", "ab") as f:
            f.write(name.encode())
    out = tmp_path / "out"
    command = _command(inputs, out, "--workers", "2", "--max-frames", "200", "-q")
    driver = subprocess.Popen(command, start_new_session=True)
    workers = [_until(lambda: _worker_on(out, str(inputs / f"{name}.mp4")), f"a worker on {name}.mp4") for name in "ab"]
    driver.kill()  # SIGKILL, the driver alone
    driver.wait()
    _until(lambda: all(_gone(pid) for pid in workers), "the workers to end with their driver")
    assert (_catalog(out).status == "running").all()  # cut short, claims left behind

    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr  # the dead run's claims are taken over
    catalog = _complete_and_unique(out)
    assert (catalog.attempts == 2).all()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_batch_leaves_only_whole_files_and_hands_its_work_back(media, tmp_path, how):
    inputs = _clips(media, tmp_path / "inputs", 2)
    shutil.copy(media("face_video"), inputs / "long.mp4")
    out = tmp_path / "out"
    command = _command(inputs, out, "--workers", "1", "--max-frames", "200")
    # In a session of its own, as in a terminal: Ctrl-C goes to the driver and its workers.
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=default_ctrl_c)  # fmt: skip
    _until(lambda: _worker_on(out, str(inputs / "long.mp4")), "the long input to be under way")
    os.killpg(process.pid, how)
    said = process.communicate()[1]
    assert process.returncode == (130 if how == signal.SIGINT else 143), said
    why = "interrupted (Ctrl-C)" if how == signal.SIGINT else "stopped (SIGTERM)"
    assert re.search(rf"mien: {re.escape(why)}: \d+ inputs finished and kept in {re.escape(str(out))}; "
                     r"1 unfinished handed back; run the same command to finish", said), said  # fmt: skip
    catalog = _catalog(out)
    assert catalog.loc[str(inputs / "long.mp4")].status == "pending"  # handed back, not left "running"
    for _, row in catalog[catalog.status == "done"].iterrows():
        assert len(pd.read_parquet(out / row.frames_file)) == row.rows > 0
    assert not list(out.rglob("*.part"))
    assert not (out / catalog.loc[str(inputs / "long.mp4")].frames_file).exists()  # no 0-row file under a final name

    assert subprocess.run(command, capture_output=True).returncode == 0
    _complete_and_unique(out)


def _manifest(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "participant"])
        writer.writerows(rows)
    return path


def test_inputs_are_known_by_path_and_content_and_metadata_live_in_the_catalog(media, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("one", "two", "three"):  # three copies of one photo under three names
        shutil.copy(media("happy"), photos / f"{name}.jpg")
    shutil.copy(media("anger"), photos / "other.jpg")
    out = tmp_path / "out"

    folder_run = mien("batch", str(photos), "--out", str(out), "--workers", "1")
    assert folder_run.returncode == 0, folder_run.stderr
    catalog = _complete_and_unique(out)
    assert len(catalog) == 4 and catalog.key.nunique() == 2  # four inputs, two analyses
    rows = mien("query", str(out), "SELECT input, count(*) AS n FROM frames GROUP BY 1 ORDER BY 1", "--format", "csv")
    assert pd.read_csv(pd.io.common.StringIO(rows.stdout)).input.tolist() == sorted(str(p) for p in photos.iterdir())

    # A manifest after a folder run: its columns join at once, nothing analysed again.
    manifest = _manifest(tmp_path / "manifest.csv", [[str(photos / f"{n}.jpg"), f"P0{i}"]
                                                     for i, n in enumerate(("one", "two", "three", "other"), 1)])  # fmt: skip
    labelled = mien("batch", str(manifest), "--out", str(out), "--workers", "1")
    assert labelled.returncode == 0 and "0 analysed, 4 done before" in labelled.stderr, labelled.stderr
    # A corrected manifest (P03 was P99) relabels without re-analysis.
    corrected = _manifest(tmp_path / "corrected.csv", [[str(photos / f"{n}.jpg"), p]
                                                       for n, p in (("one", "P01"), ("two", "P02"), ("three", "P99"), ("other", "P04"))])  # fmt: skip
    relabelled = mien("batch", str(corrected), "--out", str(out), "--workers", "1")
    assert "0 analysed, 4 done before" in relabelled.stderr
    answer = mien("query", str(out), "SELECT participant, count(*) AS n FROM frames GROUP BY 1 ORDER BY 1", "--format", "csv")
    assert answer.returncode == 0, answer.stderr
    assert pd.read_csv(pd.io.common.StringIO(answer.stdout)).participant.tolist() == ["P01", "P02", "P04", "P99"]
    assert (_catalog(out).attempts == 1).all()

    # A second row for one file is reported, not silently merged.
    twice = _manifest(tmp_path / "twice.csv", [[str(photos / "two.jpg"), "P02"], [str(photos / "two.jpg"), "P02b"]])
    reported = mien("batch", str(twice), "--out", str(out), "--workers", "1")
    assert reported.returncode == 1
    assert f"mien: error: {twice}:3: {photos / 'two.jpg'} is already on line 2; this row is ignored (one file carries one set of metadata)" in reported.stderr
    participants = mien("query", str(out), "SELECT participant FROM inputs WHERE path LIKE '%two.jpg'", "--format", "csv")
    assert participants.stdout.splitlines()[1] == "P02"


def test_claims_done_is_final_and_a_silent_run_loses_its_claim(media, tmp_path):
    """The catalog's rules on their own (real SQLite, as a second driver on another host sees them)."""
    from mien.batch.catalog import STALE_AFTER, Catalog
    from mien.batch.jobs import jobs_from

    (job,) = jobs_from([media("happy")], "settings")[0]
    ours, theirs = Catalog(tmp_path), Catalog(tmp_path)
    ours.record_inputs([job])
    ours.begin_run("ours")
    theirs.begin_run("theirs")
    assert ours.claim(job, "settings", "ours", retry_failed=False) == "claimed"
    assert theirs.claim(job, "settings", "theirs", retry_failed=False) == "held"  # alive: left alone
    # A driver on another host that stopped beating is gone: its claim is taken over.
    with ours.writing() as db:
        db.execute("UPDATE runs SET host = 'elsewhere', heartbeat = heartbeat - ? WHERE run_id = 'ours'", (STALE_AFTER + 1,))
    assert theirs.claim(job, "settings", "theirs", retry_failed=False) == "claimed"
    frames_file = tmp_path / job.outputs()[0]
    frames_file.parent.mkdir()
    frames_file.write_bytes(b"stands for a finished file")
    theirs.finish(job.key, "theirs", {"frames": 1, "rows": 1})
    ours.finish(job.key, "ours", {"error": "late failure from the run that was taken over"})
    ours.finish(job.key, "ours", {"frames": 2, "rows": 2})
    assert ours.crashed(job.key, "ours", "a late crash") is False
    assert theirs.claim(job, "settings", "theirs", retry_failed=True) == "done"
    row = read_catalog(tmp_path).iloc[0]
    assert row.status == "done" and row.rows == 1 and row.error is None  # done, as first recorded
    frames_file.unlink()  # only a finished file deleted from disk makes it due again
    assert theirs.claim(job, "settings", "theirs", retry_failed=False) == "claimed"


def test_a_catalog_of_the_earlier_format_is_refused_clearly(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:
        db.execute("CREATE TABLE inputs (key TEXT PRIMARY KEY, path TEXT, status TEXT)")
    for command in (("query", str(tmp_path), "SELECT 1"), ("batch", str(tmp_path), "--out", str(tmp_path))):
        refused = mien(*command)
        assert refused.returncode == 1
        assert f"{tmp_path} was written by an earlier mien (catalog format 1); use a new --out folder" in refused.stderr


def _open_catalog(folder: str) -> None:
    from mien.batch.catalog import Catalog

    Catalog(Path(folder)).close()


def test_drivers_opening_a_new_folder_at_the_same_moment_all_get_in(tmp_path):
    """Four drivers opening one new results folder at once, 30 times: SQLite answered some of
    them 'database is locked' at once while another switched the catalog to WAL (a driver then
    died as 'a bug in mien'); now each waits its turn."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        for round_ in range(30):
            folder = tmp_path / f"out{round_}"
            for opened in [pool.submit(_open_catalog, str(folder)) for _ in range(4)]:
                opened.result()  # raises what the driver met
