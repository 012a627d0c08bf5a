"""Exporting one trained fold as ``model.keras`` + ``preprocessing.json``, loadable without this repository."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import numpy as np

from common.inference.fold_model import FoldModel, FoldSource, check_finite_weights
from common.inference.preparation import feature_sample_rate

#: Version of the ``preprocessing.json`` layout written by :func:`export_fold`.
EXPORT_FORMAT = 1

#: Where ``preprocessing.json``'s ``"load"`` text puts the export's folder: replace it by the folder's path.
FOLDER_PLACEHOLDER = "<this folder>"

#: The loader written beside an export whose model has custom layers (:data:`LOADER_SOURCE`).
LOADER_FILE = "load_export.py"

#: Source of :data:`LOADER_FILE` (``{modules}``: the copied custom-layer module files). Keras
#: finds a class of another package only when it is registered (``keras.saving.register_keras_serializable``)
#: or passed as ``custom_objects``; a user's scheme module need not register its layers, so the
#: loader imports each copied module from its file and passes every class and function it defines.
LOADER_SOURCE = '''"""Load the model exported beside this file, with Keras only (written by the reproduction suite's --export).

    import sys; sys.path.insert(0, FOLDER); import load_export; model = load_export.load(FOLDER)

imports the custom-layer modules copied beside the model and passes the classes and functions they
define to keras.models.load_model as custom_objects, so that layers defined without
keras.saving.register_keras_serializable load too.
"""

import importlib.util
import sys
from pathlib import Path

import keras

#: The custom-layer modules copied beside the model.
CUSTOM_LAYER_MODULES = {modules!r}


def load(folder=None):
    """The exported keras.Model (uncompiled), read from folder (default: this file's folder)."""
    folder = Path(folder) if folder is not None else Path(__file__).resolve().parent
    custom_objects = {{}}
    for file in CUSTOM_LAYER_MODULES:
        name = file[:-3]
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, folder / file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        for attribute, value in vars(module).items():
            if callable(value) and getattr(value, "__module__", None) == module.__name__:
                custom_objects[attribute] = value
                custom_objects[keras.saving.get_registered_name(value)] = value
    return keras.models.load_model(folder / "model.keras", custom_objects=custom_objects)
'''


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


def custom_layer_modules(model) -> list[str]:
    """Modules (outside Keras) of the classes of every layer in ``model``, nested ones included.

    E.g. ``["common.models.layers"]`` for a sequence model built with ``PerStep`` and
    ``SequenceMask``, or a paper's own layer module for its custom recurrent scanners.
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


def export_fold(source: FoldSource, model: FoldModel, out_dir: str | Path, extractor=None,
                band_limit: int | None = None) -> list[Path]:
    """Write one trained fold as ``model.keras`` + ``preprocessing.json`` (+ custom layer modules).

    ``preprocessing.json`` holds: the table, scheme, fold, run identity and the run's manifest and
    caps; the class (tag) names in output order and whether they are softmax classes or sigmoid
    tags; the audio decoding and feature settings (``spec.extractor().describe()``: sample rate,
    n_fft, hop, window, mel bands, log compression); and the paper hook's steps from features to
    model input and from model output to a file's prediction (e.g. chunk frames, the
    fold's per-band standardisation mean and std, chunk averaging or the sequence input).

    Custom layers: for every module in ``model.custom_layer_modules`` and every module of a layer
    class outside Keras (the paper's layers, or those of a user's scheme module) a copy of its
    source is written as ``<package>_<module>.py`` (e.g. ``common_models_layers.py``), with the
    loader :data:`LOADER_FILE`, which imports them and loads the model with their classes as
    ``custom_objects`` (a scheme module's layers need not be registered with Keras).
    ``preprocessing.json``'s ``"load"`` is the Python that loads the model, with
    :data:`FOLDER_PLACEHOLDER` standing for the export's folder.

    Args:
        source: the fold.
        model: its :class:`FoldModel`.
        out_dir: destination folder (created).
        extractor: the table's extractor instance (default: a new one).
        band_limit: Hz of the training audio when below the features' rate (recorded as ``audio.band_limit_rate``).

    Returns:
        the files written, ``model.keras`` first.

    Raises:
        ConfigError: the model holds non-finite weights (:func:`~common.inference.fold_model.check_finite_weights`);
            nothing is written.
        OSError: the folder cannot be written.
    """
    check_finite_weights(source, model)
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
    loading = f"import keras; model = keras.models.load_model('{FOLDER_PLACEHOLDER}/{model_path.name}')"
    if layer_files:
        loader = out_dir / LOADER_FILE
        loader.write_text(LOADER_SOURCE.format(modules=layer_files), encoding="utf-8")
        written.append(loader)
        loading = (f"import sys; sys.path.insert(0, '{FOLDER_PLACEHOLDER}'); import {loader.stem}; "
                   f"model = {loader.stem}.load('{FOLDER_PLACEHOLDER}')")
    description = {
        "format": EXPORT_FORMAT,
        "model_file": model_path.name,
        "load": loading,
        "load_note": (f"Python; replace {FOLDER_PLACEHOLDER} by this folder's path. " + (
            f"{LOADER_FILE} imports the custom-layer modules copied here and passes their classes to "
            f"keras.models.load_model as custom_objects" if layer_files else "no custom layers")),
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
                  "sample_rate": feature_sample_rate(features),
                  "band_limit_rate": band_limit,
                  "band_limit": ("a file recorded above band_limit_rate Hz is resampled to it first, then to sample_rate "
                                 "(the training audio was recorded at band_limit_rate)") if band_limit else None},
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
