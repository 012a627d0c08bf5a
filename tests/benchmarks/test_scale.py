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
                                                     workers=1, in_process=True, seconds=12.0,
                                                     stand_ins=tmp_path / "stand_ins", records=None)
    stages = set(frame.loc[frame.kind != "growth", "stage"])
    assert {"index", "content_hashes", "startup", "features"} <= stages
    assert ("store" in stages) == table.startswith("crnn_tf")  # the clip tables' split stores
    assert sorted(p.name for p in (tmp_path / "stand_ins").iterdir())[0].endswith("-n2-s12")  # kept, shareable
    growth = frame[frame.kind == "growth"].set_index("stage")
    assert np.isfinite(growth.loc["features", "exponent"]) and growth.loc["features", "projected_s_linear"] > 0
    meta = json.loads(json_path.read_text())
    assert meta["sizes"] == [2, 4] and meta["load_average_start"] is not None and meta["keras_backend"]
    assert all(r["features_computed"] == r["indexed_tracks"] > 0 for r in meta["sizes_run"])
    assert csv_path.exists() and len(meta["training_gpu"]) == len(meta["training_cpu"]) > 0
    row = scale.summary_row(frame, meta)
    assert row["sizes"] == "2/4" and len(row["features_s"].split("/")) == 2 and row["cpu_data_s"] > 0


GPU_ROWS = [{"device": "GPU-X", "benchmark": "MsE-CNN training, 96x1366 clips", "unit": "clips/s", "rate": 100.0},
            {"device": "GPU-X", "benchmark": "Timbre CNN training", "unit": "patches/s", "rate": 50.0},
            {"device": "GPU-X", "benchmark": "R3 training, 32 chunks", "unit": "chunks/s", "rate": float("nan")}]


def test_training_projection_from_throughput_rows():
    out = scale.training_projection(GPU_ROWS, "MsE-CNN training", 1000, 50, 2)
    assert out["epoch_s"] == pytest.approx(10.0) and out["protocol_s"] == pytest.approx(1000.0)
    assert out["device"] == "GPU-X" and not out["reason"]
    for benchmark, reason in [(None, "no throughput benchmark"), ("R3 training", "no usable throughput row"),
                              ("Timbre CNN", "unit patches/s")]:
        missing = scale.training_projection(GPU_ROWS, benchmark, 1000, 50, 2)
        assert np.isnan(missing["protocol_s"]) and missing["reason"].startswith(reason)
    assert np.isnan(scale.training_projection(GPU_ROWS, "MsE-CNN training", 1000, None, 2)["protocol_s"])


def test_read_throughput_splits_gpu_and_cpu_rows(tmp_path):
    import pandas as pd

    pd.DataFrame(GPU_ROWS).to_csv(tmp_path / "throughput_GPU-X.csv", index=False)
    pd.DataFrame([{**GPU_ROWS[0], "device": "cpu2", "rate": 0.5}]).to_csv(tmp_path / "throughput_cpu2.csv",
                                                                           index=False)
    assert {r["device"] for r in scale.read_throughput(tmp_path, gpu=True)} == {"GPU-X"}
    assert [r["rate"] for r in scale.read_throughput(tmp_path, gpu=False, device="cpu2")] == [0.5]


def test_summary_row_from_a_scale_frame():
    import pandas as pd

    sizes = [10, 40]
    rows = [{"tracks": n, "stage": stage, "seconds": k * n, "peak_rss_mib": 100.0 + n, "disk_bytes": 10 * n,
             "kind": None} for n in sizes for k, stage in [(0.1, "index"), (1.0, "features"), (0.5, "epoch:A")]]
    rows += [{"stage": stage, "exponent": 1.0, "projected_s_power": k * 1000, "projected_s_linear": k * 1000,
              "rss_exponent": 0.2, "projected_disk_bytes": 10_000.0, "kind": "growth"}
             for k, stage in [(0.1, "index"), (1.0, "features"), (0.5, "epoch:A")]]
    training = [{"scheme": "A", "protocol_s": 500.0, "device": "GPU-X", "reason": ""},
                {"scheme": "B", "protocol_s": float("nan"), "device": None, "reason": "no throughput benchmark"}]
    meta = {"table": "p.t", "dataset": "d", "full_tracks": 1000, "sizes": sizes, "size_note": "",
            "training_cpu": training[:1], "training_gpu": training}
    row = scale.summary_row(pd.DataFrame(rows), meta)
    assert row["features_s"] == "10.00/40.00" and row["epoch_s"] == "5.00/20.00" and row["store_s"] == ""
    assert row["cpu_data_s"] == pytest.approx(1100.0) and row["cpu_total_s"] == pytest.approx(1600.0)
    assert row["peak_rss_mib"] == 140.0 and row["disk_bytes_full"] == 30_000.0
    assert row["gpu_training_s"] == 500.0 and "not measured" in row["gpu_note"] and "B (no throughput" in row["gpu_note"]
