"""A summary table as text a person reads in a terminal: one section per person (or input), the
per-measure statistics as a small table (measure × mean/peak/rate...), the rest as name: value.

A plain DataFrame print of ~100 columns is cut to a dozen with '...'; nothing is left out here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

IDENTITY = ("input", "face_id")
_STAT = re.compile(r"^(?P<measure>.+)_(?P<stat>mean|peak|rate|sd|min|max|median)$")


def _value(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _title(row: pd.Series) -> str:
    where = Path(str(row["input"])).name if "input" in row else "all inputs"
    return f"{where}, person {row['face_id']}" if "face_id" in row else where


def summary_text(summary: pd.DataFrame) -> str:
    """Every column of ``summary`` (from Result.summary()), laid out per row."""
    measures = [c for c in summary.columns if c not in IDENTITY]
    by_measure: dict[str, dict[str, str]] = {}
    plain: list[str] = []
    for column in measures:
        found = _STAT.match(column)
        # A lone statistic (head_speed_mean) reads better as a plain line than a one-cell table.
        if found and sum(1 for c in measures if c.startswith(found["measure"] + "_") and _STAT.match(c)) > 1:
            by_measure.setdefault(found["measure"], {})[found["stat"]] = column
        else:
            plain.append(column)
    stats = [s for s in ("mean", "peak", "rate", "sd", "min", "max", "median")
             if any(s in columns for columns in by_measure.values())]  # fmt: skip
    blocks = []
    for _, row in summary.iterrows():
        lines = [f"== {_title(row)} " + "=" * max(3, 60 - len(_title(row)))]
        width = max((len(c) for c in plain), default=0)
        lines += [f"{column:<{width}}  {_value(row[column])}" for column in plain]
        if by_measure:
            table = pd.DataFrame({stat: [_value(row[cols[stat]]) if stat in cols else "" for cols in by_measure.values()]
                                  for stat in stats}, index=list(by_measure))  # fmt: skip
            lines += ["", table.to_string()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
