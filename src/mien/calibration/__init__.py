"""The one table of measured constants: AU model, head-frame reference shape, eye closure.

Every number the AU, eye and PSPI code uses comes from ``au_model.json`` next to this file, which
``tools/calibrate.py`` writes from named data (FER2013 + FER+ votes, and the published table of
AUs per expression in ``mien.train.au_priors``). Nothing in those stages is typed in by hand;
``tests/test_calibration.py`` holds the code and the table together.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).with_name("au_model.json")


@lru_cache(maxsize=4)
def load_table(path: str | None = None) -> dict:
    """The calibration table (the shipped one, or a table written by ``mien train aus``)."""
    where = Path(path) if path else TABLE
    try:
        return json.loads(where.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{where}: not a mien AU calibration table ({error})") from None
