"""The two objects that flow through the pipeline: a decoded Frame and the Faces found in it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mien.schema import AU_CODES, BLENDSHAPES, N_MESH


@dataclass
class Frame:
    """One decoded image.

    image: H×W×3 uint8 RGB, already upright (EXIF or container rotation applied).
    timestamp: seconds from the stream start, from the container's presentation times.
    scale: analysed pixels per original pixel (< 1 when a huge image was downscaled for analysis);
        coordinates are reported in original pixels.
    """

    source: str
    index: int
    timestamp: float
    image: np.ndarray
    scale: float = 1.0


@dataclass
class Faces:
    """All faces of one frame, as columnar arrays (leading dimension N = number of faces).

    Stages fill the fields they provide; a field is None until its stage has run.
    Coordinates are in the pixels of ``Frame.image``.
    """

    scores: np.ndarray  # (N,) face confidence 0-1
    landmarks: np.ndarray  # (N, 478, 3) px; z in the same scale as x, relative depth
    blendshapes: np.ndarray | None = None  # (N, 52) MediaPipe blendshape scores
    transforms: np.ndarray | None = None  # (N, 4, 4) canonical face model -> camera (MediaPipe)
    boxes: np.ndarray | None = None  # (N, 4) x, y, w, h px
    face_ids: np.ndarray | None = None  # (N,) int, -1 until tracking assigns identities
    crops: np.ndarray | None = None  # (N, 48, 48, 3) uint8 aligned face crops, cut once (face_crop.aligned_crops)
    pose: np.ndarray | None = None  # (N, 6) yaw, pitch, roll (deg), tx, ty, tz (mm)
    gaze: np.ndarray | None = None  # (N, 2) yaw, pitch (deg)
    eye_closure: np.ndarray | None = None  # (N, 2) left, right 0-1
    aus: np.ndarray | None = None  # (N, n_aus) intensity 0-5, order of schema.AU_CODES
    emotions: np.ndarray | None = None  # (N, 8) probabilities, order of schema.EMOTIONS
    affect: np.ndarray | None = None  # (N, 2) valence, arousal
    pspi: np.ndarray | None = None  # (N,)
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Faces:
        return cls(
            scores=np.zeros(0, np.float32),
            landmarks=np.zeros((0, N_MESH, 3), np.float32),
            blendshapes=np.zeros((0, len(BLENDSHAPES)), np.float32),
            transforms=np.zeros((0, 4, 4), np.float32),
            boxes=np.zeros((0, 4), np.float32),
        )

    @classmethod
    def concatenate(cls, parts: list[Faces]) -> Faces:
        """Faces of several detections of one frame, before the measuring stages have run."""
        return cls(
            scores=np.concatenate([p.scores for p in parts]),
            landmarks=np.concatenate([p.landmarks for p in parts]),
            blendshapes=np.concatenate([p.blendshapes for p in parts]),
            transforms=np.concatenate([p.transforms for p in parts]),
            boxes=np.concatenate([p.boxes for p in parts]),
        )

    @classmethod
    def unmeasured(cls, image_shape: tuple[int, ...]) -> Faces:
        """One face filling the whole image whose landmark measures are unknown (NaN)."""
        height, width = image_shape[:2]
        nan = np.float32(np.nan)
        return cls(
            scores=np.full(1, nan, np.float32),
            landmarks=np.full((1, N_MESH, 3), nan, np.float32),
            blendshapes=np.full((1, len(BLENDSHAPES)), nan, np.float32),
            transforms=np.full((1, 4, 4), nan, np.float32),
            boxes=np.array([[0, 0, width, height]], np.float32),
            pose=np.full((1, 6), nan, np.float32),
            gaze=np.full((1, 2), nan, np.float32),
            eye_closure=np.full((1, 2), nan, np.float32),
            aus=np.full((1, len(AU_CODES)), nan, np.float32),
            pspi=np.full(1, nan, np.float32),
        )
