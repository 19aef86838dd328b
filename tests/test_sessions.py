"""One loaded model set, many sessions: threads analysing at once get exactly the rows that
separate runs get, and a session's state (tracker, smoother, events) never leaks into another's."""

from __future__ import annotations

import threading

import pyarrow as pa

from mien.events.replay import events_table
from mien.pipeline import Models


def _analyse(session, spec: str) -> pa.Table:
    batches: list[pa.RecordBatch] = []
    report = session.run([spec], on_batch=batches.append)
    assert not report.failed, report.failed
    return pa.Table.from_batches(batches)


def test_threads_on_one_model_set_give_the_rows_of_separate_runs(media):
    models = Models(max_frames=45)
    specs = [media("single_face_video"), media("face_video"), media("multi_face"), media("happy"),
             media("single_face_video"), media("face_noface_video")]  # fmt: skip
    alone = []
    for spec in specs:  # separate runs: a model set of their own, one after another
        separate = Models(max_frames=45)
        found: list = []
        with separate.session(on_events=found.extend) as session:
            alone.append((_analyse(session, spec), events_table(found)))

    together: list = [None] * len(specs)
    errors: list[BaseException] = []
    start = threading.Barrier(len(specs))

    def work(i: int) -> None:
        try:
            found: list = []
            with models.session(on_events=found.extend) as session:
                start.wait()  # all at once, on the same models
                together[i] = (_analyse(session, specs[i]), events_table(found))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(specs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for spec, (rows, events), (rows_alone, events_alone) in zip(specs, together, alone):
        assert rows.num_rows > 0
        assert rows.equals(rows_alone), spec
        assert events.equals(events_alone), spec


def test_the_library_refuses_nonsense_limits_too():
    import pytest

    for options in ({"max_faces": 0}, {"max_frames": -5}):
        with pytest.raises(ValueError, match="must be 1 or more"):
            Models(**options)
