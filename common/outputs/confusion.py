"""Confusion matrices of single-label tables, summed over the folds a run completed.

What a fold record must hold (its ``details``, see :mod:`common.runner.records`), per test track
in the same order:

- ``test_labels``: true class indices (ints into the dataset's class list);
- ``test_predictions``: predicted class indices, the decisions behind the table's ``accuracy``
  metric (or its first metric when it has no ``accuracy``), and/or
- ``test_predictions_by_metric``: ``{metric: [predicted class index, ...]}`` for schemes whose
  metrics score different decisions (LSTM segment Table 4: majority vote, SVM on f_lstm, SVM on
  f_fusion);
- optionally ``classes``: the class list the indices refer to (checked against the run's).

Records without predictions (multi-label tagging tables, whose details hold scores only) give no
matrix; a table none of whose records has predictions gets no confusion files.

Files written by :func:`write_confusion_matrices` beside the table (``<table>`` = table id):

- ``<table>_confusion.csv``, long format, one row per (scheme, metric, true class, predicted
  class), every cell of every matrix including zeros: ``scheme, metric, true, predicted, count,
  row_percent, folds``; ``metric`` names the table metric the decisions score, ``row_percent`` is
  ``100 * count / (test tracks of the true class)`` (empty when the class has no test track),
  ``folds`` the number of fold records summed;
- ``<table>_per_class_recall.csv``: ``scheme, metric, class, support, correct, recall_percent,
  folds``; ``support`` = test tracks of the class over the summed folds, ``correct`` = those
  predicted right, ``recall_percent = 100 * correct / support`` (empty for support 0);
- ``<table>_confusion_<scheme>.png`` (``<table>_confusion_<scheme>_<metric>.png`` when a scheme has
  matrices of several metrics): one printable figure per matrix, true class down, predicted class
  across, each cell with its count and row percentage, shaded by row percentage.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.atomic_files import atomic_write_bytes, atomic_write_text

CONFUSION_COLUMNS = ["scheme", "metric", "true", "predicted", "count", "row_percent", "folds"]
RECALL_COLUMNS = ["scheme", "metric", "class", "support", "correct", "recall_percent", "folds"]


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (true class, predicted class) over a set of test tracks.

    Attributes:
        classes: class names in matrix order.
        counts: int64 ``(n_classes, n_classes)``; row = true class, column = predicted class.
        folds: number of folds summed into ``counts``.
    """

    classes: tuple[str, ...]
    counts: np.ndarray
    folds: int = 1

    @classmethod
    def from_labels(cls, true: Sequence, predicted: Sequence, classes: Sequence[str],
                    folds: int = 1) -> "ConfusionMatrix":
        """Count (true, predicted) pairs with ``sklearn.metrics.confusion_matrix`` in a fixed class order.

        Args:
            true: true classes, ``(n_tracks,)``: class names, or int indices into ``classes``.
            predicted: predicted classes, same length and kind as ``true``.
            classes: every class name, in the order of the matrix' rows and columns (classes that
                never occur still get their row and column).
            folds: folds these tracks come from.

        Returns:
            the matrix (int64 counts).

        Raises:
            ValueError: lengths differ, a label is neither a known class name nor an index in
                ``[0, n_classes)``, or ``classes`` is empty or has duplicates.
        """
        from sklearn.metrics import confusion_matrix

        classes = tuple(str(c) for c in classes)
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"need distinct class names, got {classes}")
        true, predicted = _indices(true, classes, "true"), _indices(predicted, classes, "predicted")
        if len(true) != len(predicted):
            raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
        counts = confusion_matrix(true, predicted, labels=np.arange(len(classes))) if len(true) else \
            np.zeros((len(classes), len(classes)))
        return cls(classes, np.asarray(counts, dtype=np.int64), folds)

    def __add__(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Sum of two matrices over the same classes (folds add up).

        Raises:
            ValueError: the class lists differ.
        """
        if self.classes != other.classes:
            raise ValueError(f"cannot add matrices over different classes: {self.classes} vs {other.classes}")
        return ConfusionMatrix(self.classes, self.counts + other.counts, self.folds + other.folds)

    @property
    def support(self) -> np.ndarray:
        """Test tracks per true class, int64 ``(n_classes,)``."""
        return self.counts.sum(axis=1)

    @property
    def correct(self) -> np.ndarray:
        """Correctly predicted tracks per true class (the diagonal), int64 ``(n_classes,)``."""
        return np.diag(self.counts).copy()

    @property
    def row_percent(self) -> np.ndarray:
        """``100 * counts / row sums``, float64 ``(n_classes, n_classes)``; NaN rows for classes with no track."""
        support = self.support[:, None].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, 100.0 * self.counts / np.where(support > 0, support, 1.0), np.nan)

    @property
    def recall(self) -> np.ndarray:
        """Per-class recall in percent, float64 ``(n_classes,)``; NaN for classes with no test track."""
        return np.diag(self.row_percent).copy()

    @property
    def accuracy(self) -> float:
        """Overall accuracy in percent (NaN for an empty matrix)."""
        total = int(self.counts.sum())
        return 100.0 * int(np.trace(self.counts)) / total if total else math.nan


def _indices(labels: Sequence, classes: tuple[str, ...], what: str) -> np.ndarray:
    """Int64 class indices of ``labels`` (names or ints); raises ValueError for an unknown label."""
    labels = list(labels)
    lookup = {name: i for i, name in enumerate(classes)}
    out = np.empty(len(labels), dtype=np.int64)
    for position, label in enumerate(labels):
        if isinstance(label, str):
            if label not in lookup:
                raise ValueError(f"{what} label {label!r} is not one of the classes {list(classes)}")
            out[position] = lookup[label]
        elif isinstance(label, (int, np.integer)) and not isinstance(label, bool) and 0 <= label < len(classes):
            out[position] = int(label)
        else:
            raise ValueError(f"{what} label {label!r} is neither a class name nor an index in [0, {len(classes)})")
    return out


def record_decisions(details: dict, metrics: Sequence[str]) -> dict[str, list]:
    """``{metric: predicted class per test track}`` of one fold record's details (see the module docstring).

    Args:
        details: a fold record's ``details``.
        metrics: the table's metrics (plain ``test_predictions`` score ``accuracy`` if the table has
            it, else its first metric).

    Returns:
        ``{}`` when the record holds no predictions.
    """
    decisions = {}
    if details.get("test_predictions") is not None:
        default = "accuracy" if "accuracy" in metrics else metrics[0]
        decisions[default] = details["test_predictions"]
    for metric, predicted in (details.get("test_predictions_by_metric") or {}).items():
        decisions[str(metric)] = predicted
    return decisions


def matrices_from_records(records: dict[str, list[dict]], classes: Sequence[str],
                          metrics: Sequence[str]) -> dict[tuple[str, str], ConfusionMatrix]:
    """Confusion matrices summed over each scheme's fold records.

    Args:
        records: ``{scheme: [fold record, ...]}`` (the runner's records, in table order).
        classes: the dataset's class names (the indices in the records refer to them).
        metrics: the table's metrics (see :func:`record_decisions`).

    Returns:
        ``{(scheme, metric): ConfusionMatrix}`` in the order of ``records``; a record without
        predictions adds nothing; a malformed one (no ``test_labels``, lengths that differ, an
        index out of range, another class list) is reported with a warning and left out.
    """
    classes = tuple(str(c) for c in classes)
    summed: dict[tuple[str, str], ConfusionMatrix] = {}
    for scheme, scheme_records in records.items():
        for record in scheme_records:
            details = record.get("details") or {}
            decisions = record_decisions(details, metrics)
            if not decisions:
                continue
            where = f"{scheme} fold {record.get('fold')}"
            try:
                recorded = details.get("classes")
                if recorded is not None and tuple(map(str, recorded)) != classes:
                    raise ValueError(f"its classes {list(recorded)} are not this run's {list(classes)}")
                if details.get("test_labels") is None:
                    raise ValueError("it has predictions but no test_labels")
                found = {metric: ConfusionMatrix.from_labels(details["test_labels"], predicted, classes)
                         for metric, predicted in decisions.items()}
            except (ValueError, TypeError) as exc:
                warnings.warn(f"confusion matrix: fold record of {where} left out: {exc}", stacklevel=2)
                continue
            for metric, matrix in found.items():
                key = (scheme, metric)
                summed[key] = summed[key] + matrix if key in summed else matrix
    return summed


def confusion_frame(matrices: dict[tuple[str, str], ConfusionMatrix]) -> pd.DataFrame:
    """Long table of every cell: columns :data:`CONFUSION_COLUMNS` (see the module docstring)."""
    rows = []
    for (scheme, metric), matrix in matrices.items():
        percent = matrix.row_percent
        for i, true in enumerate(matrix.classes):
            for j, predicted in enumerate(matrix.classes):
                rows.append({"scheme": scheme, "metric": metric, "true": true, "predicted": predicted,
                             "count": int(matrix.counts[i, j]), "row_percent": percent[i, j],
                             "folds": matrix.folds})
    return pd.DataFrame(rows, columns=CONFUSION_COLUMNS)


def recall_frame(matrices: dict[tuple[str, str], ConfusionMatrix]) -> pd.DataFrame:
    """Per-class recall: columns :data:`RECALL_COLUMNS` (see the module docstring)."""
    rows = []
    for (scheme, metric), matrix in matrices.items():
        for name, support, correct, recall in zip(matrix.classes, matrix.support, matrix.correct, matrix.recall):
            rows.append({"scheme": scheme, "metric": metric, "class": name, "support": int(support),
                         "correct": int(correct), "recall_percent": recall, "folds": matrix.folds})
    return pd.DataFrame(rows, columns=RECALL_COLUMNS)


def plot_confusion(matrix: ConfusionMatrix, path: str | Path, title: str) -> None:
    """Write one confusion matrix as a printable PNG (200 dpi).

    Rows are true classes (labelled with their test-track count), columns predicted classes;
    each cell shows its count and, when non-zero, its row percentage, and is shaded by the row
    percentage (0-100 %, colour bar). Zero cells are printed small and grey.

    Args:
        matrix: the matrix.
        path: destination ``.png`` (written atomically).
        title: figure title (may hold a line break).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(matrix.classes)
    side = max(4.5, 0.62 * n + 2.2)
    font = 8.0 if n <= 10 else 6.5 if n <= 16 else 5.0
    percent = matrix.row_percent
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(np.nan_to_num(percent, nan=0.0), cmap="Blues", vmin=0.0, vmax=100.0)
    for i in range(n):
        for j in range(n):
            count = int(matrix.counts[i, j])
            if count == 0:
                ax.text(j, i, "0", ha="center", va="center", fontsize=font * 0.85, color="#b0b0b0")
                continue
            color = "white" if percent[i, j] > 55.0 else "black"
            ax.text(j, i, f"{count}\n{percent[i, j]:.0f}%", ha="center", va="center", fontsize=font,
                    color=color, fontweight="bold" if i == j else "normal", linespacing=1.1)
    ax.set_xticks(np.arange(n), matrix.classes, rotation=45, ha="right", rotation_mode="anchor", fontsize=font + 1)
    ax.set_yticks(np.arange(n), [f"{name} ({support})" for name, support in zip(matrix.classes, matrix.support)],
                  fontsize=font + 1)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (test tracks)")
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.0)
    ax.tick_params(which="minor", length=0)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("row percent (recall on the diagonal)", fontsize=font + 1)
    bar.ax.tick_params(labelsize=font)
    ax.set_title(title, fontsize=font + 2)
    fig.tight_layout()
    atomic_write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=200))
    plt.close(fig)


def slug(name: str) -> str:
    """File-name-safe form of a scheme or metric name: ``"CRNN-TF (GRU)"`` -> ``"CRNN-TF-GRU"``."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-.") or "scheme"


def figure_names(table_id: str, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """PNG file name of each (scheme, metric) matrix: ``<table>_confusion_<scheme>[_<metric>].png``.

    The metric is part of the name only when some scheme has matrices of several metrics; names
    that would collide after :func:`slug` get a numeric suffix.
    """
    keys = list(keys)
    several = len({metric for _, metric in keys}) > 1
    names, taken = {}, set()
    for scheme, metric in keys:
        stem = f"{table_id}_confusion_{slug(scheme)}" + (f"_{slug(metric)}" if several else "")
        name, count = f"{stem}.png", 1
        while name in taken:
            count += 1
            name = f"{stem}-{count}.png"
        taken.add(name)
        names[scheme, metric] = name
    return names


def write_confusion_matrices(spec, records: dict[str, list[dict]], out_dir: str | Path, classes: Sequence[str],
                             caps=None) -> dict[str, Path]:
    """Write a table's confusion matrices (CSV, per-class recall CSV, one PNG per matrix) into ``out_dir``.

    Called by the runner right after the table's figure. Matrices are summed over the fold records
    given (the folds the run completed). A table without predictions in its records (multi-label
    tagging tables) gets no file, and confusion files of an earlier run of the same table in
    ``out_dir`` that this run does not rewrite are removed, so the folder never mixes runs.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`): ``paper``, ``table_id``, ``title``,
            ``metrics`` are used.
        records: ``{scheme: [fold record, ...]}``.
        out_dir: the folder the table was written to (canonical or partial).
        classes: the dataset's class names (the records' indices refer to them).
        caps: the run's :class:`~common.runner.layout.RunCaps` (named in the figure titles), or None.

    Returns:
        ``{"csv": path, "recall_csv": path, "<scheme>|<metric>": png path, ...}`` of the files
        written (empty when the table has no predictions).

    Raises:
        OSError: a file cannot be written (the earlier file stays intact).
    """
    out_dir = Path(out_dir)
    matrices = matrices_from_records(records, classes, tuple(spec.metrics))
    written: dict[str, Path] = {}
    if matrices:
        written["csv"] = out_dir / f"{spec.table_id}_confusion.csv"
        written["recall_csv"] = out_dir / f"{spec.table_id}_per_class_recall.csv"
        atomic_write_text(written["csv"], confusion_frame(matrices).to_csv(index=False, float_format="%.4f"))
        atomic_write_text(written["recall_csv"], recall_frame(matrices).to_csv(index=False, float_format="%.4f"))
        names = figure_names(spec.table_id, list(matrices))
        several = len({metric for _, metric in matrices}) > 1
        for (scheme, metric), matrix in matrices.items():
            tracks = int(matrix.counts.sum())
            caps_text = f"; {caps.describe()}" if caps is not None else ""
            title = (f"{spec.paper} {spec.title}\n{scheme}" + (f" ({metric})" if several else "") +
                     f": {tracks} test tracks over {matrix.folds} fold{'s' if matrix.folds != 1 else ''}, "
                     f"accuracy {matrix.accuracy:.1f}%{caps_text}")
            path = out_dir / names[scheme, metric]
            plot_confusion(matrix, path, title)
            written[f"{scheme}|{metric}"] = path
    keep = {p.name for p in written.values()}
    stale = [out_dir / f"{spec.table_id}_confusion.csv", out_dir / f"{spec.table_id}_per_class_recall.csv",
             *out_dir.glob(f"{spec.table_id}_confusion_*.png")]
    for path in stale:
        if path.name not in keep and path.is_file():
            path.unlink()
    return written
