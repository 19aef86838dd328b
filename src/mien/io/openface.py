"""OpenFace 2.x compatible CSV: OpenFace's column names, units and conventions.

OpenFace writes ", " between fields, frames from 1, angles in radians, pose in a camera frame with
x right, y down, z forward (rotations right-handed about those axes), and AU intensities `_r`
(0-5) and presences `_c` (0/1). Columns OpenFace has and mien does not measure (eye-region
landmarks, 3-D landmarks, shape parameters, gaze vectors) are left out.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# OpenFace 2.x action units: intensity for these, presence for these plus AU28.
OPENFACE_AU_INTENSITY = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
                         "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")  # fmt: skip
OPENFACE_AU_PRESENCE = tuple(sorted(OPENFACE_AU_INTENSITY + ("AU28",)))


def openface_columns(batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    """OpenFace columns, in OpenFace's order, from a mien batch."""
    col = {name: batch.column(name).to_numpy(zero_copy_only=False) for name in batch.schema.names}
    success = ~np.isnan(col["face_score"].astype(np.float64))
    radians = np.radians
    out: dict[str, np.ndarray] = {
        "frame": col["frame"] + 1,
        "face_id": np.where(col["face_id"] < 0, 0, col["face_id"]),
        "timestamp": col["timestamp"],
        "confidence": np.nan_to_num(col["face_score"]),
        "success": success.astype(np.int8),
        "gaze_angle_x": radians(col["gaze_yaw"]),
        "gaze_angle_y": -radians(col["gaze_pitch"]),
        "pose_Tx": col["pose_tx"], "pose_Ty": col["pose_ty"], "pose_Tz": col["pose_tz"],
        # mien: yaw + towards image right, pitch + up, roll + clockwise in the image
        "pose_Rx": -radians(col["pose_pitch"]), "pose_Ry": -radians(col["pose_yaw"]),
        "pose_Rz": radians(col["pose_roll"]),
    }  # fmt: skip
    for axis in ("x", "y"):
        for i in range(68):
            out[f"{axis}_{i}"] = col[f"{axis}_{i}"]
    for au in OPENFACE_AU_INTENSITY:
        out[f"{au}_r"] = col[au]
    for au in OPENFACE_AU_PRESENCE:
        out[f"{au}_c"] = col[f"{au}_present"]
    return out


def format_rows(columns: dict[str, np.ndarray]) -> str:
    """CSV text (no header) with OpenFace's ", " separator; empty fields where no face was found."""
    formatted = []
    for name, values in columns.items():
        values = np.asarray(values)
        if values.dtype.kind == "f":
            text = np.char.mod("%.3f" if name != "timestamp" else "%.6f", values.astype(np.float64))
            text[np.isnan(values.astype(np.float64))] = ""
        else:
            text = np.array([("" if v is None else str(v)) for v in values], dtype=object)
        formatted.append(text.astype(object))
    return "".join(", ".join(row) + "\n" for row in zip(*formatted))
