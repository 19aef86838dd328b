"""Errors a user sees: one line naming the input and the reason, never a traceback."""

from __future__ import annotations


class InputError(Exception):
    """An input that cannot be analysed (missing, empty, not media, undecodable...)."""

    def __init__(self, input: str, reason: str):
        super().__init__(f"{input}: {reason}")
        self.input = input
        self.reason = reason


class InputStopped(Exception):
    """A video that broke part-way: the frames before ``frame`` were analysed and kept."""

    def __init__(self, input: str, frame: int, reason: str):
        super().__init__(f"{input}: stopped at frame {frame}: {reason} (frames before it are kept)")
        self.input = input
        self.frame = frame
        self.reason = reason
