"""Result tables (CSV), per-fold records, run manifests and comparison figures.

The table CSV has one row per (scheme, metric) with the columns of :data:`TABLE_COLUMNS`:

- ``paper_mean``, ``paper_std``: the paper's published numbers (empty where it gives none);
- ``our_mean``, ``our_std``: what this code computed, over ``folds_run`` folds (std: sample std;
  empty for a single fold, which has no spread; both empty when a fold has no finite value, e.g. a
  diverged unit: the mean and the test always rest on the same folds);
- ``difference``: ``our_mean - paper_mean``;
- ``n_tracks``: usable tracks of the dataset the run used (tells a full dataset from a subset);
- ``status``: ``reproduced`` (this code trained and evaluated the scheme on every fold of the
  protocol without an epoch cap; it says nothing about whether the numbers agree), ``partial: 2/10
  folds, epochs <= 2`` (fewer folds than the protocol's, or an epoch cap), ``variant: group-aware
  split`` (every fold, but with a split that keeps identical audio together: not the paper's
  protocol; ``partial: ..., group-aware split`` when also capped), ``paper-only`` (the
  paper's number only: the scheme is not re-implemented here), or ``not run`` (trainable here but
  no fold has finished yet). ``reproduced`` also needs the whole published dataset; a run on fewer
  tracks (or other per-class counts) says so first: ``subset: 100/1000 tracks``, combined with the
  rest: ``subset: 100/1000 tracks, partial: 2/10 folds, epochs <= 2`` (see
  :mod:`common.runner.coverage`). A row with a fold whose training diverged (non-finite loss,
  weights or outputs; :mod:`common.training.divergence`) shows no number and its status starts
  ``diverged in fold 2 (epoch 3); ...`` (:func:`diverged_status`).

Then, appended (:data:`COMPARISON_COLUMNS`), the statistical comparison of every compared cell
with the paper (:mod:`common.evaluation.statistics`):

- ``ci95_low``, ``ci95_high``: our 95 % confidence interval (t interval over folds, or a bootstrap
  percentile interval over the test clips of a single-split table), clipped to the metric's range
  (:func:`common.evaluation.statistics.metric_range`);
- ``p_value``: two-sided p-value of "our number equals the paper's" (written with 3 significant digits);
- ``verdict``: ``consistent`` (p >= 0.05), ``lower`` / ``higher`` (p < 0.05, by the sign of the
  difference; not corrected for the number of cells), or ``n/a`` (nothing to compare, or a
  comparison that would mean nothing: an epoch cap, fewer than 3 folds, no spread over folds, a
  fold without a finite value; see :mod:`common.evaluation.statistics`);
- ``test``: the method, e.g. ``Welch t-test, 10 vs 10 folds``, or why there is no verdict.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.atomic_files import atomic_write_bytes, atomic_write_text
from common.evaluation.metrics import mean_std

#: The comparison columns, appended after the first ten (:mod:`common.evaluation.statistics`).
COMPARISON_COLUMNS = ["ci95_low", "ci95_high", "p_value", "verdict", "test"]

TABLE_COLUMNS = ["scheme", "metric", "paper_mean", "paper_std", "our_mean", "our_std", "folds_run",
                 "difference", "status", "n_tracks", *COMPARISON_COLUMNS]


@dataclass(frozen=True)
class PaperResult:
    """A number published in a paper's table: mean and optional std (in the metric's unit)."""

    mean: float
    std: float | None = None


def scheme_status(folds_done: int, folds_in_protocol: int | None, epochs_cap: int | None,
                  variant: str | None = None, dataset: str | None = None) -> str:
    """The ``status`` of a trainable scheme's row: ``not run``, ``reproduced``, ``partial: ...`` or ``variant: ...``.

    Args:
        folds_done: folds with a result.
        folds_in_protocol: the protocol's number of folds (None: any count is complete).
        epochs_cap: the epoch cap the results were computed under, or None.
        variant: how the run departs from the paper's protocol (``"group-aware split"``), or None.
        dataset: how the run's dataset departs from the published one
            (:meth:`common.runner.coverage.DatasetCoverage.status`, e.g. ``"subset: 100/1000 tracks"``),
            or None for the whole published dataset.

    Returns:
        ``"reproduced"`` only for every fold without an epoch cap, no variant and the whole
        published dataset; ``"variant: group-aware split"`` for every fold of a variant; else e.g.
        ``"partial: 2/10 folds, epochs <= 2"`` (with the variant appended); the dataset part comes
        first: ``"subset: 100/1000 tracks"``, ``"subset: 100/1000 tracks, partial: 2/10 folds"``.
    """
    if folds_done == 0:
        return "not run"
    complete = folds_in_protocol is None or folds_done >= folds_in_protocol
    if complete and epochs_cap is None:
        run = None if variant is None else f"variant: {variant}"
    else:
        parts = [f"{folds_done}/{folds_in_protocol if folds_in_protocol is not None else folds_done} folds"]
        if epochs_cap is not None:
            parts.append(f"epochs <= {epochs_cap}")
        if variant is not None:
            parts.append(variant)
        run = "partial: " + ", ".join(parts)
    if dataset is None:
        return run or "reproduced"
    return dataset if run is None else f"{dataset}, {run}"


def diverged_status(folds) -> str:
    """The ``status`` start of a row with diverged folds.

    Args:
        folds: ``[(fold, when), ...]``: 1-based fold and ``"epoch 3"`` / ``"after epoch 3"`` /
            ``""`` (no epoch: e.g. an SVM).

    >>> diverged_status([(2, "epoch 3")]), diverged_status([(1, "epoch 1"), (4, "after epoch 2")])
    ('diverged in fold 2 (epoch 3)', 'diverged in folds 1 (epoch 1), 4 (after epoch 2)')
    >>> diverged_status([(1, "")])
    'diverged in fold 1'
    """
    folds = sorted(folds)
    parts = ", ".join(f"{fold} ({when})" if when else str(fold) for fold, when in folds)
    return f"diverged in fold{'s' if len(folds) > 1 else ''} {parts}"


def build_table(scheme_names: list[str], metrics: list[str], reference: dict, fold_metrics: dict,
                trainable: set[str], n_tracks: int | None = None, *, folds_in_protocol: int | None = None,
                epochs_cap: int | None = None, variant: str | None = None, dataset_status: str | None = None,
                comparisons: dict | None = None, diverged: dict | None = None) -> pd.DataFrame:
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
        variant: the run's departure from the paper's protocol (``"group-aware split"``), or None.
        dataset_status: the dataset part of the status (``"subset: 100/1000 tracks"``), or None
            for the whole published dataset.
        comparisons: ``{(scheme, metric): CellComparison}`` computed by the caller (the bootstrap
            of single-split tables). Cells not in it are compared over their folds
            (:func:`common.evaluation.statistics.compare_folds`, the paper's std taken over
            ``folds_in_protocol`` folds) when the protocol has several folds; a single-split
            cell without one is ``n/a``. With ``epochs_cap`` every cell's verdict is withheld
            (``n/a``, its interval kept); a fold without a finite value leaves its cell without a
            mean and a test. Every interval is clipped to the metric's range.
        diverged: ``{scheme: [(fold, when), ...]}``: the scheme's folds whose training diverged
            (1-based fold, ``"epoch 3"``, ``"after epoch 3"`` or ``""``; see
            :mod:`common.training.divergence`). Such a row shows no number (empty ``our_mean``,
            ``our_std``, ``difference``, verdict ``n/a``), its ``folds_run`` counts the diverged
            folds, and its ``status`` starts with :func:`diverged_status` (``diverged in fold 2
            (epoch 3); subset: ...``; never ``reproduced``).

    Returns:
        DataFrame with :data:`TABLE_COLUMNS`.
    """
    from common.evaluation.statistics import compare_folds, metric_range, not_compared, unfinished_folds_reason

    comparisons = comparisons or {}
    ranges = {}
    for metric in metrics:  # the table's values of the metric tell a fraction from a percentage
        seen = [p[metric].mean for p in reference.values() if metric in p]
        seen += [f[metric] for folds in fold_metrics.values() for f in folds if metric in f]
        ranges[metric] = metric_range(metric, seen)
    rows = []
    for scheme in scheme_names:
        for metric in metrics:
            paper = reference.get(scheme, {}).get(metric)
            if paper is None and scheme not in trainable:
                continue
            values = [f[metric] for f in fold_metrics.get(scheme, []) if metric in f]
            unfinished = unfinished_folds_reason(values)
            if unfinished:  # no mean over the other folds: the mean and the test drop no fold
                ours = (math.nan, math.nan)
            else:  # one fold has no spread: its std is empty (NaN), not 0
                ours = mean_std(values) if len(values) > 1 else (values[0] if values else math.nan, math.nan)
            if scheme not in trainable:
                status = "paper-only"
            else:
                status = scheme_status(len(values), folds_in_protocol, epochs_cap, variant, dataset_status)
            paper_mean = paper.mean if paper else math.nan
            paper_std = paper.std if paper and paper.std is not None else math.nan
            if scheme not in trainable or not values:
                comparison = not_compared()
            elif unfinished:
                comparison = not_compared(unfinished)
            elif (scheme, metric) in comparisons:
                comparison = comparisons[scheme, metric]
            elif folds_in_protocol == 1:
                comparison = not_compared("bootstrap: no per-clip test results stored")
            else:
                comparison = compare_folds(values, paper_mean, paper_std, folds_in_protocol or len(values))
            if epochs_cap is not None and scheme in trainable and values and not unfinished:
                comparison = _capped(comparison, epochs_cap)
            comparison = comparison.clipped(*ranges[metric])
            failed = (diverged or {}).get(scheme) if scheme in trainable else None
            if failed:  # a fold without a result: the row shows no number, its status says where
                ours, comparison = (math.nan, math.nan), not_compared(f"no result: {diverged_status(failed)}")
                values = values + [math.nan] * len(failed)
                rest = scheme_status(len(values), folds_in_protocol, epochs_cap, variant, dataset_status)
                status = diverged_status(failed) + ("" if rest == "reproduced" else f"; {rest}")  # never reproduced
            rows.append({"scheme": scheme, "metric": metric, "paper_mean": paper_mean, "paper_std": paper_std,
                         "our_mean": ours[0], "our_std": ours[1], "folds_run": len(values),
                         "difference": ours[0] - paper_mean if values and paper else math.nan,
                         "status": status, "n_tracks": n_tracks if scheme in trainable else math.nan,
                         **comparison.as_row()})
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    frame["n_tracks"] = frame["n_tracks"].astype("Int64")
    return frame


def _capped(comparison, epochs_cap: int):
    """``comparison`` without a verdict: a run with an epoch cap is not the paper's training."""
    reason = f"no verdict: epochs <= {epochs_cap}, not the paper's training"
    if comparison.test.startswith("no verdict: "):  # e.g. too few folds as well
        reason += "; " + comparison.test[len("no verdict: "):]
    elif comparison.test and not math.isfinite(comparison.ci95_low):
        reason += f"; {comparison.test}"
    return comparison.withheld(reason)


#: The dataset part of a row's ``status`` (:meth:`common.runner.coverage.DatasetCoverage.status`)
#: and how a table's summary names it (:func:`table_verdict`).
_DATASET_SCOPES = ((re.compile(r"subset: (\d+/\d+ tracks)"), r"\1"),
                   (re.compile(r"dataset differs: (\d+/\d+ tracks), class counts differ from the published"),
                    r"\1 with other class counts than the published"),
                   (re.compile(r"unverified dataset: (\d+ tracks)"), r"\1, an unverified dataset"))


def dataset_scope(statuses) -> str:
    """How much of the published dataset a table's rows are about, from their ``status``.

    Args:
        statuses: the rows' ``status`` values (e.g. ``"subset: 100/1000 tracks, partial: 2/10 folds"``).

    Returns:
        ``"100/1000 tracks"`` (the first row naming a subset), ``"1000/1000 tracks with other class
        counts than the published"``, ``"40 tracks, an unverified dataset"``; ``""`` when no row
        names one (the whole published dataset, or no result).
    """
    for status in statuses:
        if not isinstance(status, str):
            continue
        for pattern, scope in _DATASET_SCOPES:
            found = pattern.search(status)
            if found:
                return found.expand(scope)
    return ""


def table_verdict(frame: pd.DataFrame):
    """The table-level summary of a comparison table's cells (Holm-corrected).

    Args:
        frame: the comparison table (:data:`TABLE_COLUMNS`; a table without the comparison columns
            has no compared cell).

    Returns:
        :class:`common.evaluation.statistics.TableVerdict`; its ``text()`` is e.g. ``"5 of 7 cells
        consistent with the paper at the 5 % level (Holm); 2 lower"``, preceded by the subset the
        rows ran on (``"on 100/1000 tracks: ..."``, :func:`dataset_scope`); where no cell was
        compared, the reasons of the rows with a result and a paper value
        (``"no cell compared with the paper (no verdict: epochs <= 2, not the paper's training)"``).
    """
    from common.evaluation.statistics import table_summary

    has = set(frame.columns)
    scope = dataset_scope(frame["status"]) if "status" in has else ""
    if not {"p_value", "difference", "verdict"} <= has:
        return table_summary([], [], [], scope=scope)
    p_values = pd.to_numeric(frame["p_value"], errors="coerce").to_numpy(float)
    differences = pd.to_numeric(frame["difference"], errors="coerce").to_numpy(float)
    why = []
    if "test" in has and {"paper_mean", "folds_run"} <= has:
        results = ((pd.to_numeric(frame["folds_run"], errors="coerce").fillna(0) > 0) & frame["paper_mean"].notna()
                   & ~frame["verdict"].isin(("consistent", "lower", "higher")))
        why = [t for t in frame.loc[results, "test"] if isinstance(t, str) and t]
    return table_summary(p_values, differences, [v if isinstance(v, str) else "n/a" for v in frame["verdict"]],
                         scope=scope, why_none="; ".join(dict.fromkeys(_without_interval(t) for t in why)))


def _without_interval(reason: str) -> str:
    """A cell's reason without its interval's method (``"... (interval: Welch t-test, 10 vs 10 folds)"``)."""
    return re.sub(r" \(interval: [^)]*\)$", "", reason)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame as CSV atomically (4 decimals; a ``p_value`` column with 3 significant digits)."""
    if "p_value" in frame.columns:
        frame = frame.copy()
        frame["p_value"] = [("" if pd.isna(p) else f"{float(p):.3g}") for p in frame["p_value"]]
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


def plot_table(frame: pd.DataFrame, path: str | Path, title: str, paper: bool = True) -> None:
    """Bar chart of ours vs the paper's mean, one panel per metric (PNG).

    Bars labelled "paper" show the published numbers (an error bar only where the paper gives a
    std); bars labelled "this run" what the run computed, with its 95 % confidence interval
    (``ci95_low``/``ci95_high``) where the table has one, else the sample std over folds. A cell
    whose verdict is ``lower`` or ``higher`` (the test rejects the paper's number at the 5 % level;
    for the one-sample t-test this is the paper's value lying outside our interval, for the
    bootstrap nearly so: within about one resample of the interval's edge the two can disagree, see
    :func:`common.evaluation.statistics.bootstrap_comparison`; Welch's test also counts the paper's
    std) is marked with a red ``*`` above its bar. A trainable row without a result is marked "not
    run" (and a paper-only row "paper only") on the axis instead of a bar, so a missing result never
    looks like a zero. Each panel's metric axis stays inside the metric's range
    (:func:`common.evaluation.statistics.metric_range`: at most 100 % or 1). The legend sits above
    the panels, clear of the bars; ``title`` should name the run's caps.

    Args:
        frame: the comparison table (:data:`TABLE_COLUMNS`).
        path: PNG destination (written atomically).
        title: figure title.
        paper: False for a table without paper numbers (a run on a user's own collection, whose
            table may lack the paper columns): no "paper" bars or legend entry.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.evaluation.statistics import metric_range

    if not paper:
        frame = frame.assign(paper_mean=math.nan, paper_std=math.nan)
    metrics = list(dict.fromkeys(frame["metric"]))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6, 0.9 * frame["scheme"].nunique() + 2),
                                                        3.6 * len(metrics) + 0.6), squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        part = frame[frame["metric"] == metric].reset_index(drop=True)
        x = np.arange(len(part))
        with_std = part["paper_std"].notna()
        if paper:
            ax.bar(x - 0.2, part["paper_mean"], 0.4, label="paper", color="#9aa5b1")
            ax.errorbar((x - 0.2)[with_std], part["paper_mean"][with_std], yerr=part["paper_std"][with_std],
                        fmt="none", ecolor="#333333", capsize=3, linewidth=1)
        ours = part["our_mean"].notna()
        has_ci = ("ci95_low" in part.columns and "ci95_high" in part.columns)
        interval = ours & (part["ci95_low"].notna() & part["ci95_high"].notna() if has_ci else False)
        ax.bar((x + 0.2)[ours], part["our_mean"][ours], 0.4,
               label="this run (95 % CI)" if interval.any() else "this run", color="#2f6db5")
        if interval.any():
            mean = part["our_mean"][interval].to_numpy(float)
            below = np.clip(mean - part["ci95_low"][interval].to_numpy(float), 0, None)
            above = np.clip(part["ci95_high"][interval].to_numpy(float) - mean, 0, None)
            ax.errorbar((x + 0.2)[interval], mean, yerr=[below, above], fmt="none", ecolor="#111111", capsize=3,
                        linewidth=1)
        spread = ours & ~interval & part["our_std"].notna()
        ax.errorbar((x + 0.2)[spread], part["our_mean"][spread], yerr=part["our_std"][spread], fmt="none",
                    ecolor="#111111", capsize=3, linewidth=1)
        heights = [part["paper_mean"].to_numpy(float), part["our_mean"].to_numpy(float), [0.0],
                   (part["our_mean"] + part["our_std"]).to_numpy(float)]  # the std bars stay inside too
        if has_ci:
            heights.append(part["ci95_high"].to_numpy(float))
        _, highest = metric_range(str(metric), np.concatenate(heights[:2]))
        top = min(np.nanmax(np.concatenate(heights)), highest)
        upper = min((top or 1.0) * 1.15, highest)
        if "verdict" in part.columns:
            for i, row in part.iterrows():
                if row["verdict"] in ("lower", "higher"):
                    ceiling = np.nanmax([row["our_mean"], row.get("ci95_high", np.nan), row["paper_mean"]])
                    mark = ceiling + 0.03 * (top or 1.0)
                    ax.text(x[i], min(mark, upper), "*", ha="center", va="bottom" if mark < upper else "top",
                            fontsize=14, color="#9b2226", fontweight="bold")
        for i, row in part.iterrows():
            if pd.isna(row["our_mean"]):
                label = ("paper only" if row["status"] == "paper-only" else
                         "diverged" if "diverged in fold" in str(row["status"]) else "not run")
                ax.text(x[i] + 0.2, 0.02 * (top or 1.0), label, rotation=90, ha="center", va="bottom", fontsize=7,
                        color="#9b2226", style="italic")
        ax.set_xticks(x, part["scheme"], rotation=30, ha="right")
        ax.set_ylabel(metric)
        ax.set_ylim(0, upper)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if "verdict" in frame.columns and frame["verdict"].isin(("lower", "higher")).any():
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], linestyle="none", marker="$*$", markersize=9, color="#9b2226"))
        labels.append("differs from the paper (p < 0.05, per cell)")
    height = fig.get_figheight()
    fig.suptitle(title, fontsize=10, x=0.02, y=1 - 0.08 / height, ha="left", va="top")
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.02, 1 - 0.35 / height), ncol=2, fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))
    atomic_write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)
