"""Events from a finished results table: its rows replayed, frame by frame, through the same
EventDetector that runs live during analysis, so both give the same events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mien.events.detectors import EVENT_COLUMNS, Event, EventDetector
from mien.schema import AU_CODES, EMOTIONS

EYE_COLUMNS = ["eye_closure_left", "eye_closure_right"]


def events_table(events: list[Event]) -> pd.DataFrame:
    """Events as a DataFrame with the events table's columns, ordered by input, face and onset."""
    table = pd.DataFrame([e.as_dict() for e in events], columns=list(EVENT_COLUMNS))
    table["face_id"] = table["face_id"].astype("int32")
    return table.sort_values(["input", "face_id", "onset", "kind", "label"], kind="stable", ignore_index=True)


def events_from_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Replay a mien results table (one row per face per frame) into its events."""
    identified = rows[rows["face_id"].ge(0) & rows["face_score"].notna()]
    events: list[Event] = []
    detector = EventDetector()
    for source, one_input in identified.groupby("input", sort=False):
        detector.reset(str(source))
        one_input = one_input.sort_values(["frame", "face_id"], kind="stable")
        times = one_input["timestamp"].to_numpy()
        ids = one_input["face_id"].to_numpy()
        aus = one_input[list(AU_CODES)].to_numpy(np.float32)
        emotions = one_input[list(EMOTIONS)].to_numpy(np.float32)
        eyes = one_input[EYE_COLUMNS].to_numpy(np.float32)
        pspi = one_input["pspi"].to_numpy(np.float32)
        frames = one_input["frame"].to_numpy()
        starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(one_input)]):
            frame = slice(start, end)
            events += detector.update(float(times[start]), ids[frame], aus[frame], emotions[frame],
                                      eyes[frame], pspi[frame])  # fmt: skip
        events += detector.finish()
    return events_table(events)
