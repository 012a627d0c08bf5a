"""Shared pytest fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Feature extraction in the test process (no worker start-up per tiny tree); the tests of the
# extraction pool ask for their workers explicitly.
os.environ.setdefault("REPRO_FEATURE_WORKERS", "1")

import pytest

from tests.audio_fixtures import GTZAN_MINI


@pytest.fixture(scope="session")
def gtzan_mini():
    """Path of ``../shared/data/gtzan-mini``; the test is skipped, saying so, when it is absent."""
    if not (GTZAN_MINI / "genres").is_dir():
        pytest.skip(f"gtzan-mini not found at {GTZAN_MINI} (expected ../shared/data/gtzan-mini beside the repo)")
    return GTZAN_MINI
