"""What a batch has to do: one Job per input file, with its metadata, content key and outputs.

Inputs come from folders, globs and files (as `mien analyze` takes them) or from a manifest CSV
with a ``path`` column and any metadata columns (participant, condition...), which are carried
into every output row. A job's key joins the file's content hash and the settings hash, so an
input analysed before with the same settings is recognised even after it was moved or renamed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mien.errors import InputError
from mien.events.detectors import EVENT_COLUMNS
from mien.io.sources import expand
from mien.schema import columns

SAMPLE_BYTES = 4 << 20  # read from the start, middle and end of each file


@dataclass
class Job:
    path: str
    metadata: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""
    key: str = ""
    size: int = 0

    def outputs(self) -> tuple[str, str]:
        """Frames and events files, relative to the results folder."""
        stem = Path(self.path).stem[:60]
        return f"frames/{stem}-{self.key}.parquet", f"events/{stem}-{self.key}.parquet"


def content_hash(path: str) -> str:
    """SHA-256 of the file's size and of 4 MB at its start, middle and end.

    Study videos run to many GB; reading all of them to skip finished work would take longer than
    some analyses. Any re-encode, cut or edit changes the size or the sampled bytes."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        for start in sorted({0, max(0, size // 2 - SAMPLE_BYTES // 2), max(0, size - SAMPLE_BYTES)}):
            f.seek(start)
            digest.update(f.read(SAMPLE_BYTES))
    return digest.hexdigest()


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def jobs_from(specs: list[str], settings_key: str) -> tuple[list[Job], list[InputError]]:
    """Jobs for the named inputs (files, folders, globs, manifest CSVs), and what could not be used."""
    jobs: list[Job] = []
    errors: list[InputError] = []
    plain: list[str] = []
    for spec in specs:
        if spec.lower().endswith(".csv") and os.path.isfile(spec):
            manifest_jobs, manifest_errors = _read_manifest(spec)
            jobs += manifest_jobs
            errors += manifest_errors
        else:
            plain.append(spec)
    inputs, bad = expand(plain)
    errors += bad
    for source in inputs:
        if source.kind == "stream":
            errors.append(InputError(source.locator, "streams have no end; use mien analyze for them"))
        else:
            jobs.append(Job(source.locator))
    unique: dict[str, Job] = {}
    for job in jobs:
        try:
            job.content_hash = content_hash(job.path)
            job.size = os.path.getsize(job.path)
        except OSError as error:
            errors.append(InputError(job.path, f"cannot be read ({error.strerror or error})"))
            continue
        job.key = hashlib.sha256(f"{job.content_hash}:{settings_key}".encode()).hexdigest()[:16]
        unique.setdefault(job.key, job)  # the same file named twice is analysed once
    return list(unique.values()), errors


def _read_manifest(path: str) -> tuple[list[Job], list[InputError]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows or "path" not in rows[0]:
        return [], [InputError(path, "a manifest needs a header with a 'path' column")]
    taken = {c.name for c in columns(mesh=True, blendshapes=True)} | set(EVENT_COLUMNS)
    clashing = sorted(taken & (set(rows[0]) - {"path"}))
    if clashing:
        return [], [InputError(path, f"manifest columns {', '.join(clashing)} clash with mien's own "
                                     "output columns; rename them")]  # fmt: skip
    base = Path(path).parent
    jobs, errors = [], []
    for line, row in enumerate(rows, start=2):
        where = row["path"] if os.path.isabs(row["path"]) else str(base / row["path"])
        if not os.path.isfile(where):
            errors.append(InputError(f"{path}:{line}", f"{row['path']}: no such file"))
            continue
        jobs.append(Job(where, {k: v for k, v in row.items() if k != "path" and k is not None}))
    return jobs, errors
