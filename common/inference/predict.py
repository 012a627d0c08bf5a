"""Apply a trained model of a table to new audio files, or export it for use without this code.

``python -m common.cli predict <paper>.<table> <scheme> FILE... [--fold K | --ensemble]
[--top 5] [--export DIR]`` (``make predict``) does, for one scheme of one table:

1. **find the run** (:func:`find_run`): the canonical table's manifest
   ``<results>/<paper>/<table>_manifest.json`` when it lists fold records of the scheme, else the
   newest manifest under ``<results>/<paper>/partial/<table>/*/`` that does; a model from a
   partial run is announced on the console with the run's caps (fewer folds, an epoch cap, a
   scheme subset), since it is not the model the full protocol trains;
2. **find the fold's checkpoint**: the fold record ``<records>/folds/<scheme>/fold_NN/<identity>.json``
   names the unit of work, whose scratch folder
   ``<work>/<paper>/<table>/<scheme>/fold_NN-<identity>/`` holds ``best.weights.h5`` (and the
   paper's own per-fold input statistics, e.g. MCCLSTM's band standardisation);
3. **rebuild the scheme's model** exactly as its protocol does and load the checkpoint: a paper
   hook (:func:`fold_model`: ``papers.<paper>.inference.fold_model`` where the paper has one, else
   the clip-model adapters of this module for MsE-CNN / FCN-5 and the CRNN-TF tables' clip models);
4. **read each file with the table's own preprocessing**: ``spec.extractor()`` (decoding, mono,
   resampling, log-mel) then ``spec.prepare`` (chunking / cropping), then the hook's per-fold
   input transform; the scheme's track-level output is printed as its top classes (softmax) or
   tags (sigmoid) with their probabilities. ``--ensemble`` averages the probabilities of every fold
   the run trained.

``--export DIR`` (:func:`export_fold`) writes the fold's model as ``DIR/model.keras`` with
``DIR/preprocessing.json`` (features, chunking, standardisation, class names, run and fold), and a
copy of the module of any custom layer the model uses (e.g. ``common_layers.py``), so that
``keras.models.load_model`` loads it without this repository.

Errors (:class:`~common.errors.ReproError`, shown by the command line as ``error: ...`` with exit
status 2): no trained run of the scheme (the message names the make target that trains it), a
fold that was not trained, a missing or unloadable checkpoint, a scheme this module cannot apply
yet, and an audio file that cannot be used (the other files are still predicted).
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.datasets.base import Track
from common.errors import AudioError, ConfigError, ReproError
from common.runner.layout import RunCaps, RunLayout

#: Name of the checkpoint the protocols keep in a unit's work folder (:func:`common.training.trainer.train`).
CHECKPOINT_FILE = "best.weights.h5"

#: Version of the ``preprocessing.json`` layout written by :func:`export_fold`.
EXPORT_FORMAT = 1


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


@dataclass
class FoldSource:
    """What a paper hook needs to rebuild one trained fold (see :func:`fold_model`).

    Attributes:
        spec: the table (:class:`~common.runner.spec.TableSpec`).
        scheme: the scheme (:class:`~common.runner.spec.Scheme`); its ``run_fold`` (a
            ``functools.partial`` of the protocol function) carries the model and training settings.
        run: the run the fold belongs to.
        fold: 0-based fold number.
        record: the fold record (metrics, details, identity).
        unit_dir: the unit's work folder, holding :data:`CHECKPOINT_FILE`.
        work_dir: root of the work folder (feature caches: ``<work_dir>/cache``).
        classes: class (or tag) names, in the order of the model's outputs.
    """

    spec: Any
    scheme: Any
    run: TrainedRun
    fold: int
    record: dict
    unit_dir: Path
    work_dir: Path
    classes: list[str]

    @property
    def checkpoint(self) -> Path:
        """``<unit_dir>/best.weights.h5``."""
        return self.unit_dir / CHECKPOINT_FILE

    @property
    def identity(self) -> str:
        """The unit's run identity (16 hex digits)."""
        return self.record["identity"]


@dataclass
class FoldModel:
    """One trained fold, ready to score prepared features of new files.

    Attributes:
        model: the Keras model with the fold's best weights (uncompiled).
        outputs: ``"classes"`` (softmax: one class per file) or ``"tags"`` (sigmoid, independent).
        probabilities: ``prepared features of one file -> float64 (n_outputs,)``: the scheme's
            track-level output, computed as its protocol computes test predictions.
        describe_input: ``prepared features -> str`` for the console (e.g. ``"16 chunks of 1.858 s"``).
        preprocessing: JSON-able description of everything between the table's features and the
            model (chunking, per-fold standardisation arrays, input layout, aggregation), for
            ``preprocessing.json``.
        custom_layer_modules: importable modules of custom Keras objects the model needs besides
            its layers' own modules (those are found by :func:`custom_layer_modules`); copied beside
            an exported model.
        notes: lines to show on the console (e.g. statistics recomputed for an older run).
    """

    model: Any
    outputs: str
    probabilities: Callable[[Any], np.ndarray]
    describe_input: Callable[[Any], str]
    preprocessing: dict = field(default_factory=dict)
    custom_layer_modules: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


@dataclass
class FilePrediction:
    """The prediction for one file.

    Attributes:
        path: the audio file.
        probabilities: float64 ``(n_outputs,)``: mean over the folds used.
        input: what the model saw (e.g. ``"2 chunks of 1.858 s"``).
        error: why the file could not be used (then ``probabilities`` is None).
    """

    path: Path
    probabilities: np.ndarray | None
    input: str = ""
    error: str | None = None

    def top(self, classes: list[str], k: int) -> list[tuple[str, float]]:
        """The ``k`` most probable ``(name, probability)``, most probable first (ties: class order)."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(classes[i], float(self.probabilities[i])) for i in order]


@dataclass
class Prediction:
    """What :func:`predict_files` computed.

    Attributes:
        run: the run the model came from.
        scheme: scheme name.
        folds: the folds whose probabilities were averaged (one unless ``--ensemble``).
        identities: ``{fold: identity}`` of those folds.
        checkpoints: ``{fold: checkpoint path}``.
        classes: class / tag names of the outputs.
        outputs: ``"classes"`` or ``"tags"``.
        files: one :class:`FilePrediction` per file, in the order given.
        exported: files written by ``export_dir`` (empty when not asked).
        notes: console notes of the hooks.
    """

    run: TrainedRun
    scheme: str
    folds: list[int]
    identities: dict[int, str]
    checkpoints: dict[int, Path]
    classes: list[str]
    outputs: str
    files: list[FilePrediction]
    exported: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- finding the run and the fold ----------------------------------------------------------------

def _caps(manifest: dict) -> RunCaps:
    caps = manifest.get("caps") or {}
    schemes = caps.get("schemes")
    return RunCaps(folds_run=int(caps.get("folds_run", manifest.get("folds_requested", 1))),
                   folds_in_protocol=int(caps.get("folds_in_protocol", manifest.get("folds_in_protocol", 1))),
                   epochs=caps.get("epochs", manifest.get("epochs_cap")),
                   schemes=tuple(schemes) if schemes else None)


def _read_manifest(path: Path) -> dict | None:
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
        manifest = _read_manifest(canonical_path)
        if manifest is not None and "records" not in manifest:
            older = (f" ({canonical_path} was written by an older runner and lists no fold records: its "
                     f"checkpoints cannot be found)")
        candidates.append((True, canonical_path, manifest))
    partial = sorted((paper_dir / "partial" / spec.table_id).glob(f"*/{spec.table_id}_manifest.json"),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    candidates.extend((False, path, _read_manifest(path)) for path in partial)
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
        record = _read_manifest(run.layout.records_root / "folds" / scheme / f"fold_{fold:02d}" / f"{identity}.json")
        if record and record.get("work_dir") and (Path(record["work_dir"]) / CHECKPOINT_FILE).is_file():
            return True
    return False


def select_folds(run: TrainedRun, spec, scheme: str, fold: int | None = None, ensemble: bool = False) -> list[int]:
    """The folds to use: every trained fold for an ensemble, else ``fold`` (default: fold 0).

    Raises:
        NoTrainedRunError: ``fold`` (0-based) was not trained by the run.
    """
    trained = list(run.folds(scheme))
    if ensemble:
        return trained
    fold = 0 if fold is None else fold
    if fold not in trained:
        raise NoTrainedRunError(
            f"{spec.paper}.{spec.table_id} scheme {scheme!r}: fold {fold} was not trained by the {run.describe()} "
            f"({run.manifest_path}); trained folds: {', '.join(map(str, trained))}. Use --fold with one of them, "
            f"or train more folds: make {spec.make_target} SCHEMES='{scheme}' FOLDS={fold + 1}")
    return [fold]


def fold_source(spec, run: TrainedRun, scheme: str, fold: int) -> FoldSource:
    """The record, work folder and class names of one trained fold.

    The unit's folder is ``<work>/<paper>/<table>/<scheme>/fold_NN-<identity>`` under the work
    folder given to :func:`find_run`; when it does not exist there, the ``work_dir`` stored in the
    record (the folder the run used) is tried.

    Raises:
        NoTrainedRunError: the fold record is missing or unreadable.
        ConfigError: the checkpoint is missing (the message names both folders tried), the
            table's feature settings changed since the run, or the class names cannot be found.
    """
    identity = run.folds(scheme)[fold]
    store_path = run.layout.records_root / "folds" / scheme / f"fold_{fold:02d}" / f"{identity}.json"
    record = _read_manifest(store_path)
    if record is None or record.get("identity") != identity:
        raise NoTrainedRunError(f"fold record {store_path} (listed in {run.manifest_path}) is missing or unreadable; "
                                f"run make {spec.make_target} again to recreate it")
    unit_dir = run.layout.unit_work_dir(scheme, fold, identity)
    tried = [unit_dir]
    if not (unit_dir / CHECKPOINT_FILE).is_file() and record.get("work_dir"):
        stored = Path(record["work_dir"])
        if (stored / CHECKPOINT_FILE).is_file():
            unit_dir = stored
        elif stored != unit_dir:
            tried.append(stored)
    if not (unit_dir / CHECKPOINT_FILE).is_file():
        raise ConfigError(
            f"checkpoint of {spec.paper}.{spec.table_id} {scheme} fold {fold} (identity {identity}) not found: "
            f"{' nor '.join(str(p / CHECKPOINT_FILE) for p in tried)}.\nThe work folder of that run was moved "
            f"or cleaned (make clean-work); point --work-dir / WORK_DIR at it, or train the scheme again "
            f"(make {spec.make_target} SCHEMES='{scheme}' after deleting {store_path}).")
    payload = record.get("identity_payload") or {}
    extractor = spec.extractor()
    if payload.get("features") and payload["features"] != extractor.fingerprint():
        raise ConfigError(f"{spec.paper}.{spec.table_id}: the feature settings changed since {scheme} fold {fold} "
                          f"was trained (fingerprint {payload['features']}, now {extractor.fingerprint()}); "
                          f"predicting with other features than the model learned would be wrong. Train it again.")
    return FoldSource(spec=spec, scheme=_scheme(spec, scheme), run=run, fold=fold, record=record, unit_dir=unit_dir,
                      work_dir=run.layout.work_dir, classes=class_names(run, record))


def class_names(run: TrainedRun, record: dict) -> list[str]:
    """Names of the model's outputs: the record's ``details.tags``, else the dataset's classes.

    The manifest's ``dataset.class_counts`` lists every class in the dataset's class order (the
    order of the label indices the model was trained on).

    Raises:
        ConfigError: neither is present.
    """
    tags = (record.get("details") or {}).get("tags")
    if tags:
        return list(tags)
    counts = (run.manifest.get("dataset") or {}).get("class_counts")
    if counts:
        return list(counts)
    raise ConfigError(f"{run.manifest_path}: the run lists no class names (dataset.class_counts)")


def _scheme(spec, name: str):
    return {s.name: s for s in spec.trainable()}[name]


def config_differences(source: FoldSource) -> list[str]:
    """Top-level keys of the scheme's settings that differ between the run and the current code.

    Acceleration settings that do not change the model (e.g. mixed precision) may show up here.
    """
    stored = (source.record.get("identity_payload") or {}).get("config")
    if not isinstance(stored, dict):
        return []
    current = json.loads(json.dumps(source.scheme.config, default=str))
    return sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))


# --- rebuilding the model -------------------------------------------------------------------------

def not_supported(source: FoldSource, why: str = "") -> ConfigError:
    """The error for a scheme that predict / export cannot apply yet."""
    return ConfigError(f"predict is not supported for this scheme yet: {source.spec.paper}.{source.spec.table_id} "
                       f"{source.scheme.name!r}{': ' + why if why else ''}")


def load_checkpoint(model, source: FoldSource) -> None:
    """Load the fold's ``best.weights.h5`` into ``model``.

    Raises:
        ConfigError: the file does not hold weights of this architecture (e.g. the scheme's
            settings changed since the run).
    """
    try:
        model.load_weights(str(source.checkpoint))
    except Exception as exc:  # noqa: BLE001 - h5py / Keras raise many types for a wrong or corrupt file
        changed = config_differences(source)
        hint = f"; the scheme's settings changed since the run ({', '.join(changed)})" if changed else ""
        raise ConfigError(f"{source.checkpoint}: does not load into {source.scheme.name} as built now "
                          f"({type(exc).__name__}: {exc}){hint}") from None


def _run_fold_arguments(source: FoldSource, *functions) -> tuple:
    """``(protocol function, its bound arguments)`` of the scheme's ``run_fold`` partial."""
    run_fold = source.scheme.run_fold
    func = getattr(run_fold, "func", None)
    if func not in functions:
        raise not_supported(source, f"its fold function is {getattr(func, '__qualname__', run_fold)!r}")
    return func, tuple(run_fold.args)


def _clip_fold_model(source: FoldSource, model, outputs: str, store_dtype: str, batch_size: int) -> FoldModel:
    """A whole-clip model (one fixed-shape spectrogram per track), fed as its protocol feeds it.

    The protocols store clips in ``store_dtype`` (float16 memory maps) and stream them as float32,
    so the prepared clip is rounded through ``store_dtype`` here too.
    """
    load_checkpoint(model, source)

    def clip(prepared) -> np.ndarray:
        return np.asarray(prepared).astype(store_dtype).astype(np.float32)[None]

    def probabilities(prepared) -> np.ndarray:
        return np.asarray(model.predict(clip(prepared), batch_size=batch_size, verbose=0)[0], dtype=np.float64)

    shape = tuple(model.inputs[0].shape[1:])
    return FoldModel(
        model=model, outputs=outputs, probabilities=probabilities,
        describe_input=lambda prepared: f"one clip of {np.shape(prepared)[0]} x {np.shape(prepared)[1]}",
        preprocessing={"input": {"shape": [None, *shape], "dtype": "float32",
                                 "rounding": f"values rounded to {store_dtype} (the training stores' dtype)"},
                       "aggregation": f"one model call per file: the clip's {outputs} probabilities"})


def _msecnn_fold_model(source: FoldSource) -> FoldModel:
    import keras

    from papers.msecnn.models import build_model
    from papers.msecnn.protocol import run_model_fold

    _, (name, model_config, training, store_dtype) = _run_fold_arguments(source, run_model_fold)
    keras.backend.clear_session()
    model = build_model(name, len(source.classes), model_config)
    return _clip_fold_model(source, model, "tags", store_dtype, training.batch_size)


def _crnn_tf_fold_model(source: FoldSource) -> FoldModel:
    import keras

    from papers.crnn_tf import models
    from papers.crnn_tf.protocol import CLIP_BUILDERS, STORE_DTYPE, run_clip_model_fold, run_transfer_fold

    func, args = _run_fold_arguments(source, run_clip_model_fold, run_transfer_fold)
    keras.backend.clear_session()
    if func is run_clip_model_fold:
        builder, model_config, training, task = args
        model = CLIP_BUILDERS[builder](len(source.classes), task, model_config)
    else:
        _, _, _, model_config, training = args
        task = "genres"
        model = models.build_crnn_tf(len(source.classes), task, model_config)
    return _clip_fold_model(source, model, "tags" if task == "tags" else "classes", STORE_DTYPE, training.batch_size)


#: Paper hooks kept here rather than as ``papers/<paper>/inference.py``: a new file in a paper
#: package would change that paper's code version (:func:`common.runner.identity.code_version`)
#: and with it the identity of every stored fold record, i.e. force its GPU runs to be repeated.
CLIP_MODEL_HOOKS = {"msecnn": _msecnn_fold_model, "crnn_tf": _crnn_tf_fold_model}


def fold_model(source: FoldSource) -> FoldModel:
    """Rebuild the fold's model as its protocol builds it, with the fold's checkpoint and input transform.

    Uses ``papers.<paper>.inference.fold_model(source)`` when the paper has that module (MCCLSTM),
    else :data:`CLIP_MODEL_HOOKS`.

    Raises:
        ConfigError: the scheme is not supported yet, or its checkpoint does not load.
    """
    try:
        hook = importlib.import_module(f"papers.{source.spec.paper}.inference").fold_model
    except ModuleNotFoundError as exc:
        if exc.name not in (f"papers.{source.spec.paper}.inference", f"papers.{source.spec.paper}"):
            raise
        hook = CLIP_MODEL_HOOKS.get(source.spec.paper)
    if hook is None:
        raise not_supported(source, f"no inference hook for the paper {source.spec.paper!r}")
    return hook(source)


# --- reading audio and predicting ----------------------------------------------------------------

def prepare_file(spec, path: str | Path, extractor=None):
    """The table's preprocessing of one audio file: ``spec.prepare(spec.extractor()(path), track)``.

    Args:
        spec: the table.
        path: any file the table's audio loader decodes (WAV, FLAC, OGG, MP3, ...).
        extractor: an instance of ``spec.extractor()`` to reuse (default: a new one).

    Returns:
        what the table's schemes receive as one track's features (e.g. MCCLSTM chunks
        ``(n_chunks, 40, 80)`` float32).

    Raises:
        AudioError: the file cannot be decoded, is empty or too short for the table's features.
    """
    path = Path(path)
    extractor = extractor or spec.extractor()
    track = Track(track_id=path.stem, path=path)
    return spec.prepare(extractor(path), track)


def predict_files(spec, scheme: str, files, *, results_dir: str | Path = "results", work_dir: str | Path = "work",
                  fold: int | None = None, ensemble: bool = False, export_dir: str | Path | None = None,
                  log: Callable[[str], None] = print) -> Prediction:
    """Apply the trained ``scheme`` of a table to audio files (and/or export the fold's model).

    Args:
        spec: the table.
        scheme: trainable scheme name.
        files: audio files (may be empty when ``export_dir`` is given).
        results_dir, work_dir: the folders the training run used.
        fold: 0-based fold whose model to use (default 0); exclusive with ``ensemble``.
        ensemble: average the probabilities of every fold the run trained.
        export_dir: also write the fold's model and ``preprocessing.json`` there (:func:`export_fold`).
        log: receives the console lines about the run (which run, caps, checkpoint).

    Returns:
        :class:`Prediction`; files that cannot be used carry their ``error``.

    Raises:
        NoTrainedRunError, ConfigError: see :func:`find_run`, :func:`select_folds`,
            :func:`fold_source`, :func:`fold_model`; ``ensemble`` with ``fold`` or ``export_dir``.
    """
    if ensemble and (fold is not None or export_dir is not None):
        raise ConfigError("--ensemble averages every fold: it takes no --fold, and --export writes one fold's model")
    run = find_run(spec, scheme, results_dir, work_dir)
    folds = select_folds(run, spec, scheme, fold, ensemble)
    sources = [fold_source(spec, run, scheme, k) for k in folds]
    which = f"ensemble of folds {', '.join(map(str, folds))}" if ensemble else f"fold {folds[0]}"
    log(f"{spec.paper}.{spec.table_id} {scheme}, {which}: {run.describe()}, {run.manifest_path}")
    if not run.canonical:
        log(f"note: this model comes from a partial/capped run ({run.caps.describe()}), not from the full "
            f"protocol's canonical table (make {spec.make_target} trains that)")
    extractor = spec.extractor()
    predictions = [FilePrediction(Path(f), None) for f in files]
    prepared = {}
    for item in predictions:
        try:
            prepared[item.path] = prepare_file(spec, item.path, extractor)
        except AudioError as exc:
            item.error = str(exc)
    sums = {path: None for path in prepared}
    notes, exported, outputs = [], [], "classes"
    for source in sources:
        changed = config_differences(source)
        if changed:
            log(f"warning: {scheme} settings differ from the run's in {', '.join(changed)}")
        model = fold_model(source)
        outputs = model.outputs
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in (source.record.get("metrics") or {}).items())
        log(f"fold {source.fold} checkpoint: {source.checkpoint} (identity {source.identity}; "
            f"{metrics or 'no metrics'} on the fold's test tracks)")
        for note in model.notes:
            log(f"note: {note}")
        notes.extend(model.notes)
        for path, features in prepared.items():
            probs = model.probabilities(features)
            sums[path] = probs if sums[path] is None else sums[path] + probs
        for item in predictions:
            if item.path in prepared:
                item.input = model.describe_input(prepared[item.path])
        if export_dir is not None:
            exported = export_fold(source, model, export_dir, extractor)
            log(f"exported {source.spec.paper}.{source.spec.table_id} {scheme} fold {source.fold} to "
                f"{exported[0].parent}: " + ", ".join(p.name for p in exported))
    for item in predictions:
        if item.path in prepared:
            item.probabilities = sums[item.path] / len(sources)
    return Prediction(run=run, scheme=scheme, folds=folds, identities={s.fold: s.identity for s in sources},
                      checkpoints={s.fold: s.checkpoint for s in sources}, classes=sources[0].classes,
                      outputs=outputs, files=predictions, exported=exported, notes=notes)


def format_prediction(item: FilePrediction, classes: list[str], outputs: str, top: int = 5) -> str:
    """Console lines of one file: its input, then the ``top`` classes or tags with probabilities.

    >>> item = FilePrediction(Path("a.wav"), np.array([0.25, 0.75]), "1 chunk")
    >>> print(format_prediction(item, ["x", "y"], "classes", 2))
    a.wav (1 chunk): top 2 classes
       1. y  0.7500
       2. x  0.2500
    """
    if item.probabilities is None:
        return f"{item.path}: not predicted: {item.error}"
    ranked = item.top(classes, top)
    width = max(len(name) for name, _ in ranked)
    lines = [f"{item.path} ({item.input}): top {len(ranked)} {outputs}"]
    lines += [f"  {rank:2d}. {name:<{width}}  {p:.4f}" for rank, (name, p) in enumerate(ranked, start=1)]
    return "\n".join(lines)


# --- export --------------------------------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


#: How each feature kind is computed (:mod:`common.features.logmel`, :mod:`common.features.clip_melgram`), for ``preprocessing.json``.
FEATURE_DEFINITIONS = {
    "logmel": "STFT with the periodic window of n_fft samples, framed as 'center' says (absent: true): true pads "
              "n_fft // 2 zeros at both ends, frame t centred on sample t * hop_length, n_frames = 1 + n_samples "
              "// hop_length; false pads nothing, frame t starts at sample t * hop_length, n_frames = 1 + "
              "(n_samples - n_fft) // hop_length; |X| ** power; librosa.filters.mel(sr, n_fft, n_mels, fmin, "
              "fmax) (Slaney scale and area normalisation); log 'db': 10 * log10(max(S, amin)) with no reference "
              "and no top_db; 'log': ln(S + log_offset). Layout (n_mels, n_frames). Equals "
              "librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, "
              "window=scipy.signal.get_window(window, n_fft, fftbins=True), center=center, pad_mode='constant', "
              "power=power, n_mels=n_mels, fmin=fmin, fmax=fmax), ref=1.0, amin=amin, top_db=None) for log 'db'.",
    "clip_melgram": "the signal is centre-cropped or zero-padded at the end to clip_seconds; then the 'logmel' "
                    "definition with the logmel settings; the dB values are multiplied by db_scale and clipped "
                    "at top_db below the clip's maximum.",
}


def _sample_rate(features: dict):
    return features.get("sample_rate") or (features.get("logmel") or {}).get("sample_rate")


def custom_layer_modules(model) -> list[str]:
    """Modules (outside Keras) of the classes of every layer in ``model``, nested ones included.

    E.g. ``["common.models.layers"]`` for the MCCLSTM sequence schemes (``PerStep``, ``SequenceMask``) and
    ``["papers.crnn_tf.layers"]`` for CRNN-TF (Grid LSTM blocks and scanners).
    """
    modules = {type(layer).__module__ for layer in model._flatten_layers(include_self=True, recursive=True)}
    return sorted(m for m in modules if m.split(".")[0] != "keras")


#: Top-level imports a copied custom-layer module may have and still load without this repository.
STANDALONE_IMPORTS = {"__future__", "keras", "numpy", "math", "typing", "dataclasses", "functools"}


def _foreign_imports(path: Path) -> list[str]:
    """Top-level packages imported by a module's source that are not in :data:`STANDALONE_IMPORTS`."""
    import ast

    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return sorted(roots - STANDALONE_IMPORTS)


def export_fold(source: FoldSource, model: FoldModel, out_dir: str | Path, extractor=None) -> list[Path]:
    """Write one trained fold as ``model.keras`` + ``preprocessing.json`` (+ custom layer modules).

    ``preprocessing.json`` holds: the table, scheme, fold, run identity and the run's manifest and
    caps; the class (tag) names in output order and whether they are softmax classes or sigmoid
    tags; the audio decoding and feature settings (``spec.extractor().describe()``: sample rate,
    n_fft, hop, window, mel bands, log compression); and the paper hook's steps from features to
    model input and from model output to a file's prediction (e.g. MCCLSTM: chunk frames, the
    fold's per-band standardisation mean and std, chunk averaging or the sequence input).

    Custom layers: for every module in ``model.custom_layer_modules`` a copy of its source is
    written as ``<package>_<module>.py`` (e.g. ``common_layers.py``; they import only Keras);
    importing it registers the layers under the names the ``.keras`` file refers to.

    Args:
        source: the fold.
        model: its :class:`FoldModel`.
        out_dir: destination folder (created).
        extractor: the table's extractor instance (default: a new one).

    Returns:
        the files written, ``model.keras`` first.

    Raises:
        OSError: the folder cannot be written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extractor = extractor or source.spec.extractor()
    model_path = out_dir / "model.keras"
    model.model.save(str(model_path))
    written = [model_path]
    layer_files, foreign = [], []
    for module_name in sorted(set(model.custom_layer_modules) | set(custom_layer_modules(model.model))):
        module = importlib.import_module(module_name)
        target = out_dir / (module_name.replace("papers.", "").replace(".", "_") + ".py")
        shutil.copyfile(module.__file__, target)
        layer_files.append(target.name)
        written.append(target)
        foreign += [f"{target.name} imports {name}" for name in _foreign_imports(target)]
    run = source.run
    features = extractor.describe()
    loading = "keras.models.load_model('model.keras')"
    if layer_files:
        imports = "; ".join(f"import {Path(f).stem}" for f in layer_files)
        loading = (f"sys.path.insert(0, '<this folder>'); {imports}  # registers the custom layers; then "
                   f"keras.models.load_model('model.keras')")
    description = {
        "format": EXPORT_FORMAT,
        "model_file": model_path.name,
        "load": loading,
        "custom_layer_modules": layer_files,
        "custom_layer_requirements": foreign or "keras only",
        "paper": source.spec.paper, "table": source.spec.table_id, "scheme": source.scheme.name,
        "scheme_description": source.scheme.description,
        "fold": source.fold, "identity": source.identity,
        "run": {"manifest": str(run.manifest_path), "canonical": run.canonical, "caps": run.caps.as_dict(),
                "status": run.manifest.get("status"), "git_commit": run.manifest.get("git_commit"),
                "code_version": run.manifest.get("code_version")},
        "fold_test_metrics": source.record.get("metrics"),
        "outputs": model.outputs,
        "output_activation": "softmax" if model.outputs == "classes" else "sigmoid",
        "classes": list(source.classes),
        "audio": {"channels": "mean of all channels (mono)", "resampler": "soxr, quality VHQ",
                  "sample_rate": _sample_rate(features)},
        "features": features,
        "feature_definition": FEATURE_DEFINITIONS.get(features.get("kind"), ""),
        **_jsonable(model.preprocessing),
        "versions": {k: v for k, v in (run.manifest.get("versions") or {}).items()
                     if k in ("keras", "tensorflow", "numpy", "librosa", "soxr", "python")},
    }
    json_path = out_dir / "preprocessing.json"
    json_path.write_text(json.dumps(description, indent=2) + "\n")
    written.insert(1, json_path)
    return written


# --- command line --------------------------------------------------------------------------------

def run_command(spec, args) -> int:
    """``python -m common.cli predict``: predict ``args.files`` and print the top classes; returns the exit status.

    Args:
        spec: the table.
        args: parsed options ``scheme``, ``files``, ``results_dir``, ``work_dir``, ``fold``,
            ``ensemble``, ``top``, ``export``.

    Returns:
        0, or 2 when a file could not be used (its reason is printed as ``error: ...``).

    Raises:
        ReproError: as :func:`predict_files`; no file and no ``--export``; ``--top`` < 1.
    """
    if not args.files and not args.export:
        raise ConfigError("give one or more audio files to predict (or --export DIR)")
    if args.top < 1:
        raise ConfigError("--top must be at least 1")
    result = predict_files(spec, args.scheme, args.files, results_dir=args.results_dir, work_dir=args.work_dir,
                           fold=args.fold, ensemble=args.ensemble, export_dir=args.export,
                           log=lambda line: print(line, flush=True))
    status = 0
    for item in result.files:
        if item.probabilities is None:
            print(f"error: {item.error}", file=sys.stderr, flush=True)
            status = 2
        else:
            print(format_prediction(item, result.classes, result.outputs, args.top), flush=True)
    return status
