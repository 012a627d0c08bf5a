"""Is a number this code computed consistent with the paper's? Intervals, tests and verdicts.

Every compared cell of a table (a trainable scheme's metric with a paper value) gets our 95 %
confidence interval, a two-sided p-value, a verdict and the test's name
(:class:`CellComparison`). Which test depends on the table's protocol:

- **cross-validated tables** (several folds; the paper prints mean ± std over its folds):
  Welch's unequal-variance t-test on the two means (:func:`welch_test`,
  :func:`scipy.stats.ttest_ind_from_stats`). The papers do not say over what their std is
  taken; we assume it is the sample std over the paper's own folds, with as many folds as the
  protocol has (10 for the MCCLSTM and CRNN-TF GTZAN tables). Where the paper gives no std,
  the paper's mean is compared with our interval by a one-sample t-test of our fold values
  against it (:func:`one_sample_test`, :func:`scipy.stats.ttest_1samp`), i.e. the paper's number
  is taken as exact. Our interval is the t interval over folds (:func:`fold_interval`,
  :func:`scipy.stats.t.interval`). Fold results share training data, so they are not
  independent; the t-test over folds is known to be optimistic about the spread (Dietterich
  1998; Nadeau & Bengio 2003, "Inference for the generalization error", Machine Learning 52);
  read a ``lower`` / ``higher`` verdict as "worth a look", not as proof.
- **single-split tables** (one predefined test set: MagnaTagATune, FMA, ISMIR 2004): a seeded
  bootstrap over the test clips or tracks (:func:`bootstrap_distribution`): the test items are
  resampled with replacement :data:`N_RESAMPLES` times and the table's own metric function is
  recomputed on each resample from the per-clip scores or decisions stored beside the fold record.
  The interval is the percentile interval; the p-value inverts it (:func:`bootstrap_comparison`).
  It covers the test-set sampling only (not the training seed), and takes the paper's number as
  exact.

Verdict of a cell: ``consistent`` when ``p >= alpha`` (5 %); else ``lower`` or ``higher`` by the
sign of ``ours - paper``; ``n/a`` when nothing can be compared (paper-only row, no paper value,
no result, no stored per-clip results, a value selected on the test set), with the reason in the
``test`` column. A comparison is also withheld (``n/a``) where it would not mean anything:

- a cross-validated cell with fewer than :data:`MIN_FOLDS` folds (with two, the t quantile is
  12.7 and the interval spans most of the metric's range), or with no spread over its folds (a
  zero-width interval; the t statistic is undefined or rests on the paper's std alone);
- a cell with a fold that has no finite value (a diverged unit): the row then shows no mean
  either, so that the mean and the test always rest on the same folds;
- a run with an epoch cap (``build_table(epochs_cap=...)``): a capped model is not the paper's, so
  its number is not tested against the paper's; its interval is still shown.

A run on part of the published dataset that follows the full protocol (every fold, the paper's
epochs) keeps its verdicts; the table's summary names the subset (:meth:`TableVerdict.text`).
Intervals are clipped to the metric's range (:func:`metric_range`: accuracies 0-100 % or 0-1,
AUCs and the other fractions 0-1); the tests use the unclipped statistics.

Per-cell verdicts are not corrected for multiplicity; the table-level summary
(:func:`table_summary`) applies Holm's step-down correction (:func:`holm`) to the table's
compared cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
from scipy import stats

#: Significance level of the per-cell verdicts and of the table summary.
ALPHA = 0.05

#: Confidence of the reported interval (``ci95_low``, ``ci95_high``).
CONFIDENCE = 0.95

#: Bootstrap resamples of the test set (single-split tables).
N_RESAMPLES = 1000

#: Seed of the bootstrap resampling (fixed: the same records give the same interval).
BOOTSTRAP_SEED = 0

#: The verdicts a cell can get.
VERDICTS = ("consistent", "lower", "higher", "n/a")

#: Fewest folds for an interval and a test over folds (a cross-validated cell with fewer gets ``n/a``).
MIN_FOLDS = 3

#: Largest value of a metric, by a (lower-case) part of its name: accuracies are percentages
#: (MCCLSTM, LSTM segment) or fractions (CRNN-TF genres, :func:`common.evaluation.multiclass.genre_metrics`),
#: so at most 100; areas under curves, precision, recall, F1, Recall@k, NDCG and the Jaccard
#: coefficient are fractions, at most 1. Every one of these metrics is at least 0.
METRIC_MAXIMA = (("accuracy", 100.0), ("auc", 1.0), ("precision", 1.0), ("recall", 1.0), ("f1", 1.0),
                 ("ndcg", 1.0), ("jsc", 1.0))


def metric_range(metric: str, values=()) -> tuple[float, float]:
    """The range ``(low, high)`` a metric's values (and so its intervals) can take.

    Args:
        metric: the metric's name (e.g. ``"accuracy"``, ``"roc_auc"``, ``"Recall@10"``); the first
            entry of :data:`METRIC_MAXIMA` whose key is part of the lower-case name gives the maximum.
        values: the table's values of this metric (the paper's and ours). An accuracy whose finite
            values all lie in ``[0, 1]`` is a fraction (CRNN-TF's tables), so its maximum is 1,
            not 100.

    Returns:
        ``(0.0, maximum)``; ``(-inf, inf)`` for a metric not in :data:`METRIC_MAXIMA`.
    """
    lowered = metric.lower()
    top = next((maximum for key, maximum in METRIC_MAXIMA if key in lowered), None)
    if top is None:
        return -math.inf, math.inf
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if top == 100.0 and finite and max(finite) <= 1.0:
        top = 1.0
    return 0.0, top


def is_finite_value(value) -> bool:
    """True for a real number that is finite (False for None, NaN, infinities and non-numbers)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class CellComparison:
    """The comparison of one cell with the paper.

    Attributes:
        ci95_low, ci95_high: our 95 % confidence interval (metric units); NaN when not computed.
        p_value: two-sided p-value of "our number equals the paper's"; NaN when not tested.
        verdict: one of :data:`VERDICTS`.
        test: the method's name (e.g. ``"Welch t-test, 10 vs 10 folds"``), or why there is none.
    """

    ci95_low: float = math.nan
    ci95_high: float = math.nan
    p_value: float = math.nan
    verdict: str = "n/a"
    test: str = ""

    def as_row(self) -> dict:
        """The CSV columns ``ci95_low, ci95_high, p_value, verdict, test``."""
        return {"ci95_low": self.ci95_low, "ci95_high": self.ci95_high, "p_value": self.p_value,
                "verdict": self.verdict, "test": self.test}

    @property
    def compared(self) -> bool:
        """True when a test was made (a finite p-value)."""
        return math.isfinite(self.p_value)

    def excludes_paper(self, paper_mean: float) -> bool:
        """True when the interval is finite and ``paper_mean`` lies outside it."""
        return (math.isfinite(self.ci95_low) and math.isfinite(self.ci95_high)
                and not self.ci95_low <= paper_mean <= self.ci95_high)

    def clipped(self, low: float, high: float) -> "CellComparison":
        """The same comparison with its interval clipped to ``[low, high]`` (the metric's range,
        :func:`metric_range`); NaN bounds stay NaN, the p-value and verdict are unchanged."""
        def clip(bound: float) -> float:
            return bound if math.isnan(bound) else min(max(bound, low), high)

        return replace(self, ci95_low=clip(self.ci95_low), ci95_high=clip(self.ci95_high))

    def withheld(self, reason: str) -> "CellComparison":
        """The same interval without a test: p-value NaN, verdict ``n/a``, ``test`` = ``reason``
        (followed by the interval's method in parentheses where there is an interval)."""
        if math.isfinite(self.ci95_low) and math.isfinite(self.ci95_high) and self.test:
            reason = f"{reason} (interval: {self.test})"
        return CellComparison(self.ci95_low, self.ci95_high, math.nan, "n/a", reason)


def not_compared(reason: str = "") -> CellComparison:
    """A cell without a comparison (verdict ``n/a``); ``reason`` goes to the ``test`` column."""
    return CellComparison(test=reason)


def verdict_of(p_value: float, ours: float, paper: float, alpha: float = ALPHA) -> str:
    """``consistent`` (``p >= alpha``), else ``lower`` / ``higher`` by the sign of ``ours - paper``; ``n/a`` for NaN p."""
    if not math.isfinite(p_value):
        return "n/a"
    if p_value >= alpha:
        return "consistent"
    return "lower" if ours < paper else "higher"


def fold_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """t confidence interval of the mean of fold results.

    ``mean ± t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with ``s`` the sample std (``ddof=1``),
    computed by :func:`scipy.stats.t.interval`.

    Args:
        values: one metric value per fold, float ``(n,)``, ``n >= 2``.
        confidence: coverage of the interval.

    Returns:
        ``(low, high)``, in the values' unit.

    Raises:
        ValueError: fewer than two values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        raise ValueError(f"a t interval needs at least two folds, got {values.size}")
    sem = float(values.std(ddof=1) / math.sqrt(values.size))
    if sem == 0.0:
        mean = float(values.mean())
        return mean, mean
    low, high = stats.t.interval(confidence, df=values.size - 1, loc=float(values.mean()), scale=sem)
    return float(low), float(high)


def welch_test(values, paper_mean: float, paper_std: float, paper_folds: int,
               alpha: float = ALPHA) -> CellComparison:
    """Welch's t-test of our fold mean against the paper's mean ± std over ``paper_folds`` folds.

    Args:
        values: our metric per fold, float ``(n,)``, ``n >= 2``.
        paper_mean, paper_std: the paper's mean and std (the std taken as the sample std over its folds).
        paper_folds: the number of folds the paper's std is over (assumed: the protocol's).
        alpha: significance level of the verdict.

    Returns:
        the comparison: our t interval (:func:`fold_interval`), the p-value of
        :func:`scipy.stats.ttest_ind_from_stats` with ``equal_var=False``, the verdict, and
        ``test = "Welch t-test, <n> vs <paper_folds> folds"``; ``n/a`` when both spreads are 0.

    Raises:
        ValueError: fewer than two of our folds, or fewer than two paper folds.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or paper_folds < 2:
        raise ValueError(f"Welch's test needs two folds or more on each side, got {values.size} and {paper_folds}")
    low, high = fold_interval(values)
    ours, std = float(values.mean()), float(values.std(ddof=1))
    name = f"Welch t-test, {values.size} vs {paper_folds} folds"
    if std == 0.0 and paper_std == 0.0:
        return CellComparison(low, high, math.nan, "n/a", name + " (no spread on either side)")
    result = stats.ttest_ind_from_stats(ours, std, values.size, paper_mean, paper_std, paper_folds, equal_var=False)
    p_value = float(result.pvalue)
    return CellComparison(low, high, p_value, verdict_of(p_value, ours, paper_mean, alpha), name)


def one_sample_test(values, paper_mean: float, alpha: float = ALPHA) -> CellComparison:
    """One-sample t-test of our fold values against the paper's mean (the paper gives no std).

    Args:
        values: our metric per fold, float ``(n,)``, ``n >= 2``.
        paper_mean: the paper's number, taken as exact.
        alpha: significance level of the verdict.

    Returns:
        the comparison: our t interval, the p-value of :func:`scipy.stats.ttest_1samp`, the verdict,
        ``test = "one-sample t-test, <n> folds (paper gives no std)"``; ``n/a`` when our folds
        have no spread (the test is undefined).

    Raises:
        ValueError: fewer than two folds.
    """
    values = np.asarray(values, dtype=np.float64)
    low, high = fold_interval(values)
    name = f"one-sample t-test, {values.size} folds (paper gives no std)"
    if values.std(ddof=1) == 0.0:
        return CellComparison(low, high, math.nan, "n/a", name + ": our folds have no spread")
    p_value = float(stats.ttest_1samp(values, paper_mean).pvalue)
    return CellComparison(low, high, p_value, verdict_of(p_value, float(values.mean()), paper_mean, alpha), name)


def unfinished_folds_reason(values) -> str | None:
    """Why a cell's folds give no mean (some fold has no finite value), or None when they all do.

    Returns:
        e.g. ``"1 of 10 folds without a finite value: no mean, no test"``.
    """
    values = list(values)
    bad = sum(not is_finite_value(v) for v in values)
    return f"{bad} of {len(values)} folds without a finite value: no mean, no test" if bad else None


def compare_folds(values, paper_mean: float | None, paper_std: float | None, paper_folds: int,
                  alpha: float = ALPHA) -> CellComparison:
    """The comparison of a cross-validated cell: Welch with a paper std, one-sample t-test without.

    Args:
        values: our metric per fold (None or a non-finite value: a fold without a result).
        paper_mean: the paper's mean (None or NaN: nothing to compare).
        paper_std: the paper's std over folds (None or NaN: the paper gives none).
        paper_folds: folds of the paper's std (the protocol's fold count).
        alpha: significance level.

    Returns:
        see :func:`welch_test` / :func:`one_sample_test`; ``n/a`` with the reason in ``test`` and
        no interval without a paper number, when a fold has no finite value
        (:func:`unfinished_folds_reason`), with fewer than :data:`MIN_FOLDS` folds, or when our
        folds have no spread.
    """
    values = list(values)
    if paper_mean is None or not math.isfinite(paper_mean):
        return not_compared("no paper value")
    unfinished = unfinished_folds_reason(values)
    if unfinished:
        return not_compared(unfinished)
    values = [float(v) for v in values]
    if len(values) < MIN_FOLDS:
        noun = "fold" if len(values) == 1 else "folds"
        return not_compared(f"no verdict: {len(values)} {noun}, {MIN_FOLDS} needed for an interval and a test "
                            "over folds")
    if np.std(values) == 0.0:
        return not_compared("no verdict: no spread over folds (every fold gives the same value)")
    if paper_std is None or not math.isfinite(paper_std) or paper_folds < 2:
        return one_sample_test(values, paper_mean, alpha)
    return welch_test(values, paper_mean, paper_std, paper_folds, alpha)


def resample(evidence: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The evidence restricted to ``rows`` (indices along the first axis of every array)."""
    return {name: np.asarray(array)[rows] for name, array in evidence.items()}


def evidence_length(evidence: dict[str, np.ndarray]) -> int:
    """The common first-axis length of the evidence arrays (the number of test items).

    Raises:
        ValueError: no arrays, or arrays of different lengths.
    """
    lengths = {name: len(np.asarray(array)) for name, array in evidence.items()}
    if not lengths or len(set(lengths.values())) != 1:
        raise ValueError(f"evidence arrays must share their first axis (test items), got lengths {lengths}")
    return next(iter(lengths.values()))


def bootstrap_distribution(evidence: dict[str, np.ndarray], statistic: Callable[[dict], dict],
                           n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict[str, np.ndarray]:
    """Bootstrap distribution of a table's metrics over the test items.

    Each resample draws ``n`` test items with replacement (``n`` = their number; rows of every
    evidence array are drawn together) from ``numpy.random.default_rng(seed)`` and recomputes
    every metric with ``statistic``, the same function that computed the fold's numbers. A
    resample on which a metric is undefined (``statistic`` raises ``ValueError``, or returns a
    non-finite value, e.g. no positive clip of any tag) is left out of that metric's distribution.

    Args:
        evidence: ``{name: array}``, every array's first axis the test items (e.g. ``y_true``
            ``(n, n_tags)`` uint8 and ``scores`` ``(n, n_tags)`` float32).
        statistic: ``evidence -> {metric: float}``.
        n_resamples: number of resamples.
        seed: seed of the resampling.

    Returns:
        ``{metric: float64 (k,)}`` with ``k <= n_resamples`` values per metric.

    Raises:
        ValueError: evidence arrays of different lengths, or no test item.
    """
    n = evidence_length(evidence)
    if n == 0:
        raise ValueError("no test items to resample")
    rng = np.random.default_rng(seed)
    collected: dict[str, list[float]] = {}
    for _ in range(n_resamples):
        rows = rng.integers(0, n, size=n)
        try:
            values = statistic(resample(evidence, rows))
        except ValueError:
            continue
        for metric, value in values.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                collected.setdefault(metric, []).append(value)
    return {metric: np.asarray(values, dtype=np.float64) for metric, values in collected.items()}


def bootstrap_comparison(distribution, ours: float, paper_mean: float | None, n_items: int,
                         confidence: float = CONFIDENCE, alpha: float = ALPHA) -> CellComparison:
    """Percentile interval and test-inversion p-value of a bootstrap distribution against the paper.

    The interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the
    distribution (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13). The
    p-value is the smallest level at which the matching percentile interval excludes the paper's
    number: ``2 * min(#{b <= paper} + 1, #{b >= paper} + 1) / (B + 1)``, capped at 1 (the ``+1``
    keeps it above 0 with a finite ``B``). So a paper number clearly outside the ``1 - alpha``
    percentile interval gives ``p < alpha`` and one clearly inside gives ``p >= alpha``; within
    about one resample of the interval's edge the two can disagree (the ``+1``, and the
    interpolation of :func:`numpy.percentile`): with ``B = 1000``, a paper number with 25 resamples
    below it lies just outside the interval and still gets ``p = 0.052``, ``consistent``.

    Args:
        distribution: bootstrap values of the metric, float ``(B,)``.
        ours: the metric on the whole test set (the fold record's value).
        paper_mean: the paper's number (None or NaN: interval only, verdict ``n/a``).
        n_items: number of test items resampled (for the test's name).
        confidence: coverage of the interval.
        alpha: significance level.

    Returns:
        the comparison, ``test = "bootstrap, <B> resamples of <n> test items"``; ``n/a`` when the
        distribution is empty.
    """
    values = np.asarray(distribution, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return not_compared("bootstrap: the metric is undefined on every resample")
    tail = (1.0 - confidence) / 2.0
    low, high = np.percentile(values, [100.0 * tail, 100.0 * (1.0 - tail)])
    name = f"bootstrap, {values.size} resamples of {n_items} test items"
    if paper_mean is None or not math.isfinite(paper_mean):
        return CellComparison(float(low), float(high), math.nan, "n/a", name)
    below = int(np.sum(values <= paper_mean)) + 1
    above = int(np.sum(values >= paper_mean)) + 1
    p_value = min(1.0, 2.0 * min(below, above) / (values.size + 1))
    return CellComparison(float(low), float(high), p_value, verdict_of(p_value, ours, paper_mean, alpha), name)


def holm(p_values, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down correction of ``m`` p-values (Holm 1979, "A simple sequentially rejective
    multiple test procedure", Scandinavian Journal of Statistics 6(2):65-70).

    Sorted ascending, ``p_(1) <= ... <= p_(m)``: reject ``H_(1), ..., H_(k)`` for the largest
    ``k`` with ``p_(j) <= alpha / (m - j + 1)`` for every ``j <= k``. The adjusted p-values are
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``; ``adjusted <= alpha`` gives the same decisions.
    Controls the family-wise error rate at ``alpha`` under any dependence between the tests.

    Args:
        p_values: float ``(m,)`` in [0, 1].
        alpha: family-wise level.

    Returns:
        ``(rejected bool (m,), adjusted float64 (m,))`` in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    factors = m - np.arange(m)
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = adjusted_sorted
    return adjusted <= alpha, adjusted


@dataclass(frozen=True)
class TableVerdict:
    """The table-level summary of its cells' comparisons.

    Attributes:
        n_compared: cells with a test (a p-value).
        n_consistent: of those, cells not rejected after Holm's correction.
        n_lower, n_higher: rejected cells where ours is below / above the paper's number.
        n_differ_uncorrected: cells whose own verdict (uncorrected) is ``lower`` or ``higher``.
        alpha: family-wise level.
        scope: the part of the published dataset the cells are about when it is not the whole
            (``"100/1000 tracks"``); empty for the whole dataset.
        why_none: why no cell was compared (the cells' reasons, e.g. ``"no verdict: epochs <= 2,
            not the paper's training"``); used only when ``n_compared`` is 0.
    """

    n_compared: int
    n_consistent: int
    n_lower: int
    n_higher: int
    n_differ_uncorrected: int
    alpha: float = ALPHA
    scope: str = ""
    why_none: str = ""

    def text(self) -> str:
        """One line, e.g. ``"5 of 7 cells consistent with the paper at the 5 % level (Holm); 2 lower"``,
        after ``"on 100/1000 tracks: "`` for a subset; ``"no cell compared with the paper (<why>)"``
        when no cell has a test."""
        prefix = f"on {self.scope}: " if self.scope else ""
        if self.n_compared == 0:
            why = self.why_none or "no paper value with a result and an interval"
            return f"{prefix}no cell compared with the paper ({why})"
        level = f"{100 * self.alpha:g} %"
        noun = "cell" if self.n_compared == 1 else "cells"
        line = (f"{prefix}{self.n_consistent} of {self.n_compared} {noun} consistent with the paper at the {level} "
                "level (Holm)")
        parts = [f"{n} {word}" for n, word in ((self.n_lower, "lower"), (self.n_higher, "higher")) if n]
        if parts:
            line += "; " + ", ".join(parts)
        if self.n_differ_uncorrected != self.n_lower + self.n_higher:
            line += f" ({self.n_differ_uncorrected} differ per cell without correction)"
        return line

    def as_dict(self) -> dict:
        """JSON-able summary for the manifest, with the line of :meth:`text`."""
        out = {"cells_compared": self.n_compared, "consistent": self.n_consistent, "lower": self.n_lower,
               "higher": self.n_higher, "differ_per_cell_uncorrected": self.n_differ_uncorrected,
               "alpha": self.alpha, "correction": "Holm"}
        if self.scope:
            out["dataset"] = self.scope
        return {**out, "summary": self.text()}


def table_summary(p_values, differences, verdicts, alpha: float = ALPHA, *, scope: str = "",
                  why_none: str = "") -> TableVerdict:
    """Holm-corrected summary of a table's cells.

    Args:
        p_values: every cell's p-value (NaN: not compared; left out).
        differences: every cell's ``ours - paper`` (sign of a rejected cell).
        verdicts: every cell's own (uncorrected) verdict.
        alpha: family-wise level.
        scope, why_none: see :class:`TableVerdict`.

    Returns:
        :class:`TableVerdict`.
    """
    p = np.asarray(p_values, dtype=np.float64)
    d = np.asarray(differences, dtype=np.float64)
    tested = np.isfinite(p)
    rejected, _ = holm(p[tested], alpha)
    signs = d[tested]
    differ = sum(v in ("lower", "higher") for v, t in zip(verdicts, tested) if t)
    return TableVerdict(n_compared=int(tested.sum()), n_consistent=int((~rejected).sum()),
                        n_lower=int((rejected & (signs < 0)).sum()), n_higher=int((rejected & (signs > 0)).sum()),
                        n_differ_uncorrected=int(differ), alpha=alpha, scope=scope, why_none=why_none)
