"""Real bugs: one line for the user that names a file holding the traceback, for the report.

Everything a user can cause (a bad option, an unreadable input, a full disk) is said in one line
without a traceback elsewhere; what reaches here is mien's fault, and the traceback is what the
maintainers need, so it is kept rather than printed over the user's terminal.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

from mien.models.registry import cache_dir
from mien.version import __version__


# A process's bug log folder when not the user cache's ``logs``: mien serve sets it to its data
# folder's, where the service keeps everything; its job workers inherit it.
LOG_FOLDER_VARIABLE = "MIEN_LOG_DIR"


def log_bug(error: BaseException, folder: Path | None = None) -> str:
    """Write ``error``'s traceback to a log file in ``folder`` (default: $MIEN_LOG_DIR, else the
    user cache's ``logs``); the line to show the user, naming that file."""
    text = f"mien {__version__}\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    name = f"internal-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    default = Path(os.environ[LOG_FOLDER_VARIABLE]) if os.environ.get(LOG_FOLDER_VARIABLE) else cache_dir() / "logs"
    for folder in (folder or default, Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            where = folder / name
            with open(where, "a", encoding="utf-8") as log:
                log.write(text + "\n")
            break
        except OSError:
            where = None
    kept = f"the traceback is in {where}" if where else "the traceback could not be saved"
    return f"internal error ({type(error).__name__}: {error}); this is a bug in mien: {kept}; please report it"
