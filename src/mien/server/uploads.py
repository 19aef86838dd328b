"""Uploads: streamed to disk in chunks (never held whole in memory), cut off at the size limit,
decoded before they are kept, and stored under a server-made id.

The client's file name is recorded as a label and nothing else: the stored file is
``uploads/<id><ext>``, the extension chosen from what the decoder found (JPEG -> .jpg, an MP4
container -> .mov...), so no name from outside ever reaches the filesystem. A body is either
the raw file (any content type but multipart) or multipart/form-data whose first file part is
taken."""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request
from PIL import Image

from mien.errors import InputError
from mien.io.images import IMAGE_EXTENSIONS, read_image_frames
from mien.io.video import VIDEO_EXTENSIONS, read_video, video_frames_declared
from mien.server.storage import Room

TABLE = """CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, file TEXT NOT NULL, kind TEXT NOT NULL,
    size INTEGER, frames INTEGER, name TEXT, created TEXT)"""


@dataclass
class Upload:
    id: str
    file: str  # relative to the data folder
    kind: str  # "image" or "video"
    size: int
    frames: int | None  # declared in the header (a video's may be missing)
    name: str  # the client's file name: a label only

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "size": self.size, "frames": self.frames, "name": self.name}


def connect(data: Path) -> sqlite3.Connection:
    db = sqlite3.connect(data / "server.sqlite", timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db


def remove_unfinished(folder: Path) -> None:
    """At start: files a stopped service left in the uploads' ``tmp/`` folder (uploads cut short,
    images of /analyze), which no reservation counts any more."""
    for leftover in folder.glob("*") if folder.is_dir() else ():
        if leftover.is_file():
            leftover.unlink(missing_ok=True)


def declared_size(request: Request) -> int | None:
    """The body's size as the client declares it (Content-Length), if it does."""
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None


async def receive(request: Request, folder: Path, limit: int, room: Room | None = None) -> tuple[Path, str]:
    """The request body written to a new file in ``folder``; (its path, the client's name).
    413 past ``limit`` bytes, 507 past the ``room`` the data folder has left, 400 for a body with
    no file; nothing is left behind either way."""
    declared = declared_size(request)
    if declared is not None:
        _check_size(declared - 64 * 1024, limit, room)  # room for multipart framing
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f".{secrets.token_hex(8)}.part"
    kind = request.headers.get("content-type", "")
    try:
        with open(target, "wb") as out:
            if kind.lower().startswith("multipart/form-data"):
                name = await _multipart(request, kind, out, limit, room)
            else:
                name, written = "", 0
                async for chunk in request.stream():
                    written += len(chunk)
                    _check_size(written, limit, room)
                    out.write(chunk)
        if target.stat().st_size == 0:
            raise HTTPException(400, "the upload is empty (send the file as the body, or as a multipart 'file' field)")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, name


async def _multipart(request: Request, content_type: str, out, limit: int, room: Room | None) -> str:
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "multipart body without a boundary")
    state = {"headers": b"", "field": b"", "value": b"", "taking": False, "taken": False, "name": "", "size": 0}

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        if state["field"].lower() == b"content-disposition":
            state["headers"] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        _, options = parse_options_header(state["headers"])
        state["taking"] = b"filename" in options and not state["taken"]
        if state["taking"]:
            state["name"] = options[b"filename"].decode("utf-8", "replace")
        state["headers"] = b""

    def on_part_data(data, start, end):
        if state["taking"]:
            state["size"] += end - start
            _check_size(state["size"], limit, room)
            out.write(data[start:end])

    def on_part_end():
        if state["taking"]:
            state["taking"], state["taken"] = False, True

    parser = MultipartParser(boundary, {"on_header_field": on_header_field, "on_header_value": on_header_value,
                                        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
                                        "on_part_data": on_part_data, "on_part_end": on_part_end})  # fmt: skip
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except HTTPException:
        raise
    except Exception as error:  # noqa: BLE001  (python-multipart's parse errors)
        raise HTTPException(400, f"malformed multipart body ({error})") from None
    if not state["taken"]:
        raise HTTPException(400, "the multipart body has no file part")
    return state["name"]


def _check_size(size: int, limit: int, room: Room | None) -> None:
    if size > limit:
        raise HTTPException(413, f"upload larger than the limit of {limit} bytes")
    if room is not None and size > room.bytes:
        raise HTTPException(507, f"no room for this upload: {room.detail}")


def probe(path: Path) -> tuple[str, str, int | None]:
    """What the file is: (kind, extension to store it under, frames declared), after decoding its
    first frame. 415 when it is neither an image nor a video mien can read."""
    try:
        with Image.open(path) as image:
            extension = "." + (image.format or "png").lower().replace("jpeg", "jpg")
        kind = "image"
        extension = extension if extension in IMAGE_EXTENSIONS else ".png"
    except Exception:  # noqa: BLE001  (not an image Pillow knows: perhaps a video)
        kind = "video"
    try:
        if kind == "image":
            next(iter(read_image_frames(str(path), 1)))
            return kind, extension, 1
        import av

        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(str(path), "no video stream")
            names = [f".{name}" for name in container.format.name.split(",")]
        extension = next((n for n in names if n in VIDEO_EXTENSIONS), ".mkv")
        next(iter(read_video(str(path), 1)))
        return kind, extension, video_frames_declared(str(path))
    except (InputError, StopIteration, Exception) as error:  # noqa: BLE001
        reason = error.reason if isinstance(error, InputError) else "nothing could be decoded"
        raise HTTPException(415, f"not an image or video mien can read: {reason}") from None


def store(data: Path, part: Path, name: str) -> Upload:
    """Check ``part`` and keep it as a new upload; 415 (and ``part`` removed) when not media."""
    try:
        kind, extension, frames = probe(part)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    upload_id = secrets.token_hex(8)
    relative = f"uploads/{upload_id}{extension}"
    (data / "uploads").mkdir(exist_ok=True)
    os.replace(part, data / relative)
    upload = Upload(upload_id, relative, kind, (data / relative).stat().st_size, frames, name[:200])
    db = connect(data)
    try:
        db.execute(TABLE)
        db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (upload.id, upload.file, upload.kind, upload.size, upload.frames, upload.name, _now()))  # fmt: skip
    finally:
        db.close()
    return upload


def find(data: Path, upload_id: str) -> Upload | None:
    db = connect(data)
    try:
        db.execute(TABLE)
        row = db.execute("SELECT id, file, kind, size, frames, name FROM uploads WHERE id = ?", (upload_id,)).fetchone()
    finally:
        db.close()
    return Upload(*row) if row else None


def remove(db: sqlite3.Connection, data: Path, upload_id: str) -> None:
    """The upload's row and file (the caller knows no job uses it)."""
    row = db.execute("SELECT file FROM uploads WHERE id = ?", (upload_id,)).fetchone()
    db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
    if row:
        (data / row[0]).unlink(missing_ok=True)


def names(data: Path) -> dict[str, str]:
    """Every upload's client file name (a label only), by upload id."""
    db = connect(data)
    try:
        db.execute(TABLE)
        return dict(db.execute("SELECT id, name FROM uploads").fetchall())
    finally:
        db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
