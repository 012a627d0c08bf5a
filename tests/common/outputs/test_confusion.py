"""Confusion matrices: counts, row percentages and recall on a hand example; files the runner writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from common.outputs.confusion import (CONFUSION_COLUMNS, RECALL_COLUMNS, ConfusionMatrix, figure_names, matrices_from_records,
                              slug, write_confusion_matrices)

CLASSES = ("blues", "jazz", "rock")
# true:      b  b  b  b  j  j  r  r  r  r
# predicted: b  b  b  j  j  r  r  r  r  b
TRUE = ["blues"] * 4 + ["jazz"] * 2 + ["rock"] * 4
PREDICTED = ["blues", "blues", "blues", "jazz", "jazz", "rock", "rock", "rock", "rock", "blues"]


def test_hand_example_counts_recall_and_row_percent():
    matrix = ConfusionMatrix.from_labels(TRUE, PREDICTED, CLASSES)
    assert matrix.counts.tolist() == [[3, 1, 0], [0, 1, 1], [1, 0, 3]]
    assert matrix.counts.dtype == np.int64
    assert matrix.support.tolist() == [4, 2, 4]
    assert matrix.correct.tolist() == [3, 1, 3]
    assert matrix.recall == pytest.approx([75.0, 50.0, 75.0])
    assert matrix.row_percent[0] == pytest.approx([75.0, 25.0, 0.0])
    assert matrix.row_percent[1] == pytest.approx([0.0, 50.0, 50.0])
    assert matrix.accuracy == pytest.approx(70.0)


def test_indices_names_and_class_order():
    by_name = ConfusionMatrix.from_labels(TRUE, PREDICTED, CLASSES)
    index = {c: i for i, c in enumerate(CLASSES)}
    by_index = ConfusionMatrix.from_labels([index[t] for t in TRUE], [index[p] for p in PREDICTED], CLASSES)
    assert by_index.counts.tolist() == by_name.counts.tolist()
    # the class order is the one given, not the order of appearance or an alphabetical one
    reordered = ConfusionMatrix.from_labels(TRUE, PREDICTED, ("rock", "blues", "jazz"))
    assert reordered.counts.tolist() == [[3, 1, 0], [0, 3, 1], [1, 0, 1]]


def test_absent_class_gets_an_empty_row_and_nan_recall():
    matrix = ConfusionMatrix.from_labels(["blues", "blues"], ["jazz", "blues"], CLASSES)
    assert matrix.counts.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert math.isnan(matrix.recall[1]) and math.isnan(matrix.recall[2])
    assert np.isnan(matrix.row_percent[2]).all()


@pytest.mark.parametrize("true, predicted", [(["blues"], ["pop"]), ([0], [3]), ([0], [-1]), ([0, 1], [0]),
                                             ([True], [0])])
def test_bad_labels_raise(true, predicted):
    with pytest.raises(ValueError):
        ConfusionMatrix.from_labels(true, predicted, CLASSES)


def test_sum_over_folds():
    a = ConfusionMatrix.from_labels([0, 1], [0, 0], CLASSES)
    b = ConfusionMatrix.from_labels([1, 2], [1, 2], CLASSES)
    total = a + b
    assert total.counts.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]] and total.folds == 2
    with pytest.raises(ValueError):
        a + ConfusionMatrix.from_labels([0], [0], ("x", "y", "z"))


def _record(scheme, fold, labels, predictions, **extra):
    return {"scheme": scheme, "fold": fold, "metrics": {"accuracy": 0.0},
            "details": {"test_labels": labels, "test_predictions": predictions, **extra}}


def test_records_summed_per_scheme_and_malformed_ones_left_out():
    records = {"A": [_record("A", 0, [0, 1], [0, 1]), _record("A", 1, [2, 2], [1, 2]),
                     _record("A", 2, [0], [0, 1])],  # lengths differ: left out with a warning
               "B": [{"scheme": "B", "fold": 0, "metrics": {}, "details": {"test_ids": ["x"]}}]}  # no predictions
    with pytest.warns(UserWarning, match="A fold 2"):
        matrices = matrices_from_records(records, CLASSES, ("accuracy",))
    assert list(matrices) == [("A", "accuracy")]
    assert matrices["A", "accuracy"].counts.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert matrices["A", "accuracy"].folds == 2


def test_predictions_by_metric_and_default_metric():
    details = {"test_labels": [0, 1], "test_predictions_by_metric": {"seg_accuracy": [0, 1], "fseg_accuracy": [1, 1]}}
    matrices = matrices_from_records({"L": [{"fold": 0, "details": details}]}, CLASSES,
                                     ("seg_accuracy", "lseg_accuracy", "fseg_accuracy"))
    assert list(matrices) == [("L", "seg_accuracy"), ("L", "fseg_accuracy")]
    assert matrices["L", "fseg_accuracy"].counts.tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 0]]
    # plain test_predictions score "accuracy" when the table has it, else its first metric
    plain = {"F": [_record("F", 0, [0], [0])]}
    assert list(matrices_from_records(plain, CLASSES, ("AUC", "accuracy"))) == [("F", "accuracy")]
    assert list(matrices_from_records(plain, CLASSES, ("roc_auc",))) == [("F", "roc_auc")]


def test_record_with_another_class_list_is_left_out():
    records = {"A": [_record("A", 0, [0], [0], classes=["x", "y", "z"])]}
    with pytest.warns(UserWarning, match="classes"):
        assert matrices_from_records(records, CLASSES, ("accuracy",)) == {}


def test_figure_names_are_distinct_file_names():
    assert slug("CRNN-TF (GRU)") == "CRNN-TF-GRU" and slug("MFCC + SVM") == "MFCC-SVM"
    assert slug("LSTM(525-512-6)") == "LSTM-525-512-6"
    names = figure_names("t", [("a b", "accuracy"), ("a-b", "accuracy")])
    assert names == {("a b", "accuracy"): "t_confusion_a-b.png", ("a-b", "accuracy"): "t_confusion_a-b-2.png"}
    several = figure_names("t", [("L", "seg_accuracy"), ("L", "fseg_accuracy")])
    assert several["L", "fseg_accuracy"] == "t_confusion_L_fseg_accuracy.png"


class _Spec:
    paper, table_id, title, metrics = "toy", "table_toy", "toy table", ("accuracy",)


def test_written_files_and_stale_ones_removed(tmp_path):
    records = {"A": [_record("A", 0, [0, 0, 1, 2], [0, 1, 1, 2])], "B": [_record("B", 0, [0, 2], [2, 2])]}
    stale = tmp_path / "table_toy_confusion_old-scheme.png"
    stale.write_bytes(b"old")
    other_table = tmp_path / "table_toy_paper_init_confusion_A.png"
    other_table.write_bytes(b"keep")
    written = write_confusion_matrices(_Spec, records, tmp_path, CLASSES)
    assert sorted(p.name for p in written.values()) == ["table_toy_confusion.csv", "table_toy_confusion_A.png",
                                                        "table_toy_confusion_B.png", "table_toy_per_class_recall.csv"]
    assert not stale.exists() and other_table.exists()
    frame = pd.read_csv(tmp_path / "table_toy_confusion.csv")
    assert list(frame.columns) == CONFUSION_COLUMNS and len(frame) == 2 * 9
    cell = frame[(frame.scheme == "A") & (frame["true"] == "blues") & (frame.predicted == "jazz")].iloc[0]
    assert cell["count"] == 1 and cell.row_percent == pytest.approx(50.0) and cell.folds == 1
    recall = pd.read_csv(tmp_path / "table_toy_per_class_recall.csv")
    assert list(recall.columns) == RECALL_COLUMNS
    b = recall[recall.scheme == "B"].set_index("class")
    assert b.loc["blues", "recall_percent"] == 0.0 and b.loc["rock", "recall_percent"] == 100.0
    assert b.loc["jazz", "support"] == 0 and math.isnan(b.loc["jazz", "recall_percent"])
    assert (tmp_path / "table_toy_confusion_A.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a later run without predictions (e.g. a tagging table) leaves no confusion file behind
    assert write_confusion_matrices(_Spec, {"A": [{"fold": 0, "details": {}}]}, tmp_path, CLASSES) == {}
    assert not list(tmp_path.glob("table_toy_confusion*"))
    assert not (tmp_path / "table_toy_per_class_recall.csv").exists()


def test_runner_writes_confusion_files(tmp_path):
    """The toy table through the real runner: matrices summed over the folds the run completed."""
    from common.runner import run_table
    from tests.run_outputs import table_folder
    from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

    data = tiny_gtzan(tmp_path / "data", per_genre=4)
    run_table(toy_spec(MajorityScheme(), n_folds=4), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
              folds=2, progress=False)
    folder = table_folder(tmp_path / "r", "toy", "table_toy")
    assert folder.name == "folds-2of4"
    frame = pd.read_csv(folder / "table_toy_confusion.csv")
    assert set(frame.scheme) == {"majority"} and set(frame.folds) == {2}
    assert len(frame) == 10 * 10
    folds = pd.read_csv(folder / "table_toy_folds.csv")
    manifest = json.loads((folder / "table_toy_manifest.json").read_text())
    assert len(manifest["records"]) == 2
    # 40 tracks, 4 folds: 10 test tracks per fold, each predicted as the fold's majority class
    assert frame["count"].sum() == 20
    diagonal = frame[frame["true"] == frame.predicted]["count"].sum()
    assert 100.0 * diagonal / 20 == pytest.approx(folds.accuracy.mean())
    assert (folder / "table_toy_confusion_majority.png").is_file()
    recall = pd.read_csv(folder / "table_toy_per_class_recall.csv")
    assert recall.support.sum() == 20 and list(recall["class"]) == sorted(recall["class"])


def test_confusion_module_is_not_part_of_the_code_version(tmp_path):
    """Editing the reporting code must not invalidate stored fold records (common.runner.identity)."""
    from common.runner.identity import code_version

    for name, text in {"common/outputs/confusion.py": "A = 1\n", "common/evaluation/metrics.py": "B = 1\n",
                       "papers/p/tables.py": "import common.outputs.confusion\nfrom common.evaluation.metrics import B\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    before = code_version("p", tmp_path)
    (tmp_path / "common/outputs/confusion.py").write_text("A = 2\n")
    assert code_version("p", tmp_path) == before
    (tmp_path / "common/evaluation/metrics.py").write_text("B = 2\n")
    assert code_version("p", tmp_path) != before
