"""The Table 3 full-scale benchmark (benchmarks/table3_scale.py) on a tiny stand-in: outputs, not timings."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmarks import table3_scale as bench
from common.datasets import gtzan
from common.errors import DatasetError

ROOT = Path(__file__).resolve().parents[2]

#: The brief's columns, first and in this order.
ANSWER_COLUMNS = ["scheme", "epoch_s_project", "epoch_s_minimal", "overhead_ratio", "mean_epochs_last_run",
                  "projected_s"]


def _record(path: Path, scheme: str, fold: int, epochs: int, finished: str = "2026-01-01T00:00:00", **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"scheme": scheme, "fold": fold, "metrics": {"accuracy": 50.0},
                                "details": {"epochs_run": epochs}, "finished": finished, **extra}))


def test_tracks_are_spread_evenly_over_the_genres():
    counts = bench.tracks_per_genre(1003, gtzan.GENRES)
    assert sum(counts.values()) == 1003
    assert counts["blues"] == counts["country"] == 101 and counts["disco"] == counts["rock"] == 100


def test_generated_stand_in_has_gtzan_layout_and_format(tmp_path):
    info = bench.build_stand_in(tmp_path / "data", 12, 1.5, source=None)
    index = gtzan.index(tmp_path / "data")
    assert len(index.tracks) == 12 and not index.problems and not index.unexpected
    assert [t.track_id for t in index.tracks][:3] == ["blues.00000", "blues.00001", "classical.00000"]
    signal, rate = sf.read(str(index.tracks[0].path))
    assert rate == 22050 and signal.shape == (int(1.5 * 22050),)
    assert sf.info(str(index.tracks[0].path)).subtype == "PCM_16"
    assert info["source_kind"] == "generated noise and tones" and info["source"] is None
    assert "never for accuracy" in (tmp_path / "data" / "STAND-IN-NOT-GTZAN.txt").read_text()


def test_stand_in_loops_the_real_clips_of_each_genre(gtzan_mini, tmp_path):
    from common.audio.decoding import load_audio

    info = bench.build_stand_in(tmp_path / "data", 20, 3.0, source=gtzan_mini)
    assert info["source_kind"] == "looped source clips"
    mini = gtzan.index(gtzan_mini)
    first_blues = next(t for t in mini.tracks if t.label == "blues")
    written, _ = sf.read(str(tmp_path / "data" / "genres" / "blues" / "blues.00000.wav"), dtype="float32")
    expected = load_audio(first_blues.path, 22050)[:len(written)]
    assert np.max(np.abs(written - expected)) < 2e-4  # the clip itself, to 16-bit precision
    second, _ = sf.read(str(tmp_path / "data" / "genres" / "blues" / "blues.00001.wav"), dtype="float32")
    assert not np.allclose(second, written)  # track 1 starts elsewhere in the loop


def test_holdout_split_is_stratified_and_refuses_too_few_tracks(tmp_path):
    bench.build_stand_in(tmp_path / "data", 40, 0.2, source=None)
    (split,) = bench.StratifiedHoldout().make_splits(gtzan.index(tmp_path / "data"))
    assert (len(split.train), len(split.validation), len(split.test)) == (20, 10, 10)
    assert not set(split.train) & set(split.validation) and not set(split.test) & (set(split.train) |
                                                                                   set(split.validation))
    bench.build_stand_in(tmp_path / "small", 20, 0.2, source=None)
    with pytest.raises(DatasetError, match="at least 3 per class"):
        bench.StratifiedHoldout().make_splits(gtzan.index(tmp_path / "small"))


def test_full_size_stand_in_uses_the_tables_own_protocol(tmp_path):
    bench.build_stand_in(tmp_path / "data", 100, 0.1, source=None)
    spec, note = bench.benchmark_spec(tmp_path / "data")
    assert spec.protocol.n_folds == 10 and note.startswith("the table's protocol")
    (split, *_) = spec.protocol.make_splits(gtzan.index(tmp_path / "data"))
    assert (len(split.train), len(split.validation), len(split.test)) == (80, 10, 10)


def test_last_run_epochs_reads_the_old_layout(tmp_path):
    folds = tmp_path / "mcclstm" / "table3_gtzan" / "folds"
    _record(folds / "R0" / "fold_00.json", "R0", 0, 12)
    _record(folds / "R0" / "fold_01.json", "R0", 1, 20)
    _record(folds / "R4" / "fold_00.json", "R4", 0, 7)
    epochs, source = bench.last_run_epochs(tmp_path / "mcclstm")
    assert epochs == {"R0": {0: 12, 1: 20}, "R4": {0: 7}} and "old layout" in source["layout"]


def test_last_run_epochs_takes_the_records_the_manifest_names(tmp_path):
    paper = tmp_path / "mcclstm"
    folds = paper / "table3_gtzan" / "folds"
    _record(folds / "R0" / "fold_00" / "aaaa.json", "R0", 0, 12, finished="2026-01-02")
    _record(folds / "R0" / "fold_00" / "bbbb.json", "R0", 0, 30, finished="2026-01-01")
    (paper / "table3_gtzan_manifest.json").write_text(json.dumps({"records": {"R0/fold_00": "bbbb"}}))
    epochs, source = bench.last_run_epochs(paper)
    assert epochs == {"R0": {0: 30}} and "manifest" in source["layout"]
    (paper / "table3_gtzan_manifest.json").unlink()  # without the manifest: the latest finished
    assert bench.last_run_epochs(paper)[0] == {"R0": {0: 12}}


def test_last_run_epochs_of_an_absent_run_is_empty(tmp_path):
    assert bench.last_run_epochs(tmp_path / "nothing")[0] == {}


def test_projection_formula():
    assert bench.projected_seconds(2.0, 1.0, 4.0, 10) == pytest.approx(10 * (4 * 2.0 + 1.0))
    assert bench.projected_seconds(2.0, 1.0, 4.0, 10, first_epoch_extra_s=0.5) == pytest.approx(
        10 * (4 * 1.5 + 0.5 + 1.0))
    assert math.isnan(bench.projected_seconds(2.0, 1.0, math.nan, 10))


def test_module_imports_no_tensorflow():
    code = "import sys, benchmarks.table3_scale; print(any(m.split('.')[0] == 'tensorflow' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_scheme_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--tracks", "30", "--seconds", "4", "--schemes", "R9", "--out", str(tmp_path)])


@pytest.mark.e2e
def test_smoke_run_writes_the_table_and_sidecar(tmp_path):
    paper = tmp_path / "records" / "mcclstm"
    folds = paper / "table3_gtzan" / "folds"
    for scheme, epochs in (("R0", (3, 5)), ("R1", (2, 2))):
        for fold, n in enumerate(epochs):
            _record(folds / scheme / f"fold_{fold:02d}.json", scheme, fold, n)
    out = tmp_path / "bench"
    assert bench.main(["--tracks", "30", "--seconds", "4", "--schemes", "R0,R1", "--out", str(out),
                       "--work", str(tmp_path / "work"), "--records", str(paper)]) == 0
    (csv_path,) = out.glob("table3_scale_*.csv")
    assert csv_path.name.endswith("_schemes-R0+R1.csv")  # a subset run does not take the full run's name
    frame = pd.read_csv(csv_path)
    assert list(frame.columns[:6]) == ANSWER_COLUMNS and list(frame.columns) == list(bench.COLUMNS)
    assert frame["scheme"].tolist() == ["R0", "R1", "features", "total"]
    schemes = frame[frame["scheme"].isin(["R0", "R1"])].set_index("scheme")
    for column in ("epoch_s_project", "epoch_s_minimal", "overhead_ratio", "projected_s", "projected_s_trace_once",
                   "unit_other_s_project", "epoch_s_minimal_steady"):
        assert (schemes[column] > 0).all(), column
    assert schemes["mean_epochs_last_run"].tolist() == [4.0, 2.0] and schemes["folds_last_run"].tolist() == [2, 2]
    assert schemes["batch_size"].tolist() == [32, 8]
    # 30 tracks x 4 s: 3 per genre, 1 train each; 4 s give 2 chunks of 80 frames
    assert schemes["n_train_examples"].tolist() == [20, 10]
    r0 = schemes.loc["R0"]
    assert r0["projected_s"] == pytest.approx(10 * (4 * r0["epoch_s_project"] + r0["unit_other_s_project"]),
                                              rel=1e-3)
    features = frame.set_index("scheme").loc["features"]
    assert features["tracks"] == 30 and features["tracks_per_s"] > 0 and features["projected_s"] > 0
    assert frame.set_index("scheme").loc["total", "projected_s"] == pytest.approx(
        schemes["projected_s"].sum() + features["projected_s"], rel=1e-3)
    sidecar = json.loads(csv_path.with_suffix(".json").read_text())
    assert "never for accuracy" in sidecar["note"]
    assert sidecar["cpu_count"] >= 1
    assert len(sidecar["load_average_start"]) == 3 and len(sidecar["load_average_end"]) == 3
    assert sidecar["keras_backend"] == frame["keras_backend"].iloc[0] and sidecar["versions"]["keras"]
    assert sidecar["split"]["train"] == 10 and sidecar["last_run"]["epochs_run"]["R0"] == {"fold_00": 3, "fold_01": 5}
    assert not (tmp_path / "work" / "runner" / "results" / "mcclstm" / "table3_gtzan.csv").exists()
