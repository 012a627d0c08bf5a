"""Tiny settings and a generated ISMIR 2004 tree for the LSTM segment tests."""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.features.scattering import ScatteringConfig
from papers.lstm_segment import config as cfg
from tests.ismir2004_fixtures import write_ismir2004_tree

#: Window 1024 samples (46 ms), hop 512: 130 frames of 55 coefficients for a 3 s clip.
TINY_SCATTERING = ScatteringConfig(sample_rate=22050, J=7, Q=(2, 1), T=1024, oversampling=1,
                                   block_frames=64, context_frames=8)


def tiny_settings(epochs: int = 2) -> cfg.Settings:
    """The paper's schemes (names, layer counts, schedules) shrunk to a few units and epochs."""
    dnns = tuple(replace(d, hidden_units=tuple(8 for _ in d.hidden_units), batch_size=64,
                         schedule=replace(d.schedule, max_epochs=epochs, learning_rate=1e-3))
                 for d in cfg.DNNS)
    lstms = tuple(replace(m, layers=tuple((4, 6) for _ in m.layers), num_streams=4, bptt_length=8,
                          schedule=replace(m.schedule, max_epochs=epochs, learning_rate=5e-3))
                  for m in cfg.LSTMS)
    return cfg.Settings(scattering=TINY_SCATTERING, dnns=dnns, lstms=lstms,
                        segment=replace(cfg.SegmentConfig(), k_grid=(0.5, 0.7, 0.9)),
                        validation_fraction=1 / 3)


@pytest.fixture(scope="session")
def ismir_tree(tmp_path_factory):
    """Three training and two development mp3 clips (3 s) per class in the official layout."""
    return write_ismir2004_tree(tmp_path_factory.mktemp("ismir2004") / "ismir04_genre",
                                {"training": 3, "development": 2}, seconds=3.0)


@pytest.fixture(scope="session")
def shared_work(tmp_path_factory):
    """A work folder shared by the end-to-end tests, so the feature cache is filled once."""
    return tmp_path_factory.mktemp("lstm_segment_work")
