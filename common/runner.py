"""The table runner: executes any :class:`TableSpec` end to end, resumably.

One run of a table:

1. index the dataset (:class:`~common.errors.DatasetError` stops the run here);
2. extract features through the cache; files that cannot be used (unreadable, empty, shorter than
   one chunk) are *skipped and recorded* in the manifest, never dropped silently;
3. make or reload the protocol's splits (saved as ``splits.json``);
4. for every trainable scheme and fold, run the scheme's ``run_fold`` and store the fold record
   atomically in ``folds/<scheme>/fold_<k>.json``. A record whose fingerprint (scheme config,
   split, features, epoch cap, seed) matches is reused, so an interrupted run resumes where it
   stopped without redoing finished folds;
5. write the comparison table ``<table_id>.csv``, per-fold results ``<table_id>_folds.csv``, the
   figure ``<table_id>.png`` and the manifest ``<table_id>_manifest.json`` under
   ``<results_dir>/<paper>/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from common.cache import FeatureCache
from common.datasets.base import DatasetIndex, Track
from common.errors import AudioError, ConfigError, DatasetError
from common.results import PaperResult, build_table, plot_table, write_csv, write_json
from common.splits import Split, load_splits, save_splits


@dataclass(frozen=True)
class DatasetSpec:
    """How a table finds its dataset.

    Attributes:
        name: dataset name (``"gtzan"``).
        index: ``root -> DatasetIndex`` loader.
        dir_variable: Make variable / environment variable holding the folder (``"GTZAN_DIR"``).
        default_dir: default folder, relative to the repository root.
        how_to_get: one line on where to obtain the data, shown when it is absent.
    """

    name: str
    index: Callable[[Path], DatasetIndex]
    dir_variable: str
    default_dir: str
    how_to_get: str = ""


@dataclass
class FoldContext:
    """Everything a scheme's ``run_fold`` receives.

    Attributes:
        index: dataset index restricted to usable tracks.
        features: ``{track_id: prepared features}`` (e.g. chunks ``(n_chunks, M, N)``).
        split: the fold's track ids.
        seed: seed for this (scheme, fold): set it before building the model.
        epochs: epoch cap for quick runs, or None for the scheme's own setting.
        work_dir: scratch folder of this (scheme, fold): checkpoints, TensorBoard logs.
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
    """What ``run_fold`` returns: metric values (table units) and free-form details (JSON-able)."""

    metrics: dict
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scheme:
    """A row of a table.

    Attributes:
        name: the paper's name of the scheme.
        run_fold: ``FoldContext -> FoldOutcome``; None for a paper-only row (not implemented here).
        description: what it is (architecture / method), for the manifest.
        config: JSON-able settings; part of the fold fingerprint, so a change re-runs the folds.
        preflight: zero-argument check run before the dataset is indexed when the scheme is
            selected (e.g. that a pre-trained weights file exists); it raises
            :class:`~common.errors.ConfigError` so that a run fails at once, not after hours.
    """

    name: str
    run_fold: Callable[[FoldContext], FoldOutcome] | None
    description: str = ""
    config: dict = field(default_factory=dict)
    preflight: Callable[[], None] | None = None


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
            :class:`AudioError` to skip a track.
        protocol: object with ``make_splits(index)``, ``describe()`` and ``n_folds``.
        metrics: metric names, primary first (keys of ``FoldOutcome.metrics``).
        schemes: rows in the table's order (trainable and paper-only).
        reference: ``{scheme: {metric: PaperResult}}`` -- the paper's published numbers.
        source: where in the paper the table is.
        make_name: the Makefile target, when it is not ``table_id`` with ``-`` for ``_``
            (e.g. ``"msecnn-table1-mtat"``).
        post_run: optional ``(out_dir, fold_records) -> None`` called after the table is written,
            with ``out_dir = <results_dir>/<paper>`` and ``fold_records = {scheme: [fold record,
            ...]}`` (the dicts stored in ``folds/<scheme>/fold_<k>.json``: metrics, details, ...);
            for outputs derived from several schemes' details, e.g. a figure.
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

    @property
    def make_target(self) -> str:
        """The Makefile target that runs this table."""
        return self.make_name or self.table_id.replace("_", "-")

    def trainable(self) -> list[Scheme]:
        """Schemes this code implements."""
        return [s for s in self.schemes if s.run_fold is not None]


def _fingerprint(payload) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _versions() -> dict:
    versions = {"python": sys.version.split()[0]}
    for name in ("tensorflow", "keras", "numpy", "scipy", "librosa", "soundfile", "soxr", "sklearn", "pandas",
                 "kymatio"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except Exception:  # noqa: BLE001 - an optional library that is absent or broken is just not listed
            continue
    return versions


def _hardware() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count()}
    try:
        import tensorflow as tf

        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001
        info["gpus"] = "unknown"
    return info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _log(message: str) -> None:
    print(message, flush=True)


class PreparedFeatures(Mapping):
    """``{track_id: prepared features}``, held in memory up to a budget, re-read from the cache beyond it.

    Small datasets (GTZAN: ~200 MB of chunks) stay in memory; a large one (MagnaTagATune: ~13 GB
    of float32 spectrograms) is read back from the feature cache track by track on access, so a run
    never needs the whole dataset in RAM.

    Args:
        cache: the feature cache the arrays came from.
        prepare: the table's ``(features, track) -> prepared`` function.
        budget_bytes: bytes of prepared arrays to hold in memory.
    """

    def __init__(self, cache: FeatureCache, prepare: Callable, budget_bytes: int):
        self._cache, self._prepare, self._budget = cache, prepare, budget_bytes
        self._tracks: dict[str, Track] = {}
        self._held: dict[str, Any] = {}
        self.bytes_held = 0

    def add(self, track: Track, prepared) -> None:
        """Register a usable track and hold its prepared features if the budget allows."""
        self._tracks[track.track_id] = track
        size = int(getattr(prepared, "nbytes", 0))
        if self.bytes_held + size <= self._budget:
            self._held[track.track_id] = prepared
            self.bytes_held += size

    @property
    def all_in_memory(self) -> bool:
        """True when every track's features are held in memory."""
        return len(self._held) == len(self._tracks)

    def __getitem__(self, track_id: str):
        if track_id in self._held:
            return self._held[track_id]
        track = self._tracks[track_id]
        return self._prepare(self._cache.get(track.path), track)

    def __iter__(self):
        return iter(self._tracks)

    def __len__(self) -> int:
        return len(self._tracks)


#: Default memory budget for prepared features (GiB); environment variable REPRO_FEATURE_MEMORY_GB.
FEATURE_MEMORY_GB = 4.0


def prepare_features(spec: TableSpec, index: DatasetIndex, cache_dir: Path, progress: bool = True):
    """Cached features of every track, prepared for the schemes; unusable tracks are skipped.

    Every file is extracted once (or found in the cache) and prepared once here, so that a track
    that cannot be used is known before any training.

    Returns:
        ``(usable index, PreparedFeatures, {track_id: reason} skipped, cache)``.

    Raises:
        DatasetError: no track at all is usable.
    """
    cache = FeatureCache(cache_dir, spec.extractor())
    budget = float(os.environ.get("REPRO_FEATURE_MEMORY_GB", FEATURE_MEMORY_GB)) * 2 ** 30
    features, skipped = PreparedFeatures(cache, spec.prepare, int(budget)), {}
    for track in tqdm(index.tracks, desc=f"{spec.dataset.name} features", unit="track", disable=not progress,
                      mininterval=1.0):
        try:
            features.add(track, spec.prepare(cache.get(track.path), track))
        except AudioError as exc:
            skipped[track.track_id] = exc.reason
    usable = index.without(set(skipped), skipped) if skipped else index
    if not usable.tracks:
        reasons = sorted(set(skipped.values()))[:3]
        raise DatasetError(f"{index.name} at {index.root}: none of the {len(index.tracks)} tracks is usable "
                           f"(e.g. {'; '.join(reasons)})")
    for track_id, reason in sorted(skipped.items()):
        _log(f"  skipped {track_id}: {reason}")
    if not features.all_in_memory:
        _log(f"  features beyond {budget / 2 ** 30:.1f} GiB are read back from the cache when needed "
             f"(REPRO_FEATURE_MEMORY_GB)")
    return usable, features, skipped, cache


def _splits(spec: TableSpec, index: DatasetIndex, path: Path) -> list[Split]:
    protocol = spec.protocol.describe()
    ids = {t.track_id for t in index.tracks}
    if path.exists():
        try:
            splits, saved_protocol = load_splits(path)
            saved_ids = set().union(*(set(s.train) | set(s.validation) | set(s.test) for s in splits))
            if saved_protocol == protocol and saved_ids == ids:
                _log(f"  reusing splits from {path}")
                return splits
            _log(f"  {path} was made for another protocol or track set: making new splits")
        except ValueError as exc:
            _log(f"  {exc}: making new splits")
    splits = spec.protocol.make_splits(index)
    save_splits(path, splits, protocol)
    return splits


def run_table(spec: TableSpec, data_dir: str | Path, *, results_dir: str | Path = "results",
              work_dir: str | Path = "work", folds: int | None = None, epochs: int | None = None,
              schemes: list[str] | None = None, seed: int = 0, verbose: Any = 2,
              progress: bool = True) -> pd.DataFrame:
    """Run a table and write its CSV, per-fold CSV, figure and manifest.

    Args:
        spec: the table.
        data_dir: dataset folder.
        results_dir: root of the outputs (``<results_dir>/<paper>/...``).
        work_dir: root of caches, checkpoints and TensorBoard logs.
        folds: run only the first ``folds`` folds (None: all).
        epochs: cap every scheme's epochs (None: the paper config's own).
        schemes: names of the trainable schemes to run (None: all).
        seed: base seed (splits are seeded by the protocol itself).
        verbose: Keras verbosity during training.
        progress: show progress bars.

    Returns:
        the comparison table (also written to CSV).

    Raises:
        DatasetError: dataset missing, mis-laid or too small for the protocol.
        ConfigError: unknown scheme name, a non-positive fold/epoch count, or a selected scheme's
            ``preflight`` check failed.
    """
    started = time.time()
    trainable = {s.name: s for s in spec.trainable()}
    if schemes:
        unknown = [s for s in schemes if s not in trainable]
        if unknown:
            raise ConfigError(f"{spec.table_id}: unknown or paper-only scheme(s) {unknown}; "
                              f"trainable: {sorted(trainable)}")
    if folds is not None and folds < 1 or epochs is not None and epochs < 1:
        raise ConfigError("folds and epochs must be positive")
    selected = [s for s in spec.trainable() if not schemes or s.name in schemes]
    out_dir = Path(results_dir) / spec.paper
    table_dir = out_dir / spec.table_id
    work = Path(work_dir)
    manifest_path = out_dir / f"{spec.table_id}_manifest.json"

    _log(f"== {spec.paper} {spec.table_id}: {spec.title}")
    for scheme in selected:
        if scheme.preflight is not None:
            scheme.preflight()
    index = spec.dataset.index(Path(data_dir))
    _log(f"  dataset {index.name} at {index.root}: {len(index.tracks)} tracks indexed, "
         f"{len(index.problems)} unusable files, {len(index.unexpected)} unexpected files")
    for path, reason in sorted(index.problems.items()):
        _log(f"  unusable file {path}: {reason}")
    differences = index.count_differences()
    if differences:
        _log("  note: per-class counts differ from the published dataset (found/published): " +
             ", ".join(f"{name} {found}/{published}" for name, (found, published) in differences.items()))
    index, features, skipped, cache = prepare_features(spec, index, work / "cache", progress)
    _log(f"  features: {cache.stats.hits} from cache, {cache.stats.computed} computed, "
         f"{cache.stats.corrupt} corrupt entries replaced; {len(skipped)} tracks skipped")
    splits = _splits(spec, index, table_dir / "splits.json")
    n_run = min(folds or len(splits), len(splits))

    manifest = {
        "paper": spec.paper, "table": spec.table_id, "title": spec.title, "source": spec.source,
        "status": "running", "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "command": sys.argv, "git_commit": _git_commit(), "seed": seed,
        "dataset": {"path": str(Path(data_dir).resolve()), **index.summary()},
        "skipped_tracks": skipped,
        "features": cache.extractor.describe(), "feature_cache": str(cache.folder),
        "protocol": spec.protocol.describe(), "folds_requested": n_run, "folds_in_protocol": len(splits),
        "epochs_cap": epochs, "schemes": {s.name: {"description": s.description, "config": s.config,
                                                  "trainable": s.run_fold is not None} for s in spec.schemes},
        "splits_file": str(table_dir / "splits.json"),
        "versions": _versions(), "hardware": _hardware(),
    }
    write_json(manifest, manifest_path)

    fold_metrics: dict[str, list[dict]] = {}
    fold_records: dict[str, list[dict]] = {}
    fold_rows = []
    try:
        for scheme in selected:
            for split in splits[:n_run]:
                record_path = table_dir / "folds" / scheme.name / f"fold_{split.fold:02d}.json"
                fold_seed = seed + 1000 * split.fold + sum(map(ord, scheme.name))
                fingerprint = _fingerprint({"scheme": scheme.name, "config": scheme.config,
                                            "split": split.fingerprint(), "features": cache.extractor.fingerprint(),
                                            "epochs": epochs, "seed": fold_seed})
                record = None
                if record_path.exists():
                    try:
                        record = json.loads(record_path.read_text())
                        if record.get("fingerprint") != fingerprint:
                            record = None
                    except (OSError, json.JSONDecodeError):
                        record = None
                if record is not None:
                    _log(f"  {scheme.name} fold {split.fold + 1}/{n_run}: finished earlier, reusing {record_path}")
                else:
                    _log(f"  {scheme.name} fold {split.fold + 1}/{n_run}: {len(split.train)} train / "
                         f"{len(split.validation)} validation / {len(split.test)} test tracks")
                    context = FoldContext(index=index, features=features, split=split, seed=fold_seed,
                                          epochs=epochs, work_dir=work / spec.paper / spec.table_id /
                                          scheme.name / f"fold_{split.fold:02d}", verbose=verbose,
                                          cache_dir=work / "cache")
                    t0 = time.time()
                    outcome = scheme.run_fold(context)
                    record = {"scheme": scheme.name, "fold": split.fold, "metrics": outcome.metrics,
                              "details": outcome.details, "seconds": time.time() - t0,
                              "fingerprint": fingerprint,
                              "finished": datetime.now(timezone.utc).isoformat()}
                    write_json(record, record_path)
                    _log(f"  {scheme.name} fold {split.fold + 1}/{n_run}: " +
                         ", ".join(f"{k} {v:.2f}" for k, v in outcome.metrics.items()))
                fold_metrics.setdefault(scheme.name, []).append(record["metrics"])
                fold_records.setdefault(scheme.name, []).append(record)
                fold_rows.append({"scheme": scheme.name, "fold": split.fold, **record["metrics"],
                                  "seconds": record.get("seconds")})
            frame = build_table([s.name for s in spec.schemes], list(spec.metrics), spec.reference,
                                fold_metrics, set(trainable), len(index.tracks))
            write_csv(frame, out_dir / f"{spec.table_id}.csv")
        frame = build_table([s.name for s in spec.schemes], list(spec.metrics), spec.reference,
                            fold_metrics, set(trainable), len(index.tracks))
        write_csv(frame, out_dir / f"{spec.table_id}.csv")
        write_csv(pd.DataFrame(fold_rows), out_dir / f"{spec.table_id}_folds.csv")
        plot_table(frame, out_dir / f"{spec.table_id}.png",
                   f"{spec.paper} {spec.title}: paper vs this run ({len(index.tracks)} tracks, {n_run} folds)")
        if spec.post_run is not None:
            spec.post_run(out_dir, fold_records)
        manifest["status"] = "complete"
    except BaseException as exc:
        manifest["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        manifest["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise
    finally:
        manifest["wall_seconds"] = time.time() - started
        manifest["folds_finished"] = {name: len(v) for name, v in fold_metrics.items()}
        write_json(manifest, manifest_path)
    _log(f"  wrote {out_dir / (spec.table_id + '.csv')} ({manifest['wall_seconds']:.0f} s)")
    return frame


def reference_table(rows: dict) -> dict:
    """Build ``{scheme: {metric: PaperResult}}`` from ``{scheme: {metric: (mean, std|None)}}``."""
    return {scheme: {metric: PaperResult(*value) for metric, value in metrics.items()}
            for scheme, metrics in rows.items()}
