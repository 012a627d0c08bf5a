"""Finding the trained run of a table's scheme, and its folds, for ``predict`` and ``--export``.

The canonical table's manifest ``<results>/<paper>/<table>_manifest.json`` when it lists fold records
of the scheme and their checkpoints are in the work folder, else the newest partial run's manifest
(``<results>/<paper>/partial/<table>/*/``) that does; a model from a partial run is announced with
the run's caps, since it is not the model the full protocol trains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError, ReproError
from common.runner.layout import RunCaps, RunLayout

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
    """

    manifest_path: Path
    manifest: dict
    canonical: bool
    caps: RunCaps
    layout: RunLayout

    def folds(self, scheme: str) -> dict[int, str]:
        """``{fold: identity}`` of the scheme's fold records listed in the manifest, in fold order."""
        found = {}
        for key, identity in (self.manifest.get("records") or {}).items():
            name, _, fold = key.rpartition("/fold_")
            if name == scheme and fold.isdigit():
                found[int(fold)] = identity
        return dict(sorted(found.items()))

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
                   scheme_module=caps.get("scheme_module"))


def read_json_object(path: Path) -> dict | None:
    """The JSON object stored at ``path`` (a manifest or fold record), or None when unreadable or not an object."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _no_run_message(spec, scheme: str, results_dir: Path, extra: str = "") -> str:
    target = spec.make_target
    return (f"no trained run of {spec.paper}.{spec.table_id} scheme {scheme!r} in {results_dir}{extra}.\n"
            f"Train it first: make {target} (the full protocol), or a quick model with "
            f"make {target} SCHEMES='{scheme}' FOLDS=1 EPOCHS=2 (a partial run, fine for trying predict); "
            f"point RESULTS_DIR / --results-dir and WORK_DIR / --work-dir at the folders the run used.")


def find_run(spec, scheme: str, results_dir: str | Path = "results", work_dir: str | Path = "work") -> TrainedRun:
    """The run whose model of ``scheme`` to use: the canonical one, else the newest partial one.

    Args:
        spec: the table.
        scheme: a trainable scheme's name.
        results_dir: root of the results (``results``).
        work_dir: root of the work folder (``work``), for the run's layout.

    Returns:
        the canonical run when its manifest lists fold records of ``scheme`` and their checkpoints
        are in the work folder; otherwise the partial run (``partial/<table>/<caps
        label>/<table>_manifest.json``) with records and checkpoints of ``scheme`` whose manifest
        was written last. (A fresh clone has the committed canonical records but not their
        checkpoints, which live in the uncommitted work folder.)

    Raises:
        ConfigError: ``scheme`` is not a trainable scheme of the table.
        NoTrainedRunError: no manifest lists a fold record of ``scheme``; the message names the
            make target that trains it.
    """
    trainable = [s.name for s in spec.trainable()]
    if scheme not in trainable:
        raise ConfigError(f"{spec.paper}.{spec.table_id} has no trainable scheme {scheme!r}; "
                          f"trainable: {', '.join(trainable)}")
    results_dir, work_dir = Path(results_dir), Path(work_dir)
    paper_dir = results_dir / spec.paper
    canonical_path = paper_dir / f"{spec.table_id}_manifest.json"
    older = ""
    candidates = []
    if canonical_path.is_file():
        manifest = read_json_object(canonical_path)
        if manifest is not None and "records" not in manifest:
            older = (f" ({canonical_path} was written by an older runner and lists no fold records: its "
                     f"checkpoints cannot be found)")
        candidates.append((True, canonical_path, manifest))
    partial = sorted((paper_dir / "partial" / spec.table_id).glob(f"*/{spec.table_id}_manifest.json"),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    candidates.extend((False, path, read_json_object(path)) for path in partial)
    without_checkpoints = []
    for canonical, path, manifest in candidates:
        if manifest is None or canonical and manifest.get("status") != "complete":
            continue
        caps = _caps(manifest)
        run = TrainedRun(path, manifest, canonical, caps,
                         RunLayout(results_dir, work_dir, spec.paper, spec.table_id, caps))
        if not run.folds(scheme):
            continue
        if _has_checkpoint(run, scheme):
            return run
        without_checkpoints.append(f"{run.describe()} ({path})")
    if without_checkpoints:
        older += (f" (runs whose fold records exist but whose checkpoints are not under {work_dir}, e.g. committed "
                  f"results in a fresh clone: {'; '.join(without_checkpoints)})")
    raise NoTrainedRunError(_no_run_message(spec, scheme, results_dir, older))


def _has_checkpoint(run: TrainedRun, scheme: str) -> bool:
    """True when some trained fold of ``scheme`` has its checkpoint in the run's work folder (or the record's)."""
    for fold, identity in run.folds(scheme).items():
        if (run.layout.unit_work_dir(scheme, fold, identity) / CHECKPOINT_FILE).is_file():
            return True
        record = read_json_object(run.layout.records_root / "folds" / scheme / f"fold_{fold:02d}" / f"{identity}.json")
        if record and record.get("work_dir") and (Path(record["work_dir"]) / CHECKPOINT_FILE).is_file():
            return True
    return False


def select_folds(run: TrainedRun, spec, scheme: str, fold: int | None = None, ensemble: bool = False) -> list[int]:
    """The folds to use: every trained fold for an ensemble, else ``fold`` (default: fold 0).

    Raises:
        ConfigError: ``fold`` is not a fold of the protocol (negative, or past its last fold).
        NoTrainedRunError: ``fold`` (0-based) was not trained by the run.
    """
    trained = list(run.folds(scheme))
    if ensemble:
        return trained
    fold = 0 if fold is None else fold
    n_folds = run.caps.folds_in_protocol
    if not 0 <= fold < n_folds:
        raise ConfigError(f"--fold {fold}: {spec.paper}.{spec.table_id} has folds 0 to {n_folds - 1} (0-based); "
                          f"trained folds of {scheme!r} in the {run.describe()}: {', '.join(map(str, trained))}")
    if fold not in trained:
        raise NoTrainedRunError(
            f"{spec.paper}.{spec.table_id} scheme {scheme!r}: fold {fold} was not trained by the {run.describe()} "
            f"({run.manifest_path}); trained folds: {', '.join(map(str, trained))}. Use --fold with one of them, "
            f"or train more folds: make {spec.make_target} SCHEMES='{scheme}' FOLDS={fold + 1}")
    return [fold]
