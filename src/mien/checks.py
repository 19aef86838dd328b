"""The user's options and output places, checked before any work starts.

Each check returns the problem as one line naming the option and the reason (None: fine), so the
CLI can say every problem at once and exit before an hour of analysis ends in a traceback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def at_least(option: str, value: int | None, least: int) -> str | None:
    if value is not None and value < least:
        return f"{option} {value}: must be {least} or more"
    return None


def _cannot_write_in(folder: Path) -> str | None:
    """Why a new file cannot be created in ``folder`` (tried for real: permissions, read-only
    file systems and full disks all show up), or None."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mien-check-"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def writable_file(option: str, path: Path) -> str | None:
    """A file mien will create or replace: not a folder, in a folder that exists and takes files."""
    if path.is_dir():
        return f"{option} {path}: is a folder; name a file to write"
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"{option} {path}: the folder {folder} does not exist"
    why = _cannot_write_in(folder)
    if why:
        return f"{option} {path}: cannot write in {folder} ({why})"
    return None


def writable_folder(option: str, path: Path) -> str | None:
    """A folder mien will create (with its parents) if needed and write files into."""
    if path.exists() and not path.is_dir():
        return f"{option} {path}: is a file, not a folder"
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    why = _cannot_write_in(existing) if existing.is_dir() else "no such folder"
    if why:
        return f"{option} {path}: cannot write in {existing} ({why})"
    return None
