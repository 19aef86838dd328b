"""What the user names (files, folders, globs, webcam indices, URLs) turned into inputs to read."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from mien.errors import InputError
from mien.frame import Frame
from mien.io.images import IMAGE_EXTENSIONS, NOT_AN_IMAGE, read_image_frames
from mien.io.video import VIDEO_EXTENSIONS, is_stream, read_video, video_frames_declared

MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


@dataclass(frozen=True)
class Input:
    """One thing to analyse: kind is "image", "video" or "stream"."""

    locator: str
    kind: str

    @property
    def is_still(self) -> bool:
        return self.kind == "image"


def _kind_of_file(path: str) -> str:
    return "image" if Path(path).suffix.lower() in IMAGE_EXTENSIONS else "video"


def _media_in_folder(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in MEDIA_EXTENSIONS]  # fmt: skip
    return found


def expand(specs: list[str]) -> tuple[list[Input], list[InputError]]:
    """Expand the user's input specs, in order, without duplicates.

    Returns the inputs and the specs that name nothing usable (each as an InputError), so one bad
    spec never hides the others.
    """
    inputs: list[Input] = []
    errors: list[InputError] = []
    seen: set[str] = set()

    def add(locator: str, kind: str) -> None:
        if locator not in seen:
            seen.add(locator)
            inputs.append(Input(locator, kind))

    for spec in specs:
        spec = str(spec)
        if is_stream(spec) and not os.path.exists(spec):
            add(spec, "stream")
        elif os.path.isdir(spec):
            media = _media_in_folder(spec)
            if not media:
                errors.append(InputError(spec, "folder holds no image or video files"))
            for path in media:
                add(path, _kind_of_file(path))
        elif os.path.isfile(spec):
            add(spec, _kind_of_file(spec))
        elif glob.has_magic(spec):
            matches = sorted(m for m in glob.glob(spec, recursive=True) if os.path.isfile(m))
            media = [m for m in matches if Path(m).suffix.lower() in MEDIA_EXTENSIONS]
            if not media:
                errors.append(InputError(spec, "pattern matches no image or video files"))
            for path in media:
                add(path, _kind_of_file(path))
        else:
            errors.append(InputError(spec, "no such file or folder"))
    return inputs, errors


def read_frames(source: Input, max_frames: int | None = None, notices: list[str] | None = None) -> Iterator[Frame]:
    """Frames of one input; raises InputError / InputStopped with the reason. What the user
    should know about how it was read (damaged packets skipped...) is added to ``notices``."""
    if source.kind != "stream":
        try:
            os.stat(source.locator)  # a link loop, a dangling link, a file gone since listed
        except OSError as error:
            raise InputError(source.locator, f"cannot read: {error.strerror or error}") from None
    if source.kind == "image":
        try:
            yield from read_image_frames(source.locator, max_frames)  # animated: every frame
            return
        except InputError as image_error:
            if not image_error.reason.startswith(NOT_AN_IMAGE):
                raise  # a real image that is broken: say so, do not half-decode it another way
            # Pillow does not know this file: it may be a video with an image's extension.
            noticed = len(notices) if notices is not None else 0
            try:
                yield from read_video(source.locator, max_frames, notices)
                return
            except InputError:
                if notices is not None:  # what the failed video reading noticed is not news
                    del notices[noticed:]
                raise image_error from None
    if source.kind == "video" and os.path.isfile(source.locator) and os.path.getsize(source.locator) == 0:
        raise InputError(source.locator, "empty file (0 bytes)")
    yield from read_video(source.locator, max_frames, notices)


def expected_frames(source: Input, max_frames: int | None = None) -> int | None:
    """How many frames reading ``source`` should give, from its header (None: not known, as for
    live streams). For progress bars: cheap, and never an error."""
    if source.kind == "stream":
        return max_frames
    try:
        if source.kind == "image":
            with Image.open(source.locator) as image:
                count = getattr(image, "n_frames", 1)
        else:
            count = video_frames_declared(source.locator)
    except Exception:  # noqa: BLE001  (an unreadable input is reported by the analysis itself)
        return max_frames
    if count is None:
        return max_frames
    return min(count, max_frames) if max_frames else count
