"""Composes the stages: the only place that knows their order.

    frames ─▶ landmarks ─▶ pose, gaze, eye closure ─▶ expression ─▶ action units ─▶ affect, pain ─▶ rows
"""

from __future__ import annotations

import copy
import json
import os
import queue
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from mien.bug_log import log_bug
from mien.errors import InputError, InputStopped
from mien.events.detectors import Event, EventDetector
from mien.frame import Faces, Frame
from mien.io.prefetch import prefetch
from mien.io.sources import Input, expand, read_frames
from mien.calibration import TABLE as AU_TABLE
from mien.models.registry import Resolved, resolve, resolve_trainable, sha256_of
from mien.rows import RowBuilder
from mien.stages.affect import Affect
from mien.stages.aus import ActionUnits
from mien.stages.expression import ExpressionModel
from mien.stages.face_crop import whole_image_crop
from mien.stages.eyes import EyeClosure
from mien.stages.gaze import Gaze
from mien.stages.landmarks import FaceLandmarker
from mien.stages.pain import Pain
from mien.stages.pose import HeadPose
from mien.stages.smoothing import Smoother
from mien.stages.tracking import FaceTracker
from mien.version import __version__


@dataclass
class Options:
    """What to measure and how. Every field is recorded in each output file's metadata.

    mesh, blendshapes: add the 478-point mesh / the 52 blendshape scores to the output.
    max_faces: most faces looked for per frame.
    max_frames: stop each video or stream after this many frames (None: all).
    faces_are_crops: every image is already one face crop (dataset mode).
    smooth: One Euro smoothing of each person's landmarks, pose, gaze, AUs and expressions over
        time; None: on for video and streams, off for still images.
    """

    mesh: bool = False
    blendshapes: bool = False
    max_faces: int = 20  # enough for a class photo; each face found costs, the limit does not
    max_frames: int | None = None
    faces_are_crops: bool = False
    smooth: bool | None = None
    landmarker_model: str | None = None
    expression_model: str | None = None
    au_model: str | None = None  # a calibration table from `mien train aus`; None: the shipped one


LOADING_OPTIONS = frozenset({"landmarker_model", "expression_model", "au_model"})  # the rest load nothing


def _with_overrides(options: Options, overrides: dict) -> Options:
    """A checked copy of ``options`` with ``overrides`` (a copy: the caller's is never changed)."""
    options = replace(options)
    for key, value in overrides.items():
        if not hasattr(options, key):
            raise TypeError(f"unknown option {key!r}")
        setattr(options, key, value)
    for name, value in (("max_faces", options.max_faces), ("max_frames", options.max_frames)):
        if value is not None and value < 1:  # 0 frames would "succeed" with nothing analysed
            raise ValueError(f"{name} {value}: must be 1 or more")
    return options


@dataclass
class Outcome:
    """How one input went: rows written, frames read, seconds spent, and the error if any."""

    input: str
    frames: int = 0
    rows: int = 0
    seconds: float = 0.0
    error: str | None = None
    stopped_at: int | None = None  # a video that broke part-way: frames before this one are kept
    faces_left_out: int = 0  # most faces seen in one frame beyond max_faces (not analysed)
    frames_capped: int = 0  # frames where max_faces left faces out
    notices: list[str] = field(default_factory=list)  # what the reader did that the user should know

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]


# Dataset mode: threads perceiving crops ahead of the writing thread, and how many crops ahead.
CROP_FITTERS = max(1, min(4, os.cpu_count() or 1))
CROPS_AHEAD = 16
BATCH_ROWS = 512  # rows per Arrow batch / Parquet row group: small enough to keep memory flat
# Dataset mode hands on crops' rows (and reports the crops done) every this many rows: an Arrow
# batch per crop cost more than the crop, and every 64 crops the progress bar still moves smoothly
# (the sink gathers them into row groups of 512 anyway).
CROP_BATCH_ROWS = 64


class Models:
    """The loaded model set: resolved, hash-checked and loaded once; never changed afterwards, so
    any number of sessions in any number of threads share it.

    ONNX Runtime sessions and the AU table are safe to call from several threads at once.
    MediaPipe tasks are not: the set keeps the landmarker's file, and each Session builds its own
    task from it.

    >>> models = Models(max_faces=4)
    >>> with models.session() as session:
    ...     report = session.run(["clip.mp4"], on_batch=print)
    """

    def __init__(self, options: Options | None = None, **overrides):
        self.options = options = _with_overrides(options if options is not None else Options(), overrides)
        landmarker_file = resolve("face_landmarker", self.options.landmarker_model)
        expression_file = resolve_trainable("expression", self.options.expression_model)
        au_table = Path(self.options.au_model) if self.options.au_model else AU_TABLE
        if not au_table.is_file():
            raise ValueError(f"--au-model {au_table}: no such file")
        self.model_files = {"face_landmarker": landmarker_file, "expression": expression_file,
                            "au_model": Resolved(au_table, "explicit" if self.options.au_model else "shipped",
                                                 sha256_of(au_table))}  # fmt: skip
        self.landmarker_path = str(landmarker_file.path)
        # Stateless stages and read-only models: shared by every session.
        self.pose, self.gaze, self.eyes = HeadPose(), Gaze(), EyeClosure()
        self.action_units = ActionUnits(self.options.au_model)
        try:
            self.expression = ExpressionModel(str(expression_file.path))
        except ValueError as error:  # a file that is not an expression model: say which model
            raise ValueError(f"expression model {error}") from None
        self.affect, self.pain = Affect(), Pain()

    def with_options(self, **changes) -> Models:
        """These loaded models under other per-input options (mesh, blendshapes, max_faces,
        max_frames, smooth, faces_are_crops): nothing is loaded again, nothing is changed in
        ``self``. Options naming model files need a Models of their own."""
        loading = sorted(set(changes) & LOADING_OPTIONS)
        if loading:
            raise TypeError(f"{', '.join(loading)} load models: make a new Models for them")
        other = copy.copy(self)
        other.options = _with_overrides(self.options, changes)
        return other

    def session(self, on_events: Callable[[list[Event]], None] | None = None,
                on_frame: Callable[[Frame], None] | None = None) -> Session:  # fmt: skip
        """A new per-input session on these models (use from one thread at a time)."""
        return Session(self, on_events, on_frame)

    def run(self, specs: Iterable[str], on_batch: Callable[[pa.RecordBatch], None],
            on_outcome: Callable[[Outcome], None] | None = None,
            on_events: Callable[[list[Event]], None] | None = None,
            on_frame: Callable[[Frame], None] | None = None) -> Report:  # fmt: skip
        """Session.run in a session of its own, closed afterwards."""
        with self.session(on_events, on_frame) as session:
            return session.run(specs, on_batch, on_outcome)

    def output_schema(self) -> pa.Schema:
        """The Arrow schema of these models' rows, with provenance in its metadata."""
        schema = RowBuilder(mesh=self.options.mesh, blendshapes=self.options.blendshapes).schema
        return schema.with_metadata(self.metadata())

    def metadata(self) -> dict[str, str]:
        """Provenance written into every output file: version, settings, model hashes."""
        return {
            "mien_version": __version__,
            "mien_settings": json.dumps(asdict(self.options), sort_keys=True),
            "mien_models": json.dumps(
                {name: {"file": found.path.name, "sha256": found.sha256, "source": found.source}
                 for name, found in self.model_files.items()},
                sort_keys=True,
            ),  # fmt: skip
        }


class Session:
    """One input at a time, over time, on a shared model set: the landmarker task (MediaPipe tasks
    are not thread-safe), its timestamps and graph, the tracker, the smoother, the event detector
    and the events callback. Use a session from one thread at a time; open one per thread, stream
    or connection. ``close()`` ends its MediaPipe tasks (tasks left open print errors at exit).
    """

    def __init__(self, models: Models, on_events: Callable[[list[Event]], None] | None = None,
                 on_frame: Callable[[Frame], None] | None = None):  # fmt: skip
        """on_events: behaviour events as each ends; on_frame: each frame once analysed (progress)."""
        self.models = models
        self.options = models.options
        self.landmarker = FaceLandmarker(models.landmarker_path, max_faces=self.options.max_faces)
        self.tracker = FaceTracker()
        self.smoother, self.smoothing = Smoother(), False
        self.event_detector = EventDetector()
        self.on_events = on_events
        self.on_frame = on_frame
        self.faces_left_out = self.frames_capped = 0  # of the current input
        self.notices: list[str] = []  # of the current input

    # -- per frame -----------------------------------------------------------------------------

    def perceive(self, frame: Frame) -> Faces:
        """All per-frame measurements of every face in one frame."""
        return self._perceive_found(frame, self.landmarker(frame), self.landmarker.beyond_limit)

    def _landmarked(self, frames: Iterator[Frame]) -> Iterator[tuple[Frame, Faces, int]]:
        """Each frame with the faces the landmarker found and the number beyond max_faces: the
        landmarker's share of perceive, to run in a thread of its own."""
        try:
            for frame in frames:
                found = self.landmarker(frame)
                yield frame, found, self.landmarker.beyond_limit
        finally:
            frames.close()  # stops the decoding thread too

    def _perceive_found(self, frame: Frame, found: Faces, beyond_limit: int) -> Faces:
        """perceive, from the landmarker's faces on: tracking and every measurement."""
        faces = self.tracker(frame, found)
        if beyond_limit:
            self.faces_left_out = max(self.faces_left_out, beyond_limit)
            self.frames_capped += 1
        if len(faces) == 0:
            return faces
        return self._measure(frame, faces)

    def _measure(self, frame: Frame, faces: Faces, smooth: bool | None = None) -> Faces:
        """Every measurement of the faces found; ``smooth``: over time (None: as this input is)."""
        self.models.pose(faces)
        self.models.gaze(faces)
        self.models.eyes(faces)
        self.models.expression(frame, faces)
        self.models.action_units(faces)  # reads the expression probabilities
        if self.smoothing if smooth is None else smooth:
            self.smoother(frame, faces)
        self.models.affect(faces)
        self.models.pain(faces)
        return faces

    def perceive_crop(self, frame: Frame) -> Faces:
        """Dataset mode: the frame is one face crop. Landmark measures are empty where the
        landmarker cannot fit the crop; the expression is then read from the whole crop."""
        return self._measure_crop(frame, self.landmarker.fit_crop(frame))

    def _measure_crop(self, frame: Frame, faces: Faces) -> Faces:
        """perceive_crop, from the landmarker's fit of the crop on. Uses nothing of the session
        but the (shared, immutable) models, so threads may call it at once: crops are
        independent pictures, never smoothed one into the next."""
        if len(faces) and np.isfinite(faces.landmarks).all():
            faces.face_ids = np.zeros(1, np.int32)  # the crop's one face
            # A crop shows no camera: where the head was, and how far, cannot be known from it.
            faces.transforms = faces.transforms.copy()
            faces.transforms[:, :3, 3] = np.nan
            return self._measure(frame, faces, smooth=False)
        faces = Faces.unmeasured(frame.image.shape)
        faces.face_ids = np.zeros(1, np.int32)
        faces.emotions = self.models.expression.probabilities_of_crops(whole_image_crop(frame.image))
        self.models.affect(faces)
        return faces

    def live_frame(self, frame: Frame) -> tuple[Faces, list[Event]]:
        """One frame of a live stream (a camera, the server's WebSocket): its faces measured,
        tracked and smoothed as the next of a sequence, and the behaviour events that ended with it.

        A frame with ``index`` 0 starts a new stream: tracker, smoother and events start afresh,
        and the events' ``input`` is ``frame.source``. Later frames come in order, ``timestamp``
        in seconds rising. When the stream ends, ``event_detector.finish()`` closes the episodes
        still open. Reading frames and writing rows are the caller's business."""
        if frame.index == 0:
            self.landmarker.start(still=False)
            self.tracker.reset(still=False)
            self.smoother.reset()
            self.smoothing = True if self.options.smooth is None else self.options.smooth
            self.event_detector.reset(frame.source)
            self.faces_left_out = self.frames_capped = 0
        faces = self.perceive(frame)
        if len(faces):
            events = self.event_detector.update(frame.timestamp, faces.face_ids, faces.aus, faces.emotions,
                                                faces.eye_closure, faces.pspi)  # fmt: skip
        else:  # nobody in the picture: episodes of who left end now
            events = self.event_detector.absent(frame.timestamp)
        return faces, events

    # -- per input -----------------------------------------------------------------------------

    def _crops_perceived_ahead(self, inputs: list[Input]) -> Iterator[tuple[Input, list | None, list[str]]]:
        """Dataset mode: each input's frames read, fitted and measured ahead, in order, by a pool
        of threads (each with a landmarker of its own; the models are shared): (input,
        [(frame, faces)...], notices); None instead of the list for a video, or where the input
        cannot be read (the caller reads it again, and says why)."""
        idle: queue.SimpleQueue = queue.SimpleQueue()  # landmarkers not in use, one per thread at most
        made: list[FaceLandmarker] = []

        def fit(source: Input) -> tuple[Input, list | None, list[str]]:
            notices: list[str] = []
            if not source.is_still:  # a video given as crops: frame by frame, by the caller
                return source, None, notices
            try:
                fitter = idle.get_nowait()
            except queue.Empty:
                fitter = FaceLandmarker(self.models.landmarker_path, max_faces=self.options.max_faces)
                made.append(fitter)
            try:
                perceived = [(frame, self._measure_crop(frame, fitter.fit_crop(frame)))
                             for frame in read_frames(source, self.options.max_frames, notices)]  # fmt: skip
                return source, perceived, notices
            except Exception:  # unreadable, or a bug: the caller meets it again and reports it
                return source, None, notices
            finally:
                idle.put(fitter)

        window: deque = deque()
        with ThreadPoolExecutor(CROP_FITTERS, thread_name_prefix="mien-crops") as pool:
            try:
                for source in inputs:
                    window.append(pool.submit(fit, source))
                    if len(window) > CROPS_AHEAD:
                        yield window.popleft().result()
                while window:
                    yield window.popleft().result()
            finally:
                for waiting in window:
                    waiting.cancel()
        for fitter in made:
            fitter.close()

    def batches(self, source: Input) -> Iterator[pa.RecordBatch]:
        """Arrow batches of one input. Raises InputError / InputStopped after yielding what worked."""
        still = source.is_still
        if not self.options.faces_are_crops:  # crops start MediaPipe's graph only if they need it
            self.landmarker.start(still=still)
        self.tracker.reset(still=still)
        self.smoother.reset()
        self.faces_left_out = self.frames_capped = 0
        self.smoothing = (not still) if self.options.smooth is None else self.options.smooth
        self.notices = []
        landmarked = None  # the landmarker's thread, on video
        frames = read_frames(source, self.options.max_frames, self.notices)
        if self.options.faces_are_crops:  # crops the pool could not measure ahead (a video, say)
            analysed = ((frame, self.perceive_crop(frame)) for frame in frames)
        elif still:
            analysed = ((frame, self.perceive(frame)) for frame in frames)
        else:
            # Video: decoding, the landmarker and everything after it run in three threads,
            # each a few frames ahead of the next. The landmarker (MediaPipe) and the
            # expression model (ONNX Runtime) release the GIL, so on two cores the landmarker,
            # the longest step, no longer waits for the rest (benchmarks/speed.py).
            landmarked = prefetch(self._landmarked(prefetch(frames)), name="mien-landmarks")
            analysed = ((frame, self._perceive_found(frame, found, beyond)) for frame, found, beyond in landmarked)
        rows = RowBuilder(mesh=self.options.mesh, blendshapes=self.options.blendshapes)
        events = None if still else self.event_detector  # a single picture has no time course
        if events is not None:
            events.reset(source.locator)
        try:
            for frame, faces in analysed:
                rows.add(frame, faces)
                if self.on_frame is not None:
                    self.on_frame(frame)
                if events is not None and len(faces):
                    self._emit(events.update(frame.timestamp, faces.face_ids, faces.aus, faces.emotions,
                                             faces.eye_closure, faces.pspi))  # fmt: skip
                elif events is not None:  # nobody in the picture: episodes of who left end now
                    self._emit(events.absent(frame.timestamp))
                if len(rows) >= BATCH_ROWS:
                    yield rows.flush()
        except (InputStopped, KeyboardInterrupt):  # KeyboardInterrupt: Ctrl-C, and SIGTERM in the CLI
            rest = rows.flush()  # keep what was analysed before the break
            if rest is not None:
                yield rest
            raise
        finally:
            if landmarked is not None:
                landmarked.close()  # its thread is done with the landmarker before anyone restarts it
            if events is not None:
                self._emit(events.finish())
        rest = rows.flush()
        if rest is not None:
            yield rest

    def _emit(self, events: list[Event]) -> None:
        if events and self.on_events is not None:
            self.on_events(events)

    def run(self, specs: Iterable[str], on_batch: Callable[[pa.RecordBatch], None],
            on_outcome: Callable[[Outcome], None] | None = None) -> Report:  # fmt: skip
        """Analyse every input, one after another; a failing input never stops the others.

        on_batch gets the rows as Arrow batches; the session's on_events gets behaviour events
        (blinks, episodes...) of videos and streams as soon as each is over; on_outcome each
        input's fate."""
        inputs, bad_specs = expand(list(specs))
        report = Report()

        def record(outcome: Outcome) -> None:
            report.outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)

        for error in bad_specs:
            record(Outcome(error.input, error=error.reason))
        # Dataset mode: threads read, fit and measure the next crops while this one writes the
        # last (LiteRT and ONNX Runtime release the GIL, so every core works).
        ahead = self._crops_perceived_ahead(inputs) if self.options.faces_are_crops else None
        work = ahead if ahead is not None else ((source, None, None) for source in inputs)
        crops = _CropRows(self, on_batch, record)
        try:
            for source, perceived, notices in work:
                if perceived is not None:  # a crop, measured ahead: its rows join the next batch
                    crops.add(source, perceived, notices)
                    continue
                crops.write()  # the rows stay in input order
                outcome = Outcome(source.locator)
                started = time.perf_counter()
                try:
                    for batch in self.batches(source):
                        outcome.rows += batch.num_rows
                        outcome.frames = int(batch.column("frame")[-1].as_py()) + 1
                        on_batch(batch)
                except InputStopped as stopped:
                    outcome.error, outcome.stopped_at = stopped.reason, stopped.frame
                except InputError as error:
                    outcome.error = error.reason
                except Exception as error:  # a bug must not cost the other inputs their results
                    outcome.error = log_bug(error)
                outcome.faces_left_out, outcome.frames_capped = self.faces_left_out, self.frames_capped
                outcome.notices = list(self.notices)
                outcome.seconds = time.perf_counter() - started
                record(outcome)
            crops.write()
        except KeyboardInterrupt:
            crops.write()  # Ctrl-C keeps every crop analysed so far
            raise
        finally:
            if ahead is not None:
                ahead.close()  # its threads and landmarkers end here, Ctrl-C or not
        self.landmarker.close()  # reopened by the next run; nothing is left open at exit
        return report

    def close(self) -> None:
        self.landmarker.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _CropRows:
    """Dataset mode's rows, gathered over many crops into batches of CROP_BATCH_ROWS: an Arrow
    batch per 48-px crop cost more than analysing it. Each crop's outcome is reported once its
    rows are handed on, so no input counts as done before its rows are written."""

    def __init__(self, session: Session, on_batch: Callable[[pa.RecordBatch], None],
                 record: Callable[[Outcome], None]):  # fmt: skip
        self.session, self.on_batch, self.record = session, on_batch, record
        self.rows = RowBuilder(mesh=session.options.mesh, blendshapes=session.options.blendshapes)
        self.waiting: list[Outcome] = []

    def add(self, source: Input, perceived: list[tuple[Frame, Faces]], notices: list[str]) -> None:
        outcome = Outcome(source.locator, notices=list(notices))
        for frame, faces in perceived:
            before = len(self.rows)
            self.rows.add(frame, faces)
            outcome.rows += len(self.rows) - before
            outcome.frames = frame.index + 1
            if self.session.on_frame is not None:
                self.session.on_frame(frame)
        self.waiting.append(outcome)
        if len(self.rows) >= CROP_BATCH_ROWS:
            self.write()

    def write(self) -> None:
        batch = self.rows.flush()
        if batch is not None:
            self.on_batch(batch)
        for outcome in self.waiting:
            self.record(outcome)
        self.waiting = []


class Analyzer(Models):
    """A model set with one session of its own, for callers that analyse one thing at a time.

    >>> with Analyzer() as analyzer:
    ...     report = analyzer.run(["clip.mp4"], on_batch=print)

    ``run`` opens a fresh session each time; ``perceive``/``perceive_crop``/``batches`` use the
    analyzer's own session. To analyse in several threads, give each its own ``session()``.
    """

    def __init__(self, options: Options | None = None, **overrides):
        super().__init__(options, **overrides)
        self._own = Session(self)

    @property
    def landmarker(self) -> FaceLandmarker:
        return self._own.landmarker

    def perceive(self, frame: Frame) -> Faces:
        return self._own.perceive(frame)

    def perceive_crop(self, frame: Frame) -> Faces:
        return self._own.perceive_crop(frame)

    def batches(self, source: Input) -> Iterator[pa.RecordBatch]:
        return self._own.batches(source)

    def close(self) -> None:
        self._own.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
