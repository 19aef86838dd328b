"""Per-person and per-input summaries of a results table (``Result.summary()``, ``mien summarize``).

Per person (input, face_id) — or per input, all its people together:
* ``seconds_visible``: time the face was in the picture (frame gaps over 0.5 s count as absence);
* per AU: ``AUxx_mean``, ``AUxx_peak`` (95th percentile, robust to single-frame glitches) and
  ``AUxx_rate`` (share of frames where the AU is present, as ``AUxx_present``);
* per expression: ``<emotion>_mean``, ``<emotion>_peak`` and ``<emotion>_rate`` (share of frames
  where it is the most probable expression);
* ``expressivity``: mean over frames of the mean intensity of the non-eye AUs (0-5);
* ``blinks_per_minute`` (from blink events per minute visible), ``valence_mean``, ``arousal_mean``;
* head movement: standard deviation of yaw, pitch and roll (deg) and mean angular speed (deg/s);
* ``gaze_dispersion``: root-mean-square distance of gaze direction from its mean (deg);
* ``pspi_mean``, ``pspi_peak``.
Rows of faces not yet identified (face_id -1) are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mien.schema import AU_CODES, EMOTIONS, EYE_AUS
from mien.stages.aus import presence

ABSENCE_S = 0.5
PEAK_QUANTILE = 0.95
_EXPRESSIVE_AUS = [au for au in AU_CODES if au not in EYE_AUS]


def summarize(rows: pd.DataFrame, events: pd.DataFrame, per: str = "person") -> pd.DataFrame:
    """One row per person (per="person") or per input (per="input")."""
    if per not in ("person", "input"):
        raise ValueError(f"per must be 'person' or 'input', not {per!r}")
    faces = rows[rows["face_score"].notna() & (rows["face_id"] >= 0)]
    keys = ["input", "face_id"] if per == "person" else ["input"]
    summaries = [_summary(group, events, dict(zip(keys, key if isinstance(key, tuple) else (key,))))
                 for key, group in faces.groupby(keys, sort=True)]  # fmt: skip
    return pd.DataFrame(summaries)


def _summary(face: pd.DataFrame, events: pd.DataFrame, key: dict) -> dict:
    out = dict(key)
    if "face_id" not in key:
        out["people"] = face["face_id"].nunique()
    out["frames"] = len(face)
    seconds = _seconds_visible(face)
    out["seconds_visible"] = seconds
    present = presence(face[list(AU_CODES)].to_numpy(np.float32))
    for au in AU_CODES:
        values = face[au].to_numpy(np.float64)
        out[f"{au}_mean"], out[f"{au}_peak"] = np.nanmean(values), np.nanquantile(values, PEAK_QUANTILE)
        out[f"{au}_rate"] = float(np.mean(present[:, AU_CODES.index(au)]))
    top = face["emotion"]
    for emotion in EMOTIONS:
        values = face[emotion].to_numpy(np.float64)
        out[f"{emotion}_mean"], out[f"{emotion}_peak"] = np.nanmean(values), np.nanquantile(values, PEAK_QUANTILE)
        out[f"{emotion}_rate"] = float((top == emotion).mean())
    out["expressivity"] = float(face[_EXPRESSIVE_AUS].mean(axis=1).mean())
    blinks = _events_of(events, key, "blink")
    out["blinks"] = len(blinks)
    out["blinks_per_minute"] = len(blinks) / (seconds / 60) if seconds > 0 else np.nan
    out["valence_mean"], out["arousal_mean"] = face["valence"].mean(), face["arousal"].mean()
    for angle in ("yaw", "pitch", "roll"):
        out[f"head_{angle}_sd"] = face[f"pose_{angle}"].std()
    out["head_speed_mean"] = _angular_speed(face)
    gaze = face[["gaze_yaw", "gaze_pitch"]].to_numpy(np.float64)
    out["gaze_dispersion"] = float(np.sqrt(np.nanmean(np.sum((gaze - np.nanmean(gaze, axis=0)) ** 2, axis=1))))
    out["pspi_mean"], out["pspi_peak"] = face["pspi"].mean(), face["pspi"].quantile(PEAK_QUANTILE)
    return out


def _seconds_visible(face: pd.DataFrame) -> float:
    """Sum of the frame-to-frame steps of each person, counting gaps over ABSENCE_S as absence."""
    total = 0.0
    for _, person in face.groupby("face_id"):
        times = np.sort(person["timestamp"].to_numpy())
        steps = np.diff(times)
        typical = float(np.median(steps)) if len(steps) else 0.0
        total += float(steps[steps <= ABSENCE_S].sum()) + typical  # the last frame lasts one step too
    return total


def _angular_speed(face: pd.DataFrame) -> float:
    """Mean head rotation speed (deg/s) over consecutive frames of each person."""
    speeds = []
    for _, person in face.groupby("face_id"):
        person = person.sort_values("timestamp")
        angles = person[["pose_yaw", "pose_pitch", "pose_roll"]].to_numpy(np.float64)
        dt = np.diff(person["timestamp"].to_numpy())
        moved = np.linalg.norm(np.diff(angles, axis=0), axis=1)
        keep = (dt > 0) & (dt <= ABSENCE_S)
        speeds.append(moved[keep] / dt[keep])
    joined = np.concatenate(speeds) if speeds else np.zeros(0)
    return float(np.nanmean(joined)) if len(joined) else np.nan


def _events_of(events: pd.DataFrame, key: dict, kind: str) -> pd.DataFrame:
    chosen = events["kind"] == kind
    for column, value in key.items():
        chosen &= events[column] == value
    return events[chosen]
