"""Matplotlib figures of results: timelines, AU heat-maps, an AU face, event rasters.

Each function returns a ``matplotlib.figure.Figure`` made without pyplot (no global state, no GUI
backend; notebooks display the returned figure). Long inputs are drawn from time bins: a person's
record is cut into at most ``bins`` equal spans and each span shows the mean of its frames (a gap
with no frames stays empty), so a 3-hour table costs the same to draw as a 3-minute one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mien.report.layers import PALETTE
from mien.schema import AU_CODES, AU_NAMES, EMOTIONS, trust_mark

BINS = 600  # time bins per timeline: more than a page's width has pixels for
PANELS = ("expressions", "affect", "aus", "pose", "events")
EMOTION_COLOURS = {"neutral": "#b0b0b0", "happiness": "#f2b701", "surprise": "#3bb2d0", "sadness": "#3366cc",
                   "anger": "#d62728", "disgust": "#2ca02c", "fear": "#9467bd", "contempt": "#8c564b"}  # fmt: skip
EVENT_KINDS = ("blink", "eye_closure", "expression", "micro_expression", "compound", "pain", "action_unit")


def person_rows(rows: pd.DataFrame, face_id: int | None = None, source: str | None = None) -> pd.DataFrame:
    """Rows of identified faces, optionally of one input and one person, in time order."""
    chosen = rows[rows["face_score"].notna() & (rows["face_id"] >= 0)]
    if source is not None:
        chosen = chosen[chosen["input"] == source]
    if face_id is not None:
        chosen = chosen[chosen["face_id"] == face_id]
    return chosen.sort_values("timestamp", kind="stable")


def binned(times: np.ndarray, values: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` (T, K) in at most ``bins`` equal time spans: (centres (B,), means (B, K)).

    NaN values are left out of the means; a span without frames is NaN, so lines break at gaps."""
    values = np.asarray(values, np.float64).reshape(len(times), -1)
    if len(times) == 0:
        return np.zeros(0), np.zeros((0, values.shape[1]))
    start, end = float(np.min(times)), float(np.max(times))
    if len(times) <= bins or end <= start:
        return np.asarray(times, np.float64), values
    edges = np.linspace(start, end, bins + 1)
    which = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, bins - 1)
    finite = np.isfinite(values)
    sums = np.zeros((bins, values.shape[1]))
    counts = np.zeros((bins, values.shape[1]))
    np.add.at(sums, which, np.where(finite, values, 0.0))
    np.add.at(counts, which, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return (edges[:-1] + edges[1:]) / 2, means


def timeline(rows: pd.DataFrame, events: pd.DataFrame | None = None, face_id: int | None = None,
             source: str | None = None, panels: Sequence[str] = PANELS, bins: int = BINS,
             width: float = 11.0) -> Figure:  # fmt: skip
    """One person's record over time, one panel each: expression probabilities (stacked),
    valence and arousal, AU heat-map, head pose (deg), events. x: seconds from the input's start.

    rows: a results table (Result.df); face_id / source: whose record (default: the first person
    of the first input)."""
    unknown = set(panels) - set(PANELS)
    if unknown:
        raise ValueError(f"unknown panels {sorted(unknown)}; choose from {', '.join(PANELS)}")
    person = person_rows(rows, face_id, source)
    if len(person):
        source = person["input"].iloc[0] if source is None else source
        face_id = int(person["face_id"].iloc[0]) if face_id is None else face_id
        person = person[(person["input"] == source) & (person["face_id"] == face_id)]
    heights = {"expressions": 1.6, "affect": 1.2, "aus": 3.2, "pose": 1.3, "events": 1.6}
    figure = Figure(figsize=(width, sum(heights[p] for p in panels) + 0.6), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, height_ratios=[heights[p] for p in panels], squeeze=False)[:, 0]
    times = person["timestamp"].to_numpy(np.float64)
    for ax, panel in zip(axes, panels):
        if panel == "events":
            _events_panel(ax, _events_of(events, source, face_id))
        else:
            _PANELS[panel](ax, times, person, bins, figure)
    axes[-1].set_xlabel("time (s)")
    if len(times):
        axes[-1].set_xlim(float(times.min()), float(times.max()))
    figure.suptitle(f"{_short(source)} · person {face_id}" if len(person) else "no identified face", fontsize=10)
    return figure


def aus(rows: pd.DataFrame, face_id: int | None = None, source: str | None = None, bins: int = BINS,
        width: float = 11.0) -> Figure:  # fmt: skip
    """AU intensities (0-5) of one person as a heat-map: one row per AU, time along x."""
    return timeline(rows, None, face_id, source, panels=("aus",), bins=bins, width=width)


def _expressions_panel(ax, times, person, bins, figure) -> None:
    centres, means = binned(times, person[list(EMOTIONS)].to_numpy(), bins)
    if len(centres):
        ax.stackplot(centres, np.nan_to_num(means).T, colors=[EMOTION_COLOURS[e] for e in EMOTIONS],
                     labels=list(EMOTIONS), linewidth=0)  # fmt: skip
    ax.set_ylim(0, 1)
    ax.set_ylabel("expression\nprobability", fontsize=8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


def _affect_panel(ax, times, person, bins, figure) -> None:
    centres, means = binned(times, person[["valence", "arousal"]].to_numpy(), bins)
    ax.axhline(0, color="#999999", linewidth=0.6)
    ax.plot(centres, means[:, 0], color="#2a9d8f", linewidth=1, label="valence")
    ax.plot(centres, means[:, 1], color="#e76f51", linewidth=1, label="arousal")
    ax.set_ylim(-1, 1)
    ax.set_ylabel("valence /\narousal", fontsize=8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


def _aus_panel(ax, times, person, bins, figure) -> None:
    codes = [c for c in AU_CODES if c in person.columns]
    centres, means = binned(times, person[codes].to_numpy(), bins)
    if len(centres) > 1:
        step = np.median(np.diff(centres)) if len(centres) > 1 else 1.0
        edges = np.r_[centres - step / 2, centres[-1] + step / 2]
        image = ax.pcolormesh(edges, np.arange(len(codes) + 1), np.ma.masked_invalid(means.T), cmap="magma",
                              vmin=0, vmax=5, shading="flat", rasterized=True)  # fmt: skip
        figure.colorbar(image, ax=ax, label="intensity (0-5)", pad=0.01, fraction=0.03)
    ax.set_yticks(np.arange(len(codes)) + 0.5, [f"{c}{trust_mark(c)} {AU_NAMES.get(c, '')}" for c in codes], fontsize=6)
    ax.set_ylim(len(codes), 0)


def _pose_panel(ax, times, person, bins, figure) -> None:
    centres, means = binned(times, person[["pose_yaw", "pose_pitch", "pose_roll"]].to_numpy(), bins)
    for k, (name, colour) in enumerate((("yaw", "#e63946"), ("pitch", "#2a9d8f"), ("roll", "#457b9d"))):
        ax.plot(centres, means[:, k], color=colour, linewidth=1, label=name)
    ax.axhline(0, color="#999999", linewidth=0.6)
    ax.set_ylabel("head (deg)", fontsize=8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


_PANELS = {"expressions": _expressions_panel, "affect": _affect_panel, "aus": _aus_panel, "pose": _pose_panel}


def _events_of(events: pd.DataFrame | None, source, face_id) -> pd.DataFrame:
    if events is None or events.empty:
        return pd.DataFrame(columns=["kind", "label", "onset", "offset"])
    return events[(events["input"] == source) & (events["face_id"] == face_id)]


def _events_panel(ax, events: pd.DataFrame) -> None:
    """One row per kind (action-unit episodes: one row per AU); a bar from onset to offset."""
    rows: list[tuple[str, pd.DataFrame]] = []
    for kind in EVENT_KINDS:
        of_kind = events[events["kind"] == kind]
        if kind == "action_unit":
            rows += [(label, group) for label, group in of_kind.groupby("label")]
        elif len(of_kind):
            rows.append((kind.replace("_", " "), of_kind))
    for y, (name, group) in enumerate(rows):
        colours = [EMOTION_COLOURS.get(str(label), "#555555") for label in group["label"]]
        spans = list(zip(group["onset"], np.maximum(group["offset"] - group["onset"], 0.04)))
        ax.broken_barh(spans, (y + 0.15, 0.7), facecolors=colours, linewidth=0)
    ax.set_yticks(np.arange(len(rows)) + 0.5, [name for name, _ in rows], fontsize=6)
    ax.set_ylim(max(len(rows), 1), 0)
    ax.set_ylabel("events", fontsize=8)
    if not rows:
        ax.text(0.5, 0.5, "no events", transform=ax.transAxes, ha="center", va="center", fontsize=8)


def _short(source) -> str:
    from pathlib import Path

    return Path(str(source)).name


# -- the AU face ---------------------------------------------------------------------------------

# Where each AU acts on MediaPipe's canonical face: mesh vertices at the centre of its region.
AU_REGIONS: dict[str, tuple[int, ...]] = {
    "AU01": (107, 336), "AU02": (63, 293), "AU04": (9, 55, 285), "AU05": (159, 386), "AU06": (50, 280),
    "AU07": (145, 374), "AU09": (196, 419, 6), "AU10": (0, 39, 269), "AU12": (61, 291, 216, 436),
    "AU14": (57, 287), "AU15": (43, 273), "AU17": (175, 199), "AU20": (212, 432), "AU23": (13, 14),
    "AU24": (0, 17), "AU25": (13, 14), "AU26": (152,), "AU28": (17,), "AU43": (159, 145, 386, 374),
    "AU45": (159, 145, 386, 374),
}  # fmt: skip
REGION_RADIUS_CM = 1.1


def face(au_intensities: Mapping[str, float] | pd.Series, title: str | None = None, size: float = 4.5) -> Figure:
    """MediaPipe's canonical (mean) face with each AU's region shaded by its intensity (0-5).

    au_intensities: AU code -> intensity, e.g. ``r.aus.mean()`` or one row of ``r.aus``; AUs left
    out count as 0. Where regions overlap, the stronger AU shows."""
    from matplotlib.tri import Triangulation

    from mien.report.mesh import canonical_face

    vertices, triangles = canonical_face()
    values = {code: float(au_intensities.get(code, 0.0) or 0.0) for code in AU_CODES}
    centroids = vertices[triangles].mean(axis=1)
    shade = np.zeros(len(triangles))
    for code, centres in AU_REGIONS.items():
        near = np.linalg.norm(centroids[:, None, :2] - vertices[list(centres)][None, :, :2], axis=2).min(axis=1)
        inside = near < REGION_RADIUS_CM
        shade[inside] = np.maximum(shade[inside], values.get(code, 0.0))
    figure = Figure(figsize=(size * 1.3, size * 1.15), layout="constrained")
    ax = figure.subplots()
    mesh = Triangulation(vertices[:, 0], vertices[:, 1], triangles)
    shaded = ax.tripcolor(mesh, facecolors=shade, cmap="Reds", vmin=0, vmax=5, edgecolors="none")
    ax.triplot(mesh, color="#9a9a9a", linewidth=0.25)
    # Labels in a column right of the face, each with a leader line to its region, spaced so
    # that neighbouring regions' labels never overlap.
    strongest = sorted(((v, c) for c, v in values.items() if v >= 0.5 and c in AU_REGIONS), reverse=True)[:8]
    anchors = sorted(((vertices[list(AU_REGIONS[c]), :2][np.argmax(vertices[list(AU_REGIONS[c]), 0])], c, v)
                      for v, c in strongest), key=lambda item: -item[0][1])  # fmt: skip
    label_y = 9.0
    for anchor, code, value in anchors:
        label_y = min(label_y, float(anchor[1]))
        ax.annotate(f"{code}{trust_mark(code)} {value:.1f}", tuple(anchor), xytext=(10.5, label_y), fontsize=7, va="center",
                    arrowprops={"arrowstyle": "-", "color": "#444444", "linewidth": 0.6})  # fmt: skip
        label_y -= 1.6
    ax.set_xlim(vertices[:, 0].min() - 0.5, 15.5)
    ax.set_aspect("equal")
    ax.axis("off")
    figure.colorbar(shaded, ax=ax, orientation="horizontal", label="AU intensity (0-5)", shrink=0.7, pad=0.02)
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def person_colour(face_id: int) -> str:
    """The face id's colour in annotated videos, as a hex string."""
    r, g, b = PALETTE[max(face_id, 0) % len(PALETTE)]
    return f"#{r:02x}{g:02x}{b:02x}"


class Plots:
    """``Result.plot``: figures of one result (see mien.report.plots)."""

    def __init__(self, result):
        self._result = result

    def timeline(self, face_id: int | None = None, source: str | None = None, panels: Sequence[str] = PANELS,
                 bins: int = BINS) -> Figure:  # fmt: skip
        """Expressions, valence/arousal, AU heat-map, head pose and events of one person over time."""
        return timeline(self._result.df, self._result.events(), face_id, source, panels, bins)

    def aus(self, face_id: int | None = None, source: str | None = None, bins: int = BINS) -> Figure:
        """AU intensities of one person over time as a heat-map."""
        return aus(self._result.df, face_id, source, bins)

    def face(self, au_intensities: Mapping[str, float] | pd.Series | None = None, title: str | None = None) -> Figure:
        """The canonical face shaded by AU intensity; default: the mean over all identified faces."""
        if au_intensities is None:
            au_intensities = person_rows(self._result.df)[list(AU_CODES)].mean()
            title = title or "mean AU intensity"
        return face(au_intensities, title)
