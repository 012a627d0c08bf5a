"""End-to-end: Tables 2 and 4 (with Figure 3) through the real runner on a generated ISMIR 2004 tree."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common.outputs.result_tables import TABLE_COLUMNS
from common.runner import run_table
from papers.lstm_segment import tables
from tests.papers.lstm_segment.conftest import tiny_settings
from tests.run_outputs import fold_record, splits_file

pytestmark = pytest.mark.e2e


def _check_rows(frame: pd.DataFrame, trained: list[str], metrics: list[str]) -> None:
    assert list(frame.columns) == TABLE_COLUMNS
    for scheme in trained:
        for metric in metrics:
            row = frame[(frame.scheme == scheme) & (frame.metric == metric)].iloc[0]
            assert row.status.startswith("subset: ") and row.folds_run == 1  # a generated few tracks
            # one test set: a bootstrap over its tracks, from the per-track results beside the record
            assert row.test.startswith("bootstrap, 1000 resamples of ") and row.verdict in ("consistent", "lower",
                                                                                           "higher")
            assert row.ci95_low <= row.our_mean + 1e-9 and row.our_mean <= row.ci95_high + 1e-9
            assert 0.0 <= row.our_mean <= 100.0
            assert row.difference == pytest.approx(row.our_mean - row.paper_mean, abs=1e-3)


def test_table2_end_to_end(ismir_tree, shared_work, tmp_path):
    spec = tables.table2_ismir2004(tiny_settings(epochs=2))
    results, work = tmp_path / "results", shared_work
    frame = run_table(spec, ismir_tree, results_dir=results, work_dir=work, verbose=0, progress=False)
    names = [s.name for s in spec.schemes]
    assert names[0] == "baseline-DNN1(525-1024-6)" and len(names) == 6
    _check_rows(frame, names, ["frame_accuracy", "segment_accuracy"])
    written = pd.read_csv(results / "lstm_segment" / "table2_ismir2004.csv")
    assert len(written) == 12
    assert written.loc[0, "paper_mean"] == pytest.approx(75.92)
    manifest = json.loads((results / "lstm_segment" / "table2_ismir2004_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["features"]["kind"] == "scattering"
    assert manifest["dataset"]["n_tracks"] == 6 * 5
    splits = json.loads(splits_file(results, "lstm_segment", "table2_ismir2004").read_text())["folds"][0]
    assert len(splits["test"]) == 12 and all(i.startswith("development/") for i in splits["test"])
    assert len(splits["validation"]) == 6 and all(i.startswith("training/") for i in splits["validation"])
    assert len(splits["train"]) == 12 and not set(splits["train"]) & set(splits["validation"])
    record = fold_record(results, "lstm_segment", "table2_ismir2004", "LSTM(525-512-6)")
    assert record["details"]["training"]["epochs_run"] <= 2
    assert record["details"]["subset_class_counts"]["development"]["world"] == 2
    # the LSTM posteriors are cached for Table 4 (reuse is tested in test_protocol.py)
    assert len(list((work / "lstm_segment" / "lstm_posteriors").glob("*.npz"))) >= 4


def test_table4_end_to_end_with_figure3(ismir_tree, shared_work, tmp_path):
    spec = tables.table4_ismir2004(tiny_settings(epochs=1))  # other epochs than Table 2: trains its own LSTMs
    results, work = tmp_path / "results", shared_work
    frame = run_table(spec, ismir_tree, results_dir=results, work_dir=work, verbose=0, progress=False)
    lstm_names = [s.name for s in spec.trainable()]
    _check_rows(frame, lstm_names, ["seg_accuracy", "lseg_accuracy", "fseg_accuracy"])
    literature = frame[frame.scheme == "lee2009 [23]"].iloc[0]
    assert literature.status == "paper-only" and literature.paper_mean == pytest.approx(86.8)
    assert np.isnan(literature.our_mean)
    out = results / "lstm_segment"
    assert (out / "table4_ismir2004.csv").is_file() and (out / "table4_ismir2004.png").is_file()
    figure = pd.read_csv(out / "table4_ismir2004_figure3.csv")
    assert set(figure.scheme) == set(lstm_names) and set(figure.feature) == {"f_lstm", "f_fusion"}
    assert sorted(set(figure.k)) == [0.5, 0.7, 0.9]
    at_k = figure[(figure.k == 0.9) & (figure.feature == "f_fusion") & (figure.scheme == lstm_names[0])]
    row = frame[(frame.scheme == lstm_names[0]) & (frame.metric == "fseg_accuracy")].iloc[0]
    assert at_k.accuracy.iloc[0] == pytest.approx(row.our_mean, abs=1e-3)
    png = (out / "table4_ismir2004_figure3.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
