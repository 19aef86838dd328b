"""Episodes in one signal over time, found one frame at a time with two thresholds (hysteresis).

An episode starts at the first frame the signal reaches ``on`` and ends at the first frame it falls
below ``off`` (offset = that frame's time), or when the face has been unseen for ``max_gap_s``
(offset = just after its last frame). Its apex is the frame of the highest value. Two thresholds
keep noise around one level from cutting an episode into many.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    on: float
    off: float
    min_duration_s: float = 0.0
    max_gap_s: float = 0.5


@dataclass
class Episode:
    onset: float
    apex: float
    offset: float
    peak: float
    total: float = 0.0
    frames: int = 0

    @property
    def duration(self) -> float:
        return self.offset - self.onset

    @property
    def mean(self) -> float:
        return self.total / max(self.frames, 1)


class EpisodeTracker:
    """Open episode state of one signal of one face."""

    def __init__(self, thresholds: Thresholds):
        self.thresholds = thresholds
        self.open: Episode | None = None
        self.last_time: float | None = None
        self.frame_step = 0.04  # seconds between frames, learnt as frames come

    def update(self, time: float, value: float) -> Episode | None:
        """Feed one frame; returns the episode this frame ended, if any."""
        ended = self.flush_if_gone(time)
        if self.last_time is not None and time > self.last_time and ended is None:
            self.frame_step = 0.8 * self.frame_step + 0.2 * (time - self.last_time)
        self.last_time = time
        limits = self.thresholds
        if self.open is None:
            if value >= limits.on:
                self.open = Episode(onset=time, apex=time, offset=time, peak=value, total=value, frames=1)
            return ended
        if value < limits.off:
            finished, self.open = self.open, None
            finished.offset = time
            return finished if finished.duration >= limits.min_duration_s else ended
        episode = self.open
        episode.total += value
        episode.frames += 1
        episode.offset = time
        if value > episode.peak:
            episode.peak, episode.apex = value, time
        return ended

    def flush_if_gone(self, now: float | None) -> Episode | None:
        """End the open episode if the face has not been seen for max_gap_s (now=None: input ended)."""
        if self.open is None or self.last_time is None:
            return None
        if now is not None and now - self.last_time <= self.thresholds.max_gap_s:
            return None
        finished, self.open = self.open, None
        finished.offset = self.last_time + self.frame_step
        return finished if finished.duration >= self.thresholds.min_duration_s else None
