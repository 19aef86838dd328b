"""How much room an upload has: the data folder's cap (``--max-data-gb``) less what the folder
holds, and never so much that the disk itself is left with less than MIN_FREE.

Uploads that arrive at the same moment each hold a reservation (``UploadRoom``): the size they
declare (Content-Length), or the most one upload may be when they declare none, counted against
the cap and the disk until they are stored or refused. So together they cannot pass the cap.
Results written by jobs are not refused (a job's rows are small beside its video), but they count
against the cap for the next upload."""

from __future__ import annotations

import math
import os
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path

GIB = 1 << 30
MAX_DATA = 50 * GIB  # bytes: the default cap; a lab can raise it (--max-data-gb), 0 lifts it
MIN_FREE = 1 * GIB  # bytes the disk keeps free whatever the cap: SQLite, results and the system need room


@dataclass(frozen=True)
class Room:
    """Bytes an upload may take now, and what to tell a client whose upload needs more."""

    bytes: float  # math.inf: no cap and a disk with space to spare (never in practice)
    detail: str


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder`` (links not followed; files vanishing meanwhile skipped)."""
    total, pending = 0, [str(folder)]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def room_for_upload(data: Path, cap: int | None) -> Room:
    """How much a new upload into ``data`` may take, by the cap (None or 0: none) and the disk.
    The ``tmp/`` files of uploads still arriving are not counted: their reservations are."""
    used = folder_bytes(data) - folder_bytes(data / "tmp")
    disk = shutil.disk_usage(data).free - MIN_FREE
    by_cap = cap - used if cap else math.inf
    if by_cap <= disk:
        return Room(max(by_cap, 0), f"the data folder holds {_gib(used)} of its {_gib(cap)} cap (--max-data-gb); "
                                    "delete finished jobs or unused uploads, or start the service with a larger cap")  # fmt: skip
    return Room(max(disk, 0), f"the disk holding the data folder has {_gib(disk + MIN_FREE)} free and keeps "
                              f"{_gib(MIN_FREE)} free; delete finished jobs or unused uploads, or free disk space")  # fmt: skip


def _gib(size: float) -> str:
    return f"{size / GIB:.2f} GiB"


class UploadRoom:
    """The reservations of the uploads arriving now, for one data folder (one per service)."""

    def __init__(self, data: Path, cap: int | None):
        self.data, self.cap = data, cap
        self._lock = threading.Lock()
        self._held: dict[object, float] = {}

    def reserve(self, declared: int | None, most: int) -> tuple[Room, object]:
        """The room one more upload has, and a ticket holding what it may take (``declared``
        bytes, or ``most`` when it declares no size) until ``release(ticket)``: once the upload
        has been stored (its file then counts as the folder's) or refused."""
        with self._lock:
            room = room_for_upload(self.data, self.cap)
            left = max(room.bytes - sum(self._held.values()), 0)
            ticket = object()
            self._held[ticket] = min(declared if declared is not None else most, left)
        return replace(room, bytes=left), ticket

    def release(self, ticket: object) -> None:
        with self._lock:
            self._held.pop(ticket, None)
