"""Per-clip test results beside a fold record, and the bootstrap comparisons made from them.

A single-split table (MagnaTagATune, FMA, ISMIR 2004) has one test set and so no spread over
folds; its interval comes from resampling the test clips (:mod:`common.evaluation.statistics`),
which needs what the metrics were computed from: the per-clip scores (tagging, ROC-AUC) or
decisions (accuracy). A scheme returns them as ``FoldOutcome.evidence``; the runner stores them
as ``<identity>.evidence.npz`` beside the record ``<identity>.json``.

Why an ``.npz`` beside the record and not lists in the record's JSON: MagnaTagATune's test set is
about 5,300 clips x 50 tags; as JSON lists that is some 2 MB of text per record, read again at every
table assembly, while a compressed ``.npz`` of float32 scores and uint8 targets is about 1 MB and
loads in milliseconds. The scores are kept at the precision the metrics were computed from
(float32 network outputs; float64 for patch-averaged or SVM scores), not rounded to float16, so
that the metric recomputed from the stored file equals the record's metric; that equality is
checked before a bootstrap uses the file.

Integrity: the ``.npz`` is written atomically *before* the record, and the record names it with
the SHA-256 of its bytes and every array's shape and dtype (``record["evidence"]``). A record that
names evidence which is missing, has another checksum or shapes, or whose arrays do not reproduce
the record's metrics (:func:`evidence_problem`) is refused when the record store reads it, like a
classification record whose metric disagrees with its stored test decisions
(:func:`common.runner.records.decision_problem`): a warning names the file and the metric, the
unit runs again (a ``collect`` shows the row without it), and the number is never published.
Records that name no evidence (tables that keep none) are judged as before. The bootstrap checks
the same again before it resamples, for a store that was opened without the table's metric function.

Bootstrap distributions are cached under ``<work>/cache/bootstrap/`` (keyed by the evidence's
checksum, the resample count, the seed and the metrics' function), so assembling a table again
does not recompute them.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from pathlib import Path

import numpy as np

from common.atomic_files import atomic_write_bytes
from common.evaluation.statistics import (BOOTSTRAP_SEED, N_RESAMPLES, CellComparison, bootstrap_comparison,
                                          bootstrap_distribution, evidence_length, not_compared)
from common.runner.identity import fingerprint

#: Suffix of the evidence file beside ``<identity>.json``.
EVIDENCE_SUFFIX = ".evidence.npz"

#: Relative tolerance between a record's metric and the same metric recomputed from its evidence.
REPRODUCTION_TOLERANCE = 1e-5


def evidence_path(store, scheme: str, fold: int, identity: str) -> Path:
    """``<root>/folds/<scheme>/fold_<k>/<identity>.evidence.npz`` beside the record of the unit."""
    record = Path(store.path(scheme, fold, identity))
    return record.with_name(record.stem + EVIDENCE_SUFFIX)


def save_evidence(store, scheme: str, fold: int, identity: str, arrays: dict) -> dict:
    """Write a unit's evidence atomically (compressed ``.npz``); returns the record's ``evidence`` entry.

    Args:
        store: the :class:`~common.runner.records.RecordStore`.
        scheme, fold, identity: the unit.
        arrays: ``{name: array}`` with a common first axis (test items).

    Returns:
        ``{"file": <name>, "sha256": <hex>, "arrays": {name: {"shape": [...], "dtype": str}}}``.

    Raises:
        ValueError: the arrays do not share their first axis.
        OSError: the file cannot be written.
    """
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    evidence_length(arrays)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    payload = buffer.getvalue()
    path = evidence_path(store, scheme, fold, identity)
    atomic_write_bytes(path, lambda handle: handle.write(payload))
    return {"file": path.name, "sha256": hashlib.sha256(payload).hexdigest(),
            "arrays": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()}}


def load_evidence(store, record: dict) -> tuple[dict | None, str]:
    """The evidence arrays of a record, checked against the record's entry.

    Returns:
        ``(arrays, "")``, or ``(None, why)`` when the record names no evidence or the file is
        missing, unreadable, has another checksum, or other shapes or dtypes than recorded.
    """
    entry = record.get("evidence")
    if not isinstance(entry, dict) or not entry.get("file"):
        return None, "no per-clip test results stored"
    path = evidence_path(store, record["scheme"], record["fold"], record["identity"])
    try:
        payload = path.read_bytes()
    except OSError as exc:
        return None, f"per-clip test results {path} unreadable ({exc})"
    if hashlib.sha256(payload).hexdigest() != entry.get("sha256"):
        return None, f"per-clip test results {path} do not match the record's checksum"
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        return None, f"per-clip test results {path} unreadable ({exc})"
    expected = entry.get("arrays") or {}
    found = {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in arrays.items()}
    if found != expected:
        return None, f"per-clip test results {path} hold {found}, the record names {expected}"
    return arrays, ""


def evidence_problem(store, record: dict, evidence_metrics) -> str | None:
    """Whether a record's metrics are reproduced by the per-clip test results it names (None: they are).

    Args:
        store: the record store (:func:`evidence_path` of the record).
        record: a fold record whose metrics passed
            :func:`common.runner.records.metric_value_problem`.
        evidence_metrics: the table's ``evidence -> {metric: value}``
            (``TableSpec.evidence_metrics``), or None (nothing is checked).

    Returns:
        None when ``evidence_metrics`` is None, the record names no evidence, or every metric the
        evidence gives equals the record's within :data:`REPRODUCTION_TOLERANCE` (metrics the
        function does not give, e.g. those selected on the test set, are not checked); else why,
        e.g. ``"has metrics its per-clip test results do not reproduce (roc_auc 0.95 vs 0.49)"``
        or ``"names per-clip test results ... that do not match the record's checksum"``.
    """
    if evidence_metrics is None or "evidence" not in record:
        return None
    arrays, why = load_evidence(store, record)
    if arrays is None:
        return f"cannot be checked against its per-clip test results: {why}"
    try:
        wrong = _reproduces(evidence_metrics(arrays), record["metrics"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"has per-clip test results from which its metrics cannot be computed ({exc})"
    if wrong:
        return f"has metrics its per-clip test results do not reproduce ({'; '.join(wrong)})"
    return None


def _reproduces(recomputed: dict, metrics: dict) -> list[str]:
    """Metrics of the record that the evidence does not reproduce (within the tolerance)."""
    wrong = []
    for metric, value in metrics.items():
        if metric not in recomputed:
            continue
        ours, again = float(value), float(recomputed[metric])
        if not math.isclose(ours, again, rel_tol=REPRODUCTION_TOLERANCE, abs_tol=REPRODUCTION_TOLERANCE):
            wrong.append(f"{metric} {ours:.6g} vs {again:.6g}")
    return wrong


def _cached_distribution(cache_dir: Path | None, key: str, compute) -> dict:
    """``compute()`` (``{metric: float64 (B,)}``), read from / written to ``<cache_dir>/bootstrap/<key>.npz``."""
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / "bootstrap" / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError):
            pass  # unreadable cache entry: computed again and replaced
    distribution = compute()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **distribution)
    try:
        atomic_write_bytes(path, lambda handle: handle.write(buffer.getvalue()))
    except OSError:
        pass  # a cache that cannot be written only costs time
    return distribution


def bootstrap_comparisons(spec, store, records: dict, cache_dir: Path | None = None,
                          n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Bootstrap comparisons of a single-split table's cells with the paper.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`); needs ``evidence_metrics``.
        store: the record store.
        records: ``{scheme: [record, ...]}``; only schemes with exactly one record are resampled.
        cache_dir: root of the run's caches (``<work>/cache``), or None for no cache.
        n_resamples, seed: of the bootstrap.

    Returns:
        ``{(scheme, metric): CellComparison}`` for every metric of every resampled scheme; a
        scheme whose evidence is missing or does not reproduce its record gets ``n/a`` cells naming why
        (and a warning).
    """
    if spec.evidence_metrics is None:
        return {}
    out = {}
    for scheme, recs in records.items():
        if len(recs) != 1:
            continue
        record = recs[0]
        arrays, why = load_evidence(store, record)
        if arrays is not None:
            try:
                wrong = _reproduces(spec.evidence_metrics(arrays), record["metrics"])
            except ValueError as exc:
                wrong = [f"the metrics cannot be computed from them ({exc})"]
            if wrong:
                arrays, why = None, "stored per-clip test results do not reproduce the record: " + "; ".join(wrong)
        if arrays is None:
            if "no per-clip test results stored" not in why:
                warnings.warn(f"{spec.paper}.{spec.table_id} {scheme}: {why}; no bootstrap interval", stacklevel=2)
            for metric in spec.metrics:
                out[scheme, metric] = not_compared(f"bootstrap: {why}")
            continue
        key = fingerprint({"evidence": record["evidence"]["sha256"], "n_resamples": n_resamples, "seed": seed,
                           "table": f"{spec.paper}.{spec.table_id}", "identity": record["identity"]})
        distribution = _cached_distribution(
            cache_dir, key, lambda: bootstrap_distribution(arrays, spec.evidence_metrics, n_resamples, seed))
        n_items = evidence_length(arrays)
        for metric in spec.metrics:
            if metric not in record["metrics"]:
                continue
            paper = spec.reference.get(scheme, {}).get(metric)
            if metric not in distribution:
                out[scheme, metric] = not_compared(_not_resampled(metric))
                continue
            out[scheme, metric] = bootstrap_comparison(distribution.get(metric, np.array([])),
                                                       float(record["metrics"][metric]),
                                                       paper.mean if paper else None, n_items)
    return out


def _not_resampled(metric: str) -> str:
    """Why a metric of a record has no bootstrap distribution (the ``test`` column of its cell)."""
    from common.training.epoch_test_evaluation import TEST_SELECTED_LABEL

    if TEST_SELECTED_LABEL in metric:
        return ("no interval: selected on the test set (the best epoch's test value; the per-clip results "
                "kept are the validation-selected model's)")
    return "bootstrap: the per-clip test results do not give this metric"


__all__ = ["EVIDENCE_SUFFIX", "evidence_path", "save_evidence", "load_evidence", "evidence_problem",
           "bootstrap_comparisons", "CellComparison"]
