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

Fan-out (:mod:`common.runner.fanout`) reuses steps 3-6: a shard runs a deterministic part of the
units and writes records only; ``collect`` runs step 7 from the records present; a Ray run sends
each unit to a Ray task and then collects.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from common.atomic_files import atomic_write_bytes
from common.outputs.confusion import write_confusion_matrices
from common.errors import ConfigError, DatasetError
from common.outputs.result_tables import write_json
from common.runner.assembly import assemble, collect_records, write_figure, write_tables
from common.runner.identity import ContentHashes, code_version, dataset_modules, tracks_digest, unit_identity
from common.runner.layout import RunCaps, RunLayout, check_writable, remove_stale_temporaries
from common.runner.locking import table_lock, unit_lock
from common.runner.manifest import git_commit, hardware, library_versions, run_with_same_records
from common.runner.preparation import prepare_features
from common.runner.records import RecordStore
from common.runner.spec import FoldContext, TableSpec
from common.evaluation.splits import Split, load_splits, save_splits


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
              progress: bool = True, shard: tuple[int, int] | None = None, collect_only: bool = False,
              ray: bool = False) -> pd.DataFrame | None:
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
        shard: ``(i, n)``: run only shard ``i`` of ``n`` (0-based) of the units and write their
            records, not the table (see :func:`common.runner.fanout.shard_units`); None: all units.
        collect_only: train nothing; write the table from the records present.
        ray: run the units as Ray tasks (``RAY_ADDRESS`` or a local Ray), then write the table.

    Returns:
        the comparison table (also written to CSV): every scheme whose records match, with the
        ``status`` of each row (``reproduced``, ``partial: ...``, ``not run``, ``paper-only``);
        None for a shard run (no table is written).

    Raises:
        DatasetError: dataset missing, mis-laid or too small for the protocol.
        ConfigError: unknown scheme name, a non-positive fold/epoch count, more folds than the
            protocol has, a bad shard, or a selected scheme's ``preflight`` check failed.
        RunLockedError: another process is writing this table into the same results folder.
        OSError: a folder is not writable or the disk is full (earlier results stay intact).
    """
    started = time.time()
    selected, subset = _check_request(spec, folds, epochs, schemes)
    if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise ConfigError(f"shard {shard[0]}/{shard[1]}: want I/N with 0 <= I < N")
    _log(f"== {spec.paper} {spec.table_id}: {spec.title}" + (f" (shard {shard[0]}/{shard[1]})" if shard else ""))
    if not collect_only:
        for scheme in selected:
            if scheme.preflight is not None:
                scheme.preflight()
    results_dir, work_dir = Path(results_dir), Path(work_dir)
    check_writable(results_dir / spec.paper)
    check_writable(work_dir)
    request = Request(spec, Path(data_dir), results_dir, work_dir, folds, epochs, tuple(s.name for s in selected),
                      subset, seed, verbose, progress, started)
    if shard is not None:
        from common.runner.fanout import shard_units

        plan = make_plan(request)
        units = shard_units(plan.units(), *shard)
        _log(f"  shard {shard[0]}/{shard[1]}: {len(units)} of {len(plan.units())} units")
        for scheme, fold in units:
            run_unit(plan, scheme, fold, wait=False)
        _log(f"  shard {shard[0]}/{shard[1]} done; assemble the table with `python -m common.cli collect "
             f"{spec.paper}.{spec.table_id}` (or any later run of the table)")
        return None
    with table_lock(results_dir, spec.paper, spec.table_id):
        plan = make_plan(request)
        plan.manifest["mode"] = "collect" if collect_only else "ray" if ray else "sequential"
        write_json(plan.manifest, plan.progress_outputs["manifest"])  # status "running" until the end
        try:
            if ray:
                from common.runner.fanout import run_units_on_ray

                run_units_on_ray(plan)
            elif not collect_only:
                for scheme, fold in plan.units():
                    run_unit(plan, scheme, fold)
                    plan.rewrite_progress()
            return write_outputs(plan)
        except BaseException as exc:
            plan.record_failure(exc)
            raise


@dataclass(frozen=True)
class Request:
    """What a run was asked for (the arguments of :func:`run_table`, checked)."""

    spec: TableSpec
    data_dir: Path
    results_dir: Path
    work_dir: Path
    folds: int | None
    epochs: int | None
    selected: tuple[str, ...]
    subset: tuple[str, ...] | None
    seed: int
    verbose: Any
    progress: bool
    started: float


@dataclass
class Plan:
    """Everything the units of a run need: usable index, features, splits, identities, store, manifest."""

    request: Request
    index: Any
    features: Any
    splits: list
    caps: RunCaps
    layout: RunLayout
    identities: dict
    payloads: dict
    store: RecordStore
    manifest: dict = field(default_factory=dict)

    def units(self) -> list[tuple[str, int]]:
        """The selected (scheme, fold) units in the sequential order: scheme by scheme, fold by fold."""
        return [(scheme, split.fold) for scheme in self.request.selected for split in self.splits]

    def split(self, fold: int) -> Split:
        """The split of fold ``fold``."""
        return next(s for s in self.splits if s.fold == fold)

    @property
    def progress_outputs(self) -> dict:
        """The run's files in its partial folder (rewritten as units finish)."""
        return self.layout.outputs(self.layout.partial_dir)

    def rewrite_progress(self) -> None:
        """Rewrite the partial table from the records present."""
        table, fold_table = assemble(self.request.spec, collect_records(self.store, self.identities), self.caps,
                                     len(self.index.tracks))
        write_tables(table, fold_table, self.progress_outputs)

    def record_failure(self, exc: BaseException) -> None:
        """Write the manifest with status ``interrupted`` or ``failed`` to the partial folder (best effort)."""
        self.manifest["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        self.manifest["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self.manifest["wall_seconds"] = time.time() - self.request.started
        try:
            write_json(self.manifest, self.progress_outputs["manifest"])
        except OSError:
            pass


def make_plan(request: Request) -> Plan:
    """Index the dataset, check the protocol, prepare features, splits and every unit's identity.

    Raises:
        DatasetError: see :func:`run_table`.
    """
    spec = request.spec
    try:
        index = spec.dataset.index(request.data_dir)
    except DatasetError as exc:
        if spec.dataset.how_to_get and not Path(request.data_dir).is_dir():
            raise DatasetError(f"{exc}\nTo get it: {spec.dataset.how_to_get}") from None
        raise
    _log(f"  dataset {index.name} at {index.root}: {len(index.tracks)} tracks indexed, "
         f"{len(index.problems)} unusable files, {len(index.unexpected)} unexpected files")
    for path, reason in sorted(index.problems.items()):
        _log(f"  unusable file {path}: {reason}")
    differences = index.count_differences()
    if differences:
        _log("  note: per-class counts differ from the published dataset (found/published): " +
             ", ".join(f"{name} {found}/{published}" for name, (found, published) in differences.items()))
    spec.protocol.make_splits(index)  # class sizes and layout checked before any feature work
    n_folds = _protocol_folds(spec) or 1
    caps = RunCaps(folds_run=request.folds or n_folds, folds_in_protocol=n_folds, epochs=request.epochs,
                   schemes=request.subset)
    layout = RunLayout(request.results_dir, request.work_dir, spec.paper, spec.table_id, caps)
    for path in remove_stale_temporaries(layout):
        _log(f"  removed {path}, left by an interrupted write")

    index, features, skipped, cache = prepare_features(spec, index, layout.cache_dir, request.progress)
    _log(f"  features: {cache.stats.hits} from cache, {cache.stats.computed} computed, "
         f"{cache.stats.corrupt} corrupt entries replaced; {len(skipped)} tracks skipped")
    splits, splits_path = _splits(spec, index, layout.records_root)
    run_splits = splits[:caps.folds_run]

    hashes = ContentHashes(layout.cache_dir)
    tracks = {t.track_id: t for t in index.tracks}
    audio = {s.fold: tracks_digest([tracks[i] for i in (*s.train, *s.validation, *s.test)], hashes)
             for s in run_splits}
    hashes.save()
    code = code_version(spec.paper, datasets=dataset_modules(spec.dataset.index))
    identities, payloads = {}, {}
    for scheme in spec.trainable():
        for split in run_splits:
            identities[scheme.name, split.fold], payloads[scheme.name, split.fold] = unit_identity(
                scheme=scheme.name, config=scheme.config, features=cache.extractor.fingerprint(),
                split=split.fingerprint(), epochs=request.epochs,
                seed=unit_seed(request.seed, split.fold, scheme.name), code=code, audio=audio[split.fold])
    store = RecordStore(layout.records_root)
    manifest = {
        "paper": spec.paper, "table": spec.table_id, "title": spec.title, "source": spec.source,
        "status": "running", "started": datetime.fromtimestamp(request.started, timezone.utc).isoformat(),
        "command": sys.argv, "git_commit": git_commit(), "code_version": code, "seed": request.seed,
        "caps": caps.as_dict(), "dataset": {"path": str(Path(request.data_dir).resolve()), **index.summary()},
        "skipped_tracks": skipped, "features": cache.extractor.describe(), "feature_cache": str(cache.folder),
        "protocol": spec.protocol.describe(), "folds_requested": caps.folds_run,
        "folds_in_protocol": caps.folds_in_protocol, "epochs_cap": request.epochs,
        "schemes": {s.name: {"description": s.description, "config": s.config,
                             "trainable": s.run_fold is not None} for s in spec.schemes},
        "splits_file": str(splits_path), "records_folder": str(store.root),
        "audio_content": "SHA-256 of every file, remembered by path, size and mtime "
                         f"({hashes.path}); a change keeping size and mtime is not seen",
        "versions": library_versions(), "hardware": hardware(), "pid": os.getpid(),
    }
    plan = Plan(request, index, features, run_splits, caps, layout, identities, payloads, store, manifest)
    return plan


def run_unit(plan: Plan, scheme_name: str, fold: int, wait: bool = True) -> dict | None:
    """Reuse or compute one (scheme, fold) and store its record.

    Args:
        plan: the run's plan.
        scheme_name: the scheme.
        fold: the fold number.
        wait: False: when another process holds the unit's lock, skip the unit (shards); True: the
            lock's refusal is raised.

    Returns:
        the unit's record, or None when it was skipped.

    Raises:
        RunLockedError: ``wait`` is True and another process trains this unit now.
    """
    from common.runner.locking import RunLockedError

    spec, request = plan.request.spec, plan.request
    scheme = next(s for s in spec.trainable() if s.name == scheme_name)
    split = plan.split(fold)
    identity = plan.identities[scheme.name, fold]
    position = f"{scheme.name} fold {fold + 1}/{plan.caps.folds_run}"
    record = plan.store.load(scheme.name, fold, identity)
    if record is not None:
        _log(f"  {position}: finished earlier with the same identity ({identity}), reusing "
             f"{plan.store.path(scheme.name, fold, identity)}")
        return record
    _log(f"  {position}: {len(split.train)} train / {len(split.validation)} validation / "
         f"{len(split.test)} test tracks (identity {identity})")
    unit_dir = plan.layout.unit_work_dir(scheme.name, fold, identity)
    try:
        with unit_lock(unit_dir, f"{spec.paper}.{spec.table_id} {scheme.name} fold {fold} ({unit_dir})"):
            record = plan.store.load(scheme.name, fold, identity)  # finished by another process meanwhile?
            if record is not None:
                return record
            context = FoldContext(index=plan.index, features=plan.features, split=split,
                                  seed=unit_seed(request.seed, fold, scheme.name), epochs=request.epochs,
                                  work_dir=unit_dir, verbose=request.verbose, cache_dir=plan.layout.cache_dir)
            t0 = time.time()
            outcome = scheme.run_fold(context)
            record = {"scheme": scheme.name, "fold": fold, "identity": identity,
                      "identity_payload": plan.payloads[scheme.name, fold], "metrics": outcome.metrics,
                      "details": outcome.details, "seconds": time.time() - t0,
                      "finished": datetime.now(timezone.utc).isoformat(), "work_dir": str(unit_dir)}
            plan.store.save(record)
            if request.epochs is None:
                _publish_checkpoint(unit_dir, plan.layout.published_dir(scheme.name, fold))
    except RunLockedError as exc:
        if wait:
            raise
        _log(f"  {position}: skipped, {str(exc).splitlines()[0]}")
        return None
    _log(f"  {position}: " + ", ".join(f"{k} {v:.2f}" for k, v in outcome.metrics.items()))
    return record


def write_outputs(plan: Plan) -> pd.DataFrame:
    """Write the table from the records present: canonical when the full protocol is complete, else partial."""
    spec, caps, layout = plan.request.spec, plan.caps, plan.layout
    records = collect_records(plan.store, plan.identities)
    table, fold_table = assemble(spec, records, caps, len(plan.index.tracks))
    complete = not caps.capped and all(len(records.get(s.name, [])) == caps.folds_in_protocol
                                       for s in spec.trainable())
    out_dir = layout.paper_dir if complete else layout.partial_dir
    outputs = layout.outputs(out_dir)
    manifest = plan.manifest
    manifest.update(status="complete" if complete else "partial", outputs_folder=str(out_dir),
                    records={f"{s}/fold_{r['fold']:02d}": r["identity"] for s, recs in records.items() for r in recs})
    write_tables(table, fold_table, outputs)
    write_figure(spec, table, outputs, caps, len(plan.index.tracks))
    write_confusion_matrices(spec, records, out_dir, plan.index.classes, caps)
    if spec.post_run is not None:
        spec.post_run(out_dir, records)
    manifest["wall_seconds"] = time.time() - plan.request.started
    manifest["unit_seconds_total"] = sum(float(r.get("seconds") or 0.0) for recs in records.values() for r in recs)
    manifest["folds_finished"] = {name: len(recs) for name, recs in records.items()}
    stored = run_with_same_records(outputs["manifest"], manifest) if complete else None
    if stored is None:
        write_json(manifest, outputs["manifest"])
    else:  # nothing new was computed: the manifest of the run that trained these records stays
        _log(f"  {outputs['manifest']} kept: it names the same fold records (run started {stored.get('started')}, "
             f"commit {stored.get('git_commit')})")
    if complete and layout.partial_dir.is_dir():
        shutil.rmtree(layout.partial_dir, ignore_errors=True)
    _log(f"  wrote {outputs['csv']} ({manifest['status']}: {caps.describe()}; {manifest['wall_seconds']:.0f} s)")
    return table
