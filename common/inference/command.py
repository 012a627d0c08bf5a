"""Apply a trained model of a table to new audio files, or export it for use without this code.

``python -m common.cli predict <paper>.<table> <scheme> FILE... [--fold K | --ensemble]
[--top 5] [--export DIR] [--run DIR]`` (``make predict``) does, for one scheme of one table:

1. **find the run** (:func:`common.inference.runs.find_run`): the canonical table's manifest
   ``<results>/<paper>/<table>_manifest.json`` when it lists fold records of the scheme, else the
   newest manifest under ``<results>/<paper>/partial/<table>/*/`` that does, or the run whose
   folder ``--run DIR`` names; a model from a partial run is announced on the console with the
   run's caps (fewer folds, an epoch cap, a scheme subset), since it is not the model the full
   protocol trains. A row of a user's scheme module (``--scheme-module``) uses only a run made with
   the module's current code;
2. **find the fold's checkpoint**: the fold record ``<records>/folds/<scheme>/fold_NN/<identity>.json``
   names the unit of work, whose scratch folder
   ``<work>/<paper>/<table>/<scheme>/fold_NN-<identity>/`` holds ``best.weights.h5`` (and the
   paper's own per-fold input statistics, e.g. a per-band standardisation);
3. **rebuild the scheme's model** exactly as its protocol does and load the checkpoint: the
   paper's inference adapter, ``papers/<paper>/inference.py`` named by the table's
   ``TableSpec.inference`` (:func:`common.inference.fold_model.fold_model`);
4. **read each file with the table's own preprocessing**: ``spec.extractor()`` (decoding, mono,
   resampling, log-mel) then ``spec.prepare`` (chunking / cropping), then the hook's per-fold
   input transform; the scheme's track-level output is printed as its top classes (softmax) or
   tags (sigmoid) with their probabilities. ``--ensemble`` averages the probabilities of every fold
   the run trained.

``--export DIR`` (:func:`export_fold`) writes the fold's model as ``DIR/model.keras`` with
``DIR/preprocessing.json`` (features, chunking, standardisation, class names, run and fold), and a
copy of the module of any custom layer the model uses (e.g. ``common_models_layers.py``), so that
``keras.models.load_model`` loads it without this repository.

Errors (:class:`~common.errors.ReproError`, shown by the command line as ``error: ...`` with exit
status 2): no trained run of the scheme (the message names the make target that trains it, or the
exact command that trains the missing checkpoints), an unreadable manifest, a fold that was not
trained, a missing or unloadable checkpoint, a checkpoint holding non-finite weights (a diverged
training: nothing is predicted or exported), a scheme this module cannot apply yet, and an audio
file that cannot be used or for which the model's outputs are not finite (the other files are
still predicted; the exit status is 2).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from common.errors import AudioError, ConfigError
from common.inference.export import export_fold
from common.inference.fold_model import check_finite_weights, config_differences, fold_model, fold_source
from common.inference.preparation import band_limit_rate, feature_sample_rate, prepare_file, training_sample_rates
from common.inference.runs import TrainedRun, find_run, select_folds


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


def predict_files(spec, scheme: str, files, *, results_dir: str | Path = "results", work_dir: str | Path = "work",
                  fold: int | None = None, ensemble: bool = False, export_dir: str | Path | None = None,
                  log: Callable[[str], None] = print, run_dir: str | Path | None = None) -> Prediction:
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
        run_dir: the run's folder (``--run``; :func:`common.inference.runs.named_run`); None: search
            ``results_dir``.

    Returns:
        :class:`Prediction`; files that cannot be used carry their ``error``, among them a file for
        which a fold's outputs are not finite (NaN or infinite: no probabilities are shown for it).

    Raises:
        NoTrainedRunError, ConfigError: see :func:`find_run`, :func:`select_folds`,
            :func:`fold_source`, :func:`fold_model`; ``ensemble`` with ``fold`` or ``export_dir``;
            a table without an inference adapter whose row brings no ``predictor`` (before any run is looked up);
            a fold's checkpoint holds non-finite weights (:func:`check_finite_weights`), before
            anything is predicted or exported.
    """
    if ensemble and (fold is not None or export_dir is not None):
        raise ConfigError("--ensemble averages every fold: it takes no --fold, and --export writes one fold's model")
    row = next((s for s in spec.trainable() if s.name == scheme), None)
    if not getattr(spec, "inference", "") and getattr(row, "predictor", None) is None:
        raise ConfigError(f"predict and --export are not supported for {spec.paper}.{spec.table_id}: the table has no "
                          f"inference adapter (TableSpec.inference), so its rows ({scheme!r} included; rows added with "
                          f"--scheme-module too) cannot be applied to new audio yet; no run was looked up and nothing "
                          f"was predicted")
    run = find_run(spec, scheme, results_dir, work_dir, run_dir=run_dir,
                   folds_needed=None if ensemble else (fold or 0) + 1)
    for note in run.notes:
        log(note)
    folds = select_folds(run, spec, scheme, fold, ensemble)
    sources = [fold_source(spec, run, scheme, k) for k in folds]
    which = f"ensemble of folds {', '.join(map(str, folds))}" if ensemble else f"fold {folds[0]}"
    log(f"{spec.paper}.{spec.table_id} {scheme}, {which}: {run.describe()}, {run.manifest_path}")
    own = getattr(spec.dataset, "own_collection", None)
    if own is not None:  # a run on a user's own collection (--own-dataset): its classes are the collection's
        log(f"note: this model was trained on the own collection {own.root} ({run.caps.describe()}); its classes: "
            f"{', '.join(sources[0].classes)}")
    elif not run.canonical:
        log(f"note: this model comes from a partial/capped run ({run.caps.describe()}), not from the full "
            f"protocol's canonical table (make {spec.make_target} trains that)")
    extractor = spec.extractor()
    features_rate = feature_sample_rate(extractor.describe())
    rates, rates_source = training_sample_rates(sources[0])
    band_limit = band_limit_rate(rates, features_rate)
    if band_limit:
        log(f"the training audio was recorded at {band_limit} Hz ({_rates_text(rates)}, from {rates_source}): a file "
            f"recorded above {band_limit} Hz is resampled to {band_limit} Hz first, then to {features_rate} Hz, so the "
            f"model sees the band the training audio had")
    elif not rates:
        log(f"warning: the sample rate of the training audio is {rates_source}; files are not band-limited to it")
    predictions = [FilePrediction(Path(f), None) for f in files]
    prepared = {}
    for item in predictions:
        try:
            prepared[item.path] = prepare_file(spec, item.path, extractor, band_limit)
        except AudioError as exc:
            item.error = str(exc)
    sums = {path: None for path in prepared}
    notes, exported, outputs = [], [], "classes"
    for source in sources:
        changed = config_differences(source)
        if changed:
            log(f"warning: {scheme} settings differ from the run's in {', '.join(changed)}")
        model = fold_model(source)
        check_finite_weights(source, model)
        outputs = model.outputs
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in (source.record.get("metrics") or {}).items())
        log(f"fold {source.fold} checkpoint: {source.checkpoint} (identity {source.identity}; "
            f"{metrics or 'no metrics'} on the fold's test tracks)")
        for note in model.notes:
            log(f"note: {note}")
        notes.extend(model.notes)
        for path, features in list(prepared.items()):
            if model.input_check is not None and (problem := model.input_check(features)):
                log(f"warning: {path}: {problem}")
            probs = np.asarray(model.probabilities(features), dtype=np.float64)
            if not np.all(np.isfinite(probs)):
                error = (f"{path}: {spec.paper}.{spec.table_id} {scheme} fold {source.fold} gives non-finite "
                         f"outputs for this file ({_non_finite_text(probs)} of {probs.size}): no prediction; "
                         f"the model is numerically unstable on this input (e.g. values beyond those it was "
                         f"trained on)")
                for item in predictions:
                    if item.path == path:
                        item.error = error
                del prepared[path], sums[path]
                continue
            sums[path] = probs if sums[path] is None else sums[path] + probs
        for item in predictions:
            if item.path in prepared:
                item.input = model.describe_input(prepared[item.path])
        if export_dir is not None:
            exported = export_fold(source, model, export_dir, extractor, band_limit)
            log(f"exported {source.spec.paper}.{source.spec.table_id} {scheme} fold {source.fold} to "
                f"{exported[0].parent}: " + ", ".join(p.name for p in exported))
    for item in predictions:
        if item.path in prepared:
            item.probabilities = sums[item.path] / len(sources)
    return Prediction(run=run, scheme=scheme, folds=folds, identities={s.fold: s.identity for s in sources},
                      checkpoints={s.fold: s.checkpoint for s in sources}, classes=sources[0].classes,
                      outputs=outputs, files=predictions, exported=exported, notes=notes)


def _non_finite_text(values: np.ndarray) -> str:
    """``"3 NaN, 1 infinite"``: the non-finite values of an array."""
    values = np.asarray(values, dtype=np.float64)
    parts = [f"{int(n)} {name}" for n, name in ((np.isnan(values).sum(), "NaN"), (np.isinf(values).sum(), "infinite"))
             if n]
    return ", ".join(parts)


def _rates_text(rates: dict[str, int]) -> str:
    """``"80 training tracks at 22050 Hz"`` (several rates joined by commas)."""
    return ", ".join(f"{n} training track{'s' if n != 1 else ''} at {r} Hz" for r, n in rates.items())


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
    if not np.all(np.isfinite(item.probabilities)):
        return f"{item.path}: not predicted: the model's outputs are not finite ({_non_finite_text(item.probabilities)})"
    ranked = item.top(classes, top)
    width = max(len(name) for name, _ in ranked)
    lines = [f"{item.path} ({item.input}): top {len(ranked)} {outputs}"]
    lines += [f"  {rank:2d}. {name:<{width}}  {p:.4f}" for rank, (name, p) in enumerate(ranked, start=1)]
    return "\n".join(lines)


def run_command(spec, args) -> int:
    """``python -m common.cli predict``: predict ``args.files`` and print the top classes; returns the exit status.

    Args:
        spec: the table.
        args: parsed options ``scheme``, ``files``, ``results_dir``, ``work_dir``, ``fold``,
            ``ensemble``, ``top``, ``export``, ``run`` (optional).

    Returns:
        0, or 2 when a file could not be used or its outputs were not finite (its reason is printed
        as ``error: ...``).

    Raises:
        ReproError: as :func:`predict_files`; no file and no ``--export``; ``--top`` < 1.
    """
    if not args.files and not args.export:
        raise ConfigError("give one or more audio files to predict (or --export DIR)")
    if args.top < 1:
        raise ConfigError("--top must be at least 1")
    result = predict_files(spec, args.scheme, args.files, results_dir=args.results_dir, work_dir=args.work_dir,
                           fold=args.fold, ensemble=args.ensemble, export_dir=args.export,
                           log=lambda line: print(line, flush=True), run_dir=getattr(args, "run", None))
    status = 0
    for item in result.files:
        if item.probabilities is None:
            print(f"error: {item.error}", file=sys.stderr, flush=True)
            status = 2
        else:
            print(format_prediction(item, result.classes, result.outputs, args.top), flush=True)
    return status
