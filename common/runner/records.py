"""The fold-record store: one JSON file per (scheme, fold, run identity).

``<root>/folds/<scheme>/fold_<k>/<identity>.json`` holds what one unit of work computed:

``{"scheme", "fold", "identity", "identity_payload", "metrics": {name: value}, "details": {...},
"seconds", "finished", "work_dir"}``.

Records of different identities sit side by side; none overwrites another. A record is reused
only when its identity equals the one the current run computes (see :mod:`common.runner.identity`).
A record that cannot be read, is not a JSON object, or is inconsistent is reported (a warning
naming the file and the problem) and ignored, and the unit is run again. Inconsistent means:
another identity or unit; no metrics; a metric value that is not a finite number in its range
(:func:`metric_value_problem`); or a metric that disagrees with the per-track test decisions the
record stores (:func:`decision_problem`), so a hand-edited or bit-rotted record is never used.
"""

from __future__ import annotations

import json
import math
import numbers
import warnings
from pathlib import Path

from common.outputs.result_tables import write_json

#: Largest value of a metric, by (lower-case) name: accuracies are percentages (MCCLSTM, LSTM
#: segment) or fractions (CRNN-TF genres, :func:`common.evaluation.multiclass.genre_metrics`), so at
#: most 100; areas under curves, precision, recall, F1, Recall@k, NDCG and the Jaccard coefficient
#: are fractions, at most 1. Every metric of these tables is at least 0.
_METRIC_MAXIMA = (("accuracy", 100.0), ("auc", 1.0), ("precision", 1.0), ("recall", 1.0), ("f1", 1.0),
                  ("ndcg", 1.0), ("jsc", 1.0))


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


class RecordStore:
    """Fold records under ``root`` (``results/<paper>/<table>`` or its ``partial`` twin).

    Args:
        root: the table's records folder.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, scheme: str, fold: int, identity: str) -> Path:
        """``<root>/folds/<scheme>/fold_<k>/<identity>.json``."""
        return self.root / "folds" / scheme / f"fold_{fold:02d}" / f"{identity}.json"

    def load(self, scheme: str, fold: int, identity: str) -> dict | None:
        """The stored record of this unit and identity, or None when there is no valid one.

        A file that exists but is unusable is reported with a warning (and later replaced).
        """
        path = self.path(scheme, fold, identity)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            warnings.warn(f"fold record {path} is unreadable ({exc}); the fold runs again", stacklevel=2)
            return None
        problem = self._problem(record, scheme, fold, identity)
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
        if not isinstance(record.get("metrics"), dict) or not record["metrics"]:
            return "has no metrics"
        for name, value in record["metrics"].items():
            problem = metric_value_problem(name, value)
            if problem:
                return problem
        return decision_problem(record)

    def save(self, record: dict) -> Path:
        """Write a record atomically at its path; returns the path."""
        path = self.path(record["scheme"], record["fold"], record["identity"])
        write_json(record, path)
        return path
