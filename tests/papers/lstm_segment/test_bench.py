"""The frame-model throughput rows: both feeding paths train the same minibatches and report a rate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from papers.lstm_segment import bench
from papers.lstm_segment.config import DNNS, LSTMS


@pytest.mark.parametrize("path", ["minimal", "project"])
def test_lstm_and_dnn_throughput_on_a_tiny_model(path):
    lstm = replace(LSTMS[0], layers=((3, 4),), num_streams=2, bptt_length=4)
    assert bench.lstm_training_throughput(lstm, n_batches=2, path=path) > 0
    dnn = replace(DNNS[0], hidden_units=(4,), batch_size=8)
    assert bench.dnn_training_throughput(dnn, n_batches=3, path=path) > 0


def test_rows_are_named_by_scheme_for_the_scale_projection():
    from benchmarks.scale import scheme_benchmark
    from common.registry import available_tables

    names = [name for name, unit, _ in bench.BENCHMARKS]
    assert all(unit == "frames/s" for _, unit, _ in bench.BENCHMARKS)
    for scheme in available_tables()["lstm_segment.table2_ismir2004"]().trainable():
        assert any(name.startswith(scheme_benchmark("lstm_segment", scheme)) for name in names), scheme.name
    with pytest.raises(ValueError):
        bench.lstm_training_throughput(LSTMS[0], path="other")
