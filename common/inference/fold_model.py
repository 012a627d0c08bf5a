"""One trained fold of a scheme, rebuilt as its protocol built it: record, checkpoint, classes, model.

Each paper owns the adapter that rebuilds its schemes' models (``papers/<paper>/inference.py``, named by
the table's :attr:`~common.runner.spec.TableSpec.inference`): its ``fold_model(source)`` returns a
:class:`FoldModel`. This module finds the fold (:func:`fold_source`), loads checkpoints
(:func:`load_checkpoint`) and offers :func:`clip_fold_model` for whole-clip models.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.errors import ConfigError
from common.inference.runs import CHECKPOINT_FILE, NoTrainedRunError, TrainedRun, read_json_object, retrain_command


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
        input_check: optional ``prepared features of one file -> str | None``: why the file's
            model input lies far outside what the fold was trained on (shown as a warning), or None.
    """

    model: Any
    outputs: str
    probabilities: Callable[[Any], np.ndarray]
    describe_input: Callable[[Any], str]
    preprocessing: dict = field(default_factory=dict)
    custom_layer_modules: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    input_check: Callable[[Any], str | None] | None = None


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
    store_path = run.record_path(scheme, fold, identity)
    record = read_json_object(store_path)
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
        command, results = retrain_command(spec, scheme, run, run.layout.work_dir, fold + 1)
        raise ConfigError(
            f"checkpoint of {spec.paper}.{spec.table_id} {scheme} fold {fold} (identity {identity}) not found: "
            f"{' nor '.join(str(p / CHECKPOINT_FILE) for p in tried)}.\nThe work folder of that run was moved "
            f"or cleaned (make clean-work); point --work-dir / WORK_DIR at it, or train the fold again into a fresh "
            f"results folder (its records stay untouched): {command}, then predict with RESULTS_DIR={results}.")
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


def check_finite_weights(source, model) -> None:
    """Refuse a fold whose model holds non-finite weights (a training that diverged to NaN or infinity).

    Args:
        source: the fold (:class:`~common.inference.fold_model.FoldSource`).
        model: its :class:`~common.inference.fold_model.FoldModel` (the checkpoint loaded).

    Raises:
        ConfigError: some weight of ``model.model`` is NaN or infinite; the message names the
            table, scheme, fold and checkpoint, and how many values are not finite.
    """
    bad, total = 0, 0
    names = []
    for variable in model.model.weights:
        values = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        total += values.size
        count = int(values.size - np.isfinite(values).sum()) if np.issubdtype(values.dtype, np.floating) else 0
        if count:
            bad += count
            names.append(variable.path if hasattr(variable, "path") else variable.name)
    if bad:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise ConfigError(
            f"{source.spec.paper}.{source.spec.table_id} {source.scheme.name} fold {source.fold}: the checkpoint "
            f"{source.checkpoint} holds {bad} non-finite weights (NaN or infinite) of {total}, in {shown}: its training "
            f"diverged, so it gives no probabilities; nothing was predicted or exported. Train it again with settings "
            f"that keep the loss finite (e.g. a smaller learning rate).")


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


def run_fold_arguments(source: FoldSource, *functions) -> tuple:
    """``(protocol function, its bound arguments)`` of the scheme's ``run_fold`` partial.

    Args:
        source: the fold.
        functions: the protocol functions the calling adapter knows how to rebuild.

    Raises:
        ConfigError: the scheme's ``run_fold`` is a partial of none of ``functions``.
    """
    run_fold = source.scheme.run_fold
    func = getattr(run_fold, "func", None)
    if func not in functions:
        raise not_supported(source, f"its fold function is {getattr(func, '__qualname__', run_fold)!r}")
    return func, tuple(run_fold.args)


def clip_fold_model(source: FoldSource, model, outputs: str, store_dtype: str, batch_size: int) -> FoldModel:
    """A whole-clip model (one fixed-shape spectrogram per track), fed as its protocol feeds it.

    Args:
        source: the fold; its checkpoint is loaded into ``model``.
        model: the scheme's Keras model as built by its protocol, input ``(batch, *clip shape)`` float32.
        outputs: ``"tags"`` (sigmoid) or ``"classes"`` (softmax).
        store_dtype: the dtype the protocol's feature stores hold (e.g. ``"float16"``).
        batch_size: prediction batch size.

    Returns:
        :class:`FoldModel` mapping one prepared clip to float64 ``(n_outputs,)`` probabilities.

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


def fold_model(source: FoldSource) -> FoldModel:
    """Rebuild the fold's model as its protocol builds it, with the fold's checkpoint and input transform.

    Calls ``fold_model(source)`` of the table's inference adapter, the module named by
    :attr:`TableSpec.inference <common.runner.spec.TableSpec.inference>` (``papers.<paper>.inference``);
    a row added from a user's scheme module (``--scheme-module``) carries its own ``predictor``.

    Raises:
        ConfigError: the table has no inference adapter, the scheme is not supported yet, or its
            checkpoint does not load.
    """
    predictor = getattr(source.scheme, "predictor", None)
    if predictor is not None:           # a row added from a user's scheme module brings its own
        return predictor(source)
    name = getattr(source.spec, "inference", None)
    if not name:
        raise not_supported(source, f"the table {source.spec.paper}.{source.spec.table_id} names no inference adapter")
    return importlib.import_module(name).fold_model(source)
