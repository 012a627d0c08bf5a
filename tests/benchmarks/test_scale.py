"""The scale benchmark's code path at a tiny size: stand-ins in the real layouts, stages, growth fit, outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import scale


def test_growth_exponent_and_projection():
    n = np.array([10, 40, 160])
    assert scale.growth_exponent(n, 0.5 * n) == pytest.approx(1.0)
    assert scale.growth_exponent(n, 0.01 * n ** 2) == pytest.approx(2.0)
    projected = scale.project(n, 0.5 * n, 1000)
    assert projected["projected_s_power"] == pytest.approx(500.0) == projected["projected_s_linear"]
    assert scale.default_sizes(1000, 64) == [4, 16, 64] and scale.default_sizes(10, 64) == [1, 2, 10]


def test_every_tables_dataset_has_a_stand_in():
    from common.registry import available_tables

    assert {f().dataset.name for f in available_tables().values()} <= set(scale.STAND_INS)


@pytest.mark.parametrize("table", ["mcclstm.table5_soundtracks", "crnn_tf.table2_fma"])
def test_a_tiny_run_of_an_mp3_table_writes_its_rows(tmp_path, table):
    frame, csv_path, json_path = scale.run_benchmark(table, [2, 4], tmp_path / "out", tmp_path / "work",
                                                     workers=1, in_process=True, seconds=12.0)
    stages = set(frame.loc[frame.kind != "growth", "stage"])
    assert {"index", "content_hashes", "startup", "features"} <= stages
    growth = frame[frame.kind == "growth"].set_index("stage")
    assert np.isfinite(growth.loc["features", "exponent"]) and growth.loc["features", "projected_s_linear"] > 0
    meta = json.loads(json_path.read_text())
    assert meta["sizes"] == [2, 4] and meta["load_average_start"] is not None and meta["keras_backend"]
    assert all(r["features_computed"] == r["indexed_tracks"] > 0 for r in meta["sizes_run"])
    assert csv_path.exists()
