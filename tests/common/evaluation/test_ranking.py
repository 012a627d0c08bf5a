"""Recall@k, NDCG@k and JSC against hand-computed values (CRNN-TF Eqs. 4-8)."""

import math

import numpy as np
import pytest

from common.evaluation.ranking import (jaccard_similarity, ndcg_at_k, predicted_tag_sets, recall_at_k,
                                    tagging_metrics, top_k_tags)

# 3 clips x 5 tags
Y_TRUE = np.array([[1, 0, 1, 0, 0],    # G = {0, 2}
                   [0, 1, 0, 0, 0],    # G = {1}
                   [1, 1, 1, 0, 0]])   # G = {0, 1, 2}
Y_SCORE = np.array([[0.9, 0.8, 0.1, 0.3, 0.2],   # ranking 0, 1, 3, 4, 2
                    [0.6, 0.2, 0.4, 0.7, 0.1],   # ranking 3, 0, 2, 1, 4
                    [0.2, 0.55, 0.3, 0.1, 0.0]])  # ranking 1, 2, 0, 3, 4


def test_top_k_breaks_ties_by_tag_index():
    assert top_k_tags(np.array([[0.5, 0.9, 0.5, 0.9]]), 3).tolist() == [[1, 3, 0]]


def test_recall_at_k_by_hand():
    # k=1: clip 0 top {0} -> 1/2; clip 1 top {3} -> 0/1; clip 2 top {1} -> 1/3
    assert recall_at_k(Y_TRUE, Y_SCORE, 1) == pytest.approx((1 / 2 + 0 + 1 / 3) / 3)
    # k=3: clip 0 {0,1,3} -> 1/2; clip 1 {3,0,2} -> 0; clip 2 {1,2,0} -> 3/3
    assert recall_at_k(Y_TRUE, Y_SCORE, 3) == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert recall_at_k(Y_TRUE, Y_SCORE, 5) == pytest.approx(1.0)


def test_ndcg_at_k_by_hand():
    d = [1 / math.log2(i + 1) for i in range(1, 6)]
    # k=3. clip 0: rel at ranks (1,0,0) -> d1; ideal (2 tags) d1+d2
    # clip 1: ranking 3,0,2 -> no hit -> 0; clip 2: ranks 1,2,0 -> all relevant -> 1
    expected = (d[0] / (d[0] + d[1]) + 0.0 + 1.0) / 3
    assert ndcg_at_k(Y_TRUE, Y_SCORE, 3) == pytest.approx(expected)
    # k=5. clip 1: its tag at rank 4 -> d4 / d1
    expected5 = ((d[0] + d[4]) / (d[0] + d[1]) + d[3] / d[0] + 1.0) / 3
    assert ndcg_at_k(Y_TRUE, Y_SCORE, 5) == pytest.approx(expected5)


def test_jaccard_with_threshold_rule():
    # predicted sets at 0.5: {0,1}, {0,3}, {1}
    assert predicted_tag_sets(Y_SCORE).tolist() == [[1, 1, 0, 0, 0], [1, 0, 0, 1, 0], [0, 1, 0, 0, 0]]
    # clip 0: |{0}|/|{0,1,2}| = 1/3; clip 1: 0/3; clip 2: 1/3
    assert jaccard_similarity(Y_TRUE, Y_SCORE) == pytest.approx((1 / 3 + 0 + 1 / 3) / 3)
    # a lower threshold predicts more: at 0.25 clip 0 -> {0,1,3}: 1/4; clip 1 -> {0,2,3}: 0/4;
    # clip 2 -> {1,2}: 2/3
    assert jaccard_similarity(Y_TRUE, Y_SCORE, threshold=0.25) == pytest.approx((1 / 4 + 0 + 2 / 3) / 3)


def test_empty_sets_and_clips_without_tags():
    y_true = np.array([[0, 0, 0], [1, 0, 0]])
    y_score = np.array([[0.1, 0.2, 0.3], [0.9, 0.1, 0.1]])
    assert recall_at_k(y_true, y_score, 1) == 1.0          # the tag-less clip is left out
    assert ndcg_at_k(y_true, y_score, 3) == 1.0
    assert jaccard_similarity(y_true, y_score) == 1.0      # empty/empty counts as identical
    with pytest.raises(ValueError, match="no clip has a true tag"):
        recall_at_k(np.zeros((2, 3)), y_score, 1)
    with pytest.raises(ValueError):
        recall_at_k(y_true, y_score, 4)
    with pytest.raises(ValueError):
        recall_at_k(y_true * 2, y_score, 1)


def test_tagging_metrics_keys():
    out = tagging_metrics(Y_TRUE, Y_SCORE, ks=(1, 3), ndcg_k=50)
    assert list(out) == ["Recall@1", "Recall@3", "NDCG@50", "JSC"]
    assert out["NDCG@50"] == pytest.approx(ndcg_at_k(Y_TRUE, Y_SCORE, 5))
