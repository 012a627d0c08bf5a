"""The floors benchmark: ratios against the right floor, partial runs keep the other cases' rows."""

from __future__ import annotations


import pandas as pd
import pytest

from benchmarks import floors


def test_ratio_against_the_floor_of_the_same_case_and_tables():
    rows = [floors._row("mp3 decoding", "a", "project: load_audio", 3.0, "w"),
            floors._row("mp3 decoding", "a", "floor: soundfile", 2.0, "w", floor=True),
            floors._row("mp3 decoding", "b", "project: load_audio", 5.0, "w"),
            floors._row("mp3 decoding", "b", "floor: soundfile", 2.0, "w", floor=True),
            floors._row("scattering", "s", "project: extractor", 9.0, "w", cpu_seconds=9.0),
            floors._row("scattering", "s", "floor: tf", 5.0, "w", floor=True, cpu_seconds=10.0),
            floors._row("MCCLSTM training", "m", "project: R0 epoch", 6.0, "w"),
            floors._row("MCCLSTM training", "m", "floor: R0 epoch in a minimal fit", 5.0, "w", floor=True),
            floors._row("MCCLSTM training", "m", "project: R1 epoch", 4.0, "w"),
            floors._row("MCCLSTM training", "m", "floor: R1 epoch in a minimal fit", 1.0, "w", floor=True)]
    out = {(r["tables"], r["path"]): r for r in floors.with_ratios(rows)}
    assert out[("a", "project: load_audio")]["ratio_to_floor"] == pytest.approx(1.5)
    assert out[("a", "project: load_audio")]["verdict"] == "within"
    assert out[("b", "project: load_audio")]["verdict"] == "over 1.5x"
    assert out[("s", "project: extractor")]["ratio_to_floor"] == pytest.approx(0.9)  # by CPU seconds
    assert out[("m", "project: R0 epoch")]["ratio_to_floor"] == pytest.approx(1.2)  # its own scheme's floor
    assert out[("m", "project: R1 epoch")]["ratio_to_floor"] == pytest.approx(4.0)
    assert out[("a", "floor: soundfile")]["verdict"] == "" and out[("a", "floor: soundfile")]["ratio_to_floor"] == 1.0


def test_mcclstm_rows_come_from_bench_table3(tmp_path):
    from benchmarks.throughput import device_name

    assert "absent" in floors.mcclstm_rows(tmp_path)[0]["note"]
    pd.DataFrame([{"scheme": "R0", "epoch_s_project": 6.5, "epoch_s_minimal": 5.7, "n_train_examples": 12800,
                   "batch_size": 32}]).to_csv(tmp_path / f"table3_scale_{device_name()}.csv", index=False)
    rows = floors.with_ratios(floors.mcclstm_rows(tmp_path))
    assert [r["ratio_to_floor"] for r in rows if not r["floor"]] == [pytest.approx(6.5 / 5.7)]


def test_decoding_case_runs_and_names_its_floor(tmp_path):
    rows = floors.decoding_rows(tmp_path)
    assert {r["tables"] for r in rows} >= {"fma_medium (CRNN-TF TII)", "ismir2004 (LSTM segment)"}
    assert all(r["seconds"] > 0 for r in rows)
    assert sum(r["floor"] for r in rows) == 4
