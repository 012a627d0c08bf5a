"""Evaluation metrics and fold aggregation.

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
    does not say, and averaging the softmax outputs is the usual choice (Pons et al. 2016).

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
