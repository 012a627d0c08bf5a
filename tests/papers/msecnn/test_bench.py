"""Throughput functions used by `make bench` (run here on scaled-down models for speed)."""

from __future__ import annotations

import math

import pytest

from common.models.fcn import FCNConfig
from papers.msecnn.bench import pipeline_throughput, training_throughput

TINY = FCNConfig(filters=(2, 2, 4, 4, 4))


@pytest.mark.parametrize("name", ["FCN-5", "MsE-CNN"])
def test_training_throughput_is_a_positive_rate(name):
    rate = training_throughput(name, 4, 2, warmup_steps=1, model_config=TINY)
    assert math.isfinite(rate) and rate > 0


def test_training_throughput_refuses_empty_runs():
    with pytest.raises(ValueError):
        training_throughput("FCN-5", 0, 1, model_config=TINY)


def test_pipeline_throughput_is_a_positive_rate(tmp_path):
    rate = pipeline_throughput(16, 4, shape=(96, 1366), epochs=1, folder=tmp_path)
    assert math.isfinite(rate) and rate > 0
