"""Execution of a table: checks, features, splits, every unit of work, then the table and manifest.

One run of a table (:func:`run_table`):

1. check the request (schemes, fold and epoch counts) and the selected schemes' preflight checks;
2. check that the results and work folders are writable, and take the table's lock (a second
   run of the same table into the same results folder is refused, naming the first);
3. index the dataset and check the protocol can be applied (class sizes) before any feature work;
   on a user's own collection (``--own-dataset``) also that every class has a track per fold and
   that no identical audio lies in two classes (:func:`common.runner.own_dataset.check_collection`);
4. extract features through the cache; unusable files are skipped and recorded;
5. hash the audio content and report identical files (:mod:`common.runner.duplicates`), make
   (or reload) the splits (group-aware with ``group_duplicates``; GTZAN's fault-filtered split with
   ``split="fault-filtered"``), and compute every unit's identity;
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
from common.features.cache import FeatureWorkerError
from common.outputs.result_tables import write_json
from common.outputs.result_tables import table_verdict
from common.runner.assembly import assemble, collect_records, divergence_lines, write_figure, write_tables
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
from common.runner.records import DIVERGED, RecordStore, divergence_text
from common.training.divergence import TrainingDiverged, watch_training
from common.runner.spec import FoldContext, TableSpec
from common.evaluation.splits import Split, load_splits, save_splits, split_problems
from common.evaluation.gtzan_fault_filtered import FaultFilteredSplit, SPLIT_NAME
from common.evaluation.gtzan_fault_filtered import report_lines as split_report_lines


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


def gtzan_tables() -> list[str]:
    """``<paper>.<table>`` of every table on GTZAN (the tables ``--split fault-filtered`` applies to)."""
    from common.registry import available_tables

    names = []
    for name, factory in available_tables().items():
        try:
            if factory().dataset.name == "gtzan":
                names.append(name)
        except Exception:  # noqa: BLE001 - a table that cannot be built is not named, the refusal still stands
            continue
    return names


def with_split(spec: TableSpec, split: str | None, group_duplicates: bool = False) -> tuple[TableSpec, str | None]:
    """The table under the split ``split`` (``--split`` / ``SPLIT``), checked before any dataset work.

    Args:
        spec: the table.
        split: None or ``"paper"``: the paper's split (``spec`` unchanged); ``"fault-filtered"``:
            GTZAN's fault-filtered split (:class:`~common.evaluation.gtzan_fault_filtered.FaultFilteredSplit`,
            one fold) in place of the table's protocol.
        group_duplicates: the run also asked for ``--group-duplicates``.

    Returns:
        ``(spec, split)``: the table with its protocol replaced, and the split's name for the run's
        caps (None for the paper's split).

    Raises:
        ConfigError: an unknown split; the fault-filtered split for a table not on GTZAN (the
            message names the GTZAN tables); or combined with ``--group-duplicates`` (two variants).
    """
    if split in (None, "", "paper"):
        return spec, None
    if split != SPLIT_NAME:
        raise ConfigError(f"unknown split {split!r} (--split / SPLIT): the choices are {SPLIT_NAME!r} (GTZAN's "
                          f"fault-filtered split of Kereliuk, Sturm & Larsen 2015) and 'paper' (the default: the "
                          f"paper's own split, also when SPLIT is unset)")
    if spec.dataset.name != "gtzan":
        raise ConfigError(f"{spec.paper}.{spec.table_id}: --split {SPLIT_NAME} (SPLIT={SPLIT_NAME}) is GTZAN's "
                          f"fault-filtered split; this table is on {spec.dataset.name}. It applies to the GTZAN "
                          f"tables: {', '.join(gtzan_tables()) or 'none found'}")
    if group_duplicates:
        raise ConfigError(f"{spec.paper}.{spec.table_id}: --split {SPLIT_NAME} and --group-duplicates are two "
                          f"variants of the split; use one of them")
    return replace(spec, protocol=FaultFilteredSplit()), split


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
    own = getattr(spec.dataset, "own_collection", None) is not None
    options = [("--own-dataset" if own else "--data-dir", request.data_dir), ("--results-dir", request.results_dir),
               ("--work-dir", request.work_dir), ("--folds", request.folds), ("--epochs", request.epochs),
               ("--schemes", ",".join(request.subset) if request.subset else None),
               ("--seed", request.seed or None)]
    cli = ["python", "-m", "common.cli", "collect", f"{spec.paper}.{spec.table_id}"]
    for option, value in options:
        if value is not None:
            cli += [option, str(value)]
    if request.group_duplicates:
        cli.append("--group-duplicates")
    if request.split is not None:
        cli += ["--split", request.split]
    lines = ["    " + shlex.join(cli)]
    if not request.seed:
        variables = [*([] if own else [(spec.dataset.dir_variable, request.data_dir)]), ("RESULTS_DIR", request.results_dir),
                     ("WORK_DIR", request.work_dir), ("FOLDS", request.folds), ("EPOCHS", request.epochs),
                     ("SCHEMES", ",".join(request.subset) if request.subset else None),
                     ("GROUP_DUPLICATES", 1 if request.group_duplicates else None), ("SPLIT", request.split)]
        lines.append("    " + shlex.join(["make", *shlex.split(spec.make_target), "COLLECT=1",
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
              ray: bool = False, group_duplicates: bool = False, split: str | None = None) -> pd.DataFrame | None:
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
        split: None (or ``"paper"``) for the paper's split; ``"fault-filtered"`` for GTZAN's
            fault-filtered split of Kereliuk, Sturm & Larsen 2015 (one fold on the published lists,
            :mod:`common.evaluation.gtzan_fault_filtered`): a variant in ``partial/`` whose CSV gives
            no verdict against the paper (see :func:`with_split`).

    Returns:
        the comparison table (also written to CSV): every scheme whose records match, with the
        ``status`` of each row (``reproduced``, ``partial: ...``, ``not run``, ``paper-only``,
        ``diverged in fold 2 (epoch 3); ...``); its ``attrs["diverged"]`` lists one line per unit
        whose training diverged (empty when none did; see :func:`write_outputs`),
        ``attrs["diverged_units"]`` those units (``"R0 fold 2"``), ``attrs["units"]`` the run's
        unit count. None for a shard run (no table is written; a diverged unit is
        recorded and reported by the shard's progress line, and ``collect`` reports it).

    Raises:
        DatasetError: dataset missing, mis-laid or too small for the protocol.
        ConfigError: unknown scheme name, a non-positive fold/epoch count, more folds than the
            protocol has, a bad shard, ``collect_only`` with ``shard`` or ``ray``, or a selected
            scheme's ``preflight`` check failed.
        ConfigError: also a table made for an own collection
            (:func:`common.runner.own_dataset.own_dataset_table`) run on another ``data_dir``.
        RunLockedError: another process is writing this table into the same results folder.
        FeatureWorkerError: a feature-extraction worker died (the manifest says ``failed``; rerun to resume).
        KeyboardInterrupt: Ctrl-C or SIGTERM (the manifest says ``interrupted``, during feature
            extraction too; rerun to resume).
        OSError: a folder is not writable or the disk is full (earlier results stay intact).
    """
    started = time.time()
    own = getattr(spec.dataset, "own_collection", None)
    if own is not None and Path(data_dir).expanduser().resolve() != own.root:
        raise ConfigError(f"{spec.table_id}: the table was made for the own collection {own.root}, not {data_dir}; "
                          f"make it again with common.runner.own_dataset.own_dataset_table")
    spec, split = with_split(spec, split, group_duplicates)
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
                      subset, seed, verbose, progress, started, group_duplicates, split)
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
    split: str | None = None


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
        divergences: dict = {}
        records = collect_records(self.store, self.identities, divergences)
        table, fold_table = assemble(self.request.spec, records, self.caps, len(self.index.tracks), index=self.index,
                                     store=self.store, cache_dir=self.layout.cache_dir, divergences=divergences)
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


def _record_stop_in_extraction(request: Request, index, caps: RunCaps, layout: RunLayout,
                               exc: BaseException) -> None:
    """Write the manifest of a run stopped during feature extraction to the partial folder (best effort).

    Its ``status`` is ``interrupted`` (Ctrl-C, SIGTERM: a ``KeyboardInterrupt``) or ``failed`` (e.g. a
    feature worker died), with ``stage: "features"``, the error and what was known then (the
    dataset, the caps); the fuller manifest of :func:`make_plan` is written once extraction ends.
    """
    spec = request.spec
    manifest = {
        "paper": spec.paper, "table": spec.table_id, "title": spec.title, "source": spec.source,
        "status": "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", "stage": "features",
        "error": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
        "started": datetime.fromtimestamp(request.started, timezone.utc).isoformat(), "command": sys.argv,
        "git_commit": git_commit(), "seed": request.seed, "caps": caps.as_dict(),
        "dataset": {"path": str(Path(request.data_dir).resolve()), "path_as_given": str(request.data_dir),
                    **index.summary()},
        "folds_requested": caps.folds_run, "folds_in_protocol": caps.folds_in_protocol,
        "epochs_cap": request.epochs, "wall_seconds": time.time() - request.started, "pid": os.getpid(),
    }
    try:
        write_json(manifest, layout.outputs(layout.partial_dir)["manifest"])
    except OSError:
        pass


def make_plan(request: Request, holds_table_lock: bool = False) -> Plan:
    """Index the dataset, check the protocol, prepare features, splits and every unit's identity.

    Args:
        request: the checked request.
        holds_table_lock: True only for a caller holding the table's lock (a sequential, Ray-driver
            or collect run): it alone removes the temporaries interrupted writes left, since a
            shard or a Ray worker runs beside other writers whose in-flight ``.tmp`` files look
            the same; it alone also writes a manifest (``interrupted`` / ``failed``) when feature
            extraction is stopped.

    Raises:
        DatasetError: see :func:`run_table`.
        FeatureWorkerError: a feature-extraction worker died (every finished cache entry is kept).
        KeyboardInterrupt: Ctrl-C or SIGTERM (:class:`common.cli.Terminated`).
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
    own = getattr(spec.dataset, "own_collection", None)
    if own is not None:  # a user's collection: class sizes and identical audio across classes, before features
        from common.runner.own_dataset import check_collection

        own_hashes = ContentHashes(Path(request.work_dir) / "cache")
        for line in check_collection(index, spec, own_hashes.of):
            _log(line)
        own_hashes.save()
    spec.protocol.make_splits(index)  # class sizes and layout checked before any feature work
    split_filter = spec.protocol.filter_report(index) if hasattr(spec.protocol, "filter_report") else None
    for line in split_report_lines(split_filter) if split_filter else ():
        _log(line)
    n_folds = _protocol_folds(spec) or 1
    caps = RunCaps(folds_run=request.folds or n_folds, folds_in_protocol=n_folds, epochs=request.epochs,
                   schemes=request.subset, group_duplicates=request.group_duplicates,
                   scheme_module=next((s.name for s in spec.scheme_module_rows()), None), split=request.split,
                   own_dataset=own.label if own is not None else None)
    layout = RunLayout(request.results_dir, request.work_dir, spec.paper, spec.table_id, caps)
    for path in remove_stale_temporaries(layout) if holds_table_lock else ():
        _log(f"  removed {path}, left by an interrupted write")

    try:
        index, features, skipped, cache = prepare_features(spec, index, layout.cache_dir, request.progress)
    except (KeyboardInterrupt, FeatureWorkerError) as exc:  # Ctrl-C, SIGTERM, a dead worker: say so
        if holds_table_lock:
            _record_stop_in_extraction(request, index, caps, layout, exc)
        raise
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
    store = RecordStore(layout.records_root, evidence_metrics=spec.evidence_metrics)
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
        **({"split_filter": split_filter} if split_filter else {}),
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
        ``{"scheme", "fold", "metrics"}`` of the unit (its record is written to the store; a
        diverged unit has ``"metrics": None`` and ``"status": "diverged"``), or None when another
        process holds the unit.
    """
    plan = make_plan(replace(request, progress=False))
    record = run_unit(plan, scheme, fold)
    if record is None:
        return None
    return {"scheme": scheme, "fold": fold, "metrics": record.get("metrics"),
            **({"status": DIVERGED} if record.get("status") == DIVERGED else {})}


def check_outcome_finite(outcome, epoch: int = 0) -> None:
    """Raise :class:`~common.training.divergence.TrainingDiverged` when a fold's metrics or evidence are not finite.

    The last net behind :func:`~common.training.divergence.watch_training` (which checks every
    Keras fit and prediction): a metric value that is NaN or infinite, or a float evidence array
    (per-clip test scores) holding one, is a diverged unit, never a result.

    Args:
        outcome: the fold's :class:`~common.runner.spec.FoldOutcome`.
        epoch: epochs the unit trained (for the message).
    """
    import math
    import numbers

    from common.training.divergence import check_finite

    for name, value in outcome.metrics.items():
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value):
            raise TrainingDiverged(f"test metric {name!r} {value}", epoch, during_training=False)
    for name, values in (getattr(outcome, "evidence", None) or {}).items():
        check_finite(values, f"per-clip test results {name!r}", epoch)


def _save_divergence(plan: Plan, scheme: str, fold: int, identity: str, exc, seconds: float, unit_dir: Path) -> dict:
    """Store the diverged record of a unit (atomically) and keep its checkpoint from ever being used.

    The unit's ``best.weights.h5`` (if any) is renamed ``diverged.weights.h5``: it is never
    published for ``predict`` (a diverged unit has no result record, so no run lists it either).
    """
    record = {"scheme": scheme, "fold": fold, "identity": identity, "identity_payload": plan.payloads[scheme, fold],
              "status": DIVERGED, "divergence": exc.as_dict(), "seconds": seconds,
              "finished": datetime.now(timezone.utc).isoformat(), "work_dir": str(unit_dir)}
    plan.store.save(record)
    plan.computed += 1
    checkpoint = unit_dir / "best.weights.h5"
    if checkpoint.is_file():
        os.replace(checkpoint, unit_dir / "diverged.weights.h5")
    return record


def run_unit(plan: Plan, scheme_name: str, fold: int, wait: bool = True) -> dict | None:
    """Reuse or compute one (scheme, fold) and store its record.

    The fold runs inside :func:`~common.training.divergence.watch_training`: a unit whose loss,
    weights or outputs become non-finite stops there and is stored as a *diverged* record (no
    metrics; :mod:`common.runner.records`), reused like a result by a later run of the same
    identity; its checkpoint is not published. The run goes on with the other units.

    Args:
        plan: the run's plan.
        scheme_name: the scheme.
        fold: the fold number.
        wait: False: when another process holds the unit's lock, skip the unit (shards); True: the
            lock's refusal is raised.

    Returns:
        the unit's record (a diverged record has ``"status": "diverged"`` and no metrics), or None
        when it was skipped.

    Raises:
        RunLockedError: ``wait`` is True and another process trains this unit now.
    """
    from common.runner.locking import RunLockedError

    spec, request = plan.request.spec, plan.request
    scheme = next(s for s in spec.trainable() if s.name == scheme_name)
    split = plan.split(fold)
    identity = plan.identities[scheme.name, fold]
    position = f"{scheme.name} fold {fold + 1}/{plan.caps.folds_run}"
    record = plan.store.load_any(scheme.name, fold, identity)
    if record is not None and record.get("status") != DIVERGED:
        _log(f"  {position}: finished earlier with the same identity ({identity}), reusing "
             f"{plan.store.path(scheme.name, fold, identity)}")
        return record
    if record is not None:  # diverged: the verdict stands until the scheme, its settings or the data change
        _log(f"  {position}: diverged earlier with the same identity ({identity}): {divergence_text(record)}; "
             f"not trained again ({plan.store.path(scheme.name, fold, identity)})")
        return record
    _log(f"  {position}: {len(split.train)} train / {len(split.validation)} validation / "
         f"{len(split.test)} test tracks (identity {identity})")
    unit_dir = plan.layout.unit_work_dir(scheme.name, fold, identity)
    try:
        with unit_lock(unit_dir, f"{spec.paper}.{spec.table_id} {scheme.name} fold {fold} ({unit_dir})"):
            record = plan.store.load_any(scheme.name, fold, identity)  # finished (or diverged) meanwhile?
            if record is not None:
                return record
            context = FoldContext(index=plan.index, features=plan.features, split=split,
                                  seed=unit_seed(request.seed, fold, scheme.name), epochs=request.epochs,
                                  work_dir=unit_dir, verbose=request.verbose, cache_dir=plan.layout.cache_dir)
            t0 = time.time()
            try:
                with watch_training() as watch:
                    outcome = scheme.run_fold(context)
                    check_outcome_finite(outcome, watch.epochs)
            except TrainingDiverged as exc:
                record = _save_divergence(plan, scheme.name, fold, identity, exc, time.time() - t0, unit_dir)
                _log(f"  {position}: diverged{' ' if exc.when() else ': '}{exc}; no result recorded, the run goes on")
                return record
            record = {"scheme": scheme.name, "fold": fold, "identity": identity,
                      "identity_payload": plan.payloads[scheme.name, fold], "metrics": outcome.metrics,
                      "details": outcome.details, "seconds": time.time() - t0,
                      "training_audio": {"sample_rates": _training_sample_rates(plan, split)},
                      "finished": datetime.now(timezone.utc).isoformat(), "work_dir": str(unit_dir)}
            if getattr(outcome, "evidence", None):  # written before the record, which names its checksum
                record["evidence"] = save_evidence(plan.store, scheme.name, fold, identity, outcome.evidence)
            plan.store.save(record)
            plan.computed += 1
            if request.epochs is None and plan.caps.variant is None and plan.caps.own_dataset is None:
                # a variant (or a run on an own collection) never replaces the paper's model
                _publish_checkpoint(unit_dir, plan.layout.published_dir(scheme.name, fold))
    except RunLockedError as exc:
        if wait:
            raise
        _log(f"  {position}: skipped, {str(exc).splitlines()[0]}")
        return None
    _log(f"  {position}: " + ", ".join(f"{k} {v:.2f}" for k, v in outcome.metrics.items()))
    return record


def write_outputs(plan: Plan) -> pd.DataFrame:
    """Write the table from the records present: canonical when the full protocol is complete, else partial.

    A unit whose training diverged has no result: the table is then not complete (partial), its
    row shows no number, the manifest lists it under ``diverged`` (``{"<scheme>/fold_<k>": "at
    epoch 3: training loss nan"}``), one ``diverged: ...`` line per such unit is printed, and the
    returned table's ``attrs["diverged"]`` holds those lines (the command line then exits with
    :data:`common.cli.DIVERGED_EXIT_STATUS`).
    """
    spec, caps, layout = plan.request.spec, plan.caps, plan.layout
    divergences: dict = {}
    records = collect_records(plan.store, plan.identities, divergences)
    table, fold_table = assemble(spec, records, caps, len(plan.index.tracks), index=plan.index, store=plan.store,
                                 cache_dir=layout.cache_dir, divergences=divergences)
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
                  **({} if caps.own_dataset is not None else {"verdict": table_verdict(table).as_dict()})}
    manifest["comparison"] = comparison
    write_confusion_matrices(spec, records, out_dir, plan.index.classes, caps)
    if spec.post_run is not None:
        spec.post_run(out_dir, records)
    manifest["wall_seconds"] = time.time() - plan.request.started
    manifest["unit_seconds_total"] = sum(float(r.get("seconds") or 0.0) for recs in records.values() for r in recs)
    manifest["folds_finished"] = {name: len(recs) for name, recs in records.items()}
    manifest.pop("diverged", None)
    if divergences:
        manifest["diverged"] = {f"{s}/fold_{r['fold']:02d}": divergence_text(r)
                                for s, recs in divergences.items() for r in recs}
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
    lines = divergence_lines(divergences, spec)
    for line in lines:
        _log(line)
    table.attrs["diverged"] = lines
    table.attrs["diverged_units"] = [f"{scheme} fold {r['fold'] + 1}" for scheme in divergences
                                     for r in divergences[scheme]]
    table.attrs["units"] = len(plan.units())
    return table
