"""Execution of a table: checks, features, splits, every unit of work, then the table and manifest.

One run of a table (:func:`run_table`):

1. check the request (schemes, fold and epoch counts) and the selected schemes' preflight checks;
2. check that the results and work folders are writable, and take the table's lock (a second
   run of the same table into the same results folder is refused, naming the first);
3. index the dataset and check the protocol can be applied (class sizes) before any feature work;
4. extract features through the cache; unusable files are skipped and recorded;
5. make (or reload) the splits, hash the audio content, and compute every unit's identity;
6. for every selected (scheme, fold): reuse the stored record of the same identity, or train it
   under the unit's lock in its own work folder and store its record atomically; after each unit
   the run's table is rewritten from the records;
7. write the table: the canonical files when the full protocol is complete, else the partial
   folder named by the run's caps (see :mod:`common.runner.layout`).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from common.cache import atomic_write_bytes
from common.confusion import write_confusion_matrices
from common.errors import ConfigError
from common.results import write_json
from common.runner.assembly import assemble, collect_records, write_figure, write_tables
from common.runner.identity import ContentHashes, code_version, tracks_digest, unit_identity
from common.runner.layout import RunCaps, RunLayout, check_writable, remove_stale_temporaries
from common.runner.locking import table_lock, unit_lock
from common.runner.manifest import git_commit, hardware, library_versions
from common.runner.preparation import prepare_features
from common.runner.records import RecordStore
from common.runner.spec import FoldContext, TableSpec
from common.splits import Split, load_splits, save_splits


def _log(message: str) -> None:
    print(message, flush=True)


def unit_seed(seed: int, fold: int, scheme: str) -> int:
    """Seed of one (scheme, fold): ``seed + 1000 * fold + sum of the scheme name's code points``."""
    return seed + 1000 * fold + sum(map(ord, scheme))


def _protocol_folds(spec: TableSpec) -> int | None:
    n_folds = getattr(spec.protocol, "n_folds", None)
    return int(n_folds) if n_folds is not None else None


def _check_request(spec: TableSpec, folds, epochs, schemes) -> tuple[list, tuple[str, ...] | None]:
    trainable = {s.name: s for s in spec.trainable()}
    if schemes:
        unknown = [s for s in schemes if s not in trainable]
        if unknown:
            raise ConfigError(f"{spec.table_id}: unknown or paper-only scheme(s) {unknown}; "
                              f"trainable: {sorted(trainable)}")
    if folds is not None and folds < 1 or epochs is not None and epochs < 1:
        raise ConfigError("folds and epochs must be positive")
    n_folds = _protocol_folds(spec)
    if folds is not None and n_folds is not None and folds > n_folds:
        raise ConfigError(f"{spec.table_id}: FOLDS={folds} but the protocol has {n_folds} fold(s); "
                          f"use at most {n_folds}, or leave FOLDS unset for all of them")
    selected = [s for s in spec.trainable() if not schemes or s.name in schemes]
    subset = tuple(s.name for s in selected) if len(selected) < len(trainable) else None
    return selected, subset


def _splits(spec: TableSpec, index, folder: Path) -> tuple[list[Split], Path]:
    """The protocol's splits of ``index``, stored as ``<folder>/splits/<id>.json`` and reused when present."""
    from common.runner.identity import fingerprint

    protocol = spec.protocol.describe()
    key = fingerprint({"protocol": protocol, "tracks": sorted(t.track_id for t in index.tracks)})
    path = folder / "splits" / f"{key}.json"
    if path.exists():
        try:
            splits, saved_protocol = load_splits(path)
            ids = {t.track_id for t in index.tracks}
            saved_ids = set().union(*(set(s.train) | set(s.validation) | set(s.test) for s in splits))
            if saved_protocol == protocol and saved_ids <= ids:
                _log(f"  reusing splits from {path}")
                return splits, path
            _log(f"  {path} does not match this protocol or track set: making the splits again")
        except ValueError as exc:
            _log(f"  {exc}: making the splits again")
    splits = spec.protocol.make_splits(index)
    save_splits(path, splits, protocol)
    return splits, path


def _publish_checkpoint(unit_dir: Path, published: Path) -> None:
    """Copy a full-training unit's ``best.weights.h5`` to its stable path (atomically)."""
    source = unit_dir / "best.weights.h5"
    if source.is_file():
        with open(source, "rb") as handle:
            atomic_write_bytes(published / "best.weights.h5", lambda out: shutil.copyfileobj(handle, out))


def run_table(spec: TableSpec, data_dir: str | Path, *, results_dir: str | Path = "results",
              work_dir: str | Path = "work", folds: int | None = None, epochs: int | None = None,
              schemes: list[str] | None = None, seed: int = 0, verbose: Any = 2,
              progress: bool = True) -> pd.DataFrame:
    """Run a table and write its CSV, per-fold CSV, figure and manifest.

    Args:
        spec: the table.
        data_dir: dataset folder.
        results_dir: root of the outputs (``<results_dir>/<paper>/...``, see :mod:`common.runner.layout`).
        work_dir: root of caches, checkpoints and TensorBoard logs.
        folds: run only the first ``folds`` folds (None: all).
        epochs: cap every scheme's epochs (None: the paper config's own).
        schemes: names of the trainable schemes to run (None: all).
        seed: base seed (splits are seeded by the protocol itself).
        verbose: Keras verbosity during training.
        progress: show progress bars.

    Returns:
        the comparison table (also written to CSV): every scheme whose records match, with the
        ``status`` of each row (``reproduced``, ``partial: ...``, ``not run``, ``paper-only``).

    Raises:
        DatasetError: dataset missing, mis-laid or too small for the protocol.
        ConfigError: unknown scheme name, a non-positive fold/epoch count, more folds than the
            protocol has, or a selected scheme's ``preflight`` check failed.
        RunLockedError: another process is writing this table into the same results folder.
        OSError: a folder is not writable or the disk is full (earlier results stay intact).
    """
    started = time.time()
    selected, subset = _check_request(spec, folds, epochs, schemes)
    _log(f"== {spec.paper} {spec.table_id}: {spec.title}")
    for scheme in selected:
        if scheme.preflight is not None:
            scheme.preflight()
    results_dir, work_dir = Path(results_dir), Path(work_dir)
    check_writable(results_dir / spec.paper)
    check_writable(work_dir)
    with table_lock(results_dir, spec.paper, spec.table_id):
        return _run_locked(spec, Path(data_dir), results_dir, work_dir, folds, epochs, selected, subset, seed,
                           verbose, progress, started)


def _run_locked(spec, data_dir, results_dir, work_dir, folds, epochs, selected, subset, seed, verbose, progress,
                started):
    index = spec.dataset.index(data_dir)
    _log(f"  dataset {index.name} at {index.root}: {len(index.tracks)} tracks indexed, "
         f"{len(index.problems)} unusable files, {len(index.unexpected)} unexpected files")
    for path, reason in sorted(index.problems.items()):
        _log(f"  unusable file {path}: {reason}")
    differences = index.count_differences()
    if differences:
        _log("  note: per-class counts differ from the published dataset (found/published): " +
             ", ".join(f"{name} {found}/{published}" for name, (found, published) in differences.items()))
    spec.protocol.make_splits(index)  # class sizes and layout checked before any feature work
    n_folds = _protocol_folds(spec)
    caps = RunCaps(folds_run=folds or n_folds or 1, folds_in_protocol=n_folds or folds or 1, epochs=epochs,
                   schemes=subset)
    layout = RunLayout(results_dir, work_dir, spec.paper, spec.table_id, caps)
    for path in remove_stale_temporaries(layout):
        _log(f"  removed {path}, left by an interrupted write")

    index, features, skipped, cache = prepare_features(spec, index, layout.cache_dir, progress)
    _log(f"  features: {cache.stats.hits} from cache, {cache.stats.computed} computed, "
         f"{cache.stats.corrupt} corrupt entries replaced; {len(skipped)} tracks skipped")
    splits, splits_path = _splits(spec, index, layout.records_root)
    if n_folds is None:
        caps = RunCaps(folds_run=min(folds or len(splits), len(splits)), folds_in_protocol=len(splits),
                       epochs=epochs, schemes=subset)
        layout = RunLayout(results_dir, work_dir, spec.paper, spec.table_id, caps)
    run_splits = splits[:caps.folds_run]

    hashes = ContentHashes(layout.cache_dir)
    tracks = {t.track_id: t for t in index.tracks}
    audio = {s.fold: tracks_digest([tracks[i] for i in (*s.train, *s.validation, *s.test)], hashes)
             for s in run_splits}
    hashes.save()
    code = code_version(spec.paper)
    identities, payloads = {}, {}
    for scheme in spec.trainable():
        for split in run_splits:
            identities[scheme.name, split.fold], payloads[scheme.name, split.fold] = unit_identity(
                scheme=scheme.name, config=scheme.config, features=cache.extractor.fingerprint(),
                split=split.fingerprint(), epochs=epochs, seed=unit_seed(seed, split.fold, scheme.name),
                code=code, audio=audio[split.fold])
    store = RecordStore(layout.records_root)

    manifest = {
        "paper": spec.paper, "table": spec.table_id, "title": spec.title, "source": spec.source,
        "status": "running", "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
        "command": sys.argv, "git_commit": git_commit(), "code_version": code, "seed": seed,
        "caps": caps.as_dict(), "dataset": {"path": str(Path(data_dir).resolve()), **index.summary()},
        "skipped_tracks": skipped, "features": cache.extractor.describe(), "feature_cache": str(cache.folder),
        "protocol": spec.protocol.describe(), "folds_requested": caps.folds_run,
        "folds_in_protocol": caps.folds_in_protocol, "epochs_cap": epochs,
        "schemes": {s.name: {"description": s.description, "config": s.config,
                             "trainable": s.run_fold is not None} for s in spec.schemes},
        "splits_file": str(splits_path), "records_folder": str(store.root),
        "audio_content": "SHA-256 of every file, remembered by path, size and mtime "
                         f"({hashes.path}); a change keeping size and mtime is not seen",
        "versions": library_versions(), "hardware": hardware(),
    }
    progress_outputs = layout.outputs(layout.partial_dir)
    write_json({**manifest, "pid": os.getpid()}, progress_outputs["manifest"])

    def rewrite_progress():
        table, fold_table = assemble(spec, collect_records(store, identities), caps, len(index.tracks))
        write_tables(table, fold_table, progress_outputs)

    try:
        for scheme in selected:
            for split in run_splits:
                _run_unit(spec, scheme, split, caps, layout, store, identities, payloads, index, features, seed,
                          epochs, verbose, progress_outputs)
                rewrite_progress()
        records = collect_records(store, identities)
        table, fold_table = assemble(spec, records, caps, len(index.tracks))
        complete = not caps.capped and all(len(records.get(s.name, [])) == caps.folds_in_protocol
                                           for s in spec.trainable())
        out_dir = layout.paper_dir if complete else layout.partial_dir
        outputs = layout.outputs(out_dir)
        manifest.update(status="complete" if complete else "partial", outputs_folder=str(out_dir),
                        records={f"{s}/fold_{r['fold']:02d}": r["identity"]
                                 for s, recs in records.items() for r in recs})
        write_tables(table, fold_table, outputs)
        write_figure(spec, table, outputs, caps, len(index.tracks))
        write_confusion_matrices(spec, records, out_dir, index.classes, caps)
        if spec.post_run is not None:
            spec.post_run(out_dir, records)
    except BaseException as exc:
        manifest["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        manifest["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        manifest["wall_seconds"] = time.time() - started
        try:
            write_json(manifest, progress_outputs["manifest"])
        except OSError:
            pass
        raise
    manifest["wall_seconds"] = time.time() - started
    manifest["folds_finished"] = {name: len(recs) for name, recs in records.items()}
    write_json(manifest, outputs["manifest"])
    if complete and layout.partial_dir.is_dir():
        shutil.rmtree(layout.partial_dir, ignore_errors=True)
    _log(f"  wrote {outputs['csv']} ({manifest['status']}: {caps.describe()}; {manifest['wall_seconds']:.0f} s)")
    return table


def _run_unit(spec, scheme, split, caps, layout, store, identities, payloads, index, features, seed, epochs,
              verbose, progress_outputs) -> None:
    """Reuse or compute one (scheme, fold) and store its record."""
    identity = identities[scheme.name, split.fold]
    position = f"{scheme.name} fold {split.fold + 1}/{caps.folds_run}"
    if store.load(scheme.name, split.fold, identity) is not None:
        _log(f"  {position}: finished earlier with the same identity ({identity}), reusing "
             f"{store.path(scheme.name, split.fold, identity)}")
        return
    _log(f"  {position}: {len(split.train)} train / {len(split.validation)} validation / "
         f"{len(split.test)} test tracks (identity {identity})")
    unit_dir = layout.unit_work_dir(scheme.name, split.fold, identity)
    with unit_lock(unit_dir, f"{spec.paper}.{spec.table_id} {scheme.name} fold {split.fold} ({unit_dir})"):
        context = FoldContext(index=index, features=features, split=split,
                              seed=unit_seed(seed, split.fold, scheme.name), epochs=epochs, work_dir=unit_dir,
                              verbose=verbose, cache_dir=layout.cache_dir)
        t0 = time.time()
        outcome = scheme.run_fold(context)
        record = {"scheme": scheme.name, "fold": split.fold, "identity": identity,
                  "identity_payload": payloads[scheme.name, split.fold], "metrics": outcome.metrics,
                  "details": outcome.details, "seconds": time.time() - t0,
                  "finished": datetime.now(timezone.utc).isoformat(), "work_dir": str(unit_dir)}
        store.save(record)
        if epochs is None:
            _publish_checkpoint(unit_dir, layout.published_dir(scheme.name, split.fold))
    _log(f"  {position}: " + ", ".join(f"{k} {v:.2f}" for k, v in outcome.metrics.items()))
