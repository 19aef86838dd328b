"""The Face Landmarker bundle's three networks run directly with LiteRT, without MediaPipe's graph.

MediaPipe's IMAGE-mode graph costs ~15 ms a face crop, most of it around the networks, which need
~7 ms together, and its VIDEO-mode graph fits a frame's faces one after another on one core.
Dataset mode (one face per image) and video (stages/video_landmarker.py) run them here: the
BlazeFace detector on the whole image, the region of interest MediaPipe derives from its
detection, the 478-point mesh network on that region and the blendshape network on 146 of the
points. Each step reproduces MediaPipe's (the same warps, anchors, weighted suppression, rotation
and 1.5x square region), so the results agree with the MediaPipe path to a fraction of a pixel
(tests/test_crop_landmarker.py, tests/test_video_landmarker.py); the pose matrix comes from
stages/face_geometry.py.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import cv2
import numpy as np

from mien.native_logging import native_stderr_silenced

DETECTOR_SIDE = 128  # BlazeFace short-range input
MESH_SIDE = 256  # the mesh network's input
ROI_SCALE = 1.5  # MediaPipe widens the detector's box by half on each axis, then squares it
SUPPRESSION_OVERLAP = 0.3  # detections overlapping the best by more are averaged into it

# The 146 mesh points the blendshape network reads, in its order (MediaPipe's
# face_blendshapes_graph.cc, kLandmarksSubsetIdxs).
BLENDSHAPE_POINTS = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66,
    67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145,
    146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176,
    178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285,
    288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334,
    336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387,
    388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474,
    475, 476, 477])  # fmt: skip


def _detector_anchors() -> np.ndarray:
    """Anchor centres (896, 2) of BlazeFace short-range: 2 per cell of a 16x16 grid, then 6 per
    cell of an 8x8 grid (MediaPipe's SSD anchor options for this model; all anchors 1x1)."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        cells = (np.arange(grid) + 0.5) / grid
        x, y = np.meshgrid(cells, cells)
        centres.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


ANCHORS = _detector_anchors()


@dataclass
class Region:
    """A square, rotated region of an image in pixels: centre, side, rotation (radians)."""

    x: float
    y: float
    side: float
    angle: float

    def to_image(self, out_side: int) -> np.ndarray:
        """2x3 affine map from the pixels of an out_side-square crop of the region to the image's,
        as MediaPipe's ImageToTensor builds it."""
        cos, sin, scale = np.cos(self.angle), np.sin(self.angle), self.side / out_side
        linear = np.array([[cos * scale, -sin * scale], [sin * scale, cos * scale]])
        offset = np.array([self.x, self.y]) - linear @ np.array([out_side / 2, out_side / 2])
        return np.hstack([linear, offset[:, None]])

    def crop(self, image: np.ndarray, out_side: int, border: int) -> np.ndarray:
        return cv2.warpAffine(image, self.to_image(out_side), (out_side, out_side),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border)  # fmt: skip


@dataclass
class Detection:
    score: float
    box: np.ndarray  # x0, y0, x1, y1 in pixels
    keypoints: np.ndarray  # (6, 2) in pixels: right eye, left eye, nose, mouth, right ear, left ear

    def region(self) -> Region:
        """MediaPipe's face region from a detection: the box's centre, rotated so that the eyes
        are level, widened 1.5x and squared on the long side."""
        (x0, y0, x1, y1), eyes = self.box, self.keypoints[:2]
        angle = -np.arctan2(-(eyes[1, 1] - eyes[0, 1]), eyes[1, 0] - eyes[0, 0])
        return Region((x0 + x1) / 2, (y0 + y1) / 2, ROI_SCALE * max(x1 - x0, y1 - y0), float(angle))


class _Network:
    """One LiteRT interpreter, its tensors' indices looked up once (asking for them on every run
    cost ~50 us with the GIL held, three runs a face)."""

    def __init__(self, interpreter):
        interpreter.allocate_tensors()
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        self._outputs = [output["index"] for output in interpreter.get_output_details()]

    def __call__(self, tensor: np.ndarray) -> list[np.ndarray]:
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(index) for index in self._outputs]


class FaceNetworks:
    """Detector, mesh and blendshape networks of one Face Landmarker bundle (one thread at a time)."""

    def __init__(self, task_path: str, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        with zipfile.ZipFile(task_path) as bundle, native_stderr_silenced():  # LiteRT logs its setup
            self._detector, self._mesh, self._blendshapes = (
                _Network(Interpreter(model_content=bundle.read(name), num_threads=threads))
                for name in ("face_detector.tflite", "face_landmarks_detector.tflite", "face_blendshapes.tflite"))  # fmt: skip

    def detect(self, image: np.ndarray, min_score: float) -> list[Detection]:
        """The faces of an RGB image scoring at least ``min_score``, most confident first."""
        # The detector sees the whole image letterboxed into its square input (black bars).
        height, width = image.shape[:2]
        whole = Region(width / 2, height / 2, max(width, height), 0.0)
        view = whole.crop(image, DETECTOR_SIDE, cv2.BORDER_CONSTANT)
        regressors, logits = self._detector((view.astype(np.float32) / 127.5 - 1.0)[None])
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0].astype(np.float64), -100.0, 100.0)))
        confident = np.flatnonzero(scores >= min_score)
        confident = confident[np.argsort(-scores[confident], kind="stable")]
        values = regressors[0, confident] / DETECTOR_SIDE
        centres = values[:, :2] + ANCHORS[confident]
        boxes = np.concatenate([centres - values[:, 2:4] / 2, centres + values[:, 2:4] / 2], axis=1)
        keypoints = values[:, 4:16].reshape(-1, 6, 2) + ANCHORS[confident, None, :]
        scores = scores[confident]
        corner = np.array([whole.x, whole.y]) - whole.side / 2  # the letterboxed square's, in pixels
        # Weighted suppression, as MediaPipe's: the best detection left and every one overlapping
        # it become one face, their score-weighted mean; repeat with what is left.
        found, left = [], np.arange(len(scores))
        while len(left):
            best = left[0]
            low, high = np.maximum(boxes[best, :2], boxes[left, :2]), np.minimum(boxes[best, 2:], boxes[left, 2:])
            shared = np.prod(np.clip(high - low, 0.0, None), axis=1)
            areas = np.prod(boxes[left, 2:] - boxes[left, :2], axis=1)
            overlapping = shared / (areas + areas[0] - shared) > SUPPRESSION_OVERLAP
            members = left[overlapping]
            weights = scores[members] / scores[members].sum()
            box = (weights[:, None] * boxes[members]).sum(axis=0) * whole.side + np.tile(corner, 2)
            points = (weights[:, None, None] * keypoints[members]).sum(axis=0) * whole.side + corner
            found.append(Detection(float(scores[best]), box, points))
            left = left[~overlapping]
        return found

    def mesh(self, image: np.ndarray, region: Region) -> tuple[np.ndarray, float]:
        """(478, 3) landmarks in the image's pixels (z on the x scale) and the presence score."""
        view = region.crop(image, MESH_SIDE, cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
        points, presence, _ = self._mesh(view[None])
        points = points.reshape(-1, 3)
        to_image = region.to_image(MESH_SIDE)
        landmarks = np.empty_like(points)
        landmarks[:, :2] = points[:, :2] @ to_image[:, :2].T + to_image[:, 2]
        landmarks[:, 2] = points[:, 2] * region.side / MESH_SIDE
        return landmarks, 1.0 / (1.0 + float(np.exp(-np.clip(float(presence.ravel()[0]), -100.0, 100.0))))

    def blendshapes(self, landmarks: np.ndarray) -> np.ndarray:
        """(52,) blendshape scores of one face's landmarks in pixels."""
        return self._blendshapes(landmarks[BLENDSHAPE_POINTS, :2][None].astype(np.float32))[0]
