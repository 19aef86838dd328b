"""`mien analyze`, `summarize`, `annotate` and `report` never lose or corrupt a file: -o over an
input, existing outputs, unknown extensions, and Ctrl-C / SIGTERM in the middle of a run over an
existing output, all through the real CLI on real clips."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from child_process import default_ctrl_c

from tests.test_cli import mien


def test_output_equal_to_an_input_is_refused_even_with_force(media, tmp_path):
    video = tmp_path / "victim.mp4"
    shutil.copy(media("single_face_video"), video)
    before = video.read_bytes()
    for extra in ([], ["--force"]):
        refused = mien("analyze", str(video), "-o", str(video), "--format", "parquet", *extra)
        assert refused.returncode == 2
        assert f"{video} is also an input; writing there would destroy it" in refused.stderr
    same_by_other_name = mien("analyze", str(tmp_path), "-o", str(tmp_path / "." / "victim.mp4"), "--format", "csv", "--force")
    assert same_by_other_name.returncode == 2 and "is also an input" in same_by_other_name.stderr
    assert video.read_bytes() == before


def test_an_existing_output_is_replaced_only_with_force(media, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("precious\n")
    refused = mien("analyze", media("happy"), "-o", str(out))
    assert refused.returncode == 2 and f"{out} already exists; use --force to replace it" in refused.stderr
    events = tmp_path / "events.csv"
    events.write_text("precious too\n")
    refused = mien("analyze", media("happy"), "-o", str(tmp_path / "new.csv"), "--events", str(events))
    assert refused.returncode == 2 and f"{events} already exists" in refused.stderr
    assert out.read_text() == "precious\n" and events.read_text() == "precious too\n"
    assert not (tmp_path / "new.csv").exists()  # refused before anything was analysed or written
    replaced = mien("analyze", media("happy"), "-o", str(out), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert len(pd.read_csv(out)) == 1


def test_summarize_annotate_and_report_never_write_over_their_inputs_or_an_existing_file(media, tmp_path):
    """The commands that read results (and a video) write over neither, even with --force, and
    replace an existing output only with --force."""
    video, results = tmp_path / "clip.mp4", tmp_path / "clip.parquet"
    shutil.copy(media("single_face_video"), video)
    assert mien("analyze", str(video), "-o", str(results)).returncode == 0
    kept = {path: path.read_bytes() for path in (video, results)}
    over_inputs = [("summarize", str(results), "-o", str(results)),
                   ("summarize", str(results), "--events", str(results)),
                   ("annotate", str(video), "--results", str(results), "-o", str(video)),
                   ("annotate", str(video), "--results", str(results), "-o", str(results)),
                   ("report", str(results), "-o", str(results)),
                   ("report", str(results), "--video", str(video), "-o", str(video)),
                   ("analyze", str(video), "-o", str(tmp_path / "rows.csv"), "--annotate", str(video))]  # fmt: skip
    for command in over_inputs:
        for extra in ([], ["--force"]):
            refused = mien(*command, *extra)
            assert refused.returncode == 2, (command, refused.stderr)
            assert "is also an input; writing there would destroy it" in refused.stderr and "Traceback" not in refused.stderr
    assert all(path.read_bytes() == before for path, before in kept.items())
    existing = tmp_path / "existing.csv"
    existing.write_text("precious\n")
    for command in (("summarize", str(results), "-o", str(existing)), ("report", str(results), "-o", str(existing))):
        refused = mien(*command)
        assert refused.returncode == 2 and f"{existing} already exists; use --force to replace it" in refused.stderr
        assert existing.read_text() == "precious\n"
    replaced = mien("summarize", str(results), "-o", str(existing), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert len(pd.read_csv(existing)) == 1  # the one person's summary


def test_summarize_annotate_and_report_say_in_one_line_what_is_wrong_with_their_files(media, tmp_path):
    """An output mien cannot write, and a table that is not mien's per-frame results (here a
    summary), each end in one line naming the file, never 'a bug in mien'."""
    video, results, summary = tmp_path / "clip.mp4", tmp_path / "clip.parquet", tmp_path / "summary.csv"
    shutil.copy(media("single_face_video"), video)
    assert mien("analyze", str(video), "-o", str(results)).returncode == 0
    assert mien("summarize", str(results), "-o", str(summary)).returncode == 0
    for command in (("summarize", str(results), "-o", "/proc/summary.csv"), ("report", str(results), "-o", "/proc/r.html"),
                    ("annotate", str(video), "--results", str(results), "-o", "/proc/a.mp4")):  # fmt: skip
        refused = mien(*command)
        assert refused.returncode == 2 and "-o /proc/" in refused.stderr and "cannot write in /proc" in refused.stderr
    for command in (("report", str(summary), "-o", str(tmp_path / "r.html")),
                    ("annotate", str(video), "--results", str(summary), "-o", str(tmp_path / "a.mp4"))):  # fmt: skip
        wrong = mien(*command)
        assert wrong.returncode == 1 and f"{summary}: not a mien results file" in wrong.stderr
        assert "bug in mien" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "a.mp4").exists()
    # A kind of video file that cannot hold H.264 (WebM): refused before any work, not 'a bug in mien'.
    for command in (("annotate", str(video), "--results", str(results), "-o", str(tmp_path / "a.webm")),
                    ("analyze", str(video), "-o", str(tmp_path / "again.parquet"), "--annotate", str(tmp_path / "a.webm"))):  # fmt: skip
        refused = mien(*command)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "a.webm: an annotated video is written as .mp4, .mkv, .mov, .m4v, .avi, not .webm" in refused.stderr
    assert not (tmp_path / "a.webm").exists() and not (tmp_path / "again.parquet").exists()


def test_unknown_extensions_are_refused_unless_format_says(media, tmp_path):
    refused = mien("analyze", media("happy"), "-o", str(tmp_path / "res.xlsx"))
    assert refused.returncode == 2
    assert "res.xlsx: mien does not write .xlsx; name it .parquet, .csv or .jsonl, or say which format with --format" in refused.stderr
    refused = mien("analyze", media("happy"), "-o", str(tmp_path / "res.csv"), "--events", str(tmp_path / "ev.xlsx"))
    assert refused.returncode == 2 and "ev.xlsx: mien does not write .xlsx" in refused.stderr
    assert not list(tmp_path.iterdir())
    said = mien("analyze", media("happy"), "-o", str(tmp_path / "res.xlsx"), "--format", "csv")
    assert said.returncode == 0 and len(pd.read_csv(tmp_path / "res.xlsx")) == 1


def test_rows_and_events_in_one_file_are_refused(media, tmp_path):
    refused = mien("analyze", media("happy"), "-o", str(tmp_path / "x.csv"), "--events", str(tmp_path / "x.csv"))
    assert refused.returncode == 2 and "named for two outputs" in refused.stderr


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_keeps_the_old_output_and_every_row_and_event_so_far(media, tmp_path, how):
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    shutil.copy(media("single_face_video"), first)  # 72 frames, has events
    shutil.copy(media("face_video"), second)  # 492 frames: still running when the signal comes
    out, events = tmp_path / "out.parquet", tmp_path / "events.csv"
    # The existing output: the first input alone, complete (also what the partial files must hold of it).
    assert mien("analyze", str(first), "-o", str(out), "--events", str(tmp_path / "first_events.csv")).returncode == 0
    old = out.read_bytes()
    first_rows, first_events = len(pd.read_parquet(out)), len(pd.read_csv(tmp_path / "first_events.csv"))
    assert first_events > 0
    process = subprocess.Popen([sys.executable, "-m", "mien.cli", "analyze", str(first), str(second), "-o", str(out),
                                "--events", str(events), "--force"], stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_ctrl_c)  # fmt: skip
    said = []
    for line in process.stderr:  # the first input is finished (its rows and events are in hand)...
        said.append(line)
        if line.startswith(str(first)):
            break
    process.send_signal(how)  # ...and the second is being analysed
    said += process.stderr.readlines()
    process.wait()
    message = said[-1]
    assert process.returncode == (130 if how == signal.SIGINT else 143), "".join(said)

    assert out.read_bytes() == old  # the complete earlier output is untouched
    assert not events.exists()
    partial, partial_events = tmp_path / "out.partial.parquet", tmp_path / "events.partial.csv"
    rows = pq.read_table(partial).to_pandas()
    why = "interrupted (Ctrl-C)" if how == signal.SIGINT else "stopped (SIGTERM)"
    assert message.startswith(f"mien: {why}: {out} was left as it was; the {len(rows)} rows analysed so far are in {partial}")
    assert (rows.input == str(first)).sum() == first_rows  # every row of the finished input...
    kept = rows[rows.input == str(second)].frame
    assert list(kept) == list(range(len(kept)))  # ...and a whole prefix of the interrupted one
    found = pd.read_csv(partial_events)
    assert f"the {len(found)} events found so far in {partial_events}" in message
    assert (found.input == str(first)).sum() == first_events  # the finished input's events all kept
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temporary file left behind


def test_a_disk_that_cannot_take_the_rows_leaves_the_old_output_and_says_so(media, tmp_path):
    import resource

    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    shutil.copy(media("single_face_video"), first)
    shutil.copy(media("face_video"), second)  # ~7 times the first's rows
    out = tmp_path / "out.parquet"
    assert mien("analyze", str(first), "-o", str(out)).returncode == 0
    old, first_rows = out.read_bytes(), len(pd.read_parquet(out))
    limit = 2 * len(old)  # room for the first input's rows, not for the second's (like a full disk)

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run([sys.executable, "-m", "mien.cli", "analyze", str(first), str(second), "-o", str(out), "--force"],
                          capture_output=True, text=True, preexec_fn=small_disk)  # fmt: skip
    assert full.returncode == 1, full.stderr
    partial = tmp_path / "out.partial.parquet"
    message = full.stderr.splitlines()[-1]
    assert message.startswith(f"mien: error: cannot write {out} (") and "File too large" in message
    assert message.endswith(f"): {out} was left as it was; the {first_rows} rows written before the error "
                            f"are in {partial} (the error may have cut it short)")  # fmt: skip
    assert out.read_bytes() == old and partial.is_file()
    assert "please report it" not in full.stderr  # not mistaken for one input's failure


def test_one_row_at_a_time_still_makes_few_parquet_row_groups_and_keeps_every_row(tmp_path):
    """Dataset mode hands the sink one row per crop: a row group per row made writing slower than
    analysing, so rows are gathered; none may be lost or reordered, interrupted or not."""
    import pyarrow as pa

    from mien.io.sinks import ROW_GROUP_ROWS, Sink

    schema = pa.schema([("frame", pa.int64())])
    rows = 2 * ROW_GROUP_ROWS + 7
    with Sink(tmp_path / "rows.parquet", schema, "parquet") as sink:
        for i in range(rows):
            sink.write(pa.record_batch([pa.array([i])], schema=schema))
    published = pq.ParquetFile(tmp_path / "rows.parquet")
    assert published.metadata.num_row_groups == 3
    assert published.read().column("frame").to_pylist() == list(range(rows))

    sink = Sink(tmp_path / "cut.parquet", schema, "parquet")
    for i in range(10):
        sink.write(pa.record_batch([pa.array([i])], schema=schema))
    kept = sink.abort()  # stopped before a row group was full: the rows so far are still kept
    assert pq.read_table(kept).column("frame").to_pylist() == list(range(10))


def test_an_output_another_run_published_first_is_left_alone_and_this_runs_rows_kept_whole(media, tmp_path):
    """The same command twice at once: the first to finish publishes the output; the other says so
    in one line and keeps all its rows beside it."""
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    shutil.copy(media("single_face_video"), first)
    shutil.copy(media("face_video"), second)
    out = tmp_path / "out.parquet"
    process = subprocess.Popen([sys.executable, "-m", "mien.cli", "analyze", str(first), str(second), "-o", str(out)],
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    said = []
    for line in process.stderr:  # the first input is done: the run is writing its output now...
        said.append(line)
        if line.startswith(str(first)):
            break
    out.write_bytes(b"another run's output")  # ...when another run publishes the same file
    said += process.stderr.readlines()
    assert process.wait() == 1, "".join(said)
    partial = tmp_path / "out.partial.parquet"
    rows = pq.read_table(partial).to_pandas()
    assert said[-1] == (f"mien: error: {out} appeared while mien was writing it (another run?): it was left alone; "
                        f"all {len(rows)} rows of this run are in {partial}\n")  # fmt: skip
    assert out.read_bytes() == b"another run's output"
    assert set(rows.input) == {str(first), str(second)}  # the run finished: every input's rows
