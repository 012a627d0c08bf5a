"""Genre metrics (CRNN-TF Table II) against hand-computed values."""

import numpy as np
import pytest

from common.evaluation.multiclass import genre_metrics


def test_genre_metrics_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[0.8, 0.1, 0.1],    # -> 0 right
                  [0.4, 0.5, 0.1],    # -> 1 wrong
                  [0.2, 0.7, 0.1],    # -> 1 right
                  [0.1, 0.6, 0.3],    # -> 1 right
                  [0.1, 0.2, 0.7],    # -> 2 right
                  [0.5, 0.1, 0.4]])   # -> 0 wrong
    out = genre_metrics(y, p)
    assert out["accuracy"] == pytest.approx(4 / 6)
    # per genre: precision 0: 1/2, 1: 2/3, 2: 1/1; recall 0: 1/2, 1: 2/2, 2: 1/2
    assert out["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert out["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    f1 = [2 * a * b / (a + b) for a, b in [(1 / 2, 1 / 2), (2 / 3, 1), (1, 1 / 2)]]
    assert out["F1"] == pytest.approx(np.mean(f1))
    # one-vs-rest AUC per genre, by counting ordered (positive, negative) pairs
    aucs = []
    for c in range(3):
        pos, neg = p[y == c, c], p[y != c, c]
        aucs.append(np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg]))
    assert out["AUC"] == pytest.approx(np.mean(aucs))
    assert out["auc_genres_skipped"] == []


def test_genre_missing_from_test_set_is_left_out_of_auc():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    out = genre_metrics(y, p)
    # genre 0: AUC 1; genre 1: positives 0.7, 0.3 vs negatives 0.2, 0.3 -> (1 + 1 + 1 + 0.5) / 4
    assert out["auc_genres_skipped"] == [2] and out["AUC"] == pytest.approx((1 + 0.875) / 2)
    # genre 2 is predicted once but absent: it enters precision/recall/F1 with 0
    assert out["recall"] == pytest.approx((1 + 1 / 2 + 0) / 3)


def test_bad_inputs():
    with pytest.raises(ValueError):
        genre_metrics([0, 1], np.ones((3, 2)))
    with pytest.raises(ValueError, match="0..1"):
        genre_metrics([0, 2], np.ones((2, 2)))
    with pytest.raises(ValueError, match="undefined"):
        genre_metrics([0, 0], np.ones((2, 2)))


def test_given_decisions_drive_the_set_metrics_and_scores_drive_auc():
    y = np.array([0, 1, 1, 2])
    scores = np.array([[2.0, 0.1, 0.0], [0.0, 1.0, 0.5], [0.1, 0.2, 0.9], [0.0, 0.3, 2.0]])
    decisions = np.array([0, 1, 1, 2])  # e.g. an SVM's one-vs-one vote, not the arg-max of its scores
    out = genre_metrics(y, scores, decisions)
    assert out["accuracy"] == 1.0 and out["F1"] == 1.0
    assert out["AUC"] == pytest.approx(genre_metrics(y, scores)["AUC"])
    assert genre_metrics(y, scores)["accuracy"] == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="predictions"):
        genre_metrics(y, scores, decisions[:3])


def test_weighted_auc_by_hand_and_against_scikit_learn():
    # CRNN-TF Table II: "AUC" is the macro average (the paper's text); "AUC (weighted)" weights each
    # genre's one-vs-rest AUC by its number of test tracks (the average the CRNN-TF authors' FMA notebook computes,
    # 1.ipynb c16 L117)
    from sklearn.metrics import roc_auc_score

    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([[0.7, 0.2, 0.1],
                  [0.3, 0.6, 0.1],
                  [0.5, 0.1, 0.4],
                  [0.4, 0.5, 0.1],
                  [0.2, 0.3, 0.5],
                  [0.6, 0.1, 0.3]])
    # genre 0: positives .7 .3 .5 vs negatives .4 .2 .6 -> pairs won 3 + 1 + 2 = 6 of 9
    # genre 1: positives .5 .3 vs negatives .2 .6 .1 .1 -> 3 + 3 = 6 of 8 (.3 beats .2 .1 .1)
    # genre 2: positive .3 vs negatives .1 .1 .4 .1 .5 -> 3 of 5
    per_genre = np.array([6 / 9, 6 / 8, 3 / 5])
    support = np.array([3, 2, 1])
    out = genre_metrics(y, p)
    assert out["AUC"] == pytest.approx(per_genre.mean())
    assert out["AUC (weighted)"] == pytest.approx((per_genre * support).sum() / support.sum())
    assert out["AUC (weighted)"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="weighted"))
    assert out["AUC"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert out["AUC (weighted)"] != pytest.approx(out["AUC"])


def test_weighted_auc_leaves_out_genres_without_both_classes():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    out = genre_metrics(y, p)
    # genres 0 and 1 have 2 tracks each: the weighted average equals the macro one over them
    assert out["AUC (weighted)"] == pytest.approx((1 + 0.875) / 2) == pytest.approx(out["AUC"])
