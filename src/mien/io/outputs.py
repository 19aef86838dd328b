"""Where mien's commands may write: never over one of their own inputs, over an existing file only
when asked (--force), and never two outputs into one file."""

from __future__ import annotations

import os
from pathlib import Path

from mien.io.sources import expand


class OutputRefused(ValueError):
    pass


def check_outputs(outputs: list[Path], inputs: list[str], force: bool) -> None:
    """Raise OutputRefused, with the fix, for the first output that must not be written.
    ``inputs``: what the command reads, as given (files, folders, globs; media or results)."""
    seen: list[Path] = []
    for output in outputs:
        if any(_same(output, other) for other in seen):
            raise OutputRefused(f"{output} is named for two outputs; give each its own file")
        seen.append(output)
        if not output.exists():
            continue  # nothing there to lose, and a file that does not exist is no input
        if output.is_dir():
            raise OutputRefused(f"{output} is a folder; name a file to write")
        files, _ = expand(inputs)
        read = [Path(spec) for spec in inputs] + [Path(source.locator) for source in files if source.kind != "stream"]
        if any(_same(output, path) for path in read):
            raise OutputRefused(f"{output} is also an input; writing there would destroy it (choose another -o)")
        if not force:
            raise OutputRefused(f"{output} already exists; use --force to replace it")


def _same(a: Path, b: Path) -> bool:
    """The same file: by identity where both exist (links, other spellings), else by full path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)
