"""A results table read back frame by frame, as the drawing layers need it.

Rows arrive as Arrow batches (from a Parquet file or a Result's table) in frame order; each batch
is turned into numpy arrays once and cut into frames, so memory holds one batch, never the whole
table of a long video.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mien.schema import AU_CODES, EMOTIONS, N_IBUG, N_MESH

BOX = ["face_x", "face_y", "face_w", "face_h"]
POINTS = [f"{axis}_{i}" for i in range(N_IBUG) for axis in ("x", "y")]
MESH = [f"mesh_{axis}_{i}" for i in range(N_MESH) for axis in ("x", "y")]
POSE = ["pose_yaw", "pose_pitch", "pose_roll"]
GAZE = ["gaze_yaw", "gaze_pitch"]
NEEDED = ["input", "frame", "timestamp", "face_id", "face_score", *BOX, *POINTS, *POSE, *GAZE,
          *EMOTIONS, *AU_CODES]  # fmt: skip

# Event kinds shown as captions, and how each reads; AU episodes are left to the AU bars.
CAPTIONS = {
    "blink": lambda label: "blink",
    "eye_closure": lambda label: "eyes closed",
    "expression": lambda label: label,
    "micro_expression": lambda label: f"micro-expression {label}",
    "pain": lambda label: "pain",
    "compound": lambda label: label.replace("_", " "),
}


@dataclass
class FrameFaces:
    """The faces of one frame (N faces); measures are NaN where a face was not measured.

    boxes (N, 4) x, y, w, h px; ids (N,); scores (N,) 0-1; points (N, 68, 2) iBUG px;
    mesh (N, 478, 2) px or None; pose (N, 3) yaw, pitch, roll deg; gaze (N, 2) yaw, pitch deg;
    emotions (N, 8) probabilities in schema.EMOTIONS order; aus (N, n) intensity 0-5 in
    schema.AU_CODES order; captions: per face, the events going on at this frame.
    """

    frame: int
    timestamp: float
    boxes: np.ndarray
    ids: np.ndarray
    scores: np.ndarray
    points: np.ndarray
    mesh: np.ndarray | None
    pose: np.ndarray
    gaze: np.ndarray
    emotions: np.ndarray
    aus: np.ndarray
    captions: list[list[str]]

    def __len__(self) -> int:
        return len(self.ids)


def columns_to_read(available: Iterable[str], mesh: bool) -> list[str]:
    """The columns drawing needs, of those the table has (the mesh only when asked for)."""
    have = set(available)
    wanted = NEEDED + (MESH if mesh else [])
    return [name for name in wanted if name in have]


def frames_of(batches: Iterable[pa.RecordBatch], source: str | None = None,
              events: pd.DataFrame | None = None) -> Iterator[FrameFaces]:  # fmt: skip
    """FrameFaces of every frame with at least one face, in frame order.

    batches: rows of a mien results table (any column order, extra columns ignored);
    source: keep only the rows of this input (None: the table holds one input);
    events: the input's events table, for captions (None: no captions).
    """
    captions = _Captions(events, source)
    pending: list[dict[str, np.ndarray]] = []
    for batch in batches:
        arrays = _arrays(batch, source)
        if arrays is None:
            continue
        frames = arrays["frame"]
        # The last frame of a batch may go on in the next one: hold it back until then.
        last = frames[-1]
        whole = frames != last
        if whole.any():
            ready = _concat(pending + [{k: v[whole] for k, v in arrays.items()}])
            pending = []
            yield from _split(ready, captions)
        pending.append({k: v[~whole] for k, v in arrays.items()})
    if pending:
        yield from _split(_concat(pending), captions)


def _arrays(batch: pa.RecordBatch, source: str | None) -> dict[str, np.ndarray] | None:
    names = batch.schema.names
    if source is not None and "input" in names:
        keep = pc.equal(batch.column("input"), source)
        batch = batch.filter(keep)
    scores = batch.column("face_score").to_numpy(zero_copy_only=False).astype(np.float32)
    keep = np.isfinite(scores)
    if not keep.any():
        return None

    def numbers(columns: list[str]) -> np.ndarray:
        present = [batch.column(c).to_numpy(zero_copy_only=False) if c in names else np.full(len(scores), np.nan)
                   for c in columns]  # fmt: skip
        return np.column_stack(present).astype(np.float32)[keep]

    arrays = {
        "frame": batch.column("frame").to_numpy(zero_copy_only=False)[keep],
        "timestamp": batch.column("timestamp").to_numpy(zero_copy_only=False)[keep],
        "ids": batch.column("face_id").to_numpy(zero_copy_only=False).astype(np.int32)[keep],
        "scores": scores[keep],
        "boxes": numbers(BOX),
        "points": numbers(POINTS).reshape(-1, N_IBUG, 2),
        "pose": numbers(POSE),
        "gaze": numbers(GAZE),
        "emotions": numbers(list(EMOTIONS)),
        "aus": numbers(list(AU_CODES)),
    }
    if MESH[0] in names:
        arrays["mesh"] = numbers(MESH).reshape(-1, N_MESH, 2)
    return arrays


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if len(p["frame"])]
    if not parts:
        return {}
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _split(arrays: dict[str, np.ndarray], captions: _Captions) -> Iterator[FrameFaces]:
    if not arrays:
        return
    frames = arrays["frame"]
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(frames)]):
        rows = slice(start, end)
        ids = arrays["ids"][rows]
        timestamp = float(arrays["timestamp"][start])
        yield FrameFaces(
            frame=int(frames[start]), timestamp=timestamp, boxes=arrays["boxes"][rows], ids=ids,
            scores=arrays["scores"][rows], points=arrays["points"][rows],
            mesh=arrays["mesh"][rows] if "mesh" in arrays else None, pose=arrays["pose"][rows],
            gaze=arrays["gaze"][rows], emotions=arrays["emotions"][rows], aus=arrays["aus"][rows],
            captions=captions.at(timestamp, ids),
        )  # fmt: skip


class _Captions:
    """Which events are going on at a time, per face: onset <= t < offset."""

    def __init__(self, events: pd.DataFrame | None, source: str | None):
        if events is None or events.empty:
            self.onsets = np.zeros(0)
            return
        chosen = events[events["kind"].isin(list(CAPTIONS))]
        if source is not None:
            chosen = chosen[chosen["input"] == source]
        self.onsets = chosen["onset"].to_numpy(np.float64)
        self.offsets = chosen["offset"].to_numpy(np.float64)
        self.faces = chosen["face_id"].to_numpy(np.int64)
        self.texts = [CAPTIONS[kind](str(label)) for kind, label in zip(chosen["kind"], chosen["label"])]

    def at(self, time: float, ids: np.ndarray) -> list[list[str]]:
        if not len(self.onsets):
            return [[] for _ in ids]
        going = np.flatnonzero((self.onsets <= time) & (time < self.offsets))
        return [[self.texts[i] for i in going if self.faces[i] == face] for face in ids]
