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


def _table3_scale_files(folder):
    import pandas as pd

    pd.DataFrame([{"scheme": "R0", "epoch_s_project": 6.4, "n_train_examples": 12800, "batch_size": 32},
                  {"scheme": "R1", "epoch_s_project": 4.0, "n_train_examples": 800, "batch_size": 8},
                  {"scheme": "features", "epoch_s_project": float("nan"), "n_train_examples": float("nan"),
                   "batch_size": float("nan")}]).to_csv(folder / "table3_scale_cpu2.csv", index=False)
    (folder / "table3_scale_cpu2.json").write_text(json.dumps({"split": {"train": 800}}))


def test_mcclstm_schemes_are_projected_from_their_own_measured_epochs(tmp_path):
    """A throughput row times one model per paper (R3's row for R0, MCCLSTM's for R1): the projection
    overstated R0 and R1 up to 10x (Table 3: 22.8 h vs 9.5 h measured); their own epochs replace it."""
    from common.registry import available_tables

    _table3_scale_files(tmp_path)
    epochs = scale.read_table3_epochs(tmp_path, "cpu2")
    assert epochs["R0"]["s_per_chunk"] == pytest.approx(6.4 / 12800)
    assert epochs["R1"]["s_per_chunk"] == pytest.approx(4.0 / (800 * 16))  # 16 chunks per track
    assert scale.read_table3_epochs(tmp_path / "absent", "cpu2") == {}
    spec = available_tables()["mcclstm.table4_ballroom"]()
    rows = [{"device": "cpu2", "benchmark": "R3 training, 32 chunks", "unit": "chunks/s", "rate": 100.0},
            {"device": "cpu2", "benchmark": "MCCLSTM training, 8 tracks", "unit": "chunks/s", "rate": 100.0}]
    stand_in = scale.STAND_INS["ballroom"]
    training = {t["scheme"]: t for t in scale.table_training(spec, stand_in, 16.0, rows, None, None, epochs)}
    assert training["R0"]["epoch_s"] == pytest.approx(6.4 / 12800 * stand_in.train_tracks * 16)
    assert training["R1"]["epoch_s"] == pytest.approx(4.0 / 12800 * stand_in.train_tracks * 16)
    assert "bench-table3" in training["R0"]["benchmark"]
    assert training["R3"]["epoch_s"] == pytest.approx(stand_in.train_tracks * 16 / 100.0)  # not measured: the row


def test_duration_scaled_stand_in_projects_to_the_real_track_length(tmp_path, monkeypatch):
    from dataclasses import replace

    real = scale.STAND_INS["soundtracks"]
    monkeypatch.setitem(scale.STAND_INS, "soundtracks", replace(real, seconds=12.0, run_seconds=6.0))
    frame, _, json_path = scale.run_benchmark("mcclstm.table5_soundtracks", [2, 4], tmp_path / "out",
                                              tmp_path / "work", workers=1, in_process=True,
                                              stand_ins=tmp_path / "stand_ins", records=None)
    meta = json.loads(json_path.read_text())
    assert meta["seconds_per_track_run"] == 6.0 and meta["duration_scale"] == 2.0
    growth = frame[frame.kind == "growth"].set_index("stage")
    sized = frame[(frame.kind != "growth") & (frame.stage == "features")].set_index("tracks")
    assert growth.loc["features", "duration_scale"] == 2.0 and growth.loc["index", "duration_scale"] == 1.0
    assert growth.loc["features", "projected_s_linear"] == pytest.approx(
        2.0 * sized.loc[4, "seconds"] * real.full_tracks / 4)


def test_reproject_keeps_the_measured_stages_and_redoes_the_training(tmp_path):
    frame, csv_path, json_path = scale.run_benchmark("mcclstm.table5_soundtracks", [2, 4], tmp_path,
                                                     tmp_path / "work", workers=1, in_process=True, seconds=3.0,
                                                     stand_ins=tmp_path / "stand_ins", records=None)
    before = json.loads(json_path.read_text())
    _table3_scale_files(tmp_path)
    summary, path = scale.reproject(["mcclstm.table5_soundtracks", "msecnn.table1_mtat"], tmp_path, records=None)
    after = json.loads(json_path.read_text())
    assert after["sizes_run"] == before["sizes_run"] and "reprojected" in after
    measured = {t["scheme"]: t for t in after["training_cpu"]}
    assert "bench-table3" in measured["R0"]["benchmark"] and "bench-table3" in measured["R1"]["benchmark"]
    assert list(summary.table) == ["mcclstm.table5_soundtracks"]  # no stored msecnn results: left out
    assert path.name.startswith("scale_summary_")
