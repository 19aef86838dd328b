"""mien: facial behaviour from images, video and live streams, offline on a CPU.

>>> import mien
>>> r = mien.analyze("interview.mp4")
>>> r.df, r.aus, r.emotions
"""

from mien.api import analyze
from mien.errors import InputError
from mien.pipeline import Analyzer, Options
from mien.result import Result, read
from mien.version import __version__

__all__ = ["analyze", "Analyzer", "Options", "Result", "read", "InputError", "__version__"]
