"""Tag-ranking and tag-set metrics for music auto-tagging: Recall@k, NDCG@k and the Jaccard
similarity coefficient (JSC), as defined in CRNN-TF (Wang et al. 2018, Sec. V-D1, Eqs. 4-8).

All functions take a binary ground-truth matrix ``y_true`` (clips x tags, 0/1) and a score matrix
``y_score`` (clips x tags, e.g. sigmoid outputs) and return the mean over clips.

Conventions (the paper leaves them open; every one is also listed in ``papers/crnn_tf/README.md``):

- **Clips without any true tag** are excluded from Recall@k and NDCG@k (both are undefined for
  them: their denominators are 0). MagnaTagATune as used by the paper has none (clips with none of
  the top-50 tags are removed), so this only matters for subsets; the number excluded is returned
  by :func:`clips_with_tags`.
- **Ties** in the scores are broken by the lower tag index (a stable sort of the negated scores),
  so the top-k list is deterministic.
- **Recall@k** (Eq. 4) divides by the clip's number of true tags ``|G|``: ``G_{1:k}`` in the paper
  is "the set of true tags" of the clip. With a denominator of ``min(k, |G|)`` Recall@1 would be
  precision@1 (about 0.6-0.8 for a reasonable tagger on MTAT); the paper's Recall@1 of 0.28-0.32
  matches ``|G|`` (MTAT clips carry about 2.7 of the top-50 tags on average).
- **NDCG@k** (Eqs. 5-7) uses binary relevance, the ``log2(i + 1)`` discount and the ideal DCG
  of ``min(k, |G|)`` relevant tags ranked first; it is computed by
  :func:`sklearn.metrics.ndcg_score` (which averages over tied scores instead of breaking ties;
  with continuous sigmoid scores ties do not occur).
- **JSC** (Eq. 8) needs a predicted tag *set*; the rule used here is: a tag is predicted when its
  score is at least ``threshold`` (default 0.5, the decision boundary of a sigmoid output trained
  with binary cross-entropy). A clip whose predicted set is empty and whose true set is not
  scores 0. Computed by :func:`sklearn.metrics.jaccard_score` with ``average="samples"``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import jaccard_score, ndcg_score

#: Score at or above which a tag counts as predicted for the JSC (see module docstring).
JSC_THRESHOLD = 0.5


def _check(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape or y_true.size == 0:
        raise ValueError(f"need two non-empty (clips, tags) arrays of one shape, got {y_true.shape} "
                         f"and {y_score.shape}")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score holds NaN or infinite values")
    return y_true.astype(np.int64), y_score


def clips_with_tags(y_true) -> np.ndarray:
    """Boolean mask ``(n_clips,)``: clips with at least one true tag (used by Recall@k, NDCG@k)."""
    return np.asarray(y_true).sum(axis=1) > 0


def top_k_tags(y_score, k: int) -> np.ndarray:
    """Indices of the ``k`` highest-scoring tags of every clip, best first.

    Args:
        y_score: float ``(n_clips, n_tags)``.
        k: list length, ``1 <= k <= n_tags``.

    Returns:
        int64 ``(n_clips, k)``; ties are broken by the lower tag index.

    Raises:
        ValueError: ``k`` out of range.
    """
    y_score = np.asarray(y_score, dtype=np.float64)
    if not 1 <= k <= y_score.shape[1]:
        raise ValueError(f"k must be in 1..{y_score.shape[1]}, got {k}")
    return np.argsort(-y_score, axis=1, kind="stable")[:, :k]


def recall_at_k(y_true, y_score, k: int) -> float:
    """Recall@k (CRNN-TF Eq. 4): ``|G ∩ R_{1:k}| / |G|`` averaged over clips with a true tag.

    Args:
        y_true: 0/1 ``(n_clips, n_tags)``.
        y_score: float ``(n_clips, n_tags)``.
        k: number of top-ranked tags ``R_{1:k}``.

    Returns:
        mean Recall@k in [0, 1] over the clips that have at least one true tag.

    Raises:
        ValueError: bad shapes or values, ``k`` out of range, or no clip has a true tag.
    """
    y_true, y_score = _check(y_true, y_score)
    keep = clips_with_tags(y_true)
    if not keep.any():
        raise ValueError("Recall@k is undefined: no clip has a true tag")
    y_true, y_score = y_true[keep], y_score[keep]
    top = top_k_tags(y_score, k)
    hits = np.take_along_axis(y_true, top, axis=1).sum(axis=1)
    return float(np.mean(hits / y_true.sum(axis=1)))


def ndcg_at_k(y_true, y_score, k: int) -> float:
    """NDCG@k (CRNN-TF Eqs. 5-7) with binary relevance, averaged over clips with a true tag.

    ``DCG = sum_{i<=k} rel_i / log2(i + 1)``; the ideal DCG ranks the clip's ``min(k, |G|)`` true
    tags first. Computed by :func:`sklearn.metrics.ndcg_score`.

    Returns:
        mean NDCG@k in [0, 1].

    Raises:
        ValueError: bad shapes or values, ``k`` out of range, or no clip has a true tag.
    """
    y_true, y_score = _check(y_true, y_score)
    if not 1 <= k <= y_true.shape[1]:
        raise ValueError(f"k must be in 1..{y_true.shape[1]}, got {k}")
    keep = clips_with_tags(y_true)
    if not keep.any():
        raise ValueError("NDCG@k is undefined: no clip has a true tag")
    if y_true.shape[1] == 1:  # sklearn refuses a single label; the only ranking is perfect
        return 1.0
    return float(ndcg_score(y_true[keep], y_score[keep], k=k))


def predicted_tag_sets(y_score, threshold: float = JSC_THRESHOLD) -> np.ndarray:
    """The JSC decision rule: tag predicted iff its score ``>= threshold``; int64 0/1 matrix."""
    return (np.asarray(y_score) >= threshold).astype(np.int64)


def jaccard_similarity(y_true, y_score, threshold: float = JSC_THRESHOLD) -> float:
    """Jaccard similarity coefficient JSC (CRNN-TF Eq. 8) averaged over clips.

    ``JSC(G, R) = |G ∩ R| / |G ∪ R|`` with ``R`` = tags scoring ``>= threshold``; a clip with
    both sets empty scores 1 (identical sets), one with only ``R`` empty scores 0.

    Returns:
        mean JSC in [0, 1] over all clips.

    Raises:
        ValueError: bad shapes or values.
    """
    y_true, y_score = _check(y_true, y_score)
    return float(jaccard_score(y_true, predicted_tag_sets(y_score, threshold), average="samples",
                               zero_division=1.0))


def tagging_metrics(y_true, y_score, ks=(1, 3, 5, 10), ndcg_k: int = 50,
                    threshold: float = JSC_THRESHOLD) -> dict:
    """The ranking and set metrics of CRNN-TF Table I (ROC-AUC comes from ``common.evaluation.metrics``).

    Returns:
        ``{"Recall@1": ..., "Recall@3": ..., "Recall@5": ..., "Recall@10": ..., "NDCG@50": ...,
        "JSC": ...}``; ``ndcg_k`` is capped at the number of tags.
    """
    out = {f"Recall@{k}": recall_at_k(y_true, y_score, k) for k in ks}
    out[f"NDCG@{ndcg_k}"] = ndcg_at_k(y_true, y_score, min(ndcg_k, np.asarray(y_true).shape[1]))
    out["JSC"] = jaccard_similarity(y_true, y_score, threshold)
    return out
