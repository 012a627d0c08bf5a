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


def assemble(spec, records: dict[str, list[dict]], caps: RunCaps, n_tracks: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparison table (:data:`common.outputs.result_tables.TABLE_COLUMNS`) and the per-fold table.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`).
        records: ``{scheme: [record, ...]}`` from :func:`collect_records`.
        caps: the caps the records were computed under (their ``status``).
        n_tracks: usable tracks of the dataset.

    Returns:
        ``(table, folds)``; ``folds`` has one row per record: ``scheme, fold, <metrics>, seconds,
        identity``.
    """
    fold_metrics = {scheme: [r["metrics"] for r in recs] for scheme, recs in records.items()}
    table = build_table([s.name for s in spec.schemes], list(spec.metrics), spec.reference, fold_metrics,
                        {s.name for s in spec.trainable()}, n_tracks, folds_in_protocol=caps.folds_in_protocol,
                        epochs_cap=caps.epochs)
    order = {s.name: i for i, s in enumerate(spec.schemes)}
    rows = [{"scheme": r["scheme"], "fold": r["fold"], **r["metrics"], "seconds": r.get("seconds"),
             "identity": r["identity"]}
            for scheme in sorted(records, key=order.get) for r in records[scheme]]
    return table, pd.DataFrame(rows)


def write_tables(table: pd.DataFrame, folds: pd.DataFrame, outputs: dict[str, Path]) -> None:
    """Write the comparison CSV and the per-fold CSV (atomically)."""
    write_csv(table, outputs["csv"])
    write_csv(folds, outputs["folds_csv"])


def write_figure(spec, table: pd.DataFrame, outputs: dict[str, Path], caps: RunCaps, n_tracks: int) -> None:
    """The comparison figure, its title naming the dataset size and the caps."""
    plot_table(table, outputs["figure"],
               f"{spec.paper} {spec.title}: paper vs this run ({n_tracks} tracks, {caps.describe()})")
