"""Where `mien analyze` may write: never over one of its own inputs, over an existing file only
when asked (--force), and never rows and events into one file."""

from __future__ import annotations

import os
from pathlib import Path

from mien.io.sources import expand


class OutputRefused(ValueError):
    pass


def check_outputs(outputs: list[Path], inputs: list[str], force: bool) -> None:
    """Raise OutputRefused, with the fix, for the first output that must not be written."""
    seen: list[Path] = []
    for output in outputs:
        if any(_same(output, other) for other in seen):
            raise OutputRefused(f"{output} is named for both rows and events; give each its own file")
        seen.append(output)
        if not output.exists():
            continue  # nothing there to lose, and a file that does not exist is no input
        if output.is_dir():
            raise OutputRefused(f"{output} is a folder; name a file to write")
        files, _ = expand(inputs)
        if any(source.kind != "stream" and _same(output, Path(source.locator)) for source in files):
            raise OutputRefused(f"{output} is also an input; writing there would destroy it (choose another -o)")
        if not force:
            raise OutputRefused(f"{output} already exists; use --force to replace it")


def _same(a: Path, b: Path) -> bool:
    """The same file: by identity where both exist (links, other spellings), else by full path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)
