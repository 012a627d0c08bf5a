"""What a table is: its dataset, features, protocol, schemes and the paper's numbers.

These records are what each paper's ``tables.py`` builds; :func:`common.runner.run_table` executes
them. A scheme's ``run_fold`` receives a :class:`FoldContext` and returns a :class:`FoldOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.datasets.base import DatasetIndex, Track
from common.outputs.result_tables import PaperResult
from common.evaluation.splits import Split


@dataclass(frozen=True)
class DatasetSpec:
    """How a table finds its dataset.

    Attributes:
        name: dataset name (``"gtzan"``).
        index: ``root -> DatasetIndex`` loader.
        dir_variable: Make variable / environment variable holding the folder (``"GTZAN_DIR"``).
        default_dir: default folder, relative to the repository root.
        how_to_get: one line on where to obtain the data, shown when it is absent.
        published_size: for a dataset whose index has no published per-class counts
            (``DatasetIndex.expected_counts``): the number of tracks of the full published
            dataset the table uses, as an int or as ``index -> int | None`` (e.g. MagnaTagATune:
            the release's clips that carry a top-50 tag). A run on fewer tracks is labelled a
            subset (:mod:`common.runner.coverage`).
        own_collection: for a user's own collection put in place of the table's dataset
            (``--own-dataset``, :func:`common.runner.own_dataset.own_dataset_table`): the folder,
            its class names (known before indexing, so that a scheme module's output size can be
            checked first) and its label; None for the tables' published datasets.
    """

    name: str
    index: Callable[[Path], DatasetIndex]
    dir_variable: str
    default_dir: str
    how_to_get: str = ""
    published_size: int | Callable[[DatasetIndex], int | None] | None = None
    own_collection: Any = None


@dataclass
class FoldContext:
    """Everything a scheme's ``run_fold`` receives.

    Attributes:
        index: dataset index restricted to usable tracks.
        features: ``{track_id: prepared features}`` (e.g. chunks ``(n_chunks, M, N)``).
        split: the fold's track ids.
        seed: seed for this (scheme, fold): set it before building the model.
        epochs: epoch cap for quick runs, or None for the scheme's own setting.
        work_dir: scratch folder of this unit of work (scheme, fold, run identity):
            ``<work>/<paper>/<table>/<scheme>/fold_<k>-<identity>``; checkpoints and TensorBoard
            logs go here, so runs of different identities never share a checkpoint.
        verbose: Keras verbosity.
        cache_dir: root of the run's feature caches (``<work_dir>/cache``). A scheme whose input is
            not the table's feature (e.g. raw audio beside a log-mel table) computes its own through
            ``FeatureCache(cache_dir, its_extractor)``, so those too are computed once and reused.
    """

    index: DatasetIndex
    features: dict
    split: Split
    seed: int
    epochs: int | None
    work_dir: Path
    verbose: Any = "auto"
    cache_dir: Path | None = None

    def tracks(self, ids) -> list[Track]:
        """Tracks for a list of ids, in that order."""
        lookup = {t.track_id: t for t in self.index.tracks}
        return [lookup[i] for i in ids]

    def labels(self, ids) -> np.ndarray:
        """Int class indices ``(len(ids),)`` of single-label tracks."""
        lookup = {name: i for i, name in enumerate(self.index.classes)}
        return np.array([lookup[t.label] for t in self.tracks(ids)], dtype=np.int64)

    def targets(self, ids) -> np.ndarray:
        """Binary tag matrix ``(len(ids), n_tags)`` float32 of multi-label tracks."""
        lookup = {name: i for i, name in enumerate(self.index.classes)}
        out = np.zeros((len(ids), len(self.index.classes)), dtype=np.float32)
        for row, track in enumerate(self.tracks(ids)):
            for tag in track.tags:
                out[row, lookup[tag]] = 1.0
        return out


@dataclass
class FoldOutcome:
    """What ``run_fold`` returns.

    Attributes:
        metrics: ``{metric: value}`` in the table's units.
        details: free-form JSON-able details (stored in the fold record).
        evidence: per-test-item arrays from which ``TableSpec.evidence_metrics`` recomputes
            ``metrics`` (e.g. ``{"y_true": uint8 (n_clips, n_tags), "scores": float32 (n_clips,
            n_tags)}``; every array's first axis is the test clips or tracks, in one order); the
            runner stores them beside the fold record (:mod:`common.runner.evidence`) for the
            bootstrap interval of single-split tables. None: not kept.
    """

    metrics: dict
    details: dict = field(default_factory=dict)
    evidence: dict | None = None


@dataclass(frozen=True)
class Scheme:
    """A row of a table.

    Attributes:
        name: the paper's name of the scheme.
        run_fold: ``FoldContext -> FoldOutcome``; None for a paper-only row (not implemented here).
        description: what it is (architecture / method), for the manifest.
        config: JSON-able settings; part of the run identity, so a change re-runs the folds.
        preflight: zero-argument check run before the dataset is indexed when the scheme is
            selected (e.g. that a pre-trained weights file exists); it raises
            :class:`~common.errors.ConfigError` so that a run fails at once, not after hours.
        scheme_module: for a row added from a user's scheme module (``--scheme-module``, see
            :mod:`common.runner.scheme_module`): the module's file; None for the paper's rows. Such
            a row is no part of the paper's protocol: a run that has it never writes the canonical table.
        predictor: ``FoldSource -> FoldModel`` rebuilding one trained fold of this row for
            ``predict`` / ``--export`` (:mod:`common.inference`), when the row is not built by the
            table's inference adapter (user schemes); None: the adapter's.
        training_overrides: for a scheme module's row, its ``TRAINING`` (``{field: value}``,
            checked) as the row's ``status`` shows it; not part of the run identity (``config``
            holds the training configuration in force). Empty for the paper's rows.
    """

    name: str
    run_fold: Callable[[FoldContext], FoldOutcome] | None
    description: str = ""
    config: dict = field(default_factory=dict)
    preflight: Callable[[], None] | None = None
    scheme_module: str | None = None
    predictor: Callable[[Any], Any] | None = None
    training_overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    """A table of a paper: dataset, features, protocol, schemes and the paper's numbers.

    Attributes:
        paper: paper package name (``"mcclstm"``); results go to ``results/<paper>/``.
        table_id: file stem and CLI name (``"table3_gtzan"``).
        title: human-readable title.
        dataset: where the data is.
        extractor: zero-argument factory of the cached feature extractor.
        prepare: ``(features, track) -> prepared`` after the cache (e.g. chunking); may raise
            :class:`~common.errors.AudioError` to skip a track.
        protocol: object with ``make_splits(index)``, ``describe()`` and ``n_folds``.
        metrics: metric names, primary first (keys of ``FoldOutcome.metrics``).
        schemes: rows in the table's order (trainable and paper-only).
        reference: ``{scheme: {metric: PaperResult}}`` -- the paper's published numbers.
        source: where in the paper the table is.
        make_name: the Makefile target, when it is not ``table_id`` with ``-`` for ``_``
            (e.g. ``"msecnn-table1-mtat"``).
        post_run: optional ``(out_dir, fold_records) -> None`` called after the table is written,
            with ``out_dir`` the folder the table was written to and ``fold_records = {scheme:
            [fold record, ...]}`` (the dicts of the fold-record store: metrics, details, ...); for
            outputs derived from several schemes' details, e.g. a figure.
        evidence_metrics: ``evidence -> {metric: value}``: the function that computed the fold's
            metrics, applied to the stored per-test-item evidence (``FoldOutcome.evidence``) of a
            resample of the test set; single-split tables use it for a bootstrap interval of every
            cell (:mod:`common.evaluation.statistics`). None: no bootstrap (cross-validated tables
            compare over folds instead).
        inference: dotted name of the paper's inference adapter for ``make predict`` / ``--export``
            (``"papers.<paper>.inference"``: a module with ``fold_model(source) -> FoldModel``, see
            :mod:`common.inference.fold_model`); empty when the table's schemes cannot be applied
            to new audio yet. A name, not an import, so the adapter is no part of the table's code version.
    """

    paper: str
    table_id: str
    title: str
    dataset: DatasetSpec
    extractor: Callable[[], Any]
    prepare: Callable[[np.ndarray, Track], Any]
    protocol: Any
    metrics: tuple[str, ...]
    schemes: tuple[Scheme, ...]
    reference: dict
    source: str = ""
    make_name: str = ""
    post_run: Callable[[Path, dict], None] | None = None
    evidence_metrics: Callable[[dict], dict] | None = None
    inference: str = ""

    @property
    def make_target(self) -> str:
        """The Makefile target that runs this table."""
        return self.make_name or self.table_id.replace("_", "-")

    def trainable(self) -> list[Scheme]:
        """Schemes this code implements."""
        return [s for s in self.schemes if s.run_fold is not None]

    def paper_trainable(self) -> list[Scheme]:
        """The paper's schemes this code implements (not the rows added from a scheme module)."""
        return [s for s in self.trainable() if s.scheme_module is None]

    def scheme_module_rows(self) -> list[Scheme]:
        """Rows added from a user's scheme module (:mod:`common.runner.scheme_module`)."""
        return [s for s in self.trainable() if s.scheme_module is not None]


def reference_table(rows: dict) -> dict:
    """Build ``{scheme: {metric: PaperResult}}`` from ``{scheme: {metric: (mean, std|None)}}``."""
    return {scheme: {metric: PaperResult(*value) for metric, value in metrics.items()}
            for scheme, metrics in rows.items()}
