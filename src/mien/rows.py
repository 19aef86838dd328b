"""Faces of each frame -> columnar Arrow batches laid out as schema.py says."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mien import schema
from mien.frame import Faces, Frame
from mien.schema import AU_CODES, EMOTIONS
from mien.stages.aus import presence
from mien.stages.landmarks68 import ibug68


def _face_values(frame: Frame, faces: Faces, mesh: bool, blendshapes: bool) -> np.ndarray:
    """(N, F) float32 measurements in the order of RowBuilder.float_columns."""
    unscale = 1.0 / frame.scale  # back to the original image's pixels
    points = ibug68(faces.landmarks) * unscale
    fitted = np.isfinite(faces.landmarks[:, :, 0]).all(axis=1)[:, None]  # unfitted dataset crops: NaN
    parts = [faces.scores[:, None], fitted, faces.boxes * unscale, points[:, :, 0], points[:, :, 1]]
    if mesh:
        full = faces.landmarks * unscale
        parts += [full[:, :, 0], full[:, :, 1], full[:, :, 2]]
    if blendshapes:
        parts.append(faces.blendshapes)
    parts += [faces.pose, faces.gaze, faces.eye_closure, faces.aus, faces.emotions, faces.affect,
              faces.pspi[:, None]]  # fmt: skip
    return np.concatenate(parts, axis=1, dtype=np.float32)


class RowBuilder:
    """Collects frames and hands out Arrow record batches; a frame with no face gives one empty row."""

    def __init__(self, mesh: bool = False, blendshapes: bool = False):
        self.mesh = mesh
        self.blendshapes = blendshapes
        self.columns = schema.columns(mesh=mesh, blendshapes=blendshapes)
        self.schema = schema.arrow_schema(self.columns)
        non_float = {"input", "frame", "timestamp", "face_id", "emotion"} | {f"{au}_present" for au in AU_CODES}
        self.float_columns = [c.name for c in self.columns if c.name not in non_float]
        self._reset()

    def _reset(self) -> None:
        self._inputs: list[str] = []
        self._frames: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, frame: Frame, faces: Faces) -> None:
        n = len(faces)
        if n == 0:
            values = np.full((1, len(self.float_columns)), np.nan, np.float32)
            ids = np.full(1, -1, np.int32)
        else:
            values = _face_values(frame, faces, self.mesh, self.blendshapes)
            ids = faces.face_ids if faces.face_ids is not None else np.full(n, -1, np.int32)
        rows = len(values)
        self._inputs.append(frame.source)
        self._frames.append(np.full(rows, frame.index, np.int64))
        self._times.append(np.full(rows, frame.timestamp, np.float64))
        self._ids.append(ids.astype(np.int32))
        self._values.append(values)
        self._rows += rows

    def flush(self) -> pa.RecordBatch | None:
        if not self._values:
            return None
        values = np.concatenate(self._values)
        inputs = np.concatenate([np.full(len(v), s, dtype=object) for s, v in zip(self._inputs, self._values)])
        by_name = {name: values[:, i] for i, name in enumerate(self.float_columns)}
        aus = np.stack([by_name[au] for au in AU_CODES], axis=1)
        emotions = np.stack([by_name[e] for e in EMOTIONS], axis=1)
        no_emotion = np.isnan(emotions).any(axis=1)
        arrays = {
            "input": pa.array(inputs, pa.string()),
            "frame": pa.array(np.concatenate(self._frames)),
            "timestamp": pa.array(np.concatenate(self._times)),
            "face_id": pa.array(np.concatenate(self._ids)),
            "emotion": pa.array(np.array(EMOTIONS, dtype=object)[np.nan_to_num(emotions).argmax(axis=1)],
                                pa.string(), mask=no_emotion),  # fmt: skip
        }
        present = presence(aus)
        for i, au in enumerate(AU_CODES):
            arrays[f"{au}_present"] = pa.array(present[:, i], pa.int8(), mask=np.isnan(aus[:, i]))
        fitted = by_name.pop("face_fitted")
        arrays["face_fitted"] = pa.array(np.nan_to_num(fitted).astype(np.int8), pa.int8(), mask=np.isnan(fitted))
        for name, column in by_name.items():
            arrays[name] = pa.array(column, pa.float32(), from_pandas=True)  # NaN -> null
        self._reset()
        return pa.RecordBatch.from_arrays([arrays[c.name] for c in self.columns], schema=self.schema)
