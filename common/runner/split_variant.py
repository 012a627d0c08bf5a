"""The comparison columns of a run on another split than the paper's (``--split fault-filtered``).

The paper's numbers come from its own protocol (10-fold cross-validation for every GTZAN table
here), so a run on GTZAN's fault-filtered split is never tested against them: every cell's
verdict is ``n/a`` and its ``test`` column says why (``no verdict: another protocol ...``). What
the cell does get is the interval of its single test set: a seeded bootstrap over the test tracks
(:func:`common.evaluation.statistics.bootstrap_distribution`, the percentile interval of
:func:`common.evaluation.statistics.bootstrap_comparison`), resampling the per-track decisions the
fold record keeps in its ``details`` (``test_labels`` with ``test_predictions``, or
``test_predictions_by_metric``: the contract of :mod:`common.outputs.confusion`). It covers
test-set sampling only, not training randomness.

Only accuracy is resampled this way (the metric of every GTZAN table); the decisions must give
back the record's accuracy (in percent, or as a fraction as CRNN-TF's tables keep it) or the
cell gets no interval, with the reason. Distributions are cached like the single-split tables'
(``<work>/cache/bootstrap/``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.evaluation.statistics import (BOOTSTRAP_SEED, N_RESAMPLES, CellComparison, bootstrap_comparison,
                                          bootstrap_distribution, not_compared)
from common.runner.evidence import _cached_distribution
from common.runner.identity import fingerprint

#: The metric resampled from the stored test decisions.
DECISION_METRIC = "accuracy"

#: Relative tolerance between a record's accuracy and the accuracy of its stored decisions.
TOLERANCE = 1e-6


def another_protocol_reason(variant: str) -> str:
    """The ``test`` column's reason for a run on ``variant`` (e.g. ``"fault-filtered split"``)."""
    return f"no verdict: another protocol ({variant}; the paper's numbers come from its own split)"


def decision_evidence(record: dict, metric: str = DECISION_METRIC) -> tuple[dict | None, str]:
    """The per-test-track decisions of a fold record behind ``metric``.

    Args:
        record: a fold record (``details`` with ``test_labels`` and ``test_predictions`` or
            ``test_predictions_by_metric[metric]``).
        metric: the table metric the decisions score.

    Returns:
        ``({"labels": int64 (n,), "predictions": int64 (n,)}, "")``, or ``(None, why)`` when the
        record keeps no such decisions or their lengths differ.
    """
    details = record.get("details") or {}
    labels = details.get("test_labels")
    by_metric = details.get("test_predictions_by_metric")
    predictions = by_metric.get(metric) if isinstance(by_metric, dict) else None
    if predictions is None:
        predictions = details.get("test_predictions")
    if not isinstance(labels, list) or not isinstance(predictions, list) or not labels:
        return None, "no per-track test decisions in the fold record"
    if len(labels) != len(predictions):
        return None, f"{len(labels)} test labels but {len(predictions)} test decisions in the fold record"
    return {"labels": np.asarray(labels, dtype=np.int64), "predictions": np.asarray(predictions, dtype=np.int64)}, ""


def _accuracy_scale(evidence: dict, recorded: float) -> float | None:
    """100 or 1: the unit in which ``recorded`` is the decisions' accuracy (None: neither)."""
    fraction = float(np.mean(evidence["labels"] == evidence["predictions"]))
    for scale in (100.0, 1.0):
        if math.isclose(recorded, scale * fraction, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            return scale
    return None


def split_variant_comparisons(spec, records: dict, variant: str, cache_dir: Path | None = None,
                              n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Comparison cells of a run on another split: a test-set bootstrap interval, never a verdict.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`): its paper, table id and metrics.
        records: ``{scheme: [record, ...]}``; a scheme with one record (the split's one fold) is resampled.
        variant: the run's variant (``"fault-filtered split"``), named in the reason.
        cache_dir: root of the run's caches (``<work>/cache``), or None for no cache.
        n_resamples, seed: of the bootstrap.

    Returns:
        ``{(scheme, metric): CellComparison}`` for every metric of every scheme with a record: verdict
        ``n/a``, p-value NaN, ``test`` = :func:`another_protocol_reason` followed by ``(interval:
        bootstrap, <B> resamples of <n> test items)``, or by why there is no interval.
    """
    reason = another_protocol_reason(variant)
    out: dict = {}
    for scheme, recs in records.items():
        for metric in spec.metrics:
            out[scheme, metric] = not_compared(f"{reason}; no interval: {len(recs)} fold records")
        if len(recs) != 1:
            continue
        record = recs[0]
        for metric in spec.metrics:
            if metric not in record.get("metrics", {}):
                continue
            out[scheme, metric] = _interval(spec, record, metric, reason, cache_dir, n_resamples, seed)
    return out


def _interval(spec, record: dict, metric: str, reason: str, cache_dir, n_resamples: int, seed: int) -> CellComparison:
    """One cell of :func:`split_variant_comparisons`."""
    if metric != DECISION_METRIC:
        return not_compared(f"{reason}; no interval: only {DECISION_METRIC} is resampled from the test decisions")
    evidence, why = decision_evidence(record, metric)
    recorded = float(record["metrics"][metric])
    if evidence is None:
        return not_compared(f"{reason}; no interval: {why}")
    scale = _accuracy_scale(evidence, recorded) if math.isfinite(recorded) else None
    if scale is None:
        return not_compared(f"{reason}; no interval: the stored test decisions do not give the record's "
                            f"{metric} {recorded:.6g}")

    def statistic(sample: dict) -> dict:
        return {metric: scale * float(np.mean(sample["labels"] == sample["predictions"]))}

    key = fingerprint({"decisions": fingerprint({k: v.tolist() for k, v in evidence.items()}), "scale": scale,
                       "n_resamples": n_resamples, "seed": seed, "table": f"{spec.paper}.{spec.table_id}",
                       "identity": record.get("identity"), "statistic": "accuracy of test decisions"})
    distribution = _cached_distribution(cache_dir, key,
                                        lambda: bootstrap_distribution(evidence, statistic, n_resamples, seed))
    interval = bootstrap_comparison(distribution.get(metric, np.array([])), recorded, None, len(evidence["labels"]))
    if not (math.isfinite(interval.ci95_low) and math.isfinite(interval.ci95_high)):
        return not_compared(f"{reason}; no interval: {interval.test}")
    return CellComparison(interval.ci95_low, interval.ci95_high, math.nan, "n/a", f"{reason} (interval: {interval.test})")


def with_split_variant_cells(table, cells: dict):
    """``table`` with the comparison columns of its rows replaced by ``cells`` (:func:`split_variant_comparisons`).

    Applied after :func:`common.outputs.result_tables.build_table`, so that the reason of a run on
    another split stands as written (a cell's own test and interval would otherwise be read as a
    comparison with the paper and reworded). Such a row's ``difference`` (ours - paper) is emptied
    too: the paper's number comes from another protocol, so the table sets no difference against it
    (the paper's number stays in ``paper_mean`` for reference). Rows without a finite ``our_mean``
    (not run, paper-only, diverged) keep theirs.

    Args:
        table: the comparison table (:data:`common.outputs.result_tables.TABLE_COLUMNS`).
        cells: ``{(scheme, metric): CellComparison}``.

    Returns:
        a copy of ``table``.
    """
    table = table.copy()
    for position, row in table.iterrows():
        cell = cells.get((row["scheme"], row["metric"]))
        try:
            finite = math.isfinite(float(row["our_mean"]))
        except (TypeError, ValueError):
            finite = False
        if cell is not None and finite:
            for column, value in cell.as_row().items():
                table.at[position, column] = value
            if "difference" in table.columns:
                table.at[position, "difference"] = math.nan
    return table


__all__ = ["split_variant_comparisons", "with_split_variant_cells", "decision_evidence", "another_protocol_reason"]
