"""Annotated video: the input re-encoded with drawing layers, every frame kept.

The output has the input's frames (same count, same presentation times), its rotation (pixels are
turned back to the stored orientation and the display matrix is copied) and its audio (packets
copied, not re-encoded). Faces come from a results table, matched to decoded frames by their
``frame`` index, so the table may come from this run or an earlier one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from mien.errors import InputError
from mien.io.behind import Behind
from mien.io.prefetch import prefetch
from mien.io.sinks import keep_partial, publish
from mien.report.frame_faces import FrameFaces
from mien.report.layers import DEFAULT_AUS, DEFAULT_LAYERS, draw

# H.264 where the FFmpeg build has it; the others are fallbacks for LGPL builds without x264.
ENCODERS = ("libx264", "libopenh264", "mpeg4")
# ultrafast at CRF 20: 1.2 ms per 360p frame against 3.5 for veryfast (benchmarks/annotate.py),
# at about twice the file size; the overlays' thin lines stay clean.
X264_OPTIONS = {"preset": "ultrafast", "crf": "20"}
# Kinds of file that hold those encoders' video (WebM, say, takes only VP8/VP9/AV1).
ANNOTATED_EXTENSIONS = (".mp4", ".mkv", ".mov", ".m4v", ".avi")


def annotated_output_problem(option: str, path: Path) -> str | None:
    """Why an annotated video cannot be written as ``path`` (by its extension), or None."""
    if Path(path).suffix.lower() in ANNOTATED_EXTENSIONS:
        return None
    kind = Path(path).suffix or "a file without an extension"
    return f"{option} {path}: an annotated video is written as {', '.join(ANNOTATED_EXTENSIONS)}, not {kind}"


@dataclass
class Annotated:
    """What annotate_video wrote: frames, frames that had faces drawn, audio streams copied, and
    the codecs of the audio streams the output's container could not hold (left out)."""

    path: Path
    frames: int
    drawn: int
    audio_streams: int
    audio_left_out: list[str] = field(default_factory=list)

    def description(self) -> str:
        """One line for the user: what was written, and any audio left out and why."""
        line = f"wrote {self.path} ({self.frames} frames, faces drawn on {self.drawn}"
        line += f", {self.audio_streams} audio stream{'s' if self.audio_streams != 1 else ''} kept)"
        if self.audio_left_out:
            line += (f"; left out audio a {self.path.suffix or 'file of this kind'} cannot hold "
                     f"({', '.join(self.audio_left_out)}): write .mkv to keep it")  # fmt: skip
        return line


def annotate_video(source: str | os.PathLike, output: str | os.PathLike, faces: Iterable[FrameFaces],
                   layers: Sequence[str] = DEFAULT_LAYERS, aus: Sequence[str] = DEFAULT_AUS,
                   replace: bool = True) -> Annotated:  # fmt: skip
    """Write ``source`` to ``output`` with ``layers`` drawn from ``faces`` (FrameFaces in frame
    order, e.g. from ``frame_faces.frames_of``). The container follows ``output``'s extension.

    As every mien output (mien.io.sinks), the video is written under a hidden name beside
    ``output`` and renamed into place only when complete; ``replace``: whether a file already
    there may be replaced (without it, one that appeared meanwhile is left alone:
    FileExistsError). If writing stops early (Ctrl-C, an error), the frames written so far are
    kept, playable, as ``NAME.partial.EXT``, described by the exception's ``annotated``."""
    source, output = str(source), Path(output)
    problem = annotated_output_problem("output", output)
    if problem:
        raise ValueError(problem)
    try:
        container = av.open(source)
    except av.error.FFmpegError as error:
        raise InputError(source, f"cannot open: {error.strerror or error}") from None
    with container:
        if not container.streams.video:
            raise InputError(source, "no video stream to annotate")
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_name(f".{output.stem}.{os.getpid()}-{secrets.token_hex(4)}{output.suffix}")
        sink = av.open(str(temporary), "w")
        written = Annotated(output, 0, 0, 0)
        try:
            _annotate(container, source, sink, faces, layers, aus, written)
        except BaseException as stop:
            with contextlib.suppress(Exception):  # close it playable where it can be; the cause wins
                sink.close()
            kept = keep_partial(temporary, output, written.frames > 0)
            if isinstance(stop, OSError) and getattr(stop, "filename", None) == str(temporary):
                # A full disk, a file-size limit: name the output, not its temporary name.
                stop, cause = OSError(f"cannot write {output} ({stop.strerror or stop})"), stop
                stop.errno = cause.errno
            stop.annotated = dataclasses.replace(written, path=kept) if kept else None  # type: ignore[attr-defined]
            raise stop
    try:
        publish(temporary, output, replace)
    except FileExistsError:
        kept = keep_partial(temporary, output, written.frames > 0)
        raise FileExistsError(f"{output} appeared while mien was writing it and was left alone; the annotated "
                              f"video is in {kept}") from None  # fmt: skip
    return written


def _annotate(container: av.container.InputContainer, source: str, sink: av.container.OutputContainer,
              faces: Iterable[FrameFaces], layers: Sequence[str], aus: Sequence[str],
              written: Annotated) -> None:  # fmt: skip
    """The input's frames drawn on and encoded into ``sink``, its audio copied; ``written`` counts
    as it goes (frames: those the encoder has taken). Closes ``sink`` when done."""
    video = container.streams.video[0]
    video.thread_type = "SLICE"
    writer = _VideoWriter(sink, video)
    copies = {}
    for stream in container.streams.audio:
        copy = _audio_copy(sink, source, stream)
        if copy is None:
            written.audio_left_out.append(stream.codec_context.name)
        else:
            copies[stream.index] = copy
    written.audio_streams = len(copies)
    upcoming = _Upcoming(iter(faces))
    # Three threads: one decodes a few frames ahead, this one draws, one encodes and writes a few
    # behind (PyAV and OpenCV release the GIL): 20% less time than one thread doing all three
    # (benchmarks/annotate.py; docs/performance.md, session 7).
    ahead = prefetch(_decoded(container, video, [container.streams[i] for i in copies]), depth=4,
                     name="mien-annotate-decode")  # fmt: skip
    behind = Behind(name="mien-annotate-encode")  # the only thread writing to the file
    try:
        frame = 0
        for packet, decoded, image in ahead:
            if packet is not None:  # audio, copied as it is
                packet.stream = copies[packet.stream.index]
                behind.submit(writer.copy, packet)
                continue
            found = upcoming.at(frame)
            if found is not None:
                draw(image, found, layers, aus)
                written.drawn += 1
            behind.submit(writer.write, image, decoded)
            frame += 1
        behind.close()
    except BaseException:
        behind.close(abandon=True)  # nothing writes to the file once it is closed
        with contextlib.suppress(Exception):
            writer.close()  # the frames the encoder still holds belong in the partial file too
        raise
    finally:
        ahead.close()  # the decoding thread is done with the input before it is closed
        written.frames = writer.count
    writer.close()
    sink.close()


def _decoded(container: av.container.InputContainer, video: av.VideoStream,
             audio: list[av.AudioStream]) -> Iterator[tuple]:  # fmt: skip
    """The input in order: (packet, None, None) for each packet of ``audio`` to copy, (None, frame,
    upright RGB image) for each video frame."""
    for packet in container.demux([video, *audio]):
        if packet.stream.index != video.index:
            if packet.dts is not None:  # demuxer flush packets carry nothing
                yield packet, None, None
            continue
        try:
            decoded_frames = packet.decode()
        except av.error.FFmpegError:
            continue  # a corrupt packet: analysis lost this frame too
        for decoded in decoded_frames:
            yield None, decoded, upright(decoded)


def _audio_copy(sink: av.container.OutputContainer, source: str, stream: av.AudioStream) -> av.AudioStream | None:
    """A copy of audio ``stream`` in ``sink``, or None where ``sink``'s kind of file cannot hold
    its codec. Some muxers refuse a codec only once packets are written or the file is closed
    (MP4 and PCM of an unknown channel layout): a trial file in memory takes the stream's first
    packet first."""
    if not _holds(sink.format.name, source, stream):
        return None
    try:
        return sink.add_stream_from_template(stream)
    except (ValueError, av.error.FFmpegError):
        return None


def _holds(format_name: str, source: str, stream: av.AudioStream) -> bool:
    """Whether a ``format_name`` file takes a copy of ``stream`` with its first packet."""
    trial = av.open(io.BytesIO(), "w", format=format_name)
    try:
        copy = trial.add_stream_from_template(stream)
        with av.open(source) as again:
            first = next((p for p in again.demux(again.streams[stream.index]) if p.dts is not None), None)
            if first is not None:
                first.stream = copy
                trial.mux(first)
        trial.close()
        return True
    except (ValueError, av.error.FFmpegError):
        return False
    finally:
        with contextlib.suppress(ValueError, av.error.FFmpegError):
            trial.close()  # a second close does nothing; a failed one must not hide the answer


class _Upcoming:
    """The FrameFaces of a given frame index, walking forwards through the iterator."""

    def __init__(self, faces: Iterator[FrameFaces]):
        self.faces = faces
        self.next: FrameFaces | None = next(faces, None)

    def at(self, index: int) -> FrameFaces | None:
        while self.next is not None and self.next.frame < index:
            self.next = next(self.faces, None)
        if self.next is not None and self.next.frame == index:
            return self.next
        return None


def _quarter_turns(frame: av.VideoFrame) -> int:
    # The same rule as mien.io.video: a counter-clockwise display angle, in quarter turns.
    return round((frame.rotation or 0) / 90) % 4


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        # OpenCV's BT.601 conversion is 3× faster than swscale's here, and _VideoWriter converts
        # back with the same matrix, so the picture's colours survive the round trip.
        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


def upright(frame: av.VideoFrame) -> np.ndarray:
    """The frame as an upright H×W×3 uint8 RGB image (display rotation applied)."""
    pixels = _rgb(frame)
    turns = _quarter_turns(frame)
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


class _VideoWriter:
    """Encodes upright RGB images back to the input's stored orientation and timing."""

    def __init__(self, sink: av.container.OutputContainer, source: av.VideoStream):
        self.sink, self.source = sink, source
        self.time_base = source.time_base or Fraction(1, 90000)
        self.rate = source.average_rate or source.guessed_rate or Fraction(25)
        self.stream: av.VideoStream | None = None
        self.turns = 0
        self.count = 0
        self.waiting: list[av.Packet] = []  # audio that came before the first video frame

    def _open(self, first: av.VideoFrame) -> None:
        self.turns = _quarter_turns(first)
        last_error = None
        for codec in ENCODERS:
            try:
                stream = self.sink.add_stream(codec, rate=self.rate)
                break
            except (ValueError, av.error.FFmpegError) as error:  # not in this FFmpeg build
                last_error = error
        else:
            raise RuntimeError(f"no video encoder available ({last_error})")
        # yuv420p needs even sides: an odd last row or column is dropped.
        stream.width, stream.height = first.width - first.width % 2, first.height - first.height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        if stream.codec_context.name == "libx264":
            stream.options = dict(X264_OPTIONS)
        if first.rotation:
            stream.set_display_rotation(first.rotation)
        self.stream = stream

    def copy(self, packet: av.Packet) -> None:
        """An audio packet, copied as it is."""
        # The muxer writes its header at the first packet, so every stream must exist by then:
        # audio waits until the first video frame has opened the video stream.
        if self.stream is None:
            self.waiting.append(packet)
        else:
            self.sink.mux(packet)

    def write(self, image: np.ndarray, decoded: av.VideoFrame) -> None:
        if self.stream is None:
            self._open(decoded)
        stored = np.rot90(image, -self.turns) if self.turns else image
        stored = np.ascontiguousarray(stored[: self.stream.height, : self.stream.width])
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(stored, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        # The input's own presentation time: variable frame rates and gaps survive.
        if decoded.pts is not None and decoded.time_base is not None:
            frame.pts = round(decoded.pts * decoded.time_base / self.time_base)
        else:
            frame.pts = round(self.count / self.rate / self.time_base)
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.sink.mux(packet)
        self.count += 1
        for held in self.waiting:
            self.sink.mux(held)
        self.waiting.clear()

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.sink.mux(packet)
