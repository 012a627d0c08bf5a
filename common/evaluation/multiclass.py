"""Genre-classification metrics averaged over genres (CRNN-TF Sec. V-D2, Table II).

"We first treated each genre as a binary label and evaluated its prediction performance; then we
reported the average performance over all genres": every genre is scored one-vs-rest and the
per-genre values are averaged with equal weight (macro average). All metrics come from
scikit-learn.

- ROC-AUC: :func:`sklearn.metrics.roc_auc_score` on the one-hot labels and the class
  probabilities, ``average="macro"`` (``"AUC"``, the paper's text). A genre absent from the
  evaluated tracks has no ROC curve; it is left out of the average and reported in
  ``auc_genres_skipped``. Also ``"AUC (weighted)"``: the same per-genre AUCs averaged with weights
  proportional to each genre's number of tracks (``average="weighted"``; the average the CRNN-TF
  authors' FMA notebook computes, ``1.ipynb`` c16 L117), over the same genres.
- precision, recall, F1: of the predictions (the arg-max of the scores unless the classifier's own
  decisions are given, e.g. an SVM's), per genre one-vs-rest, macro average over the
  genres present in the ground truth or the predictions (``labels=`` all genres, ``zero_division=0``:
  a genre never predicted has precision 0).
- accuracy: the fraction of tracks whose arg-max genre is right (the paper's "(i.e., the fraction
  of misclassified genres)" is a slip: its accuracy column rises with the other metrics).

Values are fractions in [0, 1], like the paper's Table II.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score


def genre_metrics(y_true, probabilities, predictions=None) -> dict:
    """Macro one-vs-rest ROC-AUC, precision, recall, F1 and accuracy of a genre classifier.

    Args:
        y_true: int class indices ``(n_tracks,)`` in ``0..n_classes-1``.
        probabilities: float ``(n_tracks, n_classes)`` class scores (softmax outputs, or any score
            that ranks tracks per class, e.g. one-vs-rest SVM decision values); used for ROC-AUC.
        predictions: int ``(n_tracks,)`` predicted classes; None: the arg-max of ``probabilities``.

    Returns:
        ``{"AUC", "AUC (weighted)", "precision", "recall", "F1", "accuracy"}`` (floats in [0, 1];
        ``"AUC"`` is the macro average) and ``"auc_genres_skipped"`` (list of class indices without
        both positives and negatives).

    Raises:
        ValueError: shapes disagree, arrays are empty, or no genre has both positives and negatives.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or y_true.shape != (probabilities.shape[0],) or y_true.size == 0:
        raise ValueError(f"need labels (n,) and probabilities (n, classes), got {y_true.shape} and "
                         f"{probabilities.shape}")
    n_classes = probabilities.shape[1]
    if y_true.min() < 0 or y_true.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    one_hot = np.eye(n_classes, dtype=np.int64)[y_true]
    positives = one_hot.sum(axis=0)
    scorable = (positives > 0) & (positives < len(y_true))
    if not scorable.any():
        raise ValueError("ROC-AUC is undefined: no genre has both positive and negative tracks")
    auc = roc_auc_score(one_hot[:, scorable], probabilities[:, scorable], average="macro")
    weighted_auc = roc_auc_score(one_hot[:, scorable], probabilities[:, scorable], average="weighted")
    predictions = probabilities.argmax(axis=1) if predictions is None else np.asarray(predictions, dtype=np.int64)
    if predictions.shape != y_true.shape:
        raise ValueError(f"predictions {predictions.shape} do not match labels {y_true.shape}")
    present = np.union1d(np.unique(y_true), np.unique(predictions))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, predictions, labels=present, average="macro", zero_division=0)
    return {"AUC": float(auc), "AUC (weighted)": float(weighted_auc), "precision": float(precision),
            "recall": float(recall), "F1": float(f1),
            "accuracy": float(accuracy_score(y_true, predictions)),
            "auc_genres_skipped": np.flatnonzero(~scorable).tolist()}
