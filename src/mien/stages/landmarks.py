"""Faces, 478-point mesh, blendshapes and pose matrix: MediaPipe Face Landmarker, plus a face score.

Stills go through MediaPipe's own IMAGE-mode graph. Video frames and dataset-mode crops go
through the bundle's networks run directly (stages/video_landmarker.py, stages/face_networks.py),
which give MediaPipe's results and fit a frame's faces on every core; where LiteRT is missing
(no wheel for the platform) video falls back to MediaPipe's VIDEO-mode graph.

The Face Landmarker does not report how sure it is that a face is there, so the BlazeFace detector
from the same bundle scores faces: on every still image, and on video every ``score_every`` frames,
10 by default (a face keeps the score of the latest detection it overlapped most, 0 if the detector
did not see it). Running it on every video frame would cost 8% of the throughput.
"""

from __future__ import annotations

import zipfile

import numpy as np
from PIL import Image

from mien.frame import Faces, Frame
from mien.interrupts import uninterruptible
from mien.native_logging import native_stderr_silenced
from mien.schema import N_MESH
from mien.stages.boxes import box_iou, boxes_from_landmarks
from mien.stages.face_geometry import VERTICAL_FOV_DEG, FaceGeometry
from mien.stages.face_networks import FaceNetworks
from mien.stages.landmarker_results import LandmarkerArrays, landmarker_arrays
from mien.stages.video_landmarker import VideoLandmarker


def _tasks():
    """MediaPipe's task API, imported when first needed: the import takes 0.6 s (it pulls in
    matplotlib), and dataset mode, which runs the networks itself, seldom needs it."""
    from mediapipe.tasks.python import BaseOptions, vision

    return BaseOptions, vision


def _srgb(image: np.ndarray):
    """An RGB array as MediaPipe's image type."""
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=image)


# Dataset mode: a mid-grey border (fraction of the crop's side) and the size the framed crop is
# enlarged to. On FER2013 this finds 97% of faces against 88% for the bare crop; grey beats
# replicated edges (92%) (tools/fer_landmark_stats.py, "compare").
CROP_BORDER = 0.5
CROP_MIN_SIDE = 256


# The scoring detector's threshold: low, because it gives weak faces a score rather than filtering.
SCORING_CONFIDENCE = 0.05

# Tiles smaller than this hold faces below ~40 px, too small to measure anything useful.
SMALLEST_TILE = 160


def _tile_starts(length: int, tile: int) -> list[int]:
    """Offsets of tiles overlapping by half, the last one flush with the end."""
    starts = list(range(0, max(length - tile, 0) + 1, tile // 2))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.3):
    """(box, score) pairs, best first, dropping boxes that overlap a better one."""
    kept: list[int] = []
    for i in np.argsort(-scores):
        if not kept or box_iou(boxes[[i]], boxes[kept]).max() <= overlap:
            kept.append(int(i))
    return [(boxes[i], float(scores[i])) for i in kept]


def _unscored_faces(landmarks: np.ndarray, blendshapes: np.ndarray, transforms: np.ndarray) -> Faces:
    """Faces from landmarks in pixels, their boxes around the landmarks; scores 0 until the
    scoring detector's are given."""
    return Faces(scores=np.zeros(len(landmarks), np.float32), landmarks=landmarks, blendshapes=blendshapes,
                 transforms=transforms, boxes=boxes_from_landmarks(landmarks))  # fmt: skip


def _faces_from_result(found: LandmarkerArrays, width: int, height: int) -> Faces:
    """The landmarker's arrays (normalised coordinates) -> Faces in pixels."""
    if len(found.landmarks) == 0:
        return Faces.empty()
    landmarks = found.landmarks * np.array([width, height, width], np.float32)
    return _unscored_faces(landmarks, found.blendshapes, found.transforms)


def _enlarged(image: np.ndarray) -> tuple[np.ndarray, float]:
    """A square-ish cut-out enlarged (bicubic) to at least CROP_MIN_SIDE, and the zoom used."""
    zoom = max(1.0, CROP_MIN_SIDE / image.shape[0])
    if zoom > 1.0:
        size = (round(image.shape[1] * zoom), round(image.shape[0] * zoom))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
    return np.ascontiguousarray(image), zoom


def framed_crop(crop: np.ndarray) -> tuple[np.ndarray, float, int]:
    """A face crop framed as the detector expects a face: a grey border of CROP_BORDER, enlarged
    to CROP_MIN_SIDE. Returns the image, its zoom and the border's width in crop pixels."""
    pad = int(round(CROP_BORDER * max(crop.shape[:2])))
    framed, zoom = _enlarged(np.pad(crop, ((pad, pad), (pad, pad), (0, 0)), constant_values=128))
    return framed, zoom, pad


def _one_face_back(faces: Faces, index: int, zoom: float, left: float, top: float) -> Faces:
    """Face ``index`` of an enlarged cut-out whose corner was at (left, top), in the source's pixels."""
    keep = [index]
    landmarks = faces.landmarks[keep] / zoom
    landmarks[:, :, 0] += left
    landmarks[:, :, 1] += top
    return Faces(scores=faces.scores[keep], landmarks=landmarks, blendshapes=faces.blendshapes[keep],
                 transforms=faces.transforms[keep], boxes=boxes_from_landmarks(landmarks))  # fmt: skip


def _translation_in_source(transforms: np.ndarray, cut_shape: tuple[int, ...], zoom: float, left: float,
                           top: float, source_shape: tuple[int, ...]) -> np.ndarray:  # fmt: skip
    """Pose matrices of faces fitted in an enlarged cut-out, with the head position moved into the
    camera of the whole image: the face is re-projected to where it lies in the source and its
    distance scaled by how much smaller it looks there (rotation is kept: the cut-out's own view
    direction differs by a few degrees at most)."""
    moved = transforms.copy()
    focal_cut = cut_shape[0] / 2 / np.tan(np.radians(VERTICAL_FOV_DEG / 2))
    focal_source = source_shape[0] / 2 / np.tan(np.radians(VERTICAL_FOV_DEG / 2))
    x, y, z = (transforms[:, i, 3] for i in range(3))  # OpenGL camera: y up, looking down -z
    depth_cut = -z
    u = (cut_shape[1] / 2 + focal_cut * x / depth_cut) / zoom + left  # source pixels
    v = (cut_shape[0] / 2 - focal_cut * y / depth_cut) / zoom + top
    depth = depth_cut * zoom * focal_source / focal_cut
    moved[:, 0, 3] = (u - source_shape[1] / 2) * depth / focal_source
    moved[:, 1, 3] = -(v - source_shape[0] / 2) * depth / focal_source
    moved[:, 2, 3] = -depth
    return moved


def _detector_from_bundle(task_path: str) -> bytes:
    with zipfile.ZipFile(task_path) as bundle:
        return bundle.read("face_detector.tflite")


class FaceLandmarker:
    """Stage: Frame -> Faces with scores, landmarks, blendshapes, transforms and boxes.

    One instance analyses one input at a time: call ``start(still=...)`` before each input and
    ``close()`` when done (MediaPipe tasks left open print errors when Python exits).

    On video, MediaPipe runs its detector on every frame while it tracks fewer faces than it was
    told to look for, which costs a third of the speed when one person is filmed. So the
    landmarker starts looking for as many faces as the scoring detector sees (at least one) and
    looks for more, up to ``max_faces``, when the detector sees more faces than are tracked (the
    MediaPipe graph is rebuilt then; the direct path starts its tracking afresh, as a rebuilt
    graph would).
    """

    def __init__(self, task_path: str, max_faces: int = 8, score_every: int = 10,
                 min_confidence: float = 0.5):  # fmt: skip
        self.task_path = task_path
        self.max_faces = max_faces
        self.score_every = max(1, score_every)
        self.min_confidence = min_confidence
        self._detector_model = _detector_from_bundle(task_path)
        self._landmarker = None
        self._detector = None
        self._still = True
        self._looking_for = max_faces
        self._seen = 1  # faces the latest scoring detection saw, within max_faces (at least one)
        self._quiet_next = True
        self._last_detections = np.zeros((0, 4), np.float32)
        self._last_scores = np.zeros(0, np.float32)
        self._last_ms = -1
        # Dataset mode's direct path, made on first use (False: LiteRT is missing on this platform).
        self._networks: FaceNetworks | bool | None = None
        self._geometry: FaceGeometry | None = None
        # Video's direct path (stages/video_landmarker.py), made on first use and kept for later
        # videos; None while the input is not a video or LiteRT is missing.
        self._video: VideoLandmarker | None = None
        self._video_kept: VideoLandmarker | bool | None = None
        # Faces the detector saw in the latest frame beyond ``max_faces``: not analysed, but counted
        # so that a cap is never silent.
        self.beyond_limit = 0

    @uninterruptible  # a graph abandoned half-made crashes the process later
    def start(self, still: bool) -> None:
        """Prepare for a new input: stills are analysed independently, video frames as a sequence."""
        if still and self._still and self._landmarker is not None:
            return  # stills are independent: one IMAGE-mode landmarker serves them all
        self.close()
        self._still = still
        self._last_detections = np.zeros((0, 4), np.float32)
        self._last_scores = np.zeros(0, np.float32)
        self._last_ms = -1
        if not still and self._video_networks() is not None:
            self._video = self._video_kept
            self._video.reset()
            self._looking_for = 0  # known after the first scoring detection
            return
        BaseOptions, vision = _tasks()
        mode = vision.RunningMode.IMAGE if still else vision.RunningMode.VIDEO
        with native_stderr_silenced():
            self._detector = vision.FaceDetector.create_from_options(
                vision.FaceDetectorOptions(
                    base_options=BaseOptions(model_asset_buffer=self._detector_model),
                    running_mode=mode,
                    min_detection_confidence=SCORING_CONFIDENCE,
                )
            )
        self._build_landmarker(self.max_faces if still else 0)

    def _video_networks(self) -> VideoLandmarker | None:
        """The direct video path, made once; None where LiteRT is missing (MediaPipe's graph then)."""
        if self._video_kept is None:
            try:
                self._video_kept = VideoLandmarker(self.task_path, self.min_confidence)
            except ImportError:  # no LiteRT wheel for this platform (Intel macOS)
                self._video_kept = False
        return self._video_kept or None

    @uninterruptible
    def _build_landmarker(self, faces: int) -> None:
        """(Re)create the landmarker looking for ``faces`` faces; 0: not yet known (built lazily)."""
        if self._landmarker is not None:
            with native_stderr_silenced():
                self._landmarker.close()
            self._landmarker = None
        self._looking_for = faces
        self._quiet_next = True  # the first run of a new graph logs too
        if faces == 0:
            return
        BaseOptions, vision = _tasks()
        mode = vision.RunningMode.IMAGE if self._still else vision.RunningMode.VIDEO
        with native_stderr_silenced():
            self._landmarker = vision.FaceLandmarker.create_from_options(
                vision.FaceLandmarkerOptions(
                    base_options=BaseOptions(model_asset_path=self.task_path),
                    running_mode=mode,
                    num_faces=faces,
                    min_face_detection_confidence=self.min_confidence,
                    min_face_presence_confidence=self.min_confidence,
                    min_tracking_confidence=self.min_confidence,
                    output_face_blendshapes=True,
                    output_facial_transformation_matrixes=True,
                )
            )

    @uninterruptible
    def close(self) -> None:
        """End this input's MediaPipe tasks (the video path's networks are kept for the next)."""
        for task in (self._landmarker, self._detector):
            if task is not None:
                with native_stderr_silenced():  # LiteRT logs its teardown
                    task.close()
        self._landmarker = self._detector = self._video = None

    def _timestamp_ms(self, frame: Frame) -> int:
        # VIDEO mode needs strictly increasing integer milliseconds; equal or jittered pts happen.
        ms = max(int(round(frame.timestamp * 1000)), self._last_ms + 1)
        self._last_ms = ms
        return ms

    def __call__(self, frame: Frame, search_small_faces: bool = True) -> Faces:
        if self._detector is None and self._video is None:
            self.start(still=True)
        if self._video is not None:
            return self._video_faces(frame)
        height, width = frame.image.shape[:2]
        image = _srgb(frame.image)
        ms = None if self._still else self._timestamp_ms(frame)
        if ms is None or frame.index % self.score_every == 0 or self._landmarker is None:
            self._detect(image, ms)
            self._count_detected()
            if self._looking_for_more():
                self._build_landmarker(self._seen)
        with native_stderr_silenced(self._quiet_next):
            found = landmarker_arrays(self._landmarker, image, ms)
        # The blendshape graph first runs (and logs) on the first frame with a face.
        self._quiet_next = self._quiet_next and not len(found.landmarks)
        faces = _faces_from_result(found, width, height)
        faces.scores = self._scores_for(faces.boxes)
        if ms is None and search_small_faces and len(faces) < self.max_faces:
            faces = self._add_small_faces(frame.image, faces)
        return faces

    def _count_detected(self) -> None:
        """After a scoring detection: faces beyond max_faces, and how many to look for."""
        detected = int((self._last_scores >= self.min_confidence).sum())
        self.beyond_limit = max(0, detected - self.max_faces)
        self._seen = min(self.max_faces, max(1, detected))

    def _looking_for_more(self) -> bool:
        return self._seen > self._looking_for

    def _video_faces(self, frame: Frame) -> Faces:
        """A video frame through the bundle's networks (stages/video_landmarker.py): MediaPipe's
        VIDEO-mode results, the faces fitted on every core."""
        ms = self._timestamp_ms(frame)
        if frame.index % self.score_every == 0 or self._looking_for == 0:
            found = self._video.networks.detect(frame.image, SCORING_CONFIDENCE)
            self._last_detections = np.array([(*d.box[:2], *(d.box[2:] - d.box[:2])) for d in found],
                                             np.float32).reshape(-1, 4)  # fmt: skip
            self._last_scores = np.array([d.score for d in found], np.float32)
            self._count_detected()
            if self._looking_for_more():
                # MediaPipe's graph was rebuilt for more faces here: tracking started afresh.
                self._video.reset()
                self._looking_for = self._seen
        faces = _unscored_faces(*self._video(frame.image, ms / 1000.0, self._looking_for))
        faces.scores = self._scores_for(faces.boxes)
        return faces

    def _add_small_faces(self, image: np.ndarray, faces: Faces) -> Faces:
        """Stills: find faces too small for the detector's 128-px view of the whole image.

        The detector runs on overlapping tiles of half and a quarter of the image's short side;
        each new face is cut out with its surroundings, enlarged, and given to the landmarker.
        """
        height, width = image.shape[:2]
        boxes, scores = [], []
        for tile in (min(height, width) // 2, min(height, width) // 4):
            if tile < SMALLEST_TILE:
                break
            for top in _tile_starts(height, tile):
                for left in _tile_starts(width, tile):
                    window = np.ascontiguousarray(image[top : top + tile, left : left + tile])
                    found = self._detector.detect(_srgb(window))
                    for d in found.detections:
                        if d.categories[0].score >= self.min_confidence:
                            b = d.bounding_box
                            boxes.append((b.origin_x + left, b.origin_y + top, b.width, b.height))
                            scores.append(d.categories[0].score)
        known = [faces] if len(faces) else []
        left_out = 0
        for box, score in _non_maximum_suppression(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores)):
            if any(box_iou(box[None], f.boxes).max() > 0.2 for f in known):
                continue
            if sum(len(f) for f in known) >= self.max_faces:
                left_out += 1  # a face the limit leaves out (an estimate: detected, not fitted)
                continue
            face = self._landmarks_in_region(image, box)
            if face is not None and not any(box_iou(face.boxes, f.boxes).max() > 0.3 for f in known):
                face.scores[:] = score
                known.append(face)
        # The whole-image detection's count and the tiles' see mostly the same faces: the larger.
        self.beyond_limit = max(self.beyond_limit, left_out)
        return Faces.concatenate(known) if known else faces

    def _landmarks_in_region(self, image: np.ndarray, box: np.ndarray) -> Faces | None:
        """The face inside a detector box, fitted on an enlarged cut-out of twice the box's size."""
        size = int(round(2.0 * max(box[2], box[3])))
        left = int(round(box[0] + box[2] / 2 - size / 2))
        top = int(round(box[1] + box[3] / 2 - size / 2))
        cut = np.full((size, size, 3), 128, np.uint8)
        src_top, src_left = max(top, 0), max(left, 0)
        src_bottom, src_right = min(top + size, image.shape[0]), min(left + size, image.shape[1])
        cut[src_top - top : src_bottom - top, src_left - left : src_right - left] = image[src_top:src_bottom, src_left:src_right]
        cut, zoom = _enlarged(cut)
        found = landmarker_arrays(self._landmarker, _srgb(cut))
        faces = _faces_from_result(found, cut.shape[1], cut.shape[0])
        if len(faces) == 0:
            return None
        nearest = int(np.argmin(np.abs(faces.boxes[:, :2] + faces.boxes[:, 2:] / 2 - cut.shape[0] / 2).sum(axis=1)))
        face = _one_face_back(faces, nearest, zoom, left, top)
        face.transforms = _translation_in_source(face.transforms, cut.shape, zoom, left, top, image.shape)
        return face

    def fit_crop(self, frame: Frame) -> Faces:
        """Landmarks of an image that is already one tight face crop (dataset mode).

        The detector expects a face with some surroundings, so the crop is framed with a grey
        border and enlarged first; the largest face found is kept. A loose "crop" (a portrait, a
        video frame) in which the border makes the face too small to find is searched as a
        still image instead, small-face search included.
        """
        framed, zoom, pad = framed_crop(frame.image)
        faces = self._fit_framed_crop(framed)
        if len(faces):
            return _one_face_back(faces, 0, zoom, -pad, -pad)
        return self._largest_face_as_still(frame)

    def _fit_framed_crop(self, image: np.ndarray) -> Faces:
        """The largest face of a framed crop, from the bundle's networks run directly: what the
        IMAGE-mode graph finds, at less than half the cost (usually one detection; a crop the
        detector sees twice, at two scales, is fitted twice as MediaPipe would)."""
        if self._networks is None:
            try:
                self._networks, self._geometry = FaceNetworks(self.task_path), FaceGeometry(self.task_path)
            except ImportError:  # no LiteRT wheel for this platform (Intel macOS): MediaPipe's graph
                self._networks = False
        if self._networks is False:  # MediaPipe's IMAGE-mode graph: the same faces, slower
            return self._largest_face_as_still(Frame("", 0, 0.0, image), search_small_faces=False)
        fitted = []
        for detection in self._networks.detect(image, self.min_confidence)[: self.max_faces]:
            landmarks, presence = self._networks.mesh(image, detection.region())
            if presence >= self.min_confidence:
                fitted.append((detection.score, landmarks[None, :N_MESH]))
        if not fitted:
            return Faces.empty()
        boxes = boxes_from_landmarks(np.concatenate([landmarks for _, landmarks in fitted]))
        largest = int(np.argmax(boxes[:, 2] * boxes[:, 3]))
        score, landmarks = fitted[largest]
        return Faces(scores=np.array([score], np.float32), landmarks=landmarks,
                     blendshapes=self._networks.blendshapes(landmarks[0])[None],
                     transforms=self._geometry.transform(landmarks[0], image.shape[1], image.shape[0])[None],
                     boxes=boxes[[largest]])  # fmt: skip

    def _largest_face_as_still(self, frame: Frame, search_small_faces: bool = True) -> Faces:
        """The largest face MediaPipe's IMAGE-mode graph finds in ``frame`` (none: empty Faces)."""
        self.start(still=True)
        faces = self(frame, search_small_faces=search_small_faces)
        if len(faces) == 0:
            return faces
        return _one_face_back(faces, int(np.argmax(faces.boxes[:, 2] * faces.boxes[:, 3])), 1.0, 0, 0)

    def _detect(self, image, ms: int | None) -> None:
        with native_stderr_silenced(self._quiet_next):
            result = self._detector.detect(image) if ms is None else self._detector.detect_for_video(image, ms)
        self._last_detections = np.array(
            [(d.bounding_box.origin_x, d.bounding_box.origin_y, d.bounding_box.width,
              d.bounding_box.height) for d in result.detections], np.float32,
        ).reshape(-1, 4)  # fmt: skip
        self._last_scores = np.array([d.categories[0].score for d in result.detections], np.float32)

    def _scores_for(self, boxes: np.ndarray) -> np.ndarray:
        """Each face's score: that of the latest detection overlapping it most, 0 if none does."""
        if len(self._last_scores) == 0:
            return np.zeros(len(boxes), np.float32)
        overlap = box_iou(boxes, self._last_detections)
        best = overlap.argmax(axis=1)
        return np.where(overlap.max(axis=1) > 0.2, self._last_scores[best], 0.0).astype(np.float32)
