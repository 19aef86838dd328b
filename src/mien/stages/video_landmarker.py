"""MediaPipe's VIDEO-mode Face Landmarker, reproduced with the bundle's networks, its faces fitted
on every core.

MediaPipe fits the faces of a frame one after another on one thread: a frame with 8 faces cost
6.3x a frame with one, and the second core waited (benchmarks/batching.py). Here each step of its
VIDEO-mode graph is done as MediaPipe does it (face_landmarker_graph.cc,
face_landmarks_detector_graph.cc), with the networks of stages/face_networks.py:

- the detector runs only while fewer faces are tracked than looked for; its regions replace the
  tracked regions they overlap by more than min_tracking_confidence (IoU; the detector's win);
- each face is fitted in the region its previous landmarks give: their box's centre, turned so
  that landmarks 33 and 263 (the outer eye corners) are level, 1.5x its longer side, square;
- a face whose presence score falls below min_face_presence_confidence is lost;
- while exactly one face is looked for, its landmarks are smoothed by MediaPipe's One Euro filter
  (min cutoff 0.05, beta 80, derivative cutoff 1, scaled by the face's size) and the blendshapes
  and the pose matrix are computed from the smoothed landmarks; the next region comes from the
  raw ones.

The faces of a frame are shared among threads, each with networks of its own (LiteRT releases
the GIL). tests/test_video_landmarker.py holds the results to MediaPipe's own on video.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mien.stages.face_geometry import FaceGeometry
from mien.stages.face_networks import FaceNetworks, Region

# Threads fitting a frame's faces (the caller's included): one a core, at most 4.
FITTERS = max(1, min(4, os.cpu_count() or 1))
# MediaPipe's region for the next frame (ConfigureFaceDetectionsToRectsCalculator,
# ConfigureFaceRectTransformationCalculator): the outer eye corners, scale 1.5, square.
EYE_CORNERS = (33, 263)
NEXT_REGION_SCALE = 1.5


def region_from_landmarks(landmarks: np.ndarray) -> Region:
    """The region in which MediaPipe looks for a face in the next frame, from (478, 3) px landmarks."""
    low, high = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    start, end = landmarks[EYE_CORNERS[0], :2], landmarks[EYE_CORNERS[1], :2]
    angle = -math.atan2(-(float(end[1]) - float(start[1])), float(end[0]) - float(start[0]))
    angle = (angle + math.pi) % (2 * math.pi) - math.pi  # MediaPipe's NormalizeRadians
    centre = (low + high) / 2
    return Region(float(centre[0]), float(centre[1]), NEXT_REGION_SCALE * float((high - low).max()), angle)


def _square_iou(a: Region, b: Region) -> float:
    """IoU of two regions' upright squares (MediaPipe's association ignores the rotation)."""
    overlap_x = max(0.0, min(a.x + a.side / 2, b.x + b.side / 2) - max(a.x - a.side / 2, b.x - b.side / 2))
    overlap_y = max(0.0, min(a.y + a.side / 2, b.y + b.side / 2) - max(a.y - a.side / 2, b.y - b.side / 2))
    shared = overlap_x * overlap_y
    return shared / (a.side**2 + b.side**2 - shared) if shared > 0 else 0.0


def associate(tracked: list[Region], detected: list[Region], min_similarity: float) -> list[Region]:
    """MediaPipe's AssociationNormRectCalculator: the detected regions, in order, each replacing
    the tracked regions it overlaps by more than ``min_similarity``."""
    kept = list(tracked)
    for region in detected:
        kept = [other for other in kept if _square_iou(other, region) <= min_similarity]
        kept.append(region)
    return kept


class OneEuroLandmarks:
    """MediaPipe's LandmarksSmoothingCalculator with its face landmarker settings: a One Euro
    filter on every coordinate (pixels; z on the x scale), its speed measured in face sizes."""

    MIN_CUTOFF, BETA, DERIVATIVE_CUTOFF, FREQUENCY = 0.05, 80.0, 1.0, 30.0

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._last_seconds: float | None = None
        self._frequency = self.FREQUENCY
        self._raw = self._value = self._speed = None

    @staticmethod
    def _alpha(cutoff, frequency: float):
        return 1.0 / (1.0 + frequency / (2 * math.pi * cutoff))

    def __call__(self, seconds: float, landmarks: np.ndarray) -> np.ndarray:
        values = landmarks.astype(np.float64)
        if self._last_seconds is not None:
            if seconds <= self._last_seconds:
                return landmarks  # MediaPipe leaves a timestamp that does not advance unfiltered
            self._frequency = 1.0 / (seconds - self._last_seconds)
        self._last_seconds = seconds
        size = (np.ptp(values[:, 0]) + np.ptp(values[:, 1])) / 2  # GetObjectScale
        if self._raw is None:
            self._raw, self._value, self._speed = values, values, np.zeros_like(values)
            return landmarks
        speed = (values - self._raw) / size * self._frequency
        self._speed = self._speed + self._alpha(self.DERIVATIVE_CUTOFF, self._frequency) * (speed - self._speed)
        alpha = self._alpha(self.MIN_CUTOFF + self.BETA * np.abs(self._speed), self._frequency)
        self._value = self._value + alpha * (values - self._value)
        self._raw = values
        return self._value.astype(np.float32)


class VideoLandmarker:
    """Faces of consecutive video frames: landmarks (N, 478, 3) px, blendshapes (N, 52), pose
    matrices (N, 4, 4), as MediaPipe's VIDEO-mode Face Landmarker gives them. Call ``reset()``
    before each video; use from one thread at a time."""

    def __init__(self, task_path: str, min_confidence: float = 0.5, fitters: int = FITTERS):
        self.min_confidence = min_confidence
        self._networks = [FaceNetworks(task_path) for _ in range(fitters)]  # one per thread
        self._geometry = FaceGeometry(task_path)
        self._pool = ThreadPoolExecutor(fitters - 1, thread_name_prefix="mien-faces") if fitters > 1 else None
        self._smoother = OneEuroLandmarks()
        self._tracked: list[Region] = []

    @property
    def networks(self) -> FaceNetworks:
        """The calling thread's networks (the detector's too)."""
        return self._networks[0]

    def reset(self) -> None:
        self._tracked = []
        self._smoother.reset()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __call__(self, image: np.ndarray, seconds: float, looking_for: int):
        regions = self._tracked
        if len(regions) < looking_for:
            found = self.networks.detect(image, self.min_confidence)[:looking_for]
            regions = associate(regions, [d.region() for d in found], self.min_confidence)
        regions = regions[:looking_for]
        smooth = looking_for == 1  # MediaPipe smooths only a single face's landmarks
        fitted = self._fit_all(image, regions, measure=not smooth)
        self._tracked = [region_from_landmarks(raw) for raw, _, _ in fitted]
        if smooth:
            if not fitted:
                self._smoother.reset()  # MediaPipe's filter starts afresh once the face is lost
            else:
                landmarks = self._smoother(seconds, fitted[0][0])
                fitted = [(landmarks, *self._measured(self.networks, landmarks, image))]
        if not fitted:
            return np.zeros((0, 478, 3), np.float32), np.zeros((0, 52), np.float32), np.zeros((0, 4, 4), np.float32)
        landmarks, blendshapes, transforms = (np.stack(column) for column in zip(*fitted))
        return landmarks, blendshapes, transforms

    def _fit_all(self, image: np.ndarray, regions: list[Region], measure: bool) -> list[tuple]:
        """Each region's face (raw landmarks, blendshapes, matrix; the last two None unless
        ``measure``), the faces shared among the threads; faces not present are left out."""
        threads = min(len(self._networks), len(regions))
        fitted: list = [None] * len(regions)
        if threads <= 1 or self._pool is None:
            self._fit_next(self.networks, image, regions, measure, iter(range(len(regions))), fitted)
        else:
            # Each thread takes the next face as soon as it is free, rather than a fixed share:
            # a thread the scheduler slows (the analysis thread competes for the cores) then
            # fits fewer faces instead of keeping the others waiting at the end of the frame.
            order = iter(range(len(regions)))  # next() on it is atomic under the GIL
            helpers = [self._pool.submit(self._fit_next, networks, image, regions, measure, order, fitted)
                       for networks in self._networks[1:threads]]  # fmt: skip
            self._fit_next(self.networks, image, regions, measure, order, fitted)
            for helper in helpers:
                helper.result()
        return [face for face in fitted if face is not False]

    def _fit_next(self, networks: FaceNetworks, image: np.ndarray, regions: list[Region], measure: bool,
                  order, fitted: list) -> None:  # fmt: skip
        """Fit regions[k] for each k taken from ``order`` into fitted[k]; False where the face is lost."""
        for k in order:
            landmarks, presence = networks.mesh(image, regions[k])
            if presence < self.min_confidence:
                fitted[k] = False
            elif measure:
                fitted[k] = (landmarks, *self._measured(networks, landmarks, image))
            else:
                fitted[k] = (landmarks, None, None)

    def _measured(self, networks: FaceNetworks, landmarks: np.ndarray, image: np.ndarray) -> tuple:
        return networks.blendshapes(landmarks), self._geometry.transform(landmarks, image.shape[1], image.shape[0])
