"""The output contract: every column mien writes, defined once.

Column names are public. Renaming one is a breaking change and needs a changelog entry.
``docs/columns.md`` is generated from this module (``python -m mien.schema > docs/columns.md``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # "string", "int64", "int32", "int8", "float64", "float32"
    unit: str
    meaning: str
    group: str


# FACS action units we report, in output order.
AU_CODES = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
    "AU15", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU43", "AU45",
)  # fmt: skip

# AUs of eye closure: an open eye is their zero, and blinks (events) already describe them.
EYE_AUS = ("AU43", "AU45")

AU_NAMES = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU09": "nose wrinkler", "AU10": "upper lip raiser", "AU12": "lip corner puller",
    "AU14": "dimpler", "AU15": "lip corner depressor", "AU17": "chin raiser",
    "AU20": "lip stretcher", "AU23": "lip tightener", "AU24": "lip pressor",
    "AU25": "lips part", "AU26": "jaw drop", "AU28": "lip suck", "AU43": "eyes closed",
    "AU45": "blink",
}  # fmt: skip

# Expression classes, in output order (FER+ order).
EMOTIONS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
# FER2013's original seven labels, in its label order (the expression model's second head).
FER2013_EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")

# MediaPipe Face Landmarker blendshape names, in the model's output order.
BLENDSHAPES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip

N_MESH = 478
N_IBUG = 68


def _identity() -> list[Column]:
    g = "identity"
    return [
        Column("input", "string", "", "The input: file path, or stream id (webcam index or URL).", g),
        Column("frame", "int64", "", "Frame index within the input, 0-based (images: 0).", g),
        Column("timestamp", "float64", "s", "Presentation time of the frame from the container's "
               "timestamps, relative to the stream start (correct for variable frame rate).", g),
        Column("face_id", "int32", "", "Identity of the person within the input (0, 1, ...), kept "
               "through gaps and crossings (docs/events.md); -1 during a new face's first 5 video "
               "frames, before its identity is confirmed, and on rows of frames without a face.", g),
        Column("face_score", "float32", "0-1", "Confidence that this is a face (empty: no face found "
               "in this frame; the row is kept so no frame is silently dropped).", g),
        Column("face_fitted", "int8", "0/1", "1: the landmarker found and fitted this face. 0 (dataset "
               "mode, --faces-are-crops, only): no face could be fitted in the crop; the expressions and "
               "valence/arousal on this row are read from the whole unfitted crop and every landmark "
               "measure is empty. Empty on rows without a face.", g),
    ]  # fmt: skip


def _box() -> list[Column]:
    g = "box"
    return [
        Column("face_x", "float32", "px", "Left edge of the face box (from the landmarks).", g),
        Column("face_y", "float32", "px", "Top edge of the face box.", g),
        Column("face_w", "float32", "px", "Width of the face box.", g),
        Column("face_h", "float32", "px", "Height of the face box.", g),
    ]


def _landmarks68() -> list[Column]:
    g = "landmarks"
    xs = [Column(f"x_{i}", "float32", "px", f"iBUG 68-point landmark {i}, x.", g) for i in range(N_IBUG)]
    ys = [Column(f"y_{i}", "float32", "px", f"iBUG 68-point landmark {i}, y.", g) for i in range(N_IBUG)]
    return xs + ys


def _mesh() -> list[Column]:
    g = "mesh"
    cols = []
    for axis, unit, what in (
        ("x", "px", "x"),
        ("y", "px", "y"),
        ("z", "px", "depth relative to the face centre, same scale as x; smaller is nearer"),
    ):
        cols += [
            Column(f"mesh_{axis}_{i}", "float32", unit, f"MediaPipe mesh point {i}, {what}.", g)
            for i in range(N_MESH)
        ]
    return cols


def _blendshape_columns() -> list[Column]:
    return [
        Column(name, "float32", "0-1", f"MediaPipe blendshape score '{name}'.", "blendshapes")
        for name in BLENDSHAPES
    ]


def _pose() -> list[Column]:
    g = "pose"
    return [
        Column("pose_yaw", "float32", "deg", "Head yaw: positive when the head turns towards the "
               "image's right (the person's left).", g),
        Column("pose_pitch", "float32", "deg", "Head pitch: positive when the head tilts up.", g),
        Column("pose_roll", "float32", "deg", "Head roll: positive when the head tilts towards the "
               "image's right, clockwise as seen in the image.", g),
        Column("pose_tx", "float32", "mm", "Head position right of the optical axis (camera frame, "
               "assuming MediaPipe's default 63° vertical field of view).", g),
        Column("pose_ty", "float32", "mm", "Head position below the optical axis.", g),
        Column("pose_tz", "float32", "mm", "Head distance from the camera along the optical axis.", g),
    ]  # fmt: skip


def _gaze() -> list[Column]:
    g = "gaze"
    return [
        Column("gaze_yaw", "float32", "deg", "Gaze direction in the camera frame, both eyes averaged: "
               "positive when looking towards the image's right.", g),
        Column("gaze_pitch", "float32", "deg", "Gaze direction in the camera frame: positive when "
               "looking up.", g),
    ]  # fmt: skip


def _eyes() -> list[Column]:
    g = "eyes"
    return [
        Column("eye_closure_left", "float32", "0-1", "Closure of the person's left eye from the "
               "eyelid aperture: 0 open, 1 closed.", g),
        Column("eye_closure_right", "float32", "0-1", "Closure of the person's right eye.", g),
    ]  # fmt: skip


def _au_table() -> dict[str, dict]:
    from mien.calibration import load_table

    return load_table()["aus"]


def au_trust() -> dict[str, str]:
    """How far each AU is to be trusted (good, moderate, weak, unvalidated): docs/action_units.md."""
    return {au: entry["trust"] for au, entry in _au_table().items()}


# What an AU's intensity and presence mean, by how the AU is made (stages/aus.py).
_AU_MEANING = {
    "fitted": ("5 × the probability that a FACS coder would code it (an evidence scale, not the "
                     "A-E letter)", "probability ≥ 0.5"),
    "eye_closure": ("from eye closure, 0 at 0.4 to 5 at 0.9", "intensity ≥ 1"),
    "blendshape_ramp": ("a linear ramp of its blendshapes, 0 at the neutral 95th percentile to 5 at "
                        "the overall 99th", "intensity ≥ 1"),
}  # fmt: skip


def trust_mark(au: str) -> str:
    """'*' after an AU that is weak or unvalidated, for labels in plots and videos; '' otherwise."""
    return "*" if au_trust().get(au) in ("weak", "unvalidated") else ""


TRUST_LEGEND = "* weak or unvalidated AU: not shown to work, exploratory only (docs/action_units.md)"

_TRUST_NOTE = {
    "good": "",
    "moderate": " Trust: moderate.",
    "weak": " Trust: WEAK, not shown to work; exploratory only (docs/action_units.md).",
    "unvalidated": " Trust: UNVALIDATED, no evidence either way; exploratory only (docs/action_units.md).",
}


def _aus() -> list[Column]:
    table = _au_table()
    meaning = {au: _AU_MEANING[table[au]["method"]] for au in AU_CODES}
    note = {au: _TRUST_NOTE[table[au]["trust"]] for au in AU_CODES}
    intens = [
        Column(au, "float32", "0-5", f"{au} {AU_NAMES[au]}: {meaning[au][0]}.{note[au]}", "aus")
        for au in AU_CODES
    ]
    present = [
        Column(f"{au}_present", "int8", "0/1", f"{au} {AU_NAMES[au]}: present ({meaning[au][1]}).{note[au]}",
               "au_presence")
        for au in AU_CODES
    ]  # fmt: skip
    return intens + present


def _emotions() -> list[Column]:
    g = "emotions"
    probs = [
        Column(e, "float32", "0-1", f"Probability of the {e} expression (the eight sum to 1).", g)
        for e in EMOTIONS
    ]
    return probs + [Column("emotion", "string", "", "The most probable expression.", g)]


def _affect() -> list[Column]:
    g = "affect"
    return [
        Column("valence", "float32", "-1..1", "Pleasantness, from the expression probabilities "
               "(see docs/affect.md).", g),
        Column("arousal", "float32", "-1..1", "Activation, from the expression probabilities and "
               "action units (see docs/affect.md).", g),
        Column("pspi", "float32", "0-16", "Prkachin-Solomon pain intensity: AU04 + max(AU06 × (1 - "
               "AU12/5), AU07) + max(AU09, AU10) + AU43 present; AU06 counts only without a smile "
               "(docs/action_units.md).", g),
    ]  # fmt: skip


DEFAULT_GROUPS = ("identity", "box", "landmarks", "pose", "gaze", "eyes", "aus", "au_presence",
                  "emotions", "affect")  # fmt: skip
OPTIONAL_GROUPS = ("mesh", "blendshapes")

_BUILDERS = {
    "identity": _identity, "box": _box, "landmarks": _landmarks68, "mesh": _mesh,
    "blendshapes": _blendshape_columns, "pose": _pose, "gaze": _gaze, "eyes": _eyes,
    "aus": lambda: _aus()[: len(AU_CODES)], "au_presence": lambda: _aus()[len(AU_CODES):],
    "emotions": _emotions, "affect": _affect,
}  # fmt: skip

# Where the optional groups go in the column order: after the 68 landmarks.
_ORDER = ("identity", "box", "landmarks", "mesh", "blendshapes", "pose", "gaze", "eyes", "aus",
          "au_presence", "emotions", "affect")  # fmt: skip


def columns(mesh: bool = False, blendshapes: bool = False) -> list[Column]:
    """The columns of a result table, in order, for the given optional groups."""
    return list(_columns(mesh, blendshapes))


@functools.cache  # a row builder per input needs them: thousands of times over a folder of images
def _columns(mesh: bool, blendshapes: bool) -> tuple[Column, ...]:
    wanted = set(DEFAULT_GROUPS) | ({"mesh"} if mesh else set()) | ({"blendshapes"} if blendshapes else set())
    return tuple(col for group in _ORDER if group in wanted for col in _BUILDERS[group]())


def group_names(group: str) -> list[str]:
    """Column names of one group, e.g. ``group_names("aus")``."""
    return [c.name for c in _BUILDERS[group]()]


_ARROW_TYPES = {
    "string": pa.string(), "int64": pa.int64(), "int32": pa.int32(), "int8": pa.int8(),
    "float64": pa.float64(), "float32": pa.float32(),
}  # fmt: skip


def arrow_schema(cols: list[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.dtype]) for c in cols])


def markdown() -> str:
    """docs/columns.md, generated."""
    lines = [
        "# Output columns",
        "",
        "Generated from `src/mien/schema.py` by `python -m mien.schema > docs/columns.md`; do not edit.",
        "One row per face per frame; a frame with no face has one row with empty face columns.",
        "Default groups are always written; `mesh` (`--mesh`) and `blendshapes` (`--blendshapes`) on request.",
        "",
    ]
    for group in _ORDER:
        cols = _BUILDERS[group]()
        optional = " (on request)" if group in OPTIONAL_GROUPS else ""
        lines += [f"## {group}{optional}", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        if len(cols) > 40:  # landmark families: describe the pattern, not every column
            first, last = cols[0], cols[-1]
            lines.append(f"| `{first.name}` … `{last.name}` ({len(cols)} columns) | {first.dtype} | "
                         f"{first.unit} | {first.meaning} |")  # fmt: skip
        else:
            lines += [f"| `{c.name}` | {c.dtype} | {c.unit} | {c.meaning} |" for c in cols]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
