"""``mien report``: one self-contained HTML file per results table, or per study (a batch folder).

Self-contained: every picture is a PNG inside the page (data: URI), styles are inline, there is
no script and no link to fetch, so the file opens anywhere, offline, from a USB stick.

Input report sections: people (summary table, mean AU face), timelines, strongest moments (apex
frames cut from the video when it is at hand), data quality, settings and provenance.
Study report sections: inputs, people with the manifest's metadata, comparisons (box plots of AU
and expression rates per value of each metadata column), settings and provenance.

Memory stays bounded on long inputs: only the columns the report shows are read (no landmarks,
no mesh), and timelines are drawn from time bins (mien.report.plots).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from mien.events.replay import EYE_COLUMNS, events_from_rows
from mien.report import plots
from mien.schema import AU_CODES, EMOTIONS, TRUST_LEGEND
from mien.summary import summarize
from mien.version import __version__

READ = ["input", "frame", "timestamp", "face_id", "face_score", "face_x", "face_y", "face_w", "face_h",
        "pose_yaw", "pose_pitch", "pose_roll", "gaze_yaw", "gaze_pitch", *EYE_COLUMNS, *AU_CODES, *EMOTIONS,
        "emotion", "valence", "arousal", "pspi"]  # fmt: skip
MAX_PEOPLE = 8  # timelines drawn for the people seen longest; the rest are in the table
MOMENTS = 8  # apex pictures of the strongest episodes
MOMENT_KINDS = ("expression", "compound", "micro_expression", "pain")
EXTREME_YAW, EXTREME_PITCH = 45.0, 30.0  # deg: beyond these, landmarks and AUs are less reliable
SUMMARY_COLUMNS = ["input", "face_id", "frames", "seconds_visible", "expressivity", "blinks_per_minute",
                   "valence_mean", "arousal_mean", "happiness_rate", "sadness_rate", "surprise_rate",
                   "anger_rate", "head_speed_mean", "gaze_dispersion", "pspi_mean"]  # fmt: skip
COMPARE_EMOTIONS = [f"{e}_rate" for e in EMOTIONS]


def write_report(results: str | os.PathLike, output: str | os.PathLike, video: str | os.PathLike | None = None,
                 title: str | None = None) -> Path:  # fmt: skip
    """Write the HTML report of ``results`` (a results file, or a ``mien batch`` folder for a
    study report) to ``output``. video: the analysed video, for apex pictures (default: the
    table's input path, where that file exists)."""
    results, output = Path(results), Path(output)
    if results.is_dir():
        page = _study_page(results, title or f"mien study report: {results.name}")
    else:
        page = _input_page(results, video, title or f"mien report: {results.name}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return output


# -- reading -------------------------------------------------------------------------------------


def read_rows(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The report's columns of a results file, and its metadata (version, settings, models)."""
    from mien.result import check_results_columns, read

    if path.suffix.lower() == ".parquet":
        file = pq.ParquetFile(path)
        names = file.schema_arrow.names
        check_results_columns(path, names)
        extra = [n for n in names if n not in READ and n not in _MEASURE_COLUMNS]  # manifest metadata
        table = file.read(columns=[c for c in READ if c in names] + extra)
        raw = file.schema_arrow.metadata or {}
        return table.to_pandas(), {k.decode(): v.decode() for k, v in raw.items()}
    result = read(path)
    check_results_columns(path, result.table.schema.names)
    return result.df, result._metadata()


def _measure_columns() -> set[str]:
    from mien.schema import columns

    return {c.name for c in columns(mesh=True, blendshapes=True)}


_MEASURE_COLUMNS = _measure_columns()


# -- the input report ----------------------------------------------------------------------------


def _input_page(path: Path, video, title: str) -> str:
    rows, metadata = read_rows(path)
    events = events_from_rows(rows)
    summary = summarize(rows, events)
    people = summary.sort_values("seconds_visible", ascending=False).head(MAX_PEOPLE) if len(summary) else summary
    sections = [
        _section("People", _people(summary, people, rows)),
        _section("Timelines", _timelines(rows, events, people)),
        _section("Strongest moments", _moments(rows, events, video)),
        _section("Data quality", _quality(rows, video)),
        _section("Settings and provenance", _provenance(metadata)),
    ]
    inputs = rows["input"].unique()
    lead = (f"{len(inputs)} input{'s' if len(inputs) != 1 else ''} · {len(summary)} people · "
            f"{len(rows):,} rows · {len(events):,} events")  # fmt: skip
    return _page(title, lead, sections)


def _people(summary: pd.DataFrame, people: pd.DataFrame, rows: pd.DataFrame) -> str:
    if summary.empty:
        return "<p>No identified face in these results.</p>"
    shown = summary[[c for c in SUMMARY_COLUMNS if c in summary.columns]].copy()
    shown["input"] = shown["input"].map(lambda s: Path(str(s)).name)
    note = ("<p class=note>Rates are shares of the person's frames; expressivity is the mean intensity of "
            "the non-eye AUs (0–5); valence and arousal run from −1 to 1; head speed in deg/s; gaze dispersion "
            f"in deg. Full definitions: docs/events.md (mien summarize). {TRUST_LEGEND}.</p>")  # fmt: skip
    faces = []
    for _, person in people.iterrows():
        mean = {code: person[f"{code}_mean"] for code in AU_CODES}
        figure = plots.face(mean, title=f"{Path(str(person['input'])).name} · person {int(person['face_id'])}", size=3.2)
        faces.append(_figure(figure, f"mean AU intensity of person {int(person['face_id'])}", dpi=80))
    return _table(shown) + note + "<h3>Mean AU intensity on the face</h3><div class=row>" + "".join(faces) + "</div>"


def _timelines(rows: pd.DataFrame, events: pd.DataFrame, people: pd.DataFrame) -> str:
    if people.empty:
        return "<p>No identified face to draw.</p>"
    parts = []
    for _, person in people.iterrows():
        figure = plots.timeline(rows, events, int(person["face_id"]), person["input"])
        parts.append(_figure(figure, f"timeline of person {int(person['face_id'])}", dpi=96))
    longest = rows["timestamp"].max() - rows["timestamp"].min() if len(rows) else 0
    note = (f"<p class=note>Each timeline is drawn from at most {plots.BINS} equal time spans (the mean of "
            f"the frames in each; empty spans are gaps){' — this input is long enough for that to apply' if longest > 60 else ''}. "
            f"Events: a bar from onset to offset; action-unit episodes one row per AU. {TRUST_LEGEND}.</p>")  # fmt: skip
    return note + "".join(parts)


def _moments(rows: pd.DataFrame, events: pd.DataFrame, video) -> str:
    chosen = events[events["kind"].isin(MOMENT_KINDS)]
    if chosen.empty:
        return "<p>No expression, compound, micro-expression or pain episode was found.</p>"
    # Strongest first: the peak relative to the kind's scale (probabilities 0-1, PSPI 0-16, AU 0-5).
    scale = chosen["kind"].map({"pain": 16.0, "micro_expression": 5.0}).fillna(1.0)
    chosen = chosen.assign(strength=chosen["peak"] / scale).sort_values("strength", ascending=False).head(MOMENTS)
    faces = rows[rows["face_score"].notna()]
    moments, captions = [], []
    from mien.report.montage import Moment, cut_faces

    for _, event in chosen.iterrows():
        person = faces[(faces["input"] == event["input"]) & (faces["face_id"] == event["face_id"])]
        nearest = person.iloc[int(np.argmin(np.abs(person["timestamp"].to_numpy() - event["apex"])))]
        moments.append(Moment(float(nearest["timestamp"]), tuple(float(nearest[c]) for c in ("face_x", "face_y", "face_w", "face_h"))))
        captions.append(f"{event['kind'].replace('_', ' ')}: {str(event['label']).replace('_', ' ')} · person "
                        f"{event['face_id']} · {event['onset']:.2f}–{event['offset']:.2f} s (apex {event['apex']:.2f} s) · "
                        f"peak {event['peak']:.2f}")  # fmt: skip
    source = _video_for(rows, video)
    pictures = []
    if source is not None:
        try:
            pictures = cut_faces(source, moments)
        except Exception as error:  # an unreadable video costs the pictures, not the report
            pictures, source = [], None
            failure = f"{type(error).__name__}: {error}"
    tiles = []
    for k, caption in enumerate(captions):
        picture = pictures[k] if k < len(pictures) else None
        image = _png(picture, caption) if picture is not None else "<div class=missing>no picture</div>"
        tiles.append(f"<figure class=tile>{image}<figcaption>{html.escape(caption)}</figcaption></figure>")
    where = (f"<p class=note>Cut from {html.escape(str(source))} at each episode's apex.</p>" if source is not None
             else "<p class=note>The video is not at hand (pass <code>--video</code>), so the moments are listed "
                  f"without pictures{': ' + html.escape(failure) if 'failure' in locals() else ''}.</p>")  # fmt: skip
    return where + "<div class=row>" + "".join(tiles) + "</div>"


def _video_for(rows: pd.DataFrame, video) -> Path | None:
    if video is not None:
        return Path(video) if Path(video).is_file() else None
    inputs = rows["input"].unique()
    if len(inputs) == 1 and Path(str(inputs[0])).is_file():
        return Path(str(inputs[0]))
    return None


def _quality(rows: pd.DataFrame, video) -> str:
    frames = rows.drop_duplicates(["input", "frame"])
    with_face = rows[rows["face_score"].notna()].drop_duplicates(["input", "frame"])
    faces = rows[rows["face_score"].notna()]
    extreme = (faces["pose_yaw"].abs() > EXTREME_YAW) | (faces["pose_pitch"].abs() > EXTREME_PITCH)
    facts = [("frames in the table", f"{len(frames):,}"),
             ("frames with a face", f"{len(with_face):,} ({len(with_face) / max(len(frames), 1):.1%})"),
             ("face rows not yet identified (first frames of a face)", f"{int((faces['face_id'] < 0).sum()):,}"),
             ("detection score: mean / 5th percentile",
              f"{faces['face_score'].mean():.3f} / {faces['face_score'].quantile(0.05):.3f}" if len(faces) else "–"),
             (f"extreme head poses (|yaw| > {EXTREME_YAW:.0f}° or |pitch| > {EXTREME_PITCH:.0f}°)",
              f"{int(extreme.sum()):,} ({extreme.mean():.1%})" if len(faces) else "–")]  # fmt: skip
    gaps = 0
    for _, one in frames.groupby("input"):
        steps = np.diff(np.sort(one["timestamp"].to_numpy()))
        if len(steps):
            gaps += int((steps > 1.5 * np.median(steps)).sum())
    facts.append(("jumps in the timestamps (> 1.5 frame steps: frames lost to decode errors or variable rate)", f"{gaps:,}"))
    source = _video_for(rows, video)
    if source is not None and rows["input"].nunique() == 1:
        declared = _declared_frames(source)
        if declared:
            lost = max(declared - len(frames), 0)
            facts.append(("frames the video container declares / lost", f"{declared:,} / {lost:,}"))
    figure = Figure(figsize=(7.5, 2.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.hist(faces["face_score"].dropna(), bins=40, range=(0, 1), color="#457b9d")
    left.set_xlabel("detection score", fontsize=8)
    left.set_ylabel("face rows", fontsize=8)
    right.hist(faces["pose_yaw"].dropna(), bins=60, range=(-90, 90), color="#e63946", alpha=0.7, label="yaw")
    right.hist(faces["pose_pitch"].dropna(), bins=60, range=(-90, 90), color="#2a9d8f", alpha=0.7, label="pitch")
    right.set_xlabel("head angle (deg)", fontsize=8)
    right.legend(fontsize=7, frameon=False)
    table = "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in facts) + "</table>"
    return table + _figure(figure, "detection scores and head angles", dpi=80)


def _declared_frames(video: Path) -> int | None:
    import av

    try:
        with av.open(str(video)) as container:
            return int(container.streams.video[0].frames) or None
    except Exception:
        return None


def _provenance(metadata: dict[str, str]) -> str:
    rows = [("report made by", f"mien {__version__}, {time.strftime('%Y-%m-%d %H:%M')}"),
            ("results made by", f"mien {metadata.get('mien_version', 'unknown')}")]  # fmt: skip
    settings = _json(metadata.get("mien_settings"))
    if settings:
        rows.append(("settings", ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))))
    for name, model in (_json(metadata.get("mien_models")) or {}).items():
        rows.append((f"model {name}", f"{model.get('file')} · sha256 {model.get('sha256')} · {model.get('source')}"))
    if len(rows) == 2:
        rows.append(("note", "the results file carries no settings (CSV and JSON lines keep no metadata)"))
    return "<table class=kv>" + "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
                               for k, v in rows) + "</table>"  # fmt: skip


def _json(text: str | None) -> dict | None:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


# -- the study report ----------------------------------------------------------------------------


def study_people(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Per-person summaries of every finished input of a batch folder, with the manifest's
    metadata as columns; also the catalog and the results' metadata (settings, models)."""
    from mien.batch.catalog import read_catalog

    catalog = read_catalog(folder)
    summaries, metadata = [], {}
    for _, entry in catalog[catalog["status"] == "done"].iterrows():
        rows, metadata = read_rows(folder / entry["frames_file"])
        events_path = folder / str(entry["events_file"])
        events = pd.read_parquet(events_path) if events_path.is_file() else events_from_rows(rows)
        summary = summarize(rows, events)
        for name, value in (_json(entry["metadata"]) or {}).items():
            summary[name] = value
        summaries.append(summary)
    people = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    return people, catalog, metadata


def _study_page(folder: Path, title: str) -> str:
    people, catalog, metadata = study_people(folder)
    done = catalog[catalog["status"] == "done"]
    manifest = sorted({k for m in catalog["metadata"] for k in (_json(m) or {})})
    sections = [
        _section("Inputs", _inputs(catalog, manifest)),
        _section("People", _study_people(people, manifest)),
        _section("Comparisons", _comparisons(people, manifest)),
        _section("Settings and provenance", _provenance(metadata)),
    ]
    lead = (f"{len(catalog)} inputs ({len(done)} analysed, {int((catalog['status'] == 'failed').sum())} failed) · "
            f"{len(people)} people · metadata: {', '.join(manifest) or 'none'}")  # fmt: skip
    return _page(title, lead, sections)


def _inputs(catalog: pd.DataFrame, manifest: list[str]) -> str:
    shown = catalog[["path", "status", "frames", "seconds", "error", "stopped_at"]].copy()
    shown["path"] = shown["path"].map(lambda s: Path(str(s)).name)
    for name in manifest:
        shown[name] = catalog["metadata"].map(lambda m: (_json(m) or {}).get(name))
    return _table(shown)


def _study_people(people: pd.DataFrame, manifest: list[str]) -> str:
    if people.empty:
        return "<p>No identified face in the finished inputs.</p>"
    shown = people[[c for c in SUMMARY_COLUMNS[:2] + manifest + SUMMARY_COLUMNS[2:] if c in people.columns]].copy()
    shown["input"] = shown["input"].map(lambda s: Path(str(s)).name)
    return _table(shown)


def _comparisons(people: pd.DataFrame, manifest: list[str]) -> str:
    """Box plots of AU and expression rates, one box per value of each metadata column."""
    # A column is compared when it splits people into 2-24 groups and some group holds several
    # people (one person per value is a list, which the people table already is).
    groupings = [name for name in manifest if name in people.columns and 2 <= people[name].nunique() <= 24
                 and people[name].value_counts().max() >= 2]  # fmt: skip
    if people.empty or not groupings:
        return ("<p>Nothing to compare: comparisons need a manifest column (e.g. condition, participant) with "
                "2–24 different values among the analysed inputs and several people for at least one of them "
                "(mien batch manifest.csv).</p>")  # fmt: skip
    au_rates = [f"{code}_rate" for code in AU_CODES]
    # The AUs that happen: the 8 with the highest mean rate over everyone.
    top_aus = list(people[au_rates].mean().sort_values(ascending=False).index[:8])
    parts = []
    for name in groupings:
        for label, measures in (("action unit rates", top_aus), ("expression rates", COMPARE_EMOTIONS)):
            parts.append(f"<h3>{html.escape(label)} by {html.escape(name)}</h3>")
            parts.append(_figure(_boxes(people, name, measures), f"{label} by {name}", dpi=96))
    note = ("<p class=note>One box per value (quartiles, whiskers at 1.5 IQR, dots: people). A rate is the share "
            "of a person's frames in which an AU is present (intensity ≥ 1) or an expression is the most probable.</p>")
    return note + "".join(parts)


def _boxes(people: pd.DataFrame, grouping: str, measures: list[str]) -> Figure:
    groups = sorted(people[grouping].dropna().unique(), key=str)
    columns = 4
    lines = -(-len(measures) // columns)
    figure = Figure(figsize=(11, 2.3 * lines), layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    for ax, measure in zip(axes, measures):
        data = [people.loc[people[grouping] == g, measure].dropna().to_numpy() for g in groups]
        ax.boxplot(data, tick_labels=[str(g) for g in groups], widths=0.6, showfliers=False)
        for k, values in enumerate(data):
            ax.scatter(np.full(len(values), k + 1) + np.linspace(-0.12, 0.12, len(values)), values, s=8,
                       color="#e63946", zorder=3)  # fmt: skip
        ax.set_title(measure.replace("_rate", " rate"), fontsize=8)
        ax.set_ylim(-0.03, 1.03)
        ax.tick_params(labelsize=7)
    for ax in axes[len(measures):]:
        ax.axis("off")
    return figure


# -- HTML ----------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{font-size:1em;margin:1.2em 0 .4em} .lead{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:.8em;margin:.5em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.note{color:#666;font-size:.85em} img{max-width:100%} .row{display:flex;flex-wrap:wrap;gap:.8em}
.tile{margin:0;width:200px;font-size:.75em;color:#444} .tile img{height:180px;object-fit:contain;background:#000;width:200px}
.missing{height:180px;background:#eee;display:flex;align-items:center;justify-content:center;color:#888}
.kv td{text-align:left} nav a{margin-right:1em} code{font-size:.95em;white-space:pre-wrap;word-break:break-all}
"""


def _page(title: str, lead: str, sections: list[tuple[str, str]]) -> str:
    nav = "".join(f'<a href="#{_anchor(name)}">{html.escape(name)}</a>' for name, _ in sections)
    body = "".join(f'<section id="{_anchor(name)}"><h2>{html.escape(name)}</h2>{content}</section>'
                   for name, content in sections)  # fmt: skip
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head>'
            f"<body><h1>{html.escape(title)}</h1><p class=lead>{html.escape(lead)}</p><nav>{nav}</nav>{body}"
            f"<p class=note>Made by mien {__version__}.</p></body></html>")  # fmt: skip


def _section(name: str, content: str) -> tuple[str, str]:
    return name, content


def _anchor(name: str) -> str:
    return name.lower().replace(" ", "-")


def _table(frame: pd.DataFrame) -> str:
    def cell(value) -> str:
        if isinstance(value, (float, np.floating)):
            return "–" if not np.isfinite(value) else f"{value:,.2f}"
        return html.escape("–" if value is None else str(value))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(figure: Figure, alt: str, dpi: int = 80) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return _img(buffer.getvalue(), alt)


def _png(picture, alt: str) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return _img(buffer.getvalue(), alt)


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
