"""LSTM segment Tables 2 and 4 record each test track's decisions; the runner writes their confusion matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.runner import run_table
from papers.lstm_segment import tables
from papers.lstm_segment.config import SegmentConfig
from papers.lstm_segment.protocol import majority_vote, segment_votes, svm_accuracy, svm_predictions
from tests.papers.lstm_segment.conftest import tiny_settings
from tests.run_outputs import fold_record, table_folder


def test_segment_votes_and_svm_predictions():
    tracks = [np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]]),  # frames vote 0, 1, 0
              np.array([[0.1, 0.1, 0.8]]), np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])]  # tie 1/2 -> 1
    votes = segment_votes(tracks, 3)
    assert votes.tolist() == [0, 2, 1] and votes.dtype == np.int64
    assert votes.tolist() == [majority_vote(t.argmax(axis=1), 3) for t in tracks]
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, (20, 4)), rng.normal(3, 1, (20, 4))])
    y = np.repeat([0, 1], 20)
    predicted = svm_predictions(x[::2], y[::2], x[1::2], SegmentConfig())
    assert predicted.shape == (20,) and svm_accuracy(x[::2], y[::2], x[1::2], y[1::2], SegmentConfig()) == \
        pytest.approx(100.0 * np.mean(predicted == y[1::2]))



@pytest.mark.e2e
def test_tables_2_and_4_write_confusion_matrices(ismir_tree, shared_work, tmp_path):
    results = tmp_path / "results"
    spec = tables.table4_ismir2004(tiny_settings(epochs=1))
    frame = run_table(spec, ismir_tree, results_dir=results, work_dir=shared_work, verbose=0, progress=False)
    scheme = spec.trainable()[0].name
    details = fold_record(results, "lstm_segment", spec.table_id, scheme)["details"]
    assert len(details["test_ids"]) == len(details["test_labels"]) == 12
    assert sorted(details["test_predictions_by_metric"]) == ["fseg_accuracy", "lseg_accuracy", "seg_accuracy"]
    for metric, predicted in details["test_predictions_by_metric"].items():
        ours = frame[(frame.scheme == scheme) & (frame.metric == metric)].our_mean.iloc[0]
        assert 100.0 * np.mean(np.array(predicted) == details["test_labels"]) == pytest.approx(ours, abs=1e-3)
    folder = table_folder(results, "lstm_segment", spec.table_id)
    confusion = pd.read_csv(folder / "table4_ismir2004_confusion.csv")
    assert set(confusion.metric) == {"seg_accuracy", "lseg_accuracy", "fseg_accuracy"}
    assert len(confusion) == 4 * 3 * 6 * 6
    assert len(list(folder.glob("table4_ismir2004_confusion_*.png"))) == 4 * 3

    spec2 = tables.table2_ismir2004(tiny_settings(epochs=1))
    run_table(spec2, ismir_tree, results_dir=results, work_dir=shared_work, verbose=0, progress=False)
    folder2 = table_folder(results, "lstm_segment", spec2.table_id)
    recall = pd.read_csv(folder2 / "table2_ismir2004_per_class_recall.csv")
    assert set(recall.metric) == {"segment_accuracy"} and len(recall) == 6 * 6
    assert set(recall.groupby("scheme").support.sum()) == {12}
    assert len(list(folder2.glob("table2_ismir2004_confusion_*.png"))) == 6
