"""Table assembly: the comparison table, per-fold table and figure, from the fold records alone.

The table of a run is built from every stored record whose identity matches what the run
computes for each (scheme, fold) it covers, whoever wrote it, so a run of a few schemes still
shows every other scheme that has matching records, and an interrupted run's table shows every
finished fold.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.outputs.result_tables import build_table, plot_table, write_csv
from common.runner.coverage import dataset_coverage
from common.runner.evidence import bootstrap_comparisons
from common.runner.layout import RunCaps
from common.runner.records import RecordStore


def collect_records(store: RecordStore, identities: dict) -> dict[str, list[dict]]:
    """``{scheme: [record, ...]}`` (in fold order) of every unit whose matching record is stored.

    Args:
        store: the fold-record store.
        identities: ``{(scheme, fold): identity}`` of the units the table covers.
    """
    found: dict[str, list[dict]] = {}
    for (scheme, fold), identity in sorted(identities.items(), key=lambda item: item[0][1]):
        record = store.load(scheme, fold, identity)
        if record is not None:
            found.setdefault(scheme, []).append(record)
    return found


def assemble(spec, records: dict[str, list[dict]], caps: RunCaps, n_tracks: int, *, index=None, store=None,
             cache_dir: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
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
            (:func:`common.runner.evidence.bootstrap_comparisons`).
        cache_dir: root of the run's caches (bootstrap distributions are cached there).

    Returns:
        ``(table, folds)``; ``folds`` has one row per record: ``scheme, fold, <metrics>, seconds,
        identity``.
    """
    fold_metrics = {scheme: [r["metrics"] for r in recs] for scheme, recs in records.items()}
    dataset_status = dataset_coverage(index, spec.dataset).status() if index is not None else None
    comparisons = {}
    if store is not None and spec.evidence_metrics is not None and caps.folds_in_protocol == 1:
        comparisons = bootstrap_comparisons(spec, store, records, cache_dir)
    table = build_table([s.name for s in spec.schemes], list(spec.metrics), spec.reference, fold_metrics,
                        {s.name for s in spec.trainable()}, n_tracks, folds_in_protocol=caps.folds_in_protocol,
                        epochs_cap=caps.epochs, variant=caps.variant, dataset_status=dataset_status,
                        comparisons=comparisons)
    own = table["scheme"].isin([s.name for s in spec.scheme_module_rows()])
    if own.any():  # a user's model (--scheme-module) is evaluated under the protocol, not reproduced
        from common.runner.scheme_module import scheme_module_status

        table.loc[own, "status"] = table.loc[own, "status"].map(scheme_module_status)
    order = {s.name: i for i, s in enumerate(spec.schemes)}
    rows = [{"scheme": r["scheme"], "fold": r["fold"], **r["metrics"], "seconds": r.get("seconds"),
             "identity": r["identity"]}
            for scheme in sorted(records, key=order.get) for r in records[scheme]]
    return table, pd.DataFrame(rows)


def write_tables(table: pd.DataFrame, folds: pd.DataFrame, outputs: dict[str, Path]) -> None:
    """Write the comparison CSV and the per-fold CSV (atomically)."""
    write_csv(table, outputs["csv"])
    write_csv(folds, outputs["folds_csv"])


def write_figure(spec, table: pd.DataFrame, outputs: dict[str, Path], caps: RunCaps, n_tracks: int,
                 index=None) -> None:
    """The comparison figure, its title naming the dataset size (against the published one when
    ``index`` is given: ``subset: 100/1000 tracks``) and the caps."""
    dataset = dataset_coverage(index, spec.dataset).describe() if index is not None else f"{n_tracks} tracks"
    plot_table(table, outputs["figure"], f"{spec.paper} {spec.title}: paper vs this run ({dataset}, {caps.describe()})")
