"""Table assembly: the comparison table, per-fold table and figure, from the fold records alone.

The table of a run is built from every stored record whose identity matches what the run
computes for each (scheme, fold) it covers, whoever wrote it, so a run of a few schemes still
shows every other scheme that has matching records, and an interrupted run's table shows every
finished fold.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from common.outputs.result_tables import build_table, plot_table, write_csv
from common.runner.coverage import dataset_coverage
from common.runner.evidence import bootstrap_comparisons
from common.runner.split_variant import split_variant_comparisons, with_split_variant_cells
from common.runner.layout import RunCaps
from common.runner.records import DIVERGED, RecordStore, divergence_text


def collect_records(store: RecordStore, identities: dict, divergences: dict | None = None) -> dict[str, list[dict]]:
    """``{scheme: [record, ...]}`` (in fold order) of every unit whose matching result record is stored.

    Args:
        store: the fold-record store.
        identities: ``{(scheme, fold): identity}`` of the units the table covers.
        divergences: a dict to fill with ``{scheme: [diverged record, ...]}`` (in fold order) of the
            units whose matching record says their training diverged (never among the results);
            None: they are left out.
    """
    found: dict[str, list[dict]] = {}
    for (scheme, fold), identity in sorted(identities.items(), key=lambda item: item[0][1]):
        record = store.load_any(scheme, fold, identity)
        if record is None:
            continue
        if record.get("status") == DIVERGED:
            if divergences is not None:
                divergences.setdefault(scheme, []).append(record)
            continue
        found.setdefault(scheme, []).append(record)
    return found


def divergence_lines(divergences: dict, spec=None) -> list[str]:
    """One line per diverged unit, in table order: ``diverged: R0 fold 2 at epoch 3: training loss nan``.

    Args:
        divergences: ``{scheme: [diverged record, ...]}`` (:func:`collect_records`).
        spec: the table, for its row order (None: the schemes' order in ``divergences``).
    """
    from common.training.divergence import divergence_line

    order = {s.name: i for i, s in enumerate(spec.schemes)} if spec is not None else {}
    return [divergence_line(scheme, r["fold"] + 1, r["divergence"]["epoch"], r["divergence"]["during_training"],
                            r["divergence"]["what"])
            for scheme in sorted(divergences, key=lambda name: order.get(name, len(order)))
            for r in divergences[scheme]]


def assemble(spec, records: dict[str, list[dict]], caps: RunCaps, n_tracks: int, *, index=None, store=None,
             cache_dir: Path | None = None, divergences: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparison table (:data:`common.outputs.result_tables.TABLE_COLUMNS`) and the per-fold table.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`).
        records: ``{scheme: [record, ...]}`` from :func:`collect_records`.
        caps: the caps the records were computed under (their ``status``).
        n_tracks: usable tracks of the dataset.
        index: the usable dataset index of the run; its size against the published dataset
            (:func:`common.runner.coverage.dataset_coverage`) goes into the ``status``
            (``subset: 100/1000 tracks``). None: the dataset is not judged.
        store: the record store; with ``spec.evidence_metrics``, single-split cells get a
            bootstrap interval from the records' stored per-clip results
            (:func:`common.runner.evidence.bootstrap_comparisons`). A run on another split than the
            paper's (``caps.split``) gets a test-set interval and no verdict instead
            (:func:`common.runner.split_variant.split_variant_comparisons`).
        cache_dir: root of the run's caches (bootstrap distributions are cached there).
        divergences: ``{scheme: [diverged record, ...]}`` (:func:`collect_records`): such a
            scheme's row shows no number and a status ``diverged in fold 2 (epoch 3); ...``
            (:func:`common.outputs.result_tables.build_table`).

    Returns:
        ``(table, folds)``; ``folds`` has one row per record: ``scheme, fold, <metrics>, seconds,
        identity``; a diverged fold's row has empty metrics and, in a ``diverged`` column (present
        only when some fold diverged), what was non-finite and when. A run on a user's own
        collection (``caps.own_dataset``) has no paper columns: its table has
        :data:`common.runner.own_dataset.OWN_COLUMNS` only.
    """
    fold_metrics = {scheme: [r["metrics"] for r in recs] for scheme, recs in records.items()}
    dataset_status = dataset_coverage(index, spec.dataset).status() if index is not None else None
    comparisons = {}
    if caps.split is None and store is not None and spec.evidence_metrics is not None and caps.folds_in_protocol == 1:
        comparisons = bootstrap_comparisons(spec, store, records, cache_dir)
    table = build_table([s.name for s in spec.schemes], list(spec.metrics), spec.reference, fold_metrics,
                        {s.name for s in spec.trainable()}, n_tracks, folds_in_protocol=caps.folds_in_protocol,
                        epochs_cap=caps.epochs, variant=caps.variant, dataset_status=dataset_status,
                        comparisons=comparisons, diverged=_diverged_folds(divergences or {}))
    if caps.split is not None:  # another split than the paper's: a test-set interval, never a verdict
        table = with_split_variant_cells(table, split_variant_comparisons(spec, records, caps.variant, cache_dir))
    for row in spec.scheme_module_rows():  # a user's model (--scheme-module) is evaluated, not reproduced
        from common.runner.scheme_module import scheme_module_status

        own = table["scheme"] == row.name
        table.loc[own, "status"] = table.loc[own, "status"].map(
            lambda status, row=row: scheme_module_status(status, row.training_overrides))
    if caps.own_dataset is not None:  # no paper: no paper numbers, no comparison with them
        from common.runner.own_dataset import own_table

        table = own_table(table)
    order = {s.name: i for i, s in enumerate(spec.schemes)}
    rows = [{"scheme": r["scheme"], "fold": r["fold"], **r["metrics"], "seconds": r.get("seconds"),
             "identity": r["identity"]}
            for scheme in sorted(records, key=order.get) for r in records[scheme]]
    if divergences:  # no metric value for a diverged fold; the column exists only when one did
        rows += [{"scheme": r["scheme"], "fold": r["fold"], **{m: math.nan for m in spec.metrics},
                  "seconds": r.get("seconds"), "identity": r["identity"], "diverged": divergence_text(r)}
                 for recs in divergences.values() for r in recs]
        rows.sort(key=lambda row: (order.get(row["scheme"], len(order)), row["fold"]))
    return table, pd.DataFrame(rows)


def _diverged_folds(divergences: dict) -> dict:
    """``{scheme: [(1-based fold, "epoch 3" | "after epoch 3" | ""), ...]}`` for the table's status."""
    from common.training.divergence import when_text

    return {scheme: [(r["fold"] + 1, when_text(r["divergence"]["epoch"], r["divergence"]["during_training"])
                      .removeprefix("at ")) for r in recs]
            for scheme, recs in divergences.items() if recs}


def write_tables(table: pd.DataFrame, folds: pd.DataFrame, outputs: dict[str, Path]) -> None:
    """Write the comparison CSV and the per-fold CSV (atomically)."""
    write_csv(table, outputs["csv"])
    write_csv(folds, outputs["folds_csv"])


def write_figure(spec, table: pd.DataFrame, outputs: dict[str, Path], caps: RunCaps, n_tracks: int,
                 index=None) -> None:
    """The comparison figure, its title naming the dataset size (against the published one when
    ``index`` is given: ``subset: 100/1000 tracks``) and the caps."""
    dataset = dataset_coverage(index, spec.dataset).describe() if index is not None else f"{n_tracks} tracks"
    if caps.own_dataset is not None:  # no paper numbers to draw
        plot_table(table, outputs["figure"], f"{spec.paper} {spec.title} ({dataset}, {caps.describe()})", paper=False)
        return
    plot_table(table, outputs["figure"], f"{spec.paper} {spec.title}: paper vs this run ({dataset}, {caps.describe()})")
