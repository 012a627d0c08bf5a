"""Execution of a table: checks, features, splits, every unit of work, then the table and manifest.

One run of a table (:func:`run_table`):

1. check the request (schemes, fold and epoch counts) and the selected schemes' preflight checks;
2. check that the results and work folders are writable, and take the table's lock (a second
   run of the same table into the same results folder is refused, naming the first);
3. index the dataset and check the protocol can be applied (class sizes) before any feature work;
4. extract features through the cache; unusable files are skipped and recorded;
5. hash the audio content and report identical files (:mod:`common.runner.duplicates`), make
   (or reload) the splits (group-aware with ``group_duplicates``), and compute every unit's identity;
6. for every selected (scheme, fold): reuse the stored record of the same identity, or train it
   under the unit's lock in its own work folder and store its record atomically; after each unit
   the run's table is rewritten from the records;
7. write the table: the canonical files when the full protocol is complete, else the partial
   folder named by the run's caps (see :mod:`common.runner.layout`).

Fan-out (:mod:`common.runner.fanout`) reuses steps 3-6: a shard runs a deterministic part of the
units and writes records only (it never removes other writers' temporaries: only the holder of
the table's lock does); ``collect`` runs step 7 from the records present and computes nothing
(combined with a shard or Ray it is refused); a Ray run sends each unit to a Ray task and then
collects. A saved splits file and every fold record are checked when read back (see
:func:`common.evaluation.splits.split_problems`, :mod:`common.runner.records`); a bad one is
reported, not used, and made again.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from common.atomic_files import atomic_write_bytes
from common.outputs.confusion import write_confusion_matrices
from common.errors import ConfigError, DatasetError
from common.outputs.result_tables import write_json
from common.outputs.result_tables import table_verdict
from common.runner.assembly import assemble, collect_records, write_figure, write_tables
from common.runner.coverage import dataset_coverage
from common.runner.evidence import save_evidence
from common.runner.fanout import run_units_on_ray, shard_units
from common.runner.duplicates import duplicate_report, identical_audio_groups, report_lines, straddling
from common.runner.identity import ContentHashes, code_version, dataset_modules, tracks_digest, unit_identity
from common.runner.layout import RunCaps, RunLayout, check_writable, remove_stale_temporaries
from common.runner.locking import table_lock, unit_lock
from common.runner.manifest import (git_commit, hardware, library_versions, refresh_comparison,
                                    run_with_same_records)
from common.runner.preparation import prepare_features
from common.runner.records import RecordStore
from common.runner.spec import FoldContext, TableSpec
from common.evaluation.splits import Split, load_splits, save_splits, split_problems


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
        except ValueError as exc:
            problems = [str(exc).removeprefix(f"{path}: ")]
        else:
            problems = [] if saved_protocol == json.loads(json.dumps(protocol)) else [
                f"its protocol {saved_protocol} is not this run's {protocol}"]
            problems += split_problems(splits, (t.track_id for t in index.tracks), _protocol_folds(spec) or 1)
        if not problems:
            _log(f"  reusing splits from {path}")
            return splits, path
        warnings.warn(f"splits file {path} is not usable: {'; '.join(problems)}; it is not used, "
                      f"the splits are made again", stacklevel=2)
    splits = spec.protocol.make_splits(index)
    save_splits(path, splits, protocol)
    return splits, path


def collect_hint(request: "Request") -> str:
    """The commands that write a sharded run's table: the same table, caps, seed and folders, as ``collect``.

    Following the hint gives the table of the shards' records: a ``collect`` with other caps or
    folders would look for records of other identities and show ``not run`` rows.

    Args:
        request: the shard's request.

    Returns:
        two indented lines: the ``python -m common.cli collect ...`` command (shell-quoted) and the
        equivalent ``make <target> COLLECT=1 ...`` (only when the seed is the default 0, as the
        Makefile has no seed variable).
    """
    import shlex

    spec = request.spec
    options = [("--data-dir", request.data_dir), ("--results-dir", request.results_dir),
               ("--work-dir", request.work_dir), ("--folds", request.folds), ("--epochs", request.epochs),
               ("--schemes", ",".join(request.subset) if request.subset else None),
               ("--seed", request.seed or None)]
    cli = ["python", "-m", "common.cli", "collect", f"{spec.paper}.{spec.table_id}"]
    for option, value in options:
        if value is not None:
            cli += [option, str(value)]
    if request.group_duplicates:
        cli.append("--group-duplicates")
    lines = ["    " + shlex.join(cli)]
    if not request.seed:
        variables = [(spec.dataset.dir_variable, request.data_dir), ("RESULTS_DIR", request.results_dir),
                     ("WORK_DIR", request.work_dir), ("FOLDS", request.folds), ("EPOCHS", request.epochs),
                     ("SCHEMES", ",".join(request.subset) if request.subset else None),
                     ("GROUP_DUPLICATES", 1 if request.group_duplicates else None)]
        lines.append("    " + shlex.join(["make", spec.make_target, "COLLECT=1",
                                           *(f"{name}={value}" for name, value in variables if value is not None)]))
    return "\n".join(lines)


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
              ray: bool = False, group_duplicates: bool = False) -> pd.DataFrame | None:
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
        collect_only: train nothing; write the table from the records present (not with ``shard``
            or ``ray``: refused).
        ray: run the units as Ray tasks (``RAY_ADDRESS`` or a local Ray), then write the table.
        group_duplicates: keep every group of identical audio files within one part of every fold
            (a group-aware split, :class:`~common.evaluation.splits.GroupedCrossValidation`): not the
            paper's protocol, so the table is a variant in ``partial/`` (ConfigError for a protocol
            without one, e.g. a dataset's predefined split). Identical files are reported either way
            (:mod:`common.runner.duplicates`).

    Returns:
        the comparison table (also written to CSV): every scheme whose records match, with the
        ``status`` of each row (``reproduced``, ``partial: ...``, ``not run``, ``paper-only``);
        None for a shard run (no table is written).

    Raises:
        DatasetError: dataset missing, mis-laid or too small for the protocol.
        ConfigError: unknown scheme name, a non-positive fold/epoch count, more folds than the
            protocol has, a bad shard, ``collect_only`` with ``shard`` or ``ray``, or a selected
            scheme's ``preflight`` check failed.
        RunLockedError: another process is writing this table into the same results folder.
        OSError: a folder is not writable or the disk is full (earlier results stay intact).
    """
    started = time.time()
    selected, subset = _check_request(spec, folds, epochs, schemes)
    if group_duplicates and not hasattr(spec.protocol, "keeping_together"):
        raise ConfigError(f"{spec.table_id}: --group-duplicates (GROUP_DUPLICATES=1) regroups cross-validation "
                          f"folds, but this table's protocol is {spec.protocol.describe()}, whose parts are "
                          f"fixed; identical audio is reported without it")
    if collect_only and (shard is not None or ray):
        raise ConfigError(f"{spec.table_id}: collect trains nothing, so it cannot be combined with "
                          f"{'a shard (--shard, SHARD=I/N)' if shard is not None else 'Ray (--ray, RAY=1)'}; "
                          f"run the shards or the Ray run first, then collect without SHARD or RAY")
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
                      subset, seed, verbose, progress, started, group_duplicates)
    if shard is not None:

        plan = make_plan(request)
        units = shard_units(plan.units(), *shard)
        _log(f"  shard {shard[0]}/{shard[1]}: {len(units)} of {len(plan.units())} units")
        for scheme, fold in units:
            run_unit(plan, scheme, fold, wait=False)
        _log(f"  shard {shard[0]}/{shard[1]} done; when every shard has finished, write the table with\n"
             + collect_hint(request))
        return None
    with table_lock(results_dir, spec.paper, spec.table_id):
        plan = make_plan(request, holds_table_lock=True)
        plan.manifest["mode"] = "collect" if collect_only else "ray" if ray else "sequential"
        write_json(plan.manifest, plan.progress_outputs["manifest"])  # status "running" until the end
        try:
            if ray:

                plan.computed += len(run_units_on_ray(plan, run_unit_in_worker))
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
    group_duplicates: bool = False


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
    computed: int = 0  # units trained by this run (not reused)

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
                                     len(self.index.tracks), index=self.index, store=self.store,
                                     cache_dir=self.layout.cache_dir)
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


def make_plan(request: Request, holds_table_lock: bool = False) -> Plan:
    """Index the dataset, check the protocol, prepare features, splits and every unit's identity.

    Args:
        request: the checked request.
        holds_table_lock: True only for a caller holding the table's lock (a sequential, Ray-driver
            or collect run): it alone removes the temporaries interrupted writes left, since a
            shard or a Ray worker runs beside other writers whose in-flight ``.tmp`` files look
            the same.

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
                   schemes=request.subset, group_duplicates=request.group_duplicates,
                   scheme_module=next((s.name for s in spec.scheme_module_rows()), None))
    layout = RunLayout(request.results_dir, request.work_dir, spec.paper, spec.table_id, caps)
    for path in remove_stale_temporaries(layout) if holds_table_lock else ():
        _log(f"  removed {path}, left by an interrupted write")

    index, features, skipped, cache = prepare_features(spec, index, layout.cache_dir, request.progress)
    _log(f"  features: {cache.stats.hits} from cache, {cache.stats.computed} computed, "
         f"{cache.stats.corrupt} corrupt entries replaced; {len(skipped)} tracks skipped")
    hashes = ContentHashes(layout.cache_dir)
    groups = identical_audio_groups(index.tracks, hashes.of)  # the hashes of the run identity, read once
    protocol = spec.protocol
    if request.group_duplicates:
        protocol = spec.protocol.keeping_together([[t.track_id for t in group] for group in groups])
    splits, splits_path = _splits(spec if protocol is spec.protocol else replace(spec, protocol=protocol), index,
                                  layout.records_root)
    run_splits = splits[:caps.folds_run]
    duplicates = duplicate_report(groups, straddling(run_splits, groups), request.group_duplicates)
    for line in report_lines(groups, duplicates["per_fold"], caps.folds_in_protocol, request.group_duplicates):
        _log(line)

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
        "caps": caps.as_dict(), "dataset": {"path": str(Path(request.data_dir).resolve()), "path_as_given": str(request.data_dir),
                                        **index.summary(), "coverage": dataset_coverage(index, spec.dataset).as_dict()},
        "skipped_tracks": skipped, "features": cache.extractor.describe(), "feature_cache": str(cache.folder),
        "protocol": protocol.describe(), "folds_requested": caps.folds_run,
        "folds_in_protocol": caps.folds_in_protocol, "epochs_cap": request.epochs,
        "schemes": {s.name: {"description": s.description, "config": s.config,
                             "trainable": s.run_fold is not None,
                             **({"scheme_module": s.scheme_module} if s.scheme_module else {})}
                    for s in spec.schemes},
        "splits_file": str(splits_path), "records_folder": str(store.root),
        "audio_content": "SHA-256 of every file, remembered by path, size and mtime "
                         f"({hashes.path}); a change keeping size and mtime is not seen",
        "duplicate_audio": duplicates,
        "versions": library_versions(), "hardware": hardware(), "pid": os.getpid(),
    }
    plan = Plan(request, index, features, run_splits, caps, layout, identities, payloads, store, manifest)
    return plan


def _training_sample_rates(plan: Plan, split) -> dict[str, int]:
    """``{"22050": 800}``: the native sample rates of the fold's training tracks (see ``predict``'s band limit)."""
    from common.audio.decoding import sample_rate_counts

    tracks = {t.track_id: t for t in plan.index.tracks}
    return sample_rate_counts(tracks[i].path for i in split.train if i in tracks)


def run_unit_in_worker(request: Request, scheme: str, fold: int) -> dict | None:
    """Body of a Ray task (:func:`common.runner.fanout.run_units_on_ray`): rebuild the plan in this worker, run one unit.

    Returns:
        ``{"scheme", "fold", "metrics"}`` of the unit (its record is written to the store), or None
        when another process holds the unit.
    """
    plan = make_plan(replace(request, progress=False))
    record = run_unit(plan, scheme, fold)
    return None if record is None else {"scheme": scheme, "fold": fold, "metrics": record["metrics"]}


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
                      "training_audio": {"sample_rates": _training_sample_rates(plan, split)},
                      "finished": datetime.now(timezone.utc).isoformat(), "work_dir": str(unit_dir)}
            if getattr(outcome, "evidence", None):  # written before the record, which names its checksum
                record["evidence"] = save_evidence(plan.store, scheme.name, fold, identity, outcome.evidence)
            plan.store.save(record)
            plan.computed += 1
            if request.epochs is None and plan.caps.variant is None:  # a variant never replaces the paper's model
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
    table, fold_table = assemble(spec, records, caps, len(plan.index.tracks), index=plan.index, store=plan.store,
                                 cache_dir=layout.cache_dir)
    complete = not caps.capped and all(len(records.get(s.name, [])) == caps.folds_in_protocol
                                       for s in spec.paper_trainable())
    out_dir = layout.paper_dir if complete else layout.partial_dir
    outputs = layout.outputs(out_dir)
    manifest = plan.manifest
    manifest.update(status="complete" if complete else "partial", outputs_folder=str(out_dir),
                    records={f"{s}/fold_{r['fold']:02d}": r["identity"] for s, recs in records.items() for r in recs})
    write_tables(table, fold_table, outputs)
    write_figure(spec, table, outputs, caps, len(plan.index.tracks), index=plan.index)
    comparison = {"dataset": dataset_coverage(plan.index, spec.dataset).describe(),
                  "verdict": table_verdict(table).as_dict()}
    manifest["comparison"] = comparison
    write_confusion_matrices(spec, records, out_dir, plan.index.classes, caps)
    if spec.post_run is not None:
        spec.post_run(out_dir, records)
    manifest["wall_seconds"] = time.time() - plan.request.started
    manifest["unit_seconds_total"] = sum(float(r.get("seconds") or 0.0) for recs in records.values() for r in recs)
    manifest["folds_finished"] = {name: len(recs) for name, recs in records.items()}
    # a run that trained nothing keeps the manifest of the run that did; one that recomputed a unit
    # (e.g. a record found inconsistent) has new provenance even when the identities are the same
    stored = run_with_same_records(outputs["manifest"], manifest) if complete and not plan.computed else None
    if stored is None:
        write_json(manifest, outputs["manifest"])
    else:  # nothing new was computed: the manifest of the run that trained these records stays
        _log(f"  {outputs['manifest']} kept: it names the same fold records (run started {stored.get('started')}, "
             f"commit {stored.get('git_commit')})")
        refreshed = refresh_comparison(stored, manifest)  # only what is read off the records, not provenance
        if refreshed != stored:
            write_json(refreshed, outputs["manifest"])
    if complete and layout.partial_dir.is_dir():
        shutil.rmtree(layout.partial_dir, ignore_errors=True)
    _log(f"  wrote {outputs['csv']} ({manifest['status']}: {caps.describe()}; {manifest['wall_seconds']:.0f} s)")
    return table
