"""The fold-record store: one JSON file per (scheme, fold, run identity).

``<root>/folds/<scheme>/fold_<k>/<identity>.json`` holds what one unit of work computed:

``{"scheme", "fold", "identity", "identity_payload", "metrics": {name: value}, "details": {...},
"seconds", "finished", "work_dir"}``.

A unit whose training diverged (its loss, weights or outputs became non-finite:
:class:`common.training.divergence.TrainingDiverged`) has a *diverged record* at the same path
instead: ``{"scheme", "fold", "identity", "identity_payload", "status": "diverged", "divergence":
{"what", "epoch", "during_training"}, "seconds", "finished", "work_dir"}`` with no ``metrics``
(:func:`divergence_problem`). It keeps the verdict: a run of the same identity reuses it instead
of training the unit again. :meth:`RecordStore.load` never returns one (it is no result);
:meth:`RecordStore.load_divergence` does.

Records of different identities sit side by side; none overwrites another. A record is reused
only when its identity equals the one the current run computes (see :mod:`common.runner.identity`).
A record that cannot be read, is not a JSON object, or is inconsistent is reported (a warning
naming the file and the problem) and ignored, and the unit is run again. Inconsistent means:
another identity or unit; no metrics; a metric value that is not a finite number in its range
(:func:`metric_value_problem`); a metric that disagrees with the per-track test decisions the
record stores (:func:`decision_problem`); or, for a store opened with the table's
``evidence_metrics``, a metric that the per-clip test results the record names do not reproduce,
or such results that are missing or altered (:func:`common.runner.evidence.evidence_problem`:
tagging tables, whose records keep no decisions). So a hand-edited or bit-rotted record is never used.
"""

from __future__ import annotations

import json
import math
import numbers
import warnings
from pathlib import Path
from typing import Callable

from common.evaluation.statistics import METRIC_MAXIMA as _METRIC_MAXIMA
from common.outputs.result_tables import write_json


def metric_value_problem(name: str, value) -> str | None:
    """Why a stored metric value cannot be a result, or None when it can.

    Args:
        name: the metric (a key of ``FoldOutcome.metrics``, e.g. ``"accuracy"``, ``"roc_auc"``).
        value: the value read from JSON.

    Returns:
        e.g. ``"metric 'accuracy' is 'abc', not a number"``, ``"... is -5, below 0"``; None for a
        finite number in ``[0, maximum]`` (maximum from :data:`_METRIC_MAXIMA` by name, else
        unbounded).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"metric {name!r} is {value!r}, not a number"
    if not math.isfinite(value):
        return f"metric {name!r} is {value!r}, not a finite number"
    if value < 0:
        return f"metric {name!r} is {value!r}, below 0"
    lowered = name.lower()
    maximum = next((top for key, top in _METRIC_MAXIMA if key in lowered), math.inf)
    if value > maximum:
        return f"metric {name!r} is {value!r}, above its largest possible value {maximum:g}"
    return None


def decision_problem(record: dict) -> str | None:
    """Whether a record's metrics agree with the per-track test decisions it stores (None: they do).

    Records of single-label tables keep ``details["test_labels"]`` with ``test_predictions`` (the
    decisions behind ``accuracy``, else the first metric, as :mod:`common.outputs.confusion` reads
    them) and/or ``test_predictions_by_metric`` (``{metric: decisions}``). Each such metric is an
    accuracy, recomputed here as the fraction of labels equal to the decisions (the computation of
    :func:`common.evaluation.metrics.accuracy_percent` and of scikit-learn's ``accuracy_score`` in
    :func:`common.evaluation.multiclass.genre_metrics`); the stored value must equal it as a
    percentage or, for the tables that report fractions (CRNN-TF genres), as a fraction.
    Records without decisions (tagging tables) are not checked here.

    Args:
        record: a fold record whose metrics passed :func:`metric_value_problem`.

    Returns:
        e.g. ``"metric 'accuracy' is 99.0 but its stored test predictions give 40.0 %"``.
    """
    details, metrics = record.get("details"), record["metrics"]
    if not isinstance(details, dict) or "test_labels" not in details:
        return None
    decisions = {}
    if "test_predictions" in details:
        name = "accuracy" if "accuracy" in metrics else next(iter(metrics), None)
        if name is not None:
            decisions[name] = details["test_predictions"]
    by_metric = details.get("test_predictions_by_metric")
    if isinstance(by_metric, dict):
        decisions.update({name: values for name, values in by_metric.items() if name in metrics})
    labels = details["test_labels"]
    for name, predicted in decisions.items():
        if not (isinstance(labels, list) and isinstance(predicted, list) and labels
                and len(labels) == len(predicted)):
            return f"stores test labels and predictions for {name!r} that do not pair up"
        fraction = sum(1 for t, p in zip(labels, predicted) if t == p) / len(labels)
        value = float(metrics[name])
        if not any(math.isclose(value, scale * fraction, rel_tol=1e-9, abs_tol=1e-6) for scale in (100.0, 1.0)):
            return (f"metric {name!r} is {value!r} but its stored test predictions give {100 * fraction:.4g} % "
                    f"({sum(1 for t, p in zip(labels, predicted) if t == p)} of {len(labels)} right)")
    return None


#: ``status`` of a diverged record.
DIVERGED = "diverged"


def divergence_problem(record: dict) -> str | None:
    """Why a record marked ``"status": "diverged"`` is not a valid diverged record, or None when it is.

    Valid: no ``metrics`` key (a diverged unit has no result, and one with metrics is never served
    as either), and ``divergence`` a dict with ``what`` a non-empty string, ``epoch`` an int >= 0 and
    ``during_training`` a bool (see :class:`common.training.divergence.TrainingDiverged`).
    """
    if "metrics" in record:
        return "is marked diverged but holds metrics"
    divergence = record.get("divergence")
    if not isinstance(divergence, dict):
        return "is marked diverged but says nothing of how (no 'divergence' object)"
    what, epoch = divergence.get("what"), divergence.get("epoch")
    if not isinstance(what, str) or not what.strip():
        return "is marked diverged but does not say what was non-finite"
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return f"is marked diverged at epoch {epoch!r}, not a whole number >= 0"
    if not isinstance(divergence.get("during_training"), bool):
        return "is marked diverged but does not say whether during or after training"
    return None


def divergence_text(record: dict) -> str:
    """``"at epoch 3: training loss nan"`` of a valid diverged record (without an epoch: what was non-finite)."""
    from common.training.divergence import divergence_phrase

    divergence = record["divergence"]
    return divergence_phrase(divergence["epoch"], divergence["during_training"], divergence["what"])


class RecordStore:
    """Fold records under ``root`` (``results/<paper>/<table>`` or its ``partial`` twin).

    Args:
        root: the table's records folder.
        evidence_metrics: the table's ``evidence -> {metric: value}`` (``TableSpec.evidence_metrics``);
            with it, a record that names per-clip test results must be reproduced by them
            (:func:`common.runner.evidence.evidence_problem`). None: not checked.
    """

    def __init__(self, root: str | Path, evidence_metrics: Callable[[dict], dict] | None = None):
        self.root = Path(root)
        self.evidence_metrics = evidence_metrics
        self._reproduced: set = set()  # records already checked against unchanged evidence files

    def path(self, scheme: str, fold: int, identity: str) -> Path:
        """``<root>/folds/<scheme>/fold_<k>/<identity>.json``."""
        return self.root / "folds" / scheme / f"fold_{fold:02d}" / f"{identity}.json"

    def load(self, scheme: str, fold: int, identity: str) -> dict | None:
        """The stored result record of this unit and identity, or None when there is no valid one.

        A valid diverged record is no result: None, without a warning (see :meth:`load_divergence`).
        A file that exists but is unusable is reported with a warning (and later replaced).
        """
        record = self.load_any(scheme, fold, identity)
        return None if record is None or record.get("status") == DIVERGED else record

    def load_divergence(self, scheme: str, fold: int, identity: str) -> dict | None:
        """The stored diverged record of this unit and identity, or None (no record, a result, or an unusable file).

        An unusable file is reported with a warning, as by :meth:`load`.
        """
        record = self.load_any(scheme, fold, identity)
        return record if record is not None and record.get("status") == DIVERGED else None

    def load_any(self, scheme: str, fold: int, identity: str) -> dict | None:
        """The valid record of this unit and identity, a result or a diverged one (``record.get("status")``
        tells them apart), or None; an unusable file is reported with a warning (and later replaced)."""
        path = self.path(scheme, fold, identity)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            warnings.warn(f"fold record {path} is unreadable ({exc}); the fold runs again", stacklevel=2)
            return None
        problem = self._problem(record, scheme, fold, identity) or self._evidence_problem(record)
        if problem:
            warnings.warn(f"fold record {path} {problem}; the fold runs again", stacklevel=2)
            return None
        return record

    @staticmethod
    def _problem(record, scheme: str, fold: int, identity: str) -> str | None:
        if not isinstance(record, dict):
            return f"is not a JSON object (found {type(record).__name__})"
        if record.get("identity") != identity or record.get("scheme") != scheme or record.get("fold") != fold:
            return "belongs to another unit or identity"
        if "status" in record and record["status"] != DIVERGED:
            return f"has status {record['status']!r} (a record is a result, or {DIVERGED!r})"
        if record.get("status") == DIVERGED:
            return divergence_problem(record)
        if not isinstance(record.get("metrics"), dict) or not record["metrics"]:
            return "has no metrics"
        for name, value in record["metrics"].items():
            problem = metric_value_problem(name, value)
            if problem:
                return problem
        return decision_problem(record)

    def _evidence_problem(self, record: dict) -> str | None:
        """:func:`common.runner.evidence.evidence_problem`, remembered for a record whose metrics and
        evidence file (checksum, size, modification time) are unchanged since it was reproduced."""
        from common.runner.evidence import evidence_path, evidence_problem

        if self.evidence_metrics is None or "evidence" not in record:
            return None
        try:
            stat = evidence_path(self, record["scheme"], record["fold"], record["identity"]).stat()
            key = (record["scheme"], record["fold"], record["identity"], json.dumps(record["evidence"], sort_keys=True),
                   json.dumps(record["metrics"], sort_keys=True), stat.st_size, stat.st_mtime_ns)
        except (OSError, TypeError, ValueError):
            key = None
        if key is not None and key in self._reproduced:
            return None
        problem = evidence_problem(self, record, self.evidence_metrics)
        if problem is None and key is not None:
            self._reproduced.add(key)
        return problem

    def save(self, record: dict) -> Path:
        """Write a record atomically at its path; returns the path."""
        path = self.path(record["scheme"], record["fold"], record["identity"])
        write_json(record, path)
        return path
