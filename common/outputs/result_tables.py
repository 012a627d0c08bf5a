"""Result tables (CSV), per-fold records, run manifests and comparison figures.

The table CSV has one row per (scheme, metric) with the columns of :data:`TABLE_COLUMNS`:

- ``paper_mean``, ``paper_std``: the paper's published numbers (empty where it gives none);
- ``our_mean``, ``our_std``: what this code computed, over ``folds_run`` folds (std: sample std;
  empty for a single fold, which has no spread);
- ``difference``: ``our_mean - paper_mean``;
- ``n_tracks``: usable tracks of the dataset the run used (tells a full dataset from a subset);
- ``status``: ``reproduced`` (this code trained and evaluated the scheme on every fold of the
  protocol without an epoch cap; it says nothing about whether the numbers agree), ``partial: 2/10
  folds, epochs <= 2`` (fewer folds than the protocol's, or an epoch cap), ``paper-only`` (the
  paper's number only: the scheme is not re-implemented here), or ``not run`` (trainable here but
  no fold has finished yet).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.atomic_files import atomic_write_bytes, atomic_write_text
from common.evaluation.metrics import mean_std

TABLE_COLUMNS = ["scheme", "metric", "paper_mean", "paper_std", "our_mean", "our_std", "folds_run",
                 "difference", "status", "n_tracks"]


@dataclass(frozen=True)
class PaperResult:
    """A number published in a paper's table: mean and optional std (in the metric's unit)."""

    mean: float
    std: float | None = None


def scheme_status(folds_done: int, folds_in_protocol: int | None, epochs_cap: int | None) -> str:
    """The ``status`` of a trainable scheme's row: ``not run``, ``reproduced`` or ``partial: ...``.

    Args:
        folds_done: folds with a result.
        folds_in_protocol: the protocol's number of folds (None: any count is complete).
        epochs_cap: the epoch cap the results were computed under, or None.

    Returns:
        ``"reproduced"`` only for every fold without an epoch cap; else e.g.
        ``"partial: 2/10 folds, epochs <= 2"``.
    """
    if folds_done == 0:
        return "not run"
    complete = folds_in_protocol is None or folds_done >= folds_in_protocol
    if complete and epochs_cap is None:
        return "reproduced"
    parts = [f"{folds_done}/{folds_in_protocol if folds_in_protocol is not None else folds_done} folds"]
    if epochs_cap is not None:
        parts.append(f"epochs <= {epochs_cap}")
    return "partial: " + ", ".join(parts)


def build_table(scheme_names: list[str], metrics: list[str], reference: dict, fold_metrics: dict,
                trainable: set[str], n_tracks: int | None = None, *, folds_in_protocol: int | None = None,
                epochs_cap: int | None = None) -> pd.DataFrame:
    """Assemble the comparison table.

    Args:
        scheme_names: row order.
        metrics: metric names, primary first.
        reference: ``{scheme: {metric: PaperResult}}`` -- the paper's numbers.
        fold_metrics: ``{scheme: [{metric: value}, ...]}`` -- one dict per finished fold.
        trainable: schemes this code implements.
        n_tracks: usable tracks in the dataset this run used (a full-size dataset or a subset).
        folds_in_protocol: the protocol's fold count (for the ``status`` column; None: any count).
        epochs_cap: the epoch cap of the results (None: the schemes' own settings).

    Returns:
        DataFrame with :data:`TABLE_COLUMNS`.
    """
    rows = []
    for scheme in scheme_names:
        for metric in metrics:
            paper = reference.get(scheme, {}).get(metric)
            if paper is None and scheme not in trainable:
                continue
            values = [f[metric] for f in fold_metrics.get(scheme, []) if metric in f]
            # one fold has no spread: its std is empty (NaN), not 0
            ours = mean_std(values) if len(values) > 1 else (values[0] if values else math.nan, math.nan)
            if scheme not in trainable:
                status = "paper-only"
            else:
                status = scheme_status(len(values), folds_in_protocol, epochs_cap)
            paper_mean = paper.mean if paper else math.nan
            paper_std = paper.std if paper and paper.std is not None else math.nan
            rows.append({"scheme": scheme, "metric": metric, "paper_mean": paper_mean, "paper_std": paper_std,
                         "our_mean": ours[0], "our_std": ours[1], "folds_run": len(values),
                         "difference": ours[0] - paper_mean if values and paper else math.nan,
                         "status": status, "n_tracks": n_tracks if scheme in trainable else math.nan})
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    frame["n_tracks"] = frame["n_tracks"].astype("Int64")
    return frame


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame as CSV atomically (4 decimals)."""
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.4f"))


def write_json(payload: dict, path: str | Path) -> None:
    """Write JSON atomically (non-finite floats become null)."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, (np.floating, np.integer)):
            return clean(value.item())
        if isinstance(value, Path):
            return str(value)
        return value
    atomic_write_text(path, json.dumps(clean(payload), indent=1, sort_keys=False))


def plot_table(frame: pd.DataFrame, path: str | Path, title: str) -> None:
    """Bar chart of ours vs the paper's mean with std error bars, one panel per metric (PNG).

    Bars labelled "paper" show the published numbers (an error bar only where the paper gives a
    std); bars labelled "this run" what the run computed, with the sample std over folds. A
    trainable row without a result is marked "not run" (and a paper-only row "paper only") on the
    axis instead of a bar, so a missing result never looks like a zero. The legend sits above the
    panels, clear of the bars; ``title`` should name the run's caps.

    Args:
        frame: the comparison table (:data:`TABLE_COLUMNS`).
        path: PNG destination (written atomically).
        title: figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(frame["metric"]))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6, 0.9 * frame["scheme"].nunique() + 2),
                                                        3.6 * len(metrics) + 0.6), squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        part = frame[frame["metric"] == metric].reset_index(drop=True)
        x = np.arange(len(part))
        with_std = part["paper_std"].notna()
        ax.bar(x - 0.2, part["paper_mean"], 0.4, label="paper", color="#9aa5b1")
        ax.errorbar((x - 0.2)[with_std], part["paper_mean"][with_std], yerr=part["paper_std"][with_std],
                    fmt="none", ecolor="#333333", capsize=3, linewidth=1)
        ours = part["our_mean"].notna()
        ax.bar((x + 0.2)[ours], part["our_mean"][ours], 0.4, label="this run", color="#2f6db5")
        spread = ours & part["our_std"].notna()
        ax.errorbar((x + 0.2)[spread], part["our_mean"][spread], yerr=part["our_std"][spread], fmt="none",
                    ecolor="#111111", capsize=3, linewidth=1)
        top = np.nanmax(np.r_[part["paper_mean"].to_numpy(float), part["our_mean"].to_numpy(float), 0.0])
        for i, row in part.iterrows():
            if pd.isna(row["our_mean"]):
                label = "paper only" if row["status"] == "paper-only" else "not run"
                ax.text(x[i] + 0.2, 0.02 * (top or 1.0), label, rotation=90, ha="center", va="bottom", fontsize=7,
                        color="#9b2226", style="italic")
        ax.set_xticks(x, part["scheme"], rotation=30, ha="right")
        ax.set_ylabel(metric)
        ax.set_ylim(0, (top or 1.0) * 1.15)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    height = fig.get_figheight()
    fig.suptitle(title, fontsize=10, x=0.02, y=1 - 0.08 / height, ha="left", va="top")
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.02, 1 - 0.35 / height), ncol=2, fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))
    atomic_write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)
