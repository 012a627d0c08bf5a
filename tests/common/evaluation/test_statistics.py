"""Intervals, tests and verdicts against scipy and hand-worked examples."""

import math

import numpy as np
import pytest
from scipy import stats

from common.evaluation.statistics import (bootstrap_comparison, bootstrap_distribution, compare_folds, fold_interval,
                                          holm, one_sample_test, table_summary, welch_test)

#: MCCLSTM Table 3, CNNs-3 on the 100-clip gtzan-mini: ten fold accuracies (%), mean 77.0.
FOLDS = [70.0, 80.0, 90.0, 80.0, 60.0, 90.0, 60.0, 70.0, 90.0, 80.0]


def test_welch_agrees_with_scipy_and_the_formula():
    result = welch_test(FOLDS, 79.8, 1.7, 10)
    mean, std = np.mean(FOLDS), np.std(FOLDS, ddof=1)
    reference = stats.ttest_ind_from_stats(mean, std, 10, 79.8, 1.7, 10, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    # by hand: t = d / sqrt(s1^2/n1 + s2^2/n2), Welch-Satterthwaite degrees of freedom
    v1, v2 = std ** 2 / 10, 1.7 ** 2 / 10
    t = (mean - 79.8) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 ** 2 / 9 + v2 ** 2 / 9)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9)
    assert result.verdict == "consistent" and result.test == "Welch t-test, 10 vs 10 folds"
    assert (result.ci95_low, result.ci95_high) == (pytest.approx(mean - stats.t.ppf(0.975, 9) * std / math.sqrt(10)),
                                                   pytest.approx(mean + stats.t.ppf(0.975, 9) * std / math.sqrt(10)))
    far = welch_test(FOLDS, 95.0, 1.0, 10)
    assert far.p_value < 0.05 and far.verdict == "lower"


def test_one_sample_test_agrees_with_scipy_and_with_the_interval():
    low, high = fold_interval(FOLDS)
    for paper in (low - 0.01, low + 0.01, 77.0, high - 0.01, high + 0.01):
        result = one_sample_test(FOLDS, paper)
        assert result.p_value == pytest.approx(stats.ttest_1samp(FOLDS, paper).pvalue, rel=1e-12)
        inside = low <= paper <= high
        assert (result.verdict == "consistent") == inside
    assert one_sample_test(FOLDS, high + 0.01).verdict == "lower"
    assert one_sample_test(FOLDS, low - 0.01).verdict == "higher"


def test_compare_folds_picks_the_test_and_refuses_what_it_cannot_compare():
    assert compare_folds(FOLDS, 79.8, 1.7, 10).test.startswith("Welch")
    assert compare_folds(FOLDS, 79.8, None, 10).test.startswith("one-sample")
    assert compare_folds(FOLDS, float("nan"), 1.7, 10).verdict == "n/a"
    single = compare_folds([77.0], 79.8, 1.7, 10)
    assert single.verdict == "n/a" and math.isnan(single.ci95_low)
    flat = compare_folds([80.0, 80.0, 80.0], 79.0, None, 3)  # no spread: a t-test is undefined
    assert flat.verdict == "n/a"


def test_bootstrap_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(3)
    sample = rng.normal(0.9, 0.05, size=400)
    ours = bootstrap_distribution({"x": sample}, lambda e: {"mean": float(np.mean(e["x"]))}, n_resamples=4000,
                                  seed=0)
    comparison = bootstrap_comparison(ours["mean"], float(sample.mean()), 0.9, len(sample))
    reference = stats.bootstrap((sample,), np.mean, n_resamples=4000, method="percentile", random_state=0,
                                confidence_level=0.95).confidence_interval
    width = reference.high - reference.low
    assert comparison.ci95_low == pytest.approx(reference.low, abs=0.05 * width)
    assert comparison.ci95_high == pytest.approx(reference.high, abs=0.05 * width)
    assert comparison.test == "bootstrap, 4000 resamples of 400 test items"


def test_bootstrap_resamples_rows_together_is_seeded_and_flips_the_verdict():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=300)
    predictions = np.where(rng.random(300) < 0.7, labels, (labels + 1) % 4)

    def accuracy(evidence):
        return {"accuracy": 100.0 * float(np.mean(evidence["labels"] == evidence["predictions"]))}

    evidence = {"labels": labels, "predictions": predictions}
    first = bootstrap_distribution(evidence, accuracy, n_resamples=1000, seed=0)["accuracy"]
    again = bootstrap_distribution(evidence, accuracy, n_resamples=1000, seed=0)["accuracy"]
    assert np.array_equal(first, again) and first.size == 1000
    ours = accuracy(evidence)["accuracy"]
    low, high = np.percentile(first, [2.5, 97.5])
    assert low < ours < high
    assert bootstrap_comparison(first, ours, high - 0.5, 300).verdict == "consistent"
    assert bootstrap_comparison(first, ours, high + 0.5, 300).verdict == "lower"
    assert bootstrap_comparison(first, ours, low - 0.5, 300).verdict == "higher"
    p = bootstrap_comparison(first, ours, ours, 300).p_value
    assert p > 0.5
    with pytest.raises(ValueError, match="share their first axis"):
        bootstrap_distribution({"labels": labels, "predictions": predictions[:10]}, accuracy)


def test_bootstrap_leaves_out_resamples_where_the_metric_is_undefined():
    def picky(evidence):
        if evidence["x"].sum() == 0:
            raise ValueError("undefined")
        return {"m": float(evidence["x"].mean())}

    distribution = bootstrap_distribution({"x": np.array([0, 0, 0, 1])}, picky, n_resamples=200, seed=0)
    # P(no 1 among 4 draws) = (3/4)^4 ~ 0.32: about a third of the resamples are left out
    assert 100 < distribution["m"].size < 170


def test_holm_matches_a_hand_worked_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone: 0.02, 0.03, 0.06, 0.06
    rejected, adjusted = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert rejected.tolist() == [True, False, False, True]
    rejected, adjusted = holm([0.5, 0.9])
    assert not rejected.any() and adjusted == pytest.approx([1.0, 1.0])  # 2 x 0.5 = 1.0; monotone after it


def test_table_summary_counts_and_states_the_correction():
    summary = table_summary([0.01, 0.04, 0.03, 0.005, float("nan")], [-1.0, 2.0, -3.0, 4.0, 0.0],
                            ["lower", "higher", "lower", "higher", "n/a"])
    assert summary.n_compared == 4 and summary.n_consistent == 2
    assert summary.n_lower == 1 and summary.n_higher == 1 and summary.n_differ_uncorrected == 4
    assert summary.text() == ("2 of 4 cells consistent with the paper at the 5 % level (Holm); 1 lower, 1 higher "
                              "(4 differ per cell without correction)")
    assert table_summary([], [], []).text().startswith("no cell compared")


# --- verdicts only where a comparison means something -------------------------------------------------------


def test_fewer_than_three_folds_get_no_interval_and_no_verdict():
    """Two folds: the t quantile is 12.7 and the interval spans most of the range (-18.53 to 108.53)."""
    for values in ([40.0, 50.0], [77.0]):
        result = compare_folds(values, 79.8, 1.7, 10)
        assert result.verdict == "n/a" and math.isnan(result.p_value) and math.isnan(result.ci95_low)
        assert f"{len(values)} fold" in result.test and "3 needed" in result.test


def test_folds_without_spread_get_no_verdict_even_against_a_paper_std():
    """Both folds at 30 gave a zero-width interval and ``lower`` against the paper's 78.4 ± 1.9."""
    result = compare_folds([30.0, 30.0, 30.0], 78.4, 1.9, 10)
    assert result.verdict == "n/a" and math.isnan(result.p_value) and math.isnan(result.ci95_low)
    assert "no spread over folds" in result.test


def test_a_fold_without_a_finite_value_leaves_the_cell_without_a_test():
    """The mean shows no number for such a cell, so the test must not drop the fold either."""
    for bad in (float("nan"), float("inf"), None):
        result = compare_folds(FOLDS[:9] + [bad], 79.8, 1.7, 10)
        assert result.verdict == "n/a" and math.isnan(result.p_value) and math.isnan(result.ci95_low)
        assert result.test.startswith("1 of 10 folds without a finite value")


def test_metric_range_by_name_and_scale():
    from common.evaluation.statistics import metric_range

    assert metric_range("accuracy", [77.0, 79.8]) == (0.0, 100.0)
    assert metric_range("accuracy", [0.66, 0.70]) == (0.0, 1.0)  # CRNN-TF reports accuracy as a fraction
    assert metric_range("roc_auc", [0.9]) == (0.0, 1.0)
    assert metric_range("AUC (best epoch on test, as the authors selected)") == (0.0, 1.0)
    assert metric_range("Recall@10") == (0.0, 1.0) and metric_range("seg_accuracy", [60.0]) == (0.0, 100.0)
    assert metric_range("loss") == (-math.inf, math.inf)


def test_an_interval_is_clipped_to_the_metric_range():
    from common.evaluation.statistics import CellComparison

    clipped = CellComparison(-21.73, 108.5, 0.3, "consistent", "Welch").clipped(0.0, 100.0)
    assert (clipped.ci95_low, clipped.ci95_high) == (0.0, 100.0)
    assert clipped.p_value == 0.3 and clipped.verdict == "consistent"
    none = CellComparison(test="x").clipped(0.0, 1.0)
    assert math.isnan(none.ci95_low) and math.isnan(none.ci95_high)


def test_table_summary_names_the_dataset_scope_and_why_nothing_was_compared():
    summary = table_summary([0.3, 0.01], [-1.0, -5.0], ["consistent", "lower"], scope="100/1000 tracks")
    assert summary.text() == "on 100/1000 tracks: 1 of 2 cells consistent with the paper at the 5 % level (Holm); 1 lower"
    assert summary.as_dict()["summary"] == summary.text() and summary.as_dict()["dataset"] == "100/1000 tracks"
    none = table_summary([float("nan")], [0.0], ["n/a"], scope="100/1000 tracks",
                         why_none="no verdict: epochs <= 2, not the paper's training")
    assert none.text() == ("on 100/1000 tracks: no cell compared with the paper (no verdict: epochs <= 2, "
                           "not the paper's training)")
    assert "consistent" not in none.text()
