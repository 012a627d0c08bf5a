"""Macro ROC-AUC and PR-AUC over tags: against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from common.evaluation.metrics import evaluable_tags, macro_pr_auc, macro_roc_auc


def test_hand_computed_values():
    # tag 0: scores rank positives above negatives except one swap -> ROC-AUC 3/4
    # tag 1: perfect ranking -> 1.0
    y = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    s = np.array([[0.9, 0.8], [0.3, 0.1], [0.4, 0.7], [0.1, 0.2]])
    assert macro_roc_auc(y, s) == pytest.approx((0.75 + 1.0) / 2)
    # tag 0 ranking: 0.9(+), 0.4(-), 0.3(+), 0.1(-): AP = (1/1 + 2/3) / 2; tag 1: AP = 1
    assert macro_pr_auc(y, s) == pytest.approx(((1 + 2 / 3) / 2 + 1.0) / 2)


def test_agree_with_scikit_learn_on_random_data():
    rng = np.random.default_rng(3)
    y = (rng.random((200, 50)) < 0.15).astype(np.float32)
    y[0] = 1.0   # every tag has a positive
    y[1] = 0.0   # and a negative
    s = rng.random((200, 50)) + 0.3 * y
    assert macro_roc_auc(y, s) == pytest.approx(roc_auc_score(y, s, average="macro"))
    assert macro_pr_auc(y, s) == pytest.approx(average_precision_score(y, s, average="macro"))


def test_tags_without_positives_or_negatives_are_left_out():
    rng = np.random.default_rng(4)
    y = (rng.random((40, 6)) < 0.4).astype(int)
    y[0, :4], y[1, :4] = 1, 0
    y[:, 4] = 0          # no positive
    y[:, 5] = 1          # no negative
    s = rng.random((40, 6))
    assert evaluable_tags(y).tolist() == [True] * 4 + [False, False]
    assert macro_roc_auc(y, s) == pytest.approx(roc_auc_score(y[:, :4], s[:, :4], average="macro"))
    assert macro_pr_auc(y, s) == pytest.approx(average_precision_score(y[:, :4], s[:, :4], average="macro"))


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="equal non-empty"):
        macro_roc_auc(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no tag has both"):
        macro_pr_auc(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        macro_roc_auc(np.array([[1], [0]]), np.array([[np.nan], [0.1]]))


def test_per_tag_auc_by_hand_and_its_mean_is_the_macro_auc():
    from common.evaluation.metrics import per_tag_roc_auc

    y = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 0, 1]])
    s = np.array([[0.9, 0.2, 0.5], [0.8, 0.1, 0.5], [0.3, 0.7, 0.5], [0.1, 0.4, 0.5]])
    per_tag = per_tag_roc_auc(y, s)
    # tag 0: positives {0.9, 0.3}, negatives {0.8, 0.1}: pairs won 0.9>0.8, 0.9>0.1, 0.3>0.1 -> 3/4
    # tag 1: the only positive (0.7) outranks all three negatives -> 1; tag 2: no negative -> NaN
    np.testing.assert_allclose(per_tag[:2], [0.75, 1.0])
    assert np.isnan(per_tag[2])
    assert macro_roc_auc(y, s) == pytest.approx(np.nanmean(per_tag))
    with pytest.raises(ValueError, match="NaN or infinite"):
        per_tag_roc_auc(y, np.full(y.shape, np.nan))
