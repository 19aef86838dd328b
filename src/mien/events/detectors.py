"""Behaviour events, found frame by frame for each person: blinks, expression and action-unit
episodes, micro-expressions, pain episodes and compound expressions (docs/events.md).

`EventDetector.update` takes one frame's identified faces and returns the events that ended in that
frame, so live streams get each event as soon as it is over; `finish` closes what is still open
when an input ends. Memory is a few numbers per person and signal, plus one second of expression
history per person.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from mien.events.episodes import Episode, EpisodeTracker, Thresholds
from mien.schema import AU_CODES, EMOTIONS, EYE_AUS

BLINK_MAX_S = 0.5  # longer closures are reported as eye_closure
MICRO_MAX_S = 0.5  # action-unit episodes shorter than this are micro-expressions
# AU intensity is 5 × the probability that a coder would code the AU (docs/action_units.md), and
# an AU is present from 2.5 (P ≥ 0.5). An episode starts when the AU is present and ends below
# P = 0.4; a micro-expression must reach P ≥ 0.7, clearly present, not a flicker at the threshold.
AU_PRESENT = 2.5
MICRO_MIN_PEAK = 3.5
HISTORY_S = 1.0  # per person, for what the face showed at a micro-expression's apex

EYES = Thresholds(on=0.6, off=0.4)
EXPRESSION = Thresholds(on=0.5, off=0.35, min_duration_s=0.08)
ACTION_UNIT = Thresholds(on=AU_PRESENT, off=2.0, min_duration_s=0.08)
PAIN = Thresholds(on=4.0, off=3.0, min_duration_s=0.2)
# Pain episodes are looked for only while the face does not smile (AU12 below presence): a laugh
# closes the eyes and raises the cheeks, which PSPI alone cannot tell from a grimace.
PAIN_NEEDS_NO_SMILE = "AU12"
COMPOUND = Thresholds(on=0.25, off=0.15, min_duration_s=0.2)

# Compound expressions (Du, Tao & Martinez, PNAS 2014): two basic expressions at once, and the AUs
# that their table gives for the compound; at least half of those AUs must be present.
COMPOUNDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "happily_surprised": ("happiness", "surprise", ("AU01", "AU02", "AU12", "AU25")),
    "happily_disgusted": ("happiness", "disgust", ("AU10", "AU12", "AU25")),
    "sadly_fearful": ("sadness", "fear", ("AU01", "AU04", "AU20", "AU25")),
    "sadly_angry": ("sadness", "anger", ("AU04", "AU15")),
    "sadly_surprised": ("sadness", "surprise", ("AU01", "AU04", "AU25", "AU26")),
    "sadly_disgusted": ("sadness", "disgust", ("AU04", "AU10")),
    "fearfully_angry": ("fear", "anger", ("AU04", "AU20", "AU25")),
    "fearfully_surprised": ("fear", "surprise", ("AU01", "AU02", "AU05", "AU20", "AU25")),
    "angrily_surprised": ("anger", "surprise", ("AU04", "AU25", "AU26")),
    "angrily_disgusted": ("anger", "disgust", ("AU04", "AU10", "AU17")),
    "disgustedly_surprised": ("disgust", "surprise", ("AU01", "AU02", "AU05", "AU10")),
}  # fmt: skip

_AU = {code: i for i, code in enumerate(AU_CODES)}
_EMOTION = {name: i for i, name in enumerate(EMOTIONS)}
EVENT_COLUMNS = ("input", "face_id", "kind", "label", "onset", "apex", "offset", "duration", "peak",
                 "mean", "detail")  # fmt: skip


@dataclass
class Event:
    """One row of the events table; times in seconds from the input's start."""

    input: str
    face_id: int
    kind: str  # blink, eye_closure, expression, action_unit, micro_expression, pain, compound
    label: str  # e.g. happiness, AU12, happily_surprised; "eyes" for blinks
    onset: float
    apex: float
    offset: float
    duration: float
    peak: float  # highest value: probability, intensity 0-5, PSPI, eye closure 0-1
    mean: float
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


Signal = tuple[str, str]  # (group, label): ("expression", "happiness"), ("eyes", "eyes") ...


class _Person:
    """Every signal's episode state for one face, and its recent expressions."""

    def __init__(self):
        self.trackers: dict[Signal, EpisodeTracker] = {("eyes", "eyes"): EpisodeTracker(EYES)}
        self.trackers.update({("expression", e): EpisodeTracker(EXPRESSION) for e in EMOTIONS if e != "neutral"})
        self.trackers.update({("action_unit", au): EpisodeTracker(ACTION_UNIT)
                              for au in AU_CODES if au not in EYE_AUS})  # fmt: skip
        self.trackers[("pain", "PSPI")] = EpisodeTracker(PAIN)
        self.trackers.update({("compound", name): EpisodeTracker(COMPOUND) for name in COMPOUNDS})
        self.recent: deque[tuple[float, np.ndarray, float]] = deque()  # time, expressions, eye closure

    def remember(self, time: float, emotions: np.ndarray, eye_closure: float) -> None:
        self.recent.append((time, emotions, eye_closure))
        while self.recent[0][0] < time - HISTORY_S:
            self.recent.popleft()

    def at(self, time: float) -> tuple[str, float]:
        """The most probable non-neutral expression and the eye closure at a recent time."""
        _, probabilities, closure = min(self.recent, key=lambda entry: abs(entry[0] - time))
        return EMOTIONS[1 + int(np.argmax(probabilities[1:]))], closure


def signals(aus: np.ndarray, emotions: np.ndarray, eye_closure: np.ndarray, pspi: float) -> dict[Signal, float]:
    """One face's value of every signal in one frame."""
    smiling = float(aus[_AU[PAIN_NEEDS_NO_SMILE]]) >= AU_PRESENT
    values: dict[Signal, float] = {("eyes", "eyes"): float(np.mean(eye_closure)),
                                   ("pain", "PSPI"): 0.0 if smiling else pspi}  # fmt: skip
    values.update({("expression", e): float(emotions[_EMOTION[e]]) for e in EMOTIONS if e != "neutral"})
    values.update({("action_unit", au): float(aus[_AU[au]]) for au in AU_CODES if au not in EYE_AUS})
    for name, (first, second, cues) in COMPOUNDS.items():
        cues_present = sum(float(aus[_AU[au]]) >= AU_PRESENT for au in cues)
        both = min(float(emotions[_EMOTION[first]]), float(emotions[_EMOTION[second]]))
        values[("compound", name)] = both if 2 * cues_present >= len(cues) else 0.0
    return values


class EventDetector:
    """Stage: events of one input. Call ``reset(input)`` before each input."""

    def __init__(self):
        self.reset("")

    def reset(self, input: str) -> None:
        self.input = input
        self.people: dict[int, _Person] = {}

    def update(self, time: float, face_ids: np.ndarray, aus: np.ndarray, emotions: np.ndarray,
               eye_closure: np.ndarray, pspi: np.ndarray) -> list[Event]:  # fmt: skip
        """One frame: (N,) ids, (N, len(AU_CODES)), (N, 8), (N, 2), (N,). Faces with id -1 are skipped.

        People not in this frame have their open episodes ended once they have been gone too
        long, so a live stream reports them when they leave, not when the stream ends."""
        events = self.absent(time, {int(i) for i in face_ids})
        for i, face_id in enumerate(face_ids):
            if face_id < 0:
                continue
            person = self.people.setdefault(int(face_id), _Person())
            values = signals(aus[i], emotions[i], eye_closure[i], float(pspi[i]))
            person.remember(time, emotions[i], values[("eyes", "eyes")])
            ended = [(key, tracker.update(time, values[key])) for key, tracker in person.trackers.items()]
            events += self._events(int(face_id), person, ended)
        return events

    def absent(self, time: float, present: set[int] = frozenset()) -> list[Event]:
        """End the open episodes of people not ``present`` who have been unseen too long."""
        events: list[Event] = []
        for face_id, person in self.people.items():
            if face_id not in present:
                ended = [(key, tracker.flush_if_gone(time)) for key, tracker in person.trackers.items()]
                events += self._events(face_id, person, ended)
        return events

    def finish(self) -> list[Event]:
        """Close every open episode: the input has ended."""
        events: list[Event] = []
        for face_id, person in self.people.items():
            ended = [(key, tracker.flush_if_gone(None)) for key, tracker in person.trackers.items()]
            events += self._events(face_id, person, ended)
        return events

    def _events(self, face_id: int, person: _Person, ended: list[tuple[Signal, Episode | None]]) -> list[Event]:
        events = []
        for (group, label), episode in ended:
            if episode is None:
                continue
            if group == "eyes":
                events.append(self._event(face_id, "blink" if episode.duration <= BLINK_MAX_S else "eye_closure",
                                          label, episode))  # fmt: skip
                continue
            events.append(self._event(face_id, group, label, episode))
            if group == "action_unit" and episode.duration < MICRO_MAX_S and episode.peak >= MICRO_MIN_PEAK:
                expression, closure = person.at(episode.apex)
                if closure < EYES.off:  # lids squeezed in a blink are not a micro-expression
                    events.append(self._event(face_id, "micro_expression", label, episode,
                                              f"expression at apex: {expression}"))  # fmt: skip
        return events

    def _event(self, face_id: int, kind: str, label: str, episode: Episode, detail: str = "") -> Event:
        return Event(self.input, face_id, kind, label, round(episode.onset, 4), round(episode.apex, 4),
                     round(episode.offset, 4), round(episode.duration, 4), float(episode.peak),
                     float(episode.mean), detail)  # fmt: skip
