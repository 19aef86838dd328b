"""What the page's results view needs to follow a job's video: the uploaded media as the browser
plays it, and the per-frame measurements as compact columns (not one JSON object per row: a
19-second clip is 472 rows of 200 columns, and the page wants a few of them as arrays).

The columns come straight from the job's frames Parquet file (the one `mien batch` wrote), read
with only the columns asked for; landmarks are sent for a window of time only, since a long
video's 136 numbers a row are too many to send at once and the overlay needs only the frames
near the playhead."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mien.schema import AU_CODES, EMOTIONS, N_IBUG

# What browsers are told a stored upload is. The stored extension comes from the decoder
# (uploads.probe): an MP4 container is stored as .mov, and "video/quicktime" makes Chromium
# refuse a file it plays as "video/mp4", so every ISO-BMFF extension is sent as MP4.
MEDIA_TYPES = {
    ".mov": "video/mp4", ".mp4": "video/mp4", ".m4v": "video/mp4", ".3gp": "video/mp4",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".ts": "video/mp2t",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".bmp": "image/bmp",
    ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff", ".gif": "image/gif",
}  # fmt: skip

BOX = ["face_x", "face_y", "face_w", "face_h"]
SERIES = ["valence", "arousal", "pspi", *EMOTIONS, *AU_CODES, "pose_yaw", "pose_pitch", "pose_roll", "gaze_yaw",
          "gaze_pitch"]  # fmt: skip


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def frame_columns(frames_file: Path, start: float | None = None, end: float | None = None,
                  landmarks: bool = False) -> dict:  # fmt: skip
    """One entry per row (a face in a frame) of the rows with ``start <= timestamp <= end``
    (seconds; either may be None): ``timestamp``, ``frame``, ``face_id``, ``emotion``, ``box``
    ([x, y, w, h] px), ``series`` {valence, arousal, pspi, each expression's probability, each
    AU's intensity 0-5, head yaw/pitch/roll and gaze yaw/pitch in degrees: a list each}, and
    with ``landmarks`` ``landmarks`` (68 [x, y] pairs flattened, px). Values that were not measured (no face in the frame) are null. Rounded to
    what a screen shows: pixels to 0.1, the rest to 0.001."""
    present = set(pq.read_schema(frames_file).names)
    wanted = ["frame", "timestamp", "face_id", "emotion", *BOX, *(c for c in SERIES if c in present)]
    if landmarks:
        wanted += [f"{axis}_{i}" for i in range(N_IBUG) for axis in "xy"]
    table = pq.read_table(frames_file, columns=[c for c in wanted if c in present])
    keep = None
    if start is not None:
        keep = pc.greater_equal(table["timestamp"], start)
    if end is not None:
        below = pc.less_equal(table["timestamp"], end)
        keep = below if keep is None else pc.and_(keep, below)
    if keep is not None:
        table = table.filter(keep)
    columns = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
    out = {
        "rows": table.num_rows,
        "timestamp": _rounded(columns["timestamp"], 4),
        "frame": [int(v) for v in columns["frame"]],
        "face_id": [None if _missing(v) else int(v) for v in columns["face_id"]],
        "emotion": [v if isinstance(v, str) else None for v in columns.get("emotion", [None] * table.num_rows)],
        "box": _rows_of(np.column_stack([_float(columns.get(c), table.num_rows) for c in BOX]), 1),
        "series": {c: _rounded(columns[c], 3) for c in SERIES if c in columns},
    }
    if landmarks:
        points = [_float(columns.get(f"{axis}_{i}"), table.num_rows) for i in range(N_IBUG) for axis in "xy"]
        out["landmarks"] = _rows_of(np.column_stack(points), 1)
    return out


def _float(values, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.asarray(values, dtype=float)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _rounded(values, digits: int) -> list:
    values = np.round(np.asarray(values, dtype=float), digits)
    return [None if math.isnan(v) else v for v in values.tolist()]


def _rows_of(matrix: np.ndarray, digits: int) -> list:
    """Each row as a list, or None where the row was not measured at all (no face)."""
    matrix = np.round(matrix, digits)
    return [None if np.isnan(row).all() else [None if math.isnan(v) else v for v in row] for row in matrix.tolist()]
