"""CRNN-TF genre folds record what the confusion matrices need (Tables II-III); tagging folds give none."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.outputs.confusion import matrices_from_records
from common.datasets.base import DatasetIndex, Track
from common.runner import FoldContext
from common.evaluation.splits import Split
from papers.crnn_tf.protocol import evaluate

GENRES = ("Electronic", "Folk", "Rock")


def _context(tmp_path, tags=False):
    ids = ["a", "b", "c", "d", "e"]
    labels = ["Electronic", "Folk", "Rock", "Rock", "Folk"]
    tracks = [Track(i, Path(f"{i}.mp3"), tags=(label,)) if tags else Track(i, Path(f"{i}.mp3"), label=label)
              for i, label in zip(ids, labels)]
    classes = GENRES + tuple(f"unused{i}" for i in range(9)) if tags else GENRES  # Recall@10 needs >= 10 tags
    index = DatasetIndex("tiny", Path("."), classes, tracks)
    return FoldContext(index=index, features={}, split=Split(0, train=("a",), validation=(), test=tuple(ids)),
                       seed=0, epochs=1, work_dir=tmp_path / "w")


def test_genre_fold_details_give_the_confusion_matrix(tmp_path):
    context = _context(tmp_path)
    scores = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.1, 0.2, 0.7]])
    outcome = evaluate(context, "genres", list(context.split.test), scores, {})
    record = {"scheme": "CRNN-TF", "fold": 0, "metrics": outcome.metrics, "details": outcome.details}
    matrices = matrices_from_records({"CRNN-TF": [record]}, GENRES, ("AUC", "recall", "F1", "accuracy", "precision"))
    assert list(matrices) == [("CRNN-TF", "accuracy")]
    # true E F R R F, predicted E F E R R
    assert matrices["CRNN-TF", "accuracy"].counts.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 1]]
    assert matrices["CRNN-TF", "accuracy"].accuracy == 100.0 * outcome.metrics["accuracy"]


def test_svm_decisions_are_used_when_given(tmp_path):
    context = _context(tmp_path)
    scores = np.eye(3)[[0, 1, 2, 2, 1]]
    outcome = evaluate(context, "genres", list(context.split.test), scores, {}, predictions=np.array([0, 0, 0, 0, 0]))
    matrix = matrices_from_records({"MFCC + SVM": [{"fold": 0, "details": outcome.details}]}, GENRES, ("accuracy",))
    assert matrix["MFCC + SVM", "accuracy"].counts[:, 0].tolist() == [1, 2, 2]


def test_tagging_fold_details_give_no_matrix(tmp_path):
    context = _context(tmp_path, tags=True)
    scores = np.random.default_rng(0).random((5, 12)).astype(np.float32)
    outcome = evaluate(context, "tags", list(context.split.test), scores, {})
    assert matrices_from_records({"FCN": [{"fold": 0, "details": outcome.details}]}, context.index.classes,
                                 ("AUC",)) == {}
