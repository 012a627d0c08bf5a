"""Evaluation metrics (accuracy; macro ROC-AUC and PR-AUC over tags) and fold aggregation.

Accuracy is reported in percent, like the MCCLSTM tables; the standard deviation over folds is
the sample standard deviation (``ddof=1``; the papers do not say which they use).
"""

from __future__ import annotations

import numpy as np


def accuracy_percent(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of correct predictions, in percent.

    Args:
        y_true, y_pred: int class indices, shape ``(n,)``.

    Raises:
        ValueError: shapes differ or the arrays are empty.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal non-empty shapes, got {y_true.shape} and {y_pred.shape}")
    return float(100.0 * np.mean(y_true == y_pred))


def track_probabilities(chunk_probabilities: np.ndarray, chunk_track: np.ndarray, n_tracks: int) -> np.ndarray:
    """Track-level class probabilities: the mean of each track's own chunk probabilities.

    This is how chunk classifiers (MCCLSTM R0, R2, R3, CNNs-3) predict a whole track; the paper
    does not say; averaging the softmax outputs is a common choice.

    Args:
        chunk_probabilities: float ``(n_chunks, n_classes)``.
        chunk_track: int ``(n_chunks,)``: the track index (``0..n_tracks-1``) of each chunk.
        n_tracks: number of tracks.

    Returns:
        float64 ``(n_tracks, n_classes)``.

    Raises:
        ValueError: a track has no chunk.
    """
    sums = np.zeros((n_tracks, chunk_probabilities.shape[1]), dtype=np.float64)
    np.add.at(sums, chunk_track, chunk_probabilities)
    counts = np.bincount(chunk_track, minlength=n_tracks)
    if np.any(counts == 0):
        raise ValueError(f"tracks without chunks: {np.flatnonzero(counts == 0).tolist()}")
    return sums / counts[:, None]


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0.0 for a single value) of fold results."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        raise ValueError("no values")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def evaluable_tags(y_true: np.ndarray) -> np.ndarray:
    """Which tags have both positive and negative examples (so that their AUCs are defined).

    Args:
        y_true: binary targets ``(n_clips, n_tags)``.

    Returns:
        bool ``(n_tags,)``.
    """
    y_true = np.asarray(y_true)
    positives = (y_true > 0.5).sum(axis=0)
    return (positives > 0) & (positives < y_true.shape[0])


def _macro_tag_auc(y_true, y_score, score_fn, name: str) -> float:
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape or y_true.shape[0] == 0:
        raise ValueError(f"{name}: need equal non-empty (n_clips, n_tags) arrays, got {y_true.shape} "
                         f"and {y_score.shape}")
    if not np.all(np.isfinite(y_score)):
        raise ValueError(f"{name}: scores hold NaN or infinite values")
    keep = evaluable_tags(y_true)
    if not keep.any():
        raise ValueError(f"{name}: no tag has both positive and negative examples; the AUC is undefined")
    labels = (y_true[:, keep] > 0.5).astype(np.int64)
    return float(score_fn(labels, y_score[:, keep], average="macro"))


def macro_roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Macro-averaged area under the ROC curve over tags (``sklearn.metrics.roc_auc_score``).

    The tagging metric of Choi et al. 2016 and MsE-CNN Table 1 (ROC-AUC): one AUC per tag, then
    their unweighted mean.

    A tag whose targets are all negative (or all positive) on the evaluated clips has no ROC
    curve; such tags are left out of the average (:func:`evaluable_tags` says which). On the full
    MagnaTagATune test split every top-50 tag has positives, so this only matters for subsets.

    Args:
        y_true: binary targets ``(n_clips, n_tags)`` (0/1, any numeric dtype).
        y_score: scores or probabilities, float ``(n_clips, n_tags)``.

    Returns:
        ROC-AUC in [0, 1].

    Raises:
        ValueError: shapes differ or are empty, scores are not finite, or no tag is evaluable.
    """
    from sklearn.metrics import roc_auc_score

    return _macro_tag_auc(y_true, y_score, roc_auc_score, "macro_roc_auc")


def macro_pr_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Macro-averaged area under the precision-recall curve over tags (PR-AUC).

    Computed as average precision per tag (``sklearn.metrics.average_precision_score``, the
    step-wise area that does not interpolate between operating points), then the unweighted mean.
    Tags without positives (or without negatives) are left out, as in :func:`macro_roc_auc`.

    Args:
        y_true: binary targets ``(n_clips, n_tags)``.
        y_score: scores, float ``(n_clips, n_tags)``.

    Returns:
        PR-AUC in [0, 1].

    Raises:
        ValueError: as :func:`macro_roc_auc`.
    """
    from sklearn.metrics import average_precision_score

    return _macro_tag_auc(y_true, y_score, average_precision_score, "macro_pr_auc")


def per_tag_roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """ROC-AUC of every tag on its own (CRNN-TF Sec. V-D1 "for AUC, we also reported a score for
    each tag", Fig. 6).

    Args:
        y_true: binary targets ``(n_clips, n_tags)``.
        y_score: scores, float ``(n_clips, n_tags)``.

    Returns:
        float64 ``(n_tags,)``; NaN for a tag without both positive and negative clips
        (:func:`evaluable_tags`). The mean of the finite entries is :func:`macro_roc_auc`.

    Raises:
        ValueError: shapes differ or are empty, or scores are not finite.
    """
    from sklearn.metrics import roc_auc_score

    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape or y_true.shape[0] == 0:
        raise ValueError(f"per_tag_roc_auc: need equal non-empty (n_clips, n_tags) arrays, got {y_true.shape} "
                         f"and {y_score.shape}")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("per_tag_roc_auc: scores hold NaN or infinite values")
    out = np.full(y_true.shape[1], np.nan)
    for tag in np.flatnonzero(evaluable_tags(y_true)):
        out[tag] = roc_auc_score((y_true[:, tag] > 0.5).astype(np.int64), y_score[:, tag])
    return out
