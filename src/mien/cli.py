"""`mien ...`: parses, calls the library, prints. Nothing here measures anything."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Measure facial behaviour in images, video and live streams.")  # fmt: skip


def _say(message: str) -> None:
    typer.echo(message, err=True)


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
    max_faces: Annotated[int, typer.Option("--max-faces", help="Most faces looked for per frame.")] = 8,
    faces_are_crops: Annotated[bool, typer.Option("--faces-are-crops", help="Dataset mode: each image is already one face crop.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Analyse inputs into one table: a row per face per frame."""
    from mien.io.sinks import Sink, format_for
    from mien.pipeline import Analyzer, Options, Outcome

    output = output or _default_output(inputs)
    try:
        fmt = format_for(output, format)
    except ValueError as error:
        _say(f"mien: error: {error}")
        raise typer.Exit(2) from None
    options = Options(mesh=mesh, blendshapes=blendshapes, max_frames=max_frames, max_faces=max_faces,
                      faces_are_crops=faces_are_crops)  # fmt: skip

    def show(outcome: Outcome) -> None:
        if outcome.stopped_at is not None:
            _say(f"mien: warning: {outcome.input}: stopped at frame {outcome.stopped_at}: "
                 f"{outcome.error} ({outcome.rows} rows kept)")  # fmt: skip
        elif outcome.failed:
            _say(f"mien: error: {outcome.input}: {outcome.error}")
        elif not quiet:
            speed = outcome.frames / outcome.seconds if outcome.seconds else 0.0
            _say(f"{outcome.input}: {outcome.frames} frames, {outcome.rows} rows, {speed:.0f} frames/s")

    with Analyzer(options) as analyzer:
        with Sink(output, analyzer.output_schema().remove_metadata(), fmt, analyzer.metadata()) as sink:
            report = analyzer.run(inputs, on_batch=sink.write, on_outcome=show)
    done = len(report.outcomes) - len(report.failed)
    if not quiet:
        _say(f"wrote {output} ({sink.rows} rows, {done} of {len(report.outcomes)} inputs analysed)")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def models() -> None:
    """Every model: status, source, licence, SHA-256."""
    from mien.models.registry import MODELS, status

    for spec in MODELS.values():
        state, where = status(spec.name)
        typer.echo(f"{spec.name}\n  file     {spec.filename}\n  status   {state} ({where})\n"
                   f"  licence  {spec.licence}\n  sha256   {spec.sha256}\n  about    {spec.description}")  # fmt: skip


def main() -> None:
    sys.exit(app())


if __name__ == "__main__":
    main()
