"""`mien ...`: parses, calls the library, prints. Nothing here measures anything."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Measure facial behaviour in images, video and live streams.")  # fmt: skip


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _refuse(*problems: str | None) -> None:
    """Say every problem with the options, one line each, and stop before any work (exit 2)."""
    found = [problem for problem in problems if problem]
    for problem in found:
        _say(f"mien: error: {problem}")
    if found:
        raise typer.Exit(2)


def _refuse_outputs(outputs: dict[str, Path | None], inputs: list[Path | str], force: bool) -> None:
    """Stop (exit 2, one line each) before any work where an output (by its option) cannot be
    written there, would overwrite one of the inputs, or an existing file without --force."""
    from mien.checks import writable_file
    from mien.io.outputs import OutputRefused, check_outputs

    named = {option: path for option, path in outputs.items() if path is not None}
    _refuse(*(writable_file(option, path) for option, path in named.items()))
    try:
        check_outputs(list(named.values()), [str(i) for i in inputs if i is not None], force)
    except OutputRefused as refused:
        _refuse(str(refused))


def _annotated_output_problem(option: str, path: Path) -> str | None:
    from mien.report.video import annotated_output_problem  # imported only where a video is annotated

    return annotated_output_problem(option, path)


def _default_output(inputs: list[str]) -> Path:
    if len(inputs) == 1 and not inputs[0].isdigit() and "://" not in inputs[0]:
        return Path(Path(inputs[0].rstrip("/")).stem + ".parquet")
    if len(inputs) == 1 and inputs[0].isdigit():
        return Path(f"webcam{inputs[0]}.parquet")
    return Path("mien-results.parquet")


@app.command()
def analyze(
    inputs: Annotated[list[str], typer.Argument(help="Image or video files, folders, globs, a webcam index, or a stream URL.")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output file; format from its extension (.parquet, .csv, .jsonl).")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="parquet | csv | jsonl | openface (OpenFace 2.x CSV).")] = None,
    mesh: Annotated[bool, typer.Option("--mesh", help="Add the 478-point 3-D mesh.")] = False,
    blendshapes: Annotated[bool, typer.Option("--blendshapes", help="Add the 52 MediaPipe blendshape scores.")] = False,
    max_frames: Annotated[Optional[int], typer.Option("--max-frames", help="Stop each video or stream after this many frames.")] = None,
    max_faces: Annotated[int, typer.Option("--max-faces", help="Most faces analysed per frame (faces beyond it are counted and reported).")] = 20,
    faces_are_crops: Annotated[bool, typer.Option("--faces-are-crops", help="Dataset mode: each image is already one face crop.")] = False,
    events: Annotated[Optional[Path], typer.Option("--events", help="Also write behaviour events (blinks, episodes...) to this file (.csv, .parquet, .jsonl), or '-': JSON lines on stdout as each event ends (live streams).")] = None,
    smooth: Annotated[Optional[bool], typer.Option("--smooth/--no-smooth", help="One Euro smoothing over time per person (default: on for video, off for stills).")] = None,
    expression_model: Annotated[Optional[str], typer.Option("--expression-model", help="An expression model you trained (mien train expression).")] = None,
    au_model: Annotated[Optional[str], typer.Option("--au-model", help="An AU model you fitted on FACS codes (mien train aus).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    force: Annotated[bool, typer.Option("--force", "--overwrite", help="Replace output files that already exist.")] = False,
    annotate: Annotated[Optional[Path], typer.Option("--annotate", help="Also write the video with the results drawn on it (one video file input; mien annotate's default layers).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Progress as JSON lines on stdout, for logs (a bar is shown only on a terminal).")] = False,
) -> None:
    """Analyse inputs into one table: a row per face per frame."""
    from mien.interrupts import Terminated, sigterm_as_interrupt
    from mien.io.outputs import check_outputs
    from mien.io.sinks import OutputFailed, Sink, format_for
    from mien.pipeline import Analyzer, Options, Outcome

    from mien.checks import at_least, writable_file

    output = output or _default_output(inputs)
    live = events is not None and str(events) == "-"
    events_file = None if events is None or live else events
    _refuse(at_least("--max-faces", max_faces, 1), at_least("--max-frames", max_frames, 1),
            writable_file("-o", output), events_file and writable_file("--events", events_file),
            annotate and (writable_file("--annotate", annotate) or _annotated_output_problem("--annotate", annotate)),
            as_json and live and "--json and --events - both write JSON lines on stdout; choose one")  # fmt: skip
    try:
        fmt = format_for(output, format)
        if events_file is not None:
            format_for(events_file)  # refused now, not after the analysis
        check_outputs([output] + ([events_file] if events_file else []) + ([annotate] if annotate else []), inputs, force)
    except ValueError as error:
        _say(f"mien: error: {error}")
        raise typer.Exit(2) from None
    options = Options(mesh=mesh, blendshapes=blendshapes, max_frames=max_frames, max_faces=max_faces,
                      faces_are_crops=faces_are_crops, smooth=smooth, expression_model=expression_model,
                      au_model=au_model)  # fmt: skip
    if annotate is not None and not (len(inputs) == 1 and Path(inputs[0]).is_file()):
        _say("mien: error: --annotate needs exactly one video file (it reads the video again after analysis)")
        raise typer.Exit(2)

    def say(message: str) -> None:
        progress.say(message)  # lines go above the bar, never through it

    def show(outcome: Outcome) -> None:
        progress.finished(outcome.input)
        if outcome.faces_left_out:
            say(f"mien: warning: {outcome.input}: {_left_out(outcome, max_faces)}")
        for notice in outcome.notices:
            say(f"mien: warning: {outcome.input}: {notice}")
        if outcome.stopped_at is not None:
            say(f"mien: warning: {outcome.input}: stopped at frame {outcome.stopped_at}: "
                f"{outcome.error} ({outcome.rows} rows kept)")  # fmt: skip
        elif outcome.failed:
            say(f"mien: error: {outcome.input}: {outcome.error}")
        elif not quiet and not faces_are_crops:  # a line per crop of a 290k-crop dataset is noise
            speed = outcome.frames / outcome.seconds if outcome.seconds else 0.0
            say(f"{outcome.input}: {outcome.frames} frames, {outcome.rows} rows, {speed:.0f} frames/s")

    with _clear_errors():
        analyzer = Analyzer(options)
    found: list = []

    def on_events(new_events: list) -> None:
        found.extend(new_events)
        for event in new_events if live else ():
            typer.echo(json.dumps(event.as_dict()))

    from mien.events.replay import events_table
    from mien.io.sinks import write_table

    copy = None
    if annotate is not None:
        from mien.report.annotate import RowsCopy

        copy = RowsCopy(analyzer.output_schema().remove_metadata())
    from mien.io.sources import expand
    from mien.progress import AnalyzeProgress, mode_for

    readable, unusable = expand(inputs)
    progress = AnalyzeProgress(mode_for(quiet, as_json), readable, len(readable) + len(unusable), max_frames)
    existed = output.exists()
    with analyzer, sigterm_as_interrupt():
        sink = Sink(output, analyzer.output_schema().remove_metadata(), fmt, analyzer.metadata(), replace=force,
                    stop_on_error=True)  # a disk that cannot take the rows stops the run, not one input
        try:
            with sink:
                on_batch = sink.write if copy is None else lambda batch: (sink.write(batch), copy.write(batch))
                try:
                    report = analyzer.run(inputs, on_batch=on_batch, on_outcome=show, on_events=on_events,
                                          on_frame=progress.frame)  # fmt: skip
                finally:
                    progress.close()
        except (KeyboardInterrupt, OSError, OutputFailed) as stop:
            # The rows are in sink.partial (the Sink kept them); keep the events beside them.
            _say(_stopped_message(stop, output, existed, sink, events_file, found, analyzer.metadata()))
            if not isinstance(stop, KeyboardInterrupt):
                raise typer.Exit(1) from None
            # Everything is on disk. A Ctrl-C that lands inside MediaPipe's native close leaves a
            # half-closed graph that can crash the interpreter's teardown: leave without it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(143 if isinstance(stop, Terminated) else 130)
    done = len(report.outcomes) - len(report.failed)
    if not quiet:
        _say(f"wrote {output} ({sink.rows} rows, {done} of {len(report.outcomes)} inputs analysed)")
    if events_file is not None:
        write_table(events_table(found), events_file, analyzer.metadata(), replace=force)
        if not quiet:
            _say(f"wrote {events_file} ({len(found)} events)")
    if copy is not None and sink.rows:
        with _annotation_stops():
            drawn = copy.annotate(inputs[0], annotate, events_table(found), replace=force)
        if not quiet:
            _say(drawn.description())
    if report.failed:
        raise typer.Exit(1)


def _left_out(outcome, max_faces: int) -> str:
    frames = f"in {outcome.frames_capped} frames" if outcome.frames_capped > 1 else "in one frame"
    return (f"more faces than --max-faces {max_faces}: about {outcome.faces_left_out} more {frames} were "
            f"not analysed; raise --max-faces to analyse them")


def _stopped_message(stop: BaseException, output: Path, existed: bool, sink, events_file: Path | None,
                     found: list, metadata: dict) -> str:  # fmt: skip
    """What was kept when `mien analyze` stopped early, and where (events are written here)."""
    from mien.events.replay import events_table
    from mien.interrupts import Terminated
    from mien.io.sinks import partial_name, write_table

    if isinstance(stop, KeyboardInterrupt):
        why = "stopped (SIGTERM)" if isinstance(stop, Terminated) else "interrupted (Ctrl-C)"
    else:
        why = f"error: {stop}"
    left = f"{output} was left as it was" if existed else f"{output} was not written"
    if isinstance(stop, FileExistsError) and sink.partial is not None:
        # Another run published the same output first; this run's rows are whole, set aside.
        why, left = f"error: {output} appeared while mien was writing it (another run?)", "it was left alone"
        kept = [f"all {sink.rows} rows of this run are in {sink.partial}"]
    elif sink.partial is None:
        kept = ["no row was analysed" if isinstance(stop, KeyboardInterrupt) else "no row was kept"]
    elif isinstance(stop, KeyboardInterrupt):
        kept = [f"the {sink.rows} rows analysed so far are in {sink.partial}"]
    else:
        kept = [f"the {sink.rows} rows written before the error are in {sink.partial} (the error may have cut it short)"]
    if events_file is not None and found:
        kept_events = write_table(events_table(found), partial_name(events_file), metadata)
        kept.append(f"the {len(found)} events found so far in {kept_events}")
    return f"mien: {why}: {left}; " + ", ".join(kept)


@app.command()
def models() -> None:
    """Every model: status, source, licence, SHA-256."""
    from mien.models.registry import MODELS, status

    for spec in MODELS.values():
        state, where = status(spec.name)
        typer.echo(f"{spec.name}\n  file     {spec.filename}\n  status   {state} ({where})\n"
                   f"  licence  {spec.licence}\n  sha256   {spec.sha256}\n  about    {spec.description}")  # fmt: skip
    from mien.calibration import TABLE
    from mien.models.registry import sha256_of

    # The AU model is a table shipped with the code (tools/calibrate.py writes it), not a download.
    typer.echo(f"au_model\n  file     {TABLE.name}\n  status   ok (shipped: {TABLE})\n"
               f"  licence  Apache-2.0 (mien); fitted on FER2013 with FER+ votes, see the model card\n"
               f"  sha256   {sha256_of(TABLE)}\n  about    mien's AU model: per-AU logistic models over each AU's own "
               f"movement, fused with the expression; docs/models/action_units.md")  # fmt: skip


@app.command()
def summarize(
    results: Annotated[Path, typer.Argument(help="A results file written by mien analyze (.parquet, .csv, .jsonl).")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the summary here (.csv, .parquet, .jsonl) instead of printing it.")] = None,
    per: Annotated[str, typer.Option("--per", help="person (input and face_id) or input.")] = "person",
    events: Annotated[Optional[Path], typer.Option("--events", help="Also write the events found in the results to this file.")] = None,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Measure AUs from each person's neutral baseline: 'auto' (their least expressive frames) or START-END in seconds.")] = None,
    force: Annotated[bool, typer.Option("--force", "--overwrite", help="Replace output files that already exist.")] = False,
) -> None:
    """Per-person (or per-input) summary of a results file: AUs, expressions, blinks, head, gaze, pain."""
    import pandas as pd

    from mien.io.sinks import write_table
    from mien.result import read

    if not results.is_file():
        _say(f"mien: error: {results}: no such file")
        raise typer.Exit(1)
    _refuse_outputs({"-o": output, "--events": events}, [results], force)
    with _clear_errors():
        try:
            result = read(results)
            if baseline is not None:
                result = result.baselined(_baseline_window(baseline))
            summary = result.summary(per=per)
        except (OSError, pd.errors.ParserError, KeyError) as error:
            raise ValueError(f"{results}: not a mien results file ({type(error).__name__}: {error})") from None
    with _clear_errors():
        if events is not None:
            write_table(result.events(), events, replace=force)
        if output is not None:
            write_table(summary, output, replace=force)
    if output is None:
        from mien.summary_text import summary_text

        typer.echo(summary_text(summary))  # every column; -o writes them as a table
    else:
        _say(f"wrote {output} ({len(summary)} rows)")


@app.command()
def batch(
    inputs: Annotated[list[str], typer.Argument(help="Video or image files, folders, globs, or a manifest CSV (a 'path' column plus metadata columns).")],
    out: Annotated[Path, typer.Option("--out", help="Results folder: one Parquet file per input, events, catalog.sqlite.")],
    workers: Annotated[Optional[int], typer.Option("--workers", help="Worker processes (default: one per core).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="local (worker processes) or ray.")] = "local",
    address: Annotated[Optional[str], typer.Option("--address", help="Ray cluster: auto, or ray://host:port (default: a local Ray).")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Analyse again the inputs that failed before.")] = False,
    allow_mixed_settings: Annotated[bool, typer.Option("--allow-mixed-settings", help="Add results made with other settings to this folder.")] = False,
    max_faces: Annotated[int, typer.Option("--max-faces")] = 20,
    max_frames: Annotated[Optional[int], typer.Option("--max-frames")] = None,
    smooth: Annotated[Optional[bool], typer.Option("--smooth/--no-smooth")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Progress as JSON lines on stdout, for logs.")] = False,
) -> None:
    """Analyse a whole study: resumable (rerun to finish), one file per input, on every core or on Ray."""
    from mien.batch.progress import ProgressPrinter
    from mien.batch.run import run_batch
    from mien.pipeline import Options

    from mien.checks import at_least, writable_folder

    _refuse(at_least("--workers", workers, 1), at_least("--max-faces", max_faces, 1),
            at_least("--max-frames", max_frames, 1), writable_folder("--out", out),
            backend not in ("local", "ray") and f"--backend {backend}: choose local or ray")  # fmt: skip
    if backend == "ray":
        _refuse(_ray_reachable(address))
    from mien.progress import BatchBar, mode_for

    # A bar on a terminal; JSON lines with --json; errors only in a log or with -q.
    shown = mode_for(quiet, as_json)
    printer = BatchBar() if shown == "bar" else ProgressPrinter("json" if shown == "json" else "quiet")
    options = Options(max_faces=max_faces, max_frames=max_frames, smooth=smooth)
    with _clear_errors():
        try:
            report = run_batch(inputs, out, options, workers=workers, backend=backend, address=address,
                               retry_failed=retry_failed, allow_mixed_settings=allow_mixed_settings, progress=printer)  # fmt: skip
        except KeyboardInterrupt as stop:
            from mien.interrupts import Terminated

            done = getattr(stop, "report", None)
            why = "stopped (SIGTERM)" if isinstance(stop, Terminated) else "interrupted (Ctrl-C)"
            _say(f"mien: {why}: {done.done if done else 0} inputs finished and kept in {out}; "
                 f"{done.released if done else 0} unfinished handed back; run the same command to finish")  # fmt: skip
            raise typer.Exit(143 if isinstance(stop, Terminated) else 130) from None
        finally:
            if isinstance(printer, BatchBar):
                printer.close()
    if not quiet and not as_json:
        elsewhere = f"{report.elsewhere} by another run at the same time, " if report.elsewhere else ""
        _say(f"{report.done} analysed, {report.skipped} done before, {elsewhere}{len(report.failed)} failed; "
             f"results in {out} (mien query {out} \"SELECT ...\")")  # fmt: skip
    if report.failed:
        raise typer.Exit(1)


def _ray_reachable(address: str | None) -> str | None:
    """Connect to Ray before anything is written, so a cluster that is not there costs one line
    and leaves no results folder behind (the batch then uses this connection)."""
    try:
        import ray
    except ModuleNotFoundError:
        return "--backend ray needs Ray: pip install 'mien[ray]'"
    if address and address.startswith("ray://"):
        try:
            import ray.util.client  # noqa: F401  (ray[client]: grpc)
            import grpc  # noqa: F401
        except ModuleNotFoundError:
            return f"--address {address}: ray:// addresses need Ray's client: pip install 'mien[ray]'"
    from mien.native_logging import native_stderr_silenced

    try:
        with native_stderr_silenced():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"--address {address}" if address else "--backend ray"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{where}: cannot reach a Ray cluster ({reason}); start one with `ray start --head`, or leave --address out for a Ray of this machine"
    return None


@app.command()
def query(
    results: Annotated[Path, typer.Argument(help="A results folder written by mien batch.")],
    sql: Annotated[str, typer.Argument(help="SQL over the views frames, events and inputs, e.g. \"SELECT participant, avg(AU12) FROM frames GROUP BY 1\".")],
    format: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
) -> None:
    """Run SQL (DuckDB) over every output of a batch at once."""
    from mien.batch.query import query as run_query

    if format not in ("table", "csv", "json"):
        _say(f"mien: error: --format {format!r}: choose table, csv or json")
        raise typer.Exit(2)
    with _clear_errors():
        try:
            answer = run_query(results, sql)
        except FileNotFoundError as error:
            raise ValueError(str(error)) from None
        except ModuleNotFoundError:
            raise ValueError("mien query needs DuckDB: pip install duckdb") from None
    if format == "csv":
        typer.echo(answer.to_csv(index=False), nl=False)
    elif format == "json":
        typer.echo(answer.to_json(orient="records", lines=True, date_format="iso"), nl=False)
    else:
        typer.echo(answer.to_string(index=False))


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    data: Annotated[Path, typer.Option("--data", help="Folder for uploads, jobs and results (a mien batch results folder inside).")] = Path("mien-data"),
    token: Annotated[Optional[str], typer.Option("--token", envvar="MIEN_TOKEN", help="Clients must send 'Authorization: Bearer TOKEN'.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Jobs analysed at once (one worker process each).")] = 1,
    max_jobs: Annotated[int, typer.Option("--max-jobs", help="Jobs queued or running at once; one more is refused with 429.")] = 64,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest upload accepted, MiB (413 above it).")] = 2048,
    max_data_gb: Annotated[float, typer.Option("--max-data-gb", help="Most the --data folder may hold, GiB; uploads that would pass it are refused with 507 (0: no cap; the disk always keeps 1 GiB free).")] = 50.0,
    upload_ttl_hours: Annotated[float, typer.Option("--upload-ttl-hours", help="Uploads no job uses are removed after this many hours.")] = 24.0,
    live_fps: Annotated[int, typer.Option("--live-fps", help="Frames a second analysed per /live connection; more are answered 429 and dropped.")] = 30,
    max_live: Annotated[int, typer.Option("--max-live", help="/live connections open at once; one more is refused (429, closed 1013).")] = 8,
) -> None:
    """An HTTP service: upload media, run jobs, fetch results, SQL over them (docs/server.md; API at /docs)."""
    from mien.checks import at_least, writable_folder
    from mien.server.auth import binding_problem

    _refuse(at_least("--workers", workers, 1), at_least("--max-jobs", max_jobs, 1),
            at_least("--max-upload-mb", max_upload_mb, 1), at_least("--live-fps", live_fps, 1),
            at_least("--max-live", max_live, 1),
            None if max_data_gb >= 0 else f"--max-data-gb {max_data_gb:g}: must be 0 (no cap) or more",
            None if upload_ttl_hours > 0 else f"--upload-ttl-hours {upload_ttl_hours:g}: must be more than 0",
            writable_folder("--data", data), binding_problem(host, token))  # fmt: skip
    from mien.bug_log import LOG_FOLDER_VARIABLE
    from mien.server.app import serve as run_service

    # Bugs met anywhere in the service (live streams, job worker processes) are logged in --data.
    os.environ[LOG_FOLDER_VARIABLE] = str(data.resolve() / "logs")
    run_service(host, port, data, token, concurrent_jobs=workers, max_waiting=max_jobs, max_upload=max_upload_mb << 20,
                max_data=int(max_data_gb * (1 << 30)) or None, upload_ttl_s=upload_ttl_hours * 3600,
                live_fps=live_fps, max_live=max_live)  # fmt: skip


@app.command("annotate")
def annotate_video(
    video: Annotated[Path, typer.Argument(help="The video file to draw on.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The annotated video (.mp4, .mkv, .mov, .m4v, .avi).")],
    results: Annotated[Optional[Path], typer.Option("--results", help="Results of this video made earlier (.parquet, .csv, .jsonl); default: analyse it now.")] = None,
    layers: Annotated[str, typer.Option("--layers", help="Comma-separated: box, landmarks, mesh, pose, gaze, expression, aus, events.")] = "box,landmarks,pose,gaze,expression,aus,events",
    aus: Annotated[str, typer.Option("--aus", help="AUs the 'aus' layer shows, comma-separated, or 'all'.")] = "AU01,AU02,AU04,AU06,AU12,AU15,AU25,AU26",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    force: Annotated[bool, typer.Option("--force", "--overwrite", help="Replace output files that already exist.")] = False,
) -> None:
    """Write the video again with faces, landmarks, pose, gaze, expression, AUs and events drawn on it."""
    from mien.report.annotate import annotate
    from mien.schema import AU_CODES

    chosen_aus = list(AU_CODES) if aus == "all" else [a.strip() for a in aus.split(",") if a.strip()]
    with _clear_errors():
        if not video.is_file():
            raise ValueError(f"{video}: no such file")
        if results is not None and not results.is_file():
            raise ValueError(f"{results}: no such file")
    _refuse_outputs({"-o": output}, [video, results], force)
    _refuse(_annotated_output_problem("-o", output))
    chosen_layers = [name.strip() for name in layers.split(",") if name.strip()]
    with _annotation_stops():
        drawn = annotate(video, output, results, chosen_layers, chosen_aus, replace=force)
    if not quiet:
        _say(drawn.description())


@app.command("report")
def report_html(
    results: Annotated[Path, typer.Argument(help="A results file (.parquet, .csv, .jsonl) or a mien batch results folder (study report).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path("report.html"),
    video: Annotated[Optional[Path], typer.Option("--video", help="The analysed video, for pictures of the strongest moments (default: the input path in the results, where it exists).")] = None,
    title: Annotated[Optional[str], typer.Option("--title")] = None,
    force: Annotated[bool, typer.Option("--force", "--overwrite", help="Replace output files that already exist.")] = False,
) -> None:
    """One self-contained HTML report (pictures inside; opens offline): people, timelines, moments, data quality, settings."""
    from mien.report.html import write_report

    with _clear_errors():
        if not results.exists():
            raise ValueError(f"{results}: no such file or folder")
    _refuse_outputs({"-o": output}, [results, video], force)
    with _clear_errors():
        try:
            written = write_report(results, output, video, title)
        except FileNotFoundError as error:
            raise ValueError(str(error)) from None
    _say(f"wrote {written}")


def _baseline_window(text: str) -> tuple[float, float] | None:
    if text == "auto":
        return None
    try:
        start, end = (float(part) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"--baseline {text!r}: expected 'auto' or START-END in seconds, e.g. 0-30") from None
    return start, end


train_app = typer.Typer(no_args_is_help=True, help="Train mien's own models on your data (needs the train extra).")
evaluate_app = typer.Typer(no_args_is_help=True, help="Score a model on labelled data.")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")

DATA_HELP = ("A FER2013/FER+ .npz, a folder with one sub-folder per expression (optionally under "
             "train/ val/ test/), or a CSV with columns path,label[,split].")  # fmt: skip


@train_app.command("expression")
def train_expression(
    data: Annotated[str, typer.Option("--data", help=DATA_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Folder for checkpoints, history, report and expression.onnx; rerun to resume.")],
    epochs: Annotated[int, typer.Option("--epochs")] = 28,
    input_size: Annotated[int, typer.Option("--input-size", help="Side the 48-px crop is enlarged to inside the network.")] = 96,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    learning_rate: Annotated[float, typer.Option("--learning-rate")] = 1e-3,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[int, typer.Option("--threads", help="Torch threads (0: all cores).")] = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Train on only the first N faces (a quick trial).")] = None,
    stop_after: Annotated[Optional[int], typer.Option("--stop-after", help="End this run after N epochs in all; run again to go on.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Progress as JSON lines on stderr, for logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fine-tune the expression model; select on the val split; calibrate; export ONNX."""
    import logging

    try:
        from mien.train.expression import TrainConfig, train_expression as train
    except ModuleNotFoundError as error:
        _say(f"mien: error: training needs the train extra ({error.name} is missing): pip install 'mien[train]'")
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    config = TrainConfig(data=data, out=str(out), epochs=epochs, input_size=input_size, batch_size=batch_size,
                         learning_rate=learning_rate, seed=seed, threads=threads, limit=limit,
                         stop_after=stop_after)  # fmt: skip
    with _clear_errors(), _tracking(as_json, quiet):
        model = train(config)
    if model is None:
        _say(f"stopped after epoch {stop_after}; run the same command without --stop-after to go on")
    else:
        _say(f"wrote {model}; use it with: mien analyze ... --expression-model {model}")


@evaluate_app.command("expression")
def evaluate_expression(
    data: Annotated[str, typer.Option("--data", help=DATA_HELP)],
    model: Annotated[Optional[str], typer.Option("--model", help="An ONNX expression model (default: the shipped one).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="train | val | test | all (default: test where the data names its splits, else all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Accuracy, mean per-class recall, confusion matrix and calibration error (ECE)."""
    from mien.train.evaluate import evaluate_expression as evaluate

    with _clear_errors(), _tracking(as_json, False):
        evaluation = evaluate(data, model=model, split=split)
    typer.echo(json.dumps(evaluation.as_dict(), indent=2) if as_json else evaluation.report())


CODED_HELP = ("A CSV (path + one column per AU, AU1/AU01: 0/1 or 0-5, or a 'facs' column like 1B+2C+25; "
              "optional split, emotion), or a folder of sessions (frames + SESSION.csv, or DISFA's SESSION_auN.txt).")  # fmt: skip


@evaluate_app.command("aus")
def evaluate_aus(
    data: Annotated[str, typer.Option("--data", help=CODED_HELP)],
    model: Annotated[Optional[str], typer.Option("--model", help="An AU model from mien train aus (default: the shipped one).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="train | val | test | all (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON (progress as JSON lines on stderr).")] = False,
) -> None:
    """Agreement with FACS codes: per-AU ROC AUC and F1, ICC(3,1) and MAE of intensities, PSPI rho."""
    from mien.train.evaluate_aus import evaluate_aus as evaluate

    with _clear_errors(), _tracking(as_json, False):
        evaluation = evaluate(data, table=model, split=split)
    typer.echo(json.dumps(evaluation.as_dict(), indent=2) if as_json else evaluation.report())


@train_app.command("aus")
def train_aus(
    data: Annotated[str, typer.Option("--data", help=CODED_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Folder for au_model.json and report.txt.")],
    as_json: Annotated[bool, typer.Option("--json", help="Progress as JSON lines on stderr, for logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fit the AU model on your FACS codes (train split; penalty chosen on val; scored on test)."""
    import logging

    from mien.checks import writable_folder
    from mien.train.train_aus import train_aus as train

    problem = writable_folder("--out", out)  # before the faces are measured, not after
    if problem:
        _say(f"mien: error: {problem}")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with _clear_errors(), _tracking(as_json, quiet):
        model = train(data, out)
    _say(f"wrote {model}; use it with: mien analyze ... --au-model {model}")


def _tracking(as_json: bool, quiet: bool):
    """How train and evaluate report progress: JSON lines, nothing, or a bar on a terminal."""
    from mien.progress import tracking_as

    return tracking_as("json" if as_json else "off" if quiet else None)


@contextmanager
def _clear_errors():
    """Bad data, model or settings, or a file that cannot be written (a full disk, another run
    that published the same output first): one line naming the file and the reason, exit code 1."""
    from mien.errors import InputError
    from mien.models.registry import ModelNotFoundError

    try:
        yield
    except (InputError, ModelNotFoundError, ValueError, OSError) as error:
        _say(f"mien: error: {error}")
        raise typer.Exit(1) from None


@contextmanager
def _annotation_stops():
    """An annotated video stopped part-way (Ctrl-C, SIGTERM, a full disk): one line saying why
    and where the frames written so far are; exit 130 / 143 / 1. Other clear errors as
    _clear_errors."""
    from mien.interrupts import Terminated, sigterm_as_interrupt

    with _clear_errors():
        try:
            with sigterm_as_interrupt():
                yield
        except (KeyboardInterrupt, OSError) as stop:
            kept = getattr(stop, "annotated", None)
            if isinstance(stop, KeyboardInterrupt):
                why = "stopped (SIGTERM)" if isinstance(stop, Terminated) else "interrupted (Ctrl-C)"
                code = 143 if isinstance(stop, Terminated) else 130
            else:
                why, code = f"error: {stop}", 1
            if kept is not None:
                why += f"; the {kept.frames} frames annotated so far are in {kept.path}"
                why += "" if isinstance(stop, KeyboardInterrupt) else " (the error may have cut it short)"
            elif isinstance(stop, KeyboardInterrupt):
                why += "; no frame was written"
            _say(f"mien: {why}")
            raise typer.Exit(code) from None


def main() -> None:
    from mien.native_logging import native_stderr_off_for_good

    native_stderr_off_for_good()
    try:
        sys.exit(app())
    except Exception as error:  # what no check caught is a bug: one line, the traceback in a file
        from mien.bug_log import log_bug

        _say(f"mien: {log_bug(error)}")
        sys.exit(3)


if __name__ == "__main__":
    main()
