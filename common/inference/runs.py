"""Finding the trained run of a table's scheme, and its folds, for ``predict`` and ``--export``.

The canonical table's manifest ``<results>/<paper>/<table>_manifest.json`` when it lists fold records
of the scheme and their checkpoints are in the work folder, else the newest partial run's manifest
(``<results>/<paper>/partial/<table>/*/``) that does; a model from a partial run is announced with
the run's caps, since it is not the model the full protocol trains. ``--run DIR`` (``RUN_DIR=DIR``)
names the run's folder instead (:func:`named_run`). A table run on a user's own collection
(``--own-dataset``; :mod:`common.runner.own_dataset`) has no canonical run: its runs are the
folders ``<results>/<paper>/own/<table>/<collection label>/*/``, newest first.

A row added from a user's scheme module (``--scheme-module``) is matched by the module's code: only
a run whose fold records were made with the module's current code (``scheme_module_code`` in the
records' identity, :func:`common.runner.identity.file_code_version`) is used; two modules sharing a
row name, or a module edited since its run, never lend each other their checkpoints.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import ConfigError, ReproError
from common.runner.layout import OWN_FOLDER, RunCaps, RunLayout

#: Name of the checkpoint the protocols keep in a unit's work folder (:func:`common.training.trainer.train`).
CHECKPOINT_FILE = "best.weights.h5"


class NoTrainedRunError(ReproError):
    """No run of the table has trained the requested scheme (or fold) in the results folder."""


@dataclass(frozen=True)
class TrainedRun:
    """A run of a table, as its manifest describes it.

    Attributes:
        manifest_path: the ``<table>_manifest.json`` read.
        manifest: its contents.
        canonical: True for the canonical table (complete full protocol), False for a partial run.
        caps: the run's caps (folds, epoch cap, scheme subset).
        layout: the run's output layout in the results / work folders given to :func:`find_run`.
        notes: console warnings about the search (e.g. an unreadable manifest that was passed over).
    """

    manifest_path: Path
    manifest: dict
    canonical: bool
    caps: RunCaps
    layout: RunLayout
    notes: tuple[str, ...] = field(default=(), compare=False)

    def folds(self, scheme: str) -> dict[int, str]:
        """``{fold: identity}`` of the scheme's fold records listed in the manifest, in fold order."""
        found = {}
        for key, identity in (self.manifest.get("records") or {}).items():
            name, _, fold = key.rpartition("/fold_")
            if name == scheme and fold.isdigit():
                found[int(fold)] = identity
        return dict(sorted(found.items()))

    def record_path(self, scheme: str, fold: int, identity: str) -> Path:
        """The fold record's file, as the runner's :class:`~common.runner.records.RecordStore` lays it out."""
        from common.runner.records import RecordStore

        return RecordStore(self.layout.records_root).path(scheme, fold, identity)

    def describe(self) -> str:
        """``"canonical run"`` or ``"partial run (2/10 folds, epochs <= 2)"``."""
        if self.canonical:
            return "canonical run (full protocol)"
        return f"partial run ({self.caps.describe()}; status {self.manifest.get('status', '?')})"


def _caps(manifest: dict) -> RunCaps:
    caps = manifest.get("caps") or {}
    schemes = caps.get("schemes")
    return RunCaps(folds_run=int(caps.get("folds_run", manifest.get("folds_requested", 1))),
                   folds_in_protocol=int(caps.get("folds_in_protocol", manifest.get("folds_in_protocol", 1))),
                   epochs=caps.get("epochs", manifest.get("epochs_cap")),
                   schemes=tuple(schemes) if schemes else None,
                   group_duplicates=bool(caps.get("group_duplicates", False)),
                   scheme_module=caps.get("scheme_module"), split=caps.get("split"),
                   own_dataset=caps.get("own_dataset"))


def read_json_object(path: Path) -> dict | None:
    """The JSON object stored at ``path`` (a manifest or fold record), or None when unreadable or not an object."""
    return read_manifest(path)[0]


def read_manifest(path: Path) -> tuple[dict | None, str | None]:
    """``(the JSON object at path, None)``, or ``(None, why it cannot be used)`` (e.g. ``"is not valid JSON (...)"``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"holds a JSON {type(value).__name__}, not an object"
    return value, None


def _module_row(spec, scheme: str):
    """The table's row ``scheme`` when it was added from a user's scheme module, else None."""
    return next((s for s in spec.trainable() if s.name == scheme and s.scheme_module is not None), None)


def run_module_codes(run: TrainedRun, scheme: str) -> dict[int, tuple[str | None, str | None]]:
    """``{fold: (scheme module code, module file)}`` that trained each of the run's folds of ``scheme``.

    Read from the fold record's identity (``identity_payload.config.scheme_module_code``) and details
    (``scheme_module``); from the manifest's description of the row when the record cannot be read.
    ``(None, None)`` for a fold whose code is not recorded (not a scheme module's row).
    """
    row = (run.manifest.get("schemes") or {}).get(scheme) or {}
    found = {}
    for fold, identity in run.folds(scheme).items():
        record = read_json_object(run.record_path(scheme, fold, identity)) or {}
        code = ((record.get("identity_payload") or {}).get("config") or {}).get("scheme_module_code")
        path = (record.get("details") or {}).get("scheme_module")
        if code is None:
            code = (row.get("config") or {}).get("scheme_module_code")
        found[fold] = (code, path or row.get("scheme_module"))
    return found


def _other_code(run: TrainedRun, scheme: str, code: str) -> str | None:
    """Why ``run``'s folds of a scheme module's row were not made with ``code`` (the module's current code), or None."""
    others = {(c, p) for c, p in run_module_codes(run, scheme).values() if c != code}
    if not others:
        return None
    return "made with " + "; ".join(f"{p or 'a scheme module'} at code {c or 'unknown'}" for c, p in sorted(
        others, key=str))


def _quote_make(value: str) -> str:
    return shlex.quote(str(value))


def retrain_command(spec, scheme: str, run: TrainedRun | None, work_dir: Path, folds_needed: int | None) -> tuple[str, str]:
    """``(make command, results folder)`` that trains the checkpoints of ``scheme`` predict needs.

    Fold records are reused by identity, so the run's own command trains nothing when its records
    exist (a fresh clone has the committed canonical records but not the checkpoints of the
    uncommitted work folder). The command runs the same units (same caps, so the same identities
    when the dataset and code are the same) into a fresh results folder under the work folder,
    where no record exists: they are trained, their checkpoints land in the work folder, and the
    canonical results are not touched.

    Args:
        spec: the table.
        scheme: the scheme.
        run: the run whose records lack checkpoints (its caps are kept), or None.
        work_dir: the work folder predict reads checkpoints from.
        folds_needed: folds 0 .. n-1 are needed (None: every fold of the run).

    Returns:
        the command, e.g. ``make table3-gtzan GTZAN_DIR=data/gtzan SCHEMES=R0 FOLDS=1
        RESULTS_DIR=work/predict-runs``, and the results folder it writes (``work/predict-runs``).
    """
    caps = run.caps if run is not None else RunCaps(folds_run=1, folds_in_protocol=1)
    data_dir = os.environ.get(spec.dataset.dir_variable) or spec.dataset.default_dir
    results = Path(work_dir) / "predict-runs"
    row = _module_row(spec, scheme)
    parts = [f"make {spec.make_target}"]
    if getattr(spec.dataset, "own_collection", None) is None:  # an own collection's target names its folder
        parts.append(f"{spec.dataset.dir_variable}={_quote_make(data_dir)}")
    if row is not None:
        parts.append(f"SCHEME_MODULE={_quote_make(row.scheme_module)}")
    else:
        parts.append(f"SCHEMES={_quote_make(scheme)}")
    folds = folds_needed or (caps.folds_run if run is not None else None)
    if folds and folds < caps.folds_in_protocol:
        parts.append(f"FOLDS={folds}")
    if caps.epochs is not None:
        parts.append(f"EPOCHS={caps.epochs}")
    if caps.group_duplicates:
        parts.append("GROUP_DUPLICATES=1")
    if caps.split is not None:
        parts.append(f"SPLIT={_quote_make(caps.split)}")
    parts.append(f"RESULTS_DIR={_quote_make(results)}")
    if Path(work_dir) != Path("work"):
        parts.append(f"WORK_DIR={_quote_make(work_dir)}")
    return " ".join(parts), str(results)


def _train_hint(spec, scheme: str) -> str:
    """How to train a scheme that has no run at all (the full protocol, or a quick model)."""
    target = spec.make_target
    row = _module_row(spec, scheme)
    which = f"SCHEME_MODULE={_quote_make(row.scheme_module)}" if row is not None else f"SCHEMES={_quote_make(scheme)}"
    full = f"make {target} {which}" if row is not None else f"make {target}"
    return (f"Train it first: {full} (the full protocol), or a quick model with "
            f"make {target} {which} FOLDS=1 EPOCHS=2 (a partial run, fine for trying predict); "
            f"point RESULTS_DIR / --results-dir and WORK_DIR / --work-dir at the folders the run used.")


def _without_checkpoints_message(spec, scheme: str, results_dir: Path, work_dir: Path, runs: list[TrainedRun],
                                 folds_needed: int | None) -> str:
    """The message when runs of ``scheme`` have fold records but no checkpoints under the work folder."""
    run = next((r for r in runs if r.canonical), runs[0])
    command, results = retrain_command(spec, scheme, run, work_dir, folds_needed)
    listed = "; ".join(f"{r.describe()} ({r.manifest_path})" for r in runs)
    data = spec.dataset.dir_variable
    data_note = ""
    if not Path(os.environ.get(data) or spec.dataset.default_dir).is_dir():
        data_note = f" (set {data} to your copy of {spec.dataset.name}: it is not at the folder shown)"
    return (f"no trained model of {spec.paper}.{spec.table_id} scheme {scheme!r} in {results_dir}: runs whose fold "
            f"records exist but whose checkpoints are not under {work_dir} (e.g. the committed results of a fresh "
            f"clone; checkpoints live in the work folder, which is not committed): {listed}.\n"
            f"Running that run's make target again would reuse its records and train nothing. To train the "
            f"checkpoint without touching {results_dir}, run the same units into a fresh results folder{data_note}:\n"
            f"  {command}\n"
            f"then predict with RESULTS_DIR={_quote_make(results)} (--results-dir {_quote_make(results)}).")


def _module_mismatch_message(spec, scheme: str, code: str, mismatched: list[tuple[TrainedRun, str]]) -> str:
    row = _module_row(spec, scheme)
    lines = [f"no run of {spec.paper}.{spec.table_id} scheme {scheme!r} was made with the current code of its scheme "
             f"module {row.scheme_module} (code {code}); the checkpoints of another module or of an earlier version "
             f"would be applied with this module's model. Runs found:"]
    lines += [f"  - {run.describe()}, {run.manifest_path}: {why}" for run, why in mismatched]
    lines.append(f"{_train_hint(spec, scheme)} (Records of this code are reused when they exist.) Or name a run "
                 f"with --run DIR / RUN_DIR=DIR.")
    return "\n".join(lines)


def _run_at(spec, path: Path, manifest: dict, canonical: bool, results_dir: Path, work_dir: Path,
            notes: tuple[str, ...] = ()) -> TrainedRun:
    caps = _caps(manifest)
    return TrainedRun(path, manifest, canonical, caps,
                      RunLayout(results_dir, work_dir, spec.paper, spec.table_id, caps), notes)


def _check_scheme(spec, scheme: str) -> None:
    trainable = [s.name for s in spec.trainable()]
    if scheme not in trainable:
        raise ConfigError(f"{spec.paper}.{spec.table_id} has no trainable scheme {scheme!r}; "
                          f"trainable: {', '.join(trainable)}")


def find_run(spec, scheme: str, results_dir: str | Path = "results", work_dir: str | Path = "work",
             run_dir: str | Path | None = None, folds_needed: int | None = 1) -> TrainedRun:
    """The run whose model of ``scheme`` to use: the canonical one, else the newest partial one (or ``run_dir``).

    Args:
        spec: the table.
        scheme: a trainable scheme's name.
        results_dir: root of the results (``results``).
        work_dir: root of the work folder (``work``), for the run's layout.
        run_dir: the run's folder named by the user (``--run``; see :func:`named_run`); None: search.
        folds_needed: predict needs folds 0 .. n-1 (for the training command of a message; None: all).

    Returns:
        the canonical run when its manifest lists fold records of ``scheme`` and their checkpoints
        are in the work folder; otherwise the partial run (``partial/<table>/<caps
        label>/<table>_manifest.json``) with records and checkpoints of ``scheme`` whose manifest
        was written last. (A fresh clone has the committed canonical records but not their
        checkpoints, which live in the uncommitted work folder.) For a row added from a scheme
        module, only runs whose records were made with the module's current code count.

    Raises:
        ConfigError: ``scheme`` is not a trainable scheme of the table; ``run_dir`` is not a run of it.
        NoTrainedRunError: no usable run: none lists a fold record of ``scheme`` (the message names
            the make target that trains it); its records exist without checkpoints (the message
            prints the command that trains them without touching the results); a scheme module's
            runs were made with other code (the message lists them with their caps); or a manifest
            that may be the run is unreadable (the message names it and why).
    """
    _check_scheme(spec, scheme)
    results_dir, work_dir = Path(results_dir), Path(work_dir)
    if run_dir is not None:
        return named_run(spec, scheme, run_dir, work_dir, folds_needed)
    paper_dir = results_dir / spec.paper
    canonical_path = paper_dir / f"{spec.table_id}_manifest.json"
    older = ""
    candidates = []
    own = getattr(spec.dataset, "own_collection", None)
    if canonical_path.is_file() and own is None:
        candidates.append((True, canonical_path))
    runs_folder = (paper_dir / OWN_FOLDER / spec.table_id / own.label if own is not None
                   else paper_dir / "partial" / spec.table_id)
    partial = sorted(runs_folder.glob(f"*/{spec.table_id}_manifest.json"),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    candidates.extend((False, path) for path in partial)
    row = _module_row(spec, scheme)
    code = (row.config or {}).get("scheme_module_code") if row is not None else None
    without_checkpoints, mismatched, unreadable, diverged = [], [], [], []
    for canonical, path in candidates:
        manifest, problem = read_manifest(path)
        if manifest is None:
            unreadable.append(f"{path} {problem}")
            continue
        if canonical and "records" not in manifest:
            older = (f" ({canonical_path} was written by an older runner and lists no fold records: its "
                     f"checkpoints cannot be found)")
        if canonical and manifest.get("status") != "complete":
            continue
        run = _run_at(spec, path, manifest, canonical, results_dir, work_dir)
        if not run.folds(scheme):
            diverged += [f"{run.describe()}, {path}: {key} {text}" for key, text in
                         (manifest.get("diverged") or {}).items() if key.rpartition("/fold_")[0] == scheme]
            continue
        if row is not None and (why := _other_code(run, scheme, code)):
            mismatched.append((run, why))
            continue
        if _has_checkpoint(run, scheme):
            notes = tuple(f"warning: the manifest {entry}, so its run was not considered" for entry in unreadable)
            return _run_at(spec, path, manifest, canonical, results_dir, work_dir, notes)
        without_checkpoints.append(run)
    if unreadable:
        raise NoTrainedRunError(
            f"unreadable manifest of {spec.paper}.{spec.table_id}: " + "; ".join(unreadable) + f". It may be the run "
            f"that trained {scheme!r}: restore it (a run of the same command rewrites it from its records), delete "
            f"it, or name another run's folder with --run DIR / RUN_DIR=DIR.")
    if without_checkpoints:
        raise NoTrainedRunError(_without_checkpoints_message(spec, scheme, results_dir, work_dir, without_checkpoints,
                                                             folds_needed))
    if mismatched:
        raise NoTrainedRunError(_module_mismatch_message(spec, scheme, code, mismatched))
    hint = _train_hint(spec, scheme)
    if diverged:
        older += f" (its training diverged, so it has no model: {'; '.join(diverged)})"
        hint = ("Training the same model with the same settings diverges again (a run of the same identity "
                "reuses that outcome): change the model or its TRAINING (e.g. a lower learning_rate), then "
                + hint[0].lower() + hint[1:])
    raise NoTrainedRunError(f"no trained run of {spec.paper}.{spec.table_id} scheme {scheme!r} in {results_dir}"
                            f"{older}.\n{hint}")


def _run_folder_results(spec, manifest_path: Path) -> tuple[Path, bool] | None:
    """``(results root, canonical)`` of a manifest at ``<results>/<paper>/``, ``<results>/<paper>/partial/<table>/<label>/``
    or ``<results>/<paper>/own/<table>/<collection>/<label>/`` (a run on an own collection)."""
    folder = manifest_path.resolve().parent
    if folder.name == spec.paper:
        return folder.parent, True
    if (len(folder.parents) >= 4 and folder.parent.name == spec.table_id and folder.parents[1].name == "partial"
            and folder.parents[2].name == spec.paper):
        return folder.parents[3], False
    if (len(folder.parents) >= 5 and folder.parents[1].name == spec.table_id and folder.parents[2].name == OWN_FOLDER
            and folder.parents[3].name == spec.paper):
        return folder.parents[4], False
    return None


def named_run(spec, scheme: str, run_dir: str | Path, work_dir: str | Path = "work",
              folds_needed: int | None = 1) -> TrainedRun:
    """The run in the folder the user named (``--run DIR``, ``RUN_DIR=DIR``), checked to hold a model of ``scheme``.

    Args:
        spec: the table.
        scheme: a trainable scheme's name.
        run_dir: the run's results folder, holding ``<table>_manifest.json``: ``<results>/<paper>`` for
            the canonical run, ``<results>/<paper>/partial/<table>/<label>`` for another one (the
            manifest file itself is accepted too). The results root is read off this path.
        work_dir: the work folder of the run (checkpoints).
        folds_needed: see :func:`find_run`.

    Raises:
        ConfigError: no manifest of this table there, an unreadable manifest (named as such), a
            manifest of another table, or a folder that is not where the runner writes runs.
        NoTrainedRunError: the run has no fold records of ``scheme``, no checkpoints of them, or (a
            scheme module's row) was made with other code than the module's current one.
    """
    _check_scheme(spec, scheme)
    given = Path(run_dir)
    path = given if given.name.endswith("_manifest.json") else given / f"{spec.table_id}_manifest.json"
    if not path.is_file():
        raise ConfigError(f"--run {run_dir}: no {spec.table_id}_manifest.json there (a run's folder is "
                          f"<results>/{spec.paper} for the canonical table or <results>/{spec.paper}/partial/"
                          f"{spec.table_id}/<caps> for another run)")
    manifest, problem = read_manifest(path)
    if manifest is None:
        raise ConfigError(f"--run {run_dir}: the manifest {path} {problem}; restore or delete it, or name another run")
    if (manifest.get("paper"), manifest.get("table")) != (spec.paper, spec.table_id):
        raise ConfigError(f"--run {run_dir}: {path} is the manifest of {manifest.get('paper')}.{manifest.get('table')}, "
                          f"not of {spec.paper}.{spec.table_id}")
    where = _run_folder_results(spec, path)
    if where is None:
        raise ConfigError(f"--run {run_dir}: not a run folder of {spec.paper}.{spec.table_id} (the runner writes runs "
                          f"to <results>/{spec.paper} and <results>/{spec.paper}/partial/{spec.table_id}/<caps>)")
    results_dir, canonical = where
    run = _run_at(spec, path, manifest, canonical, results_dir, Path(work_dir))
    listed = sorted({key.rpartition("/fold_")[0] for key in (manifest.get("records") or {})})
    if not run.folds(scheme):
        raise NoTrainedRunError(f"--run {run_dir}: the {run.describe()} has no fold records of {scheme!r}; it has "
                                f"{', '.join(map(repr, listed)) or 'none'}")
    row = _module_row(spec, scheme)
    if row is not None:
        code = (row.config or {}).get("scheme_module_code")
        if why := _other_code(run, scheme, code):
            raise NoTrainedRunError(_module_mismatch_message(spec, scheme, code, [(run, why)]))
    if not _has_checkpoint(run, scheme):
        raise NoTrainedRunError(_without_checkpoints_message(spec, scheme, results_dir, Path(work_dir), [run],
                                                             folds_needed))
    return run


def _has_checkpoint(run: TrainedRun, scheme: str) -> bool:
    """True when some trained fold of ``scheme`` has its checkpoint in the run's work folder (or the record's)."""
    for fold, identity in run.folds(scheme).items():
        if (run.layout.unit_work_dir(scheme, fold, identity) / CHECKPOINT_FILE).is_file():
            return True
        record = read_json_object(run.record_path(scheme, fold, identity))
        if record and record.get("work_dir") and (Path(record["work_dir"]) / CHECKPOINT_FILE).is_file():
            return True
    return False


def select_folds(run: TrainedRun, spec, scheme: str, fold: int | None = None, ensemble: bool = False) -> list[int]:
    """The folds to use: every trained fold for an ensemble, else ``fold`` (default: fold 0).

    Raises:
        ConfigError: ``fold`` is not a fold of the protocol (negative, or past its last fold).
        NoTrainedRunError: ``fold`` (0-based) was not trained by the run (the message says when its
            training diverged: the manifest's ``diverged``).
    """
    trained = list(run.folds(scheme))
    if ensemble:
        return trained
    fold = 0 if fold is None else fold
    n_folds = run.caps.folds_in_protocol
    if not 0 <= fold < n_folds:
        raise ConfigError(f"--fold {fold}: {spec.paper}.{spec.table_id} has folds 0 to {n_folds - 1} (0-based); "
                          f"trained folds of {scheme!r} in the {run.describe()}: {', '.join(map(str, trained))}")
    diverged = (run.manifest.get("diverged") or {}).get(f"{scheme}/fold_{fold:02d}")
    if fold not in trained and diverged:
        raise NoTrainedRunError(
            f"{spec.paper}.{spec.table_id} scheme {scheme!r}: the training of fold {fold} diverged in the "
            f"{run.describe()} ({run.manifest_path}: {diverged}), so it has no model; trained folds: "
            f"{', '.join(map(str, trained)) or 'none'}")
    if fold not in trained:
        raise NoTrainedRunError(
            f"{spec.paper}.{spec.table_id} scheme {scheme!r}: fold {fold} was not trained by the {run.describe()} "
            f"({run.manifest_path}); trained folds: {', '.join(map(str, trained))}. Use --fold with one of them, "
            f"or train more folds: make {spec.make_target} SCHEMES='{scheme}' FOLDS={fold + 1}")
    return [fold]
