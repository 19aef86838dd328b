"""Events on sequences with known timing, built from real frames of the sample clip: a frame held
still, another frame cut in for a known number of frames, the first again."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from media_factory import FPS, frames_of, write_video

import mien
from mien.pipeline import Analyzer

TWO_FRAMES = 2 / FPS
BLINKS_AT = (40, 80, 120)  # first closed frame of each blink
BLINK_FRAMES = 4  # 160 ms, a typical blink
SMILE = range(50, 75)  # one second of smile between two neutral stretches


@pytest.fixture(scope="module")
def clip(media):
    return frames_of(media("face_video"), 472)


@pytest.fixture(scope="module")
def raw(media):
    """The clip's measures without smoothing, to choose its frames by what mien sees in them."""
    return mien.analyze(media("face_video"), smooth=False).df


def _sequence(path, base: np.ndarray, insert: np.ndarray, inserted: list[int], length: int):
    frames = [insert if i in inserted else base for i in range(length)]
    return str(write_video(path, frames))


@pytest.fixture(scope="module")
def blinking(clip, raw, tmp_path_factory):
    closure = raw[["eye_closure_left", "eye_closure_right"]].mean(axis=1)
    open_frame = int(raw.frame[(closure < 0.1) & (raw.neutral > raw.neutral.median())].iloc[0])
    closed_frame = int(raw.frame[closure.idxmax()])
    inserted = [start + k for start in BLINKS_AT for k in range(BLINK_FRAMES)]
    return _sequence(tmp_path_factory.mktemp("events") / "blinks.mp4", clip[open_frame], clip[closed_frame],
                     inserted, 160)  # fmt: skip


def test_blinks_are_counted_and_timed_within_two_frames(blinking):
    events = mien.analyze(blinking).events()
    blinks = events[events.kind == "blink"].sort_values("onset")
    assert len(blinks) == len(BLINKS_AT)
    np.testing.assert_allclose(blinks.onset, np.array(BLINKS_AT) / FPS, atol=TWO_FRAMES)
    np.testing.assert_allclose(blinks.offset, (np.array(BLINKS_AT) + BLINK_FRAMES) / FPS, atol=TWO_FRAMES)
    assert (events.kind != "eye_closure").all()


def test_a_smile_episode_has_the_right_onset_apex_and_offset(clip, raw, tmp_path):
    calm = raw[raw.AU12.rolling(11, center=True).max() < 1.0]  # no smile for a while, by the muscle too
    neutral_frame = int(calm.frame[calm.neutral.idxmax()])
    happy_frame = int(raw.frame[raw.happiness.idxmax()])
    path = _sequence(tmp_path / "smile.mp4", clip[neutral_frame], clip[happy_frame], list(SMILE), 125)
    events = mien.analyze(path).events()
    smiles = events[(events.kind == "expression") & (events.label == "happiness")]
    assert len(smiles) == 1
    smile = smiles.iloc[0]
    assert smile.onset == pytest.approx(SMILE.start / FPS, abs=TWO_FRAMES)
    assert smile.offset == pytest.approx(SMILE.stop / FPS, abs=TWO_FRAMES)
    assert smile.onset <= smile.apex < smile.offset and smile.peak > 0.5
    au12 = events[(events.kind == "action_unit") & (events.label == "AU12")]
    assert len(au12) == 1 and au12.iloc[0].onset == pytest.approx(SMILE.start / FPS, abs=TWO_FRAMES)
    # One second is not a micro-expression; no blink was shown.
    assert not ((events.kind == "micro_expression") & (events.label == "AU12")).any()
    assert not (events.kind == "blink").any()


def test_live_events_arrive_before_the_input_ends_and_equal_the_replay(blinking, tmp_path):
    arrivals: list[tuple[int, str]] = []
    batches: list = []
    with Analyzer() as analyzer:
        analyzer.run([blinking], on_batch=batches.append,
                     on_events=lambda events: arrivals.extend((len(batches), e.kind) for e in events))  # fmt: skip
    blinks_seen_before_any_rows = [kind for batches_so_far, kind in arrivals if batches_so_far == 0 and kind == "blink"]
    assert len(blinks_seen_before_any_rows) == len(BLINKS_AT)  # each blink came as it ended

    result = mien.analyze(blinking)
    saved = mien.read(result.save(tmp_path / "blinks.parquet"))
    pd.testing.assert_frame_equal(saved.events(), result.events())


def test_summary_reports_blink_rate_and_time_visible(blinking):
    summary = mien.analyze(blinking).summary()
    assert len(summary) == 1
    person = summary.iloc[0]
    assert person.blinks == len(BLINKS_AT)
    assert person.seconds_visible == pytest.approx(160 / FPS, abs=0.4)  # minus the unconfirmed first frames
    assert person.blinks_per_minute == pytest.approx(len(BLINKS_AT) / (person.seconds_visible / 60))
    per_input = mien.analyze(blinking).summary(per="input")
    assert per_input.iloc[0].people == 1


def test_summarize_and_events_from_the_command_line(blinking, tmp_path):
    from typer.testing import CliRunner

    from mien.cli import app

    runner = CliRunner()
    results, events, summary = tmp_path / "r.parquet", tmp_path / "events.csv", tmp_path / "summary.csv"
    done = runner.invoke(app, ["analyze", blinking, "-o", str(results), "--events", str(events)])
    assert done.exit_code == 0, done.output
    assert (pd.read_csv(events).kind == "blink").sum() == len(BLINKS_AT)
    live = runner.invoke(app, ["analyze", blinking, "-o", str(tmp_path / "live.csv"), "--events", "-", "-q"])
    printed = [json.loads(line) for line in live.output.splitlines() if line.startswith("{")]
    assert sum(event["kind"] == "blink" for event in printed) == len(BLINKS_AT)
    done = runner.invoke(app, ["summarize", str(results), "-o", str(summary)])
    assert done.exit_code == 0, done.output
    assert pd.read_csv(summary).blinks.iloc[0] == len(BLINKS_AT)
    bad = runner.invoke(app, ["summarize", str(tmp_path / "missing.parquet")])
    assert bad.exit_code == 1 and "no such file" in bad.output
    calibrated = runner.invoke(app, ["summarize", str(results), "--baseline", "auto", "-o", str(summary), "--force"])
    assert calibrated.exit_code == 0 and pd.read_csv(summary).AU12_mean.iloc[0] >= 0
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    alien = runner.invoke(app, ["summarize", str(foreign)])
    assert alien.exit_code == 1 and "not a mien results file" in alien.output
    wrong = runner.invoke(app, ["summarize", str(results), "--baseline", "soon"])
    assert wrong.exit_code == 1 and "START-END" in wrong.output and "Traceback" not in wrong.output


def test_baseline_removes_each_persons_resting_level(face_video_result):
    result = face_video_result
    corrected = result.baselined().df
    person = corrected[corrected.face_id >= 0]
    raw = result.df.loc[person.index]
    # The person's most neutral frames move towards zero (she never fully rests in this clip)...
    calmest = raw["neutral"] >= raw["neutral"].quantile(0.9)
    before, after = raw.loc[calmest, ["AU04", "AU12", "AU25"]].median(), person.loc[calmest, ["AU04", "AU12", "AU25"]].median()
    assert (after <= before / 2).all() and after.max() < 1.0, (before, after)
    # ...while the laughing end keeps its smile and the crying start its lowered brows (this
    # person never rests: a baseline taken from either would erase the other), nothing negative.
    assert person[person.timestamp > 16].AU12.mean() > 2.0
    assert person[person.timestamp < 4].AU04.mean() > 1.5
    assert (person[["AU01", "AU04", "AU12"]] >= 0).all().all()
    # A window baseline: the first two seconds are this person's zero.
    windowed = result.baselined(window=(0, 2)).df
    first = windowed[(windowed.face_id >= 0) & (windowed.timestamp <= 2)]
    assert (first.AU12 == 0).mean() >= 0.5  # at or below the window's median: zero
