"""Training and evaluation of one scheme on one fold, for every CRNN-TF table: tagging (Table I,
Fig. 5, MagnaTagATune) and genre classification (Tables II and III).

Three kinds of input:

- **clip models** (CRNN-TF, CRNN, FCN): the table's own feature, one 96 x 1360 log-mel
  spectrogram per track (29 s), one example per track. The fold's clips are written once to
  memory-mapped float16 stores (:func:`common.features.store.split_feature_stores`, under
  ``<work>/crnn_tf/feature_store/<dataset>``, shared by the schemes and by the tables on the same
  dataset) and streamed by :func:`common.training.pipeline.clip_dataset`, so MTAT and FMA medium need not
  fit in memory;
- **patch models** (Timbre CNN: 128-band log-mel patches of 187 frames; End-to-end: raw-audio
  windows of 3 s): their own feature, computed through the shared feature cache
  (``FoldContext.cache_dir``) and cut into non-overlapping patches, which are written once per
  part to memory-mapped float16 stores (:func:`own_feature_parts`) and streamed; every patch of
  a track is a training example with its track's target, and a track's prediction is the mean
  of its patches' probabilities (:func:`common.evaluation.metrics.track_probabilities`);
- **MFCC + SVM** (Table III): MFCC statistics from the table's log-mel spectrogram.

``task`` selects the output and the metrics: ``"genres"`` (softmax, categorical cross-entropy;
AUC, precision, recall, F1, accuracy averaged over genres, :func:`common.evaluation.multiclass.genre_metrics`)
or ``"tags"`` (sigmoid, binary cross-entropy; macro ROC-AUC, Recall@1/3/5/10, NDCG@50 and JSC,
:func:`tag_metrics`, and the AUC of every tag for Fig. 6).

Networks are trained with :func:`common.training.trainer.train`: early stopping and the kept checkpoint
are chosen on the fold's validation tracks; the reported metrics are those of the test tracks
predicted once, after training. With ``epoch_test=True`` (Tables I, II and Fig. 5 by default) the
test tracks are also scored after every epoch by
:class:`common.training.epoch_test_evaluation.EpochTestEvaluation`, which changes neither training
nor the kept checkpoint; the fold record then also holds every epoch's test metrics
(``details["epoch_test_metrics"]``) and, labelled ``"<metric> (best epoch on test, as the authors
selected)"``, each metric's best value over the epochs: the authors' way of choosing their
published numbers (``FishInMedi/CRNN-TF`` ``1.ipynb`` cell 11 L173-197), never the reproduction's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from common.features.cache import FeatureCache
from common.errors import AudioError, ConfigError, DatasetError
from common.features.store import (ClipFeatureStore, StandardizedView, elementwise_mean_std,
                                  split_feature_stores)
from common.features.logmel import LogMelExtractor, chunk_spectrogram
from common.evaluation.metrics import evaluable_tags, macro_roc_auc, per_tag_roc_auc, track_probabilities
from common.evaluation.multiclass import genre_metrics
from common.training.pipeline import clip_dataset
from common.evaluation.ranking import tagging_metrics
from common.runner import FoldContext, FoldOutcome
from common.training.epoch_test_evaluation import (EpochTestEvaluation, best_epoch_on_test,
                                                   metrics_selected_on_test)
from common.training.trainer import TrainingConfig, train
from common.training.divergence import check_finite
from common.audio.waveform import WaveformConfig, WaveformExtractor, waveform_windows
from papers.crnn_tf import models
from papers.crnn_tf.config import CRNNTFConfig, EndToEndConfig, MFCCSVMConfig, TimbreCNNConfig

#: Table III transfer modes: the layer-name prefixes frozen in each (None: random initialisation).
TRANSFER_MODES = {
    "scratch": None,                       # CRNN-TF trained on the target data only
    "freeze_all": ("cnn_", "rnn_"),        # "Freeze CRNN-TF": retrain the output layer only
    "freeze_cnn": ("cnn_",),               # "Freeze CNN + fine-tune RNN"
    "fine_tune": (),                       # "Fine-tune CRNN-TF": every layer, initialised
}

#: Training loss of each task (one-hot / multi-hot float32 targets).
LOSSES = {"genres": "categorical_crossentropy", "tags": "binary_crossentropy"}

#: Clip-model builders by name (:mod:`papers.crnn_tf.models`).
CLIP_BUILDERS = {"crnn_tf": models.build_crnn_tf, "crnn": models.build_crnn, "fcn": models.build_fcn_baseline,
                 "fcn_authors": models.build_fcn_authors, "timbre_cnn_authors": models.build_timbre_cnn_authors,
                 "end_to_end_authors": models.build_end_to_end_authors}

#: Storage dtype of the clip feature stores (dB values keep < 0.03 dB error up to 64 dB).
STORE_DTYPE = "float16"


def _check_task(task: str) -> None:
    if task not in LOSSES:
        raise ConfigError(f"task must be one of {sorted(LOSSES)}, not {task!r}")


def fold_targets(context: FoldContext, ids, task: str) -> np.ndarray:
    """Training targets of ``ids``: float32 ``(len(ids), n_outputs)``, one-hot genres or multi-hot tags."""
    _check_task(task)
    if task == "tags":
        return context.targets(ids)
    return np.eye(len(context.index.classes), dtype=np.float32)[context.labels(ids)]


def clip_store_root(context: FoldContext) -> Path:
    """``<work>/crnn_tf/feature_store/<dataset>``: the clip stores shared by the paper's tables on a dataset.

    ``context.work_dir`` is ``<work>/<paper>/<table>/<scheme>/fold_<k>``; Table I and the Fig. 5
    ablation use the same MTAT clips and split, so they share one set of stores (a store is
    rebuilt only when its clips' contents differ: :class:`common.features.store.ClipFeatureStore`).
    """
    return context.work_dir.parents[2] / "feature_store" / context.index.name


def _train(model: keras.Model, train_ds, val_ds, n_train: int, n_outputs: int, training: TrainingConfig,
           task: str, context: FoldContext, extra_callbacks=()):
    metrics = (["accuracy"] if task == "genres" else
               [keras.metrics.AUC(multi_label=True, num_labels=n_outputs, name="roc_auc_keras")])
    return train(model, train_ds, val_ds, training, loss=LOSSES[task], metrics=metrics, n_train_examples=n_train,
                 checkpoint_path=context.work_dir / "best.weights.h5", log_dir=context.work_dir / "tensorboard",
                 epochs=context.epochs, verbose=context.verbose, extra_callbacks=extra_callbacks)


def epoch_test_scorer(context: FoldContext, task: str, test_ids):
    """``scores (n_test, n_outputs) -> {metric: float}``: the metrics :func:`evaluate` reports, for the
    per-epoch test evaluation (tags: :func:`tag_metrics`; genres: ``genre_metrics`` on the argmax)."""
    test_ids = list(test_ids)
    if task == "tags":
        y_test = context.targets(test_ids)
        return lambda scores: tag_metrics(y_test, scores)
    labels = context.labels(test_ids)

    def score(scores):
        metrics = genre_metrics(labels, scores, np.asarray(scores).argmax(axis=1))
        metrics.pop("auc_genres_skipped")
        return metrics

    return score


def _epoch_test_details(callback: EpochTestEvaluation | None) -> dict:
    if callback is None:
        return {}
    seconds = [record["seconds"] for record in callback.history]
    return {"epoch_test_metrics": [{k: v for k, v in record.items() if k != "seconds"} for record in callback.history],
            "epoch_test_seconds": float(sum(seconds))}


def _training_details(model: keras.Model, result, n_train: int) -> dict:
    return {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "train_seconds": result.seconds,
            "train_examples_per_second": result.examples_per_second, "n_train_examples": n_train,
            "model_parameters": int(model.count_params()),
            "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights))}


def _validation_score(task: str, y_true: np.ndarray, scores: np.ndarray) -> dict:
    if task == "genres":
        return {"validation_accuracy": float(np.mean(scores.argmax(axis=1) == y_true.argmax(axis=1)))}
    return {"validation_roc_auc": macro_roc_auc(y_true, scores)} if evaluable_tags(y_true).any() else {}


def fit_clip_model(model: keras.Model, context: FoldContext, training: TrainingConfig, task: str,
                   epoch_test: bool = False) -> tuple:
    """Train a clip model on the fold's whole clips (streamed from feature stores); score the test clips.

    Args:
        model: uncompiled, ``(B, n_mels, n_frames) -> (B, n_outputs)``.
        context: the fold; ``context.features`` holds one ``(n_mels, n_frames)`` clip per track.
        training: optimiser and schedule.
        task: ``"genres"`` or ``"tags"``.
        epoch_test: also score the test clips after every epoch (``details["epoch_test_metrics"]``;
            training and the kept checkpoint are unchanged).

    Returns:
        ``(test_scores float32 (n_test, n_outputs), test_ids, details)``.
    """
    split = context.split
    stores = split_feature_stores(split, context.features, clip_store_root(context), STORE_DTYPE)
    targets = {part: fold_targets(context, store.ids, task) for part, store in stores.items()}
    n_outputs = len(context.index.classes)
    train_ds = clip_dataset(stores["train"].features, targets["train"], training.batch_size, shuffle=True,
                            seed=context.seed)
    val_ds = (clip_dataset(stores["validation"].features, targets["validation"], training.batch_size, shuffle=False)
              if "validation" in stores else None)
    callback = None
    if epoch_test:
        test_inputs = clip_dataset(stores["test"].features, None, training.batch_size, shuffle=False)
        callback = EpochTestEvaluation(test_inputs, epoch_test_scorer(context, task, stores["test"].ids))
    result = _train(model, train_ds, val_ds, len(split.train), n_outputs, training, task, context,
                    extra_callbacks=[callback] if callback else ())

    def predict(part: str) -> np.ndarray:
        ds = clip_dataset(stores[part].features, None, training.batch_size, shuffle=False)
        return np.asarray(model.predict(ds, verbose=0), dtype=np.float32)

    details = {**_training_details(model, result, len(split.train)), **_epoch_test_details(callback)}
    details["feature_store"] = str(clip_store_root(context))
    if "validation" in stores:
        details.update(_validation_score(task, targets["validation"], predict("validation")))
    return predict("test"), list(stores["test"].ids), details


def fit_patch_model(model: keras.Model, parts: dict, context: FoldContext, training: TrainingConfig,
                    task: str, epoch_test: bool = False) -> tuple:
    """Train a patch model on every patch of the training tracks; score test tracks by their patches' mean.

    Args:
        model: uncompiled, ``(B, *patch) -> (B, n_outputs)``.
        parts: ``{"train"|"validation"|"test": PatchPart}`` (:func:`own_feature_parts`); the patches
            are streamed from the part's store (through ``part.rows``, e.g. a standardised view).
        context, training, task, epoch_test: as :func:`fit_clip_model` (per epoch, the test patches'
            probabilities are averaged per track before scoring).

    Returns:
        ``(test_scores float64 (n_test_tracks, n_outputs), details)``.
    """
    train_part, val_part = parts["train"], parts.get("validation")
    train_ds = clip_dataset(train_part.rows, train_part.patch_targets, training.batch_size, shuffle=True,
                            seed=context.seed)
    val_ds = (clip_dataset(val_part.rows, val_part.patch_targets, training.batch_size, shuffle=False)
              if val_part is not None else None)
    n_train = len(train_part.rows)
    callback = None
    if epoch_test:
        test_part = parts["test"]
        track_metrics = epoch_test_scorer(context, task, test_part.track_ids)
        callback = EpochTestEvaluation(
            clip_dataset(test_part.rows, None, training.batch_size, shuffle=False),
            lambda patch_probs: track_metrics(track_probabilities(patch_probs, test_part.patch_track,
                                                                  len(test_part.track_ids))))
    result = _train(model, train_ds, val_ds, n_train, len(context.index.classes), training, task, context,
                    extra_callbacks=[callback] if callback else ())

    def predict(part: "PatchPart") -> np.ndarray:
        patch_probs = model.predict(clip_dataset(part.rows, None, training.batch_size, shuffle=False), verbose=0)
        return track_probabilities(np.asarray(patch_probs), part.patch_track, len(part.track_ids))

    details = {**_training_details(model, result, n_train), **_epoch_test_details(callback)}
    if val_part is not None:
        details.update(_validation_score(task, val_part.targets, predict(val_part)))
    return predict(parts["test"]), details


def tag_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict:
    """Table I's metrics: macro ROC-AUC over tags ("AUC") and the ranking / set metrics.

    Args:
        y_true: binary targets ``(n_clips, n_tags)``.
        scores: sigmoid outputs ``(n_clips, n_tags)``.

    Returns:
        ``{"AUC", "Recall@1", "Recall@3", "Recall@5", "Recall@10", "NDCG@50", "JSC"}`` (fractions;
        JSC with the tag set ``score >= 0.5``, see :mod:`common.evaluation.ranking`).
    """
    return {"AUC": macro_roc_auc(y_true, scores), **tagging_metrics(y_true, scores)}


def evaluate(context: FoldContext, task: str, test_ids, test_scores: np.ndarray, details: dict,
             predictions=None) -> FoldOutcome:
    """The fold's outcome from its test scores: genre metrics or tagging metrics (+ per-tag AUC).

    Args:
        context: the fold.
        task: ``"genres"`` or ``"tags"``.
        test_ids: track ids of the rows of ``test_scores``.
        test_scores: ``(n_test, n_outputs)`` probabilities (or decision values).
        details: the scheme's details, extended here.
        predictions: genre decisions (default: the argmax of the scores).

    Returns:
        ``FoldOutcome``; tag details hold ``per_tag_auc`` ``{tag: AUC or None}`` and the tags left
        out of the averages (no positive, or no negative, test clip). Its ``evidence`` holds the test
        targets (or labels and decisions) and scores, from which :func:`tag_evidence_metrics` /
        :func:`genre_evidence_metrics` give the metrics again (the bootstrap interval of the
        single-split tables resamples it).
    """
    test_ids = list(test_ids)
    classes = context.index.classes
    details = {**details, "n_train_tracks": len(context.split.train),
               "n_validation_tracks": len(context.split.validation), "n_test_tracks": len(test_ids),
               "test_ids": test_ids}
    if task == "tags":
        y_test = context.targets(test_ids)
        context.work_dir.mkdir(parents=True, exist_ok=True)
        np.save(context.work_dir / "test_scores.npy", np.asarray(test_scores, dtype=np.float32))
        per_tag = per_tag_roc_auc(y_test, test_scores)
        details.update(tags=list(classes), test_scores_file=str(context.work_dir / "test_scores.npy"),
                       per_tag_auc={t: (None if np.isnan(a) else float(a)) for t, a in zip(classes, per_tag)},
                       test_tags_left_out=[t for t, a in zip(classes, per_tag) if np.isnan(a)])
        evidence = {"y_true": np.asarray(y_test > 0.5, dtype=np.uint8), "scores": np.asarray(test_scores)}
        return FoldOutcome(metrics=_with_test_selected(tag_evidence_metrics(evidence), details), details=details,
                           evidence=evidence)
    test_labels = context.labels(test_ids)
    predictions = np.asarray(test_scores).argmax(axis=1) if predictions is None else np.asarray(predictions)
    metrics = genre_metrics(test_labels, test_scores, predictions)
    details.update(auc_genres_skipped=[classes[i] for i in metrics.pop("auc_genres_skipped")],
                   test_labels=test_labels.tolist(), test_predictions=predictions.tolist())
    evidence = {"labels": np.asarray(test_labels, dtype=np.int64), "scores": np.asarray(test_scores),
                "predictions": np.asarray(predictions, dtype=np.int64)}
    return FoldOutcome(metrics=_with_test_selected(metrics, details), details=details, evidence=evidence)


def tag_evidence_metrics(evidence: dict) -> dict:
    """:func:`tag_metrics` of a fold's test evidence (or of a bootstrap resample of it).

    Args:
        evidence: ``{"y_true": uint8 (n_clips, n_tags), "scores": float (n_clips, n_tags)}``, the
            scores at the precision the fold's metrics were computed from.

    Returns:
        see :func:`tag_metrics`.
    """
    return tag_metrics(evidence["y_true"], evidence["scores"])


def genre_evidence_metrics(evidence: dict) -> dict:
    """:func:`common.evaluation.multiclass.genre_metrics` of a fold's test evidence (or a resample).

    Args:
        evidence: ``{"labels": int64 (n,), "scores": float (n, n_genres), "predictions": int64 (n,)}``.

    Returns:
        ``{"AUC", "AUC (weighted)", "precision", "recall", "F1", "accuracy"}`` (fractions).
    """
    metrics = genre_metrics(evidence["labels"], evidence["scores"], evidence["predictions"])
    metrics.pop("auc_genres_skipped")
    return metrics


def _with_test_selected(metrics: dict, details: dict) -> dict:
    """``metrics`` plus, when the fold was scored on test every epoch, each metric's best value over the
    epochs under its labelled name (``details["epoch_test_best"]`` records the epochs)."""
    history = details.get("epoch_test_metrics")
    if not history:
        return metrics
    details["epoch_test_best"] = best_epoch_on_test(history, list(metrics))
    return {**metrics, **metrics_selected_on_test(history, list(metrics))}


def _fresh_model(build, context: FoldContext, task: str, model_config) -> keras.Model:
    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    return build(len(context.index.classes), task, model_config)


def run_clip_model_fold(builder: str, model_config, training: TrainingConfig, task: str,
                        context: FoldContext, *, epoch_test: bool = False) -> FoldOutcome:
    """Train a clip model (CRNN-TF, CRNN or FCN) on whole 29 s log-mel clips and evaluate it.

    Args:
        builder: a key of :data:`CLIP_BUILDERS` (``"crnn_tf"``, ``"crnn"``, ``"fcn"``).
        model_config: its architecture (:class:`CRNNTFConfig`, :class:`CRNNConfig`,
            :class:`common.models.fcn.FCNConfig`).
        training: optimiser and schedule.
        task: ``"genres"`` (Tables II, III) or ``"tags"`` (Table I, Fig. 5).
        context: fold from the runner; features ``(n_mels, n_frames)`` float32 per track.
        epoch_test: score the test clips after every epoch too (see :func:`fit_clip_model`); the
            outcome then also holds the labelled test-selected metrics.

    Returns:
        ``FoldOutcome`` with the task's metrics (fractions), see :func:`evaluate`.

    Raises:
        ConfigError: unknown builder or task.
    """
    if builder not in CLIP_BUILDERS:
        raise ConfigError(f"unknown clip model {builder!r}; use one of {sorted(CLIP_BUILDERS)}")
    _check_task(task)
    model = _fresh_model(CLIP_BUILDERS[builder], context, task, model_config)
    scores, test_ids, details = fit_clip_model(model, context, training, task, epoch_test=epoch_test)
    details["model_config"] = asdict(model_config)
    return evaluate(context, task, test_ids, scores, details)


@dataclass
class PatchPart:
    """The patches of one part of a fold (train, validation or test), in a memory-mapped store.

    Attributes:
        store: :class:`~common.features.store.ClipFeatureStore` ``(n_patches, *patch)``, rows grouped
            by track in ``track_ids`` order (row ids ``"<track_id>#<k>"``).
        track_ids: the part's usable tracks.
        n_patches: int64 ``(n_tracks,)``: patches per track.
        targets: float32 ``(n_tracks, n_outputs)`` (one-hot genres or multi-hot tags).
        rows: what the model reads, ``store.features`` or a view of it (e.g. standardised).
    """

    store: ClipFeatureStore
    track_ids: list
    n_patches: np.ndarray
    targets: np.ndarray
    rows: object = None

    def __post_init__(self):
        if self.rows is None:
            self.rows = self.store.features

    @property
    def patch_track(self) -> np.ndarray:
        """int64 ``(n_patches,)``: the track index of every row."""
        return np.repeat(np.arange(len(self.track_ids)), self.n_patches)

    @property
    def patch_targets(self) -> np.ndarray:
        """float32 ``(n_patches, n_outputs)``: every row's track target."""
        return np.repeat(self.targets, self.n_patches, axis=0)


def patch_store_root(context: FoldContext, extractor, cut_key: str) -> Path:
    """``<work>/crnn_tf/feature_store/<dataset>/<kind>-<cut_key>``: one scheme-input's patch stores."""
    return clip_store_root(context) / f"{extractor.kind}-{extractor.fingerprint()[:12]}-{cut_key}"


def _patch_fingerprint(ids, tracks, extractor, cut_key: str, dtype: str) -> str:
    import hashlib
    import json

    stamps = []
    for track in tracks:
        try:
            stamps.append(FeatureCache.source_stamp(track.path))
        except OSError:
            stamps.append(None)
    payload = json.dumps([list(ids), stamps, extractor.fingerprint(), cut_key, dtype], sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def own_feature_parts(context: FoldContext, extractor, cut, task: str = "genres", *, cut_key: str,
                      dtype: str = STORE_DTYPE) -> tuple[dict, dict, dict]:
    """A scheme's own features for the fold, through the shared cache, cut into patches and stored.

    Each part's patches are written once to a memory-mapped store under
    :func:`patch_store_root` (so full MTAT / FMA patches need not fit in memory) and reused while
    the part's tracks, their files (size, modification time), the extractor and ``cut_key`` are
    unchanged; a reused store also keeps the reasons its tracks were skipped.

    Args:
        context: the fold (``cache_dir`` must be set, as :func:`common.runner.run_table` does).
        extractor: a feature-cache extractor (e.g. :class:`~common.audio.waveform.WaveformExtractor`).
        cut: ``(features, track) -> patches (n, ...)``; may raise :class:`AudioError`.
        task: ``"genres"`` or ``"tags"``: the targets attached (see :func:`fold_targets`).
        cut_key: a short string naming ``cut``'s settings (part of the stores' identity).
        dtype: storage dtype of the patches.

    Returns:
        ``({"train"|"validation"|"test": PatchPart}, {part: [track ids kept]}, {track_id: reason}
        skipped)``. A track whose own feature cannot be made (an :class:`AudioError`) is skipped
        and recorded, never dropped silently.

    Raises:
        ConfigError: no ``cache_dir``.
        DatasetError: the training or test part has no usable track left.
    """
    import json

    from common.atomic_files import atomic_write_text

    if context.cache_dir is None:
        raise ConfigError("this scheme computes its own features and needs FoldContext.cache_dir")
    cache = FeatureCache(context.cache_dir, extractor)
    root = patch_store_root(context, extractor, cut_key)
    parts, kept, skipped = {}, {}, {}
    for name in ("train", "validation", "test"):
        ids = list(getattr(context.split, name))
        if not ids:
            continue
        tracks = context.tracks(ids)
        folder = root / name
        fingerprint = _patch_fingerprint(ids, tracks, extractor, cut_key, dtype)
        store, part_skipped = None, None
        try:
            candidate = ClipFeatureStore.open(folder)
            if candidate.fingerprint == fingerprint:
                part_skipped = json.loads((folder / "skipped.json").read_text())
                store = candidate
        except (ValueError, OSError):
            pass
        if store is None:
            counts, part_skipped = {}, {}
            for track in tracks:  # pass 1: which tracks give patches, and how many
                try:
                    counts[track.track_id] = len(cut(cache.get(track.path), track))
                except AudioError as exc:
                    part_skipped[track.track_id] = exc.reason
            row_ids = [f"{t}#{k}" for t in ids if t in counts for k in range(counts[t])]
            by_id = {t.track_id: t for t in tracks}
            last = {}

            def patch(row_id: str) -> np.ndarray:
                track_id, k = row_id.rsplit("#", 1)
                if last.get("id") != track_id:  # rows come grouped by track: cut each track once
                    last.update(id=track_id, patches=cut(cache.get(by_id[track_id].path), by_id[track_id]))
                return last["patches"][int(k)]

            if row_ids:
                (folder / "skipped.json").unlink(missing_ok=True)
                store = ClipFeatureStore.build(folder, row_ids, patch, dtype=dtype, fingerprint=fingerprint)
                atomic_write_text(folder / "skipped.json", json.dumps(part_skipped))
        skipped.update(part_skipped)
        if store is None or not len(store):
            if name != "validation":
                raise DatasetError(f"no usable {name} track for {extractor.kind} features "
                                   f"(e.g. {next(iter(part_skipped.values()), '?')})")
            continue
        rows_per_track = Counter(row.rsplit("#", 1)[0] for row in store.ids)  # insertion order = track order
        ok = list(rows_per_track)
        n_patches = np.array([rows_per_track[t] for t in ok], dtype=np.int64)
        parts[name] = PatchPart(store, ok, n_patches, fold_targets(context, ok, task))
        kept[name] = ok
    return parts, kept, skipped


def run_timbre_cnn_fold(model_config: TimbreCNNConfig, features, training: TrainingConfig, task: str,
                        context: FoldContext, *, epoch_test: bool = False) -> FoldOutcome:
    """Train the Timbre CNN on 187-frame patches of its own log-mel (Pons et al.'s setup) and evaluate it.

    Patches are standardised element-wise (every (band, frame) position by the mean and standard
    deviation of the training patches, the code's "elementWise" normalisation).

    Args:
        model_config: architecture.
        features: its :class:`~common.features.logmel.LogMelConfig` (16 kHz, 128 bands, log compression).
        training: optimiser and schedule.
        task: ``"genres"`` or ``"tags"``.
        context: fold from the runner (its tracks; the table's features are not used).
    """
    extractor = LogMelExtractor(features)

    def cut(spectrogram, track):
        return chunk_spectrogram(spectrogram, model_config.patch_frames, source=str(track.path))

    parts, kept, skipped = own_feature_parts(context, extractor, cut, task,
                                             cut_key=f"patches{model_config.patch_frames}")
    mean, std = elementwise_mean_std(parts["train"].store.features)
    for part in parts.values():
        part.rows = StandardizedView(part.store.features, mean, std)
    model = _fresh_model(models.build_timbre_cnn, context, task, model_config)
    scores, details = fit_patch_model(model, parts, context, training, task, epoch_test=epoch_test)
    details.update(model_config=asdict(model_config), features=extractor.describe(), skipped_tracks=skipped)
    return evaluate(context, task, kept["test"], scores, details)


def run_end_to_end_fold(model_config: EndToEndConfig, audio: WaveformConfig, training: TrainingConfig, task: str,
                        context: FoldContext, *, epoch_test: bool = False) -> FoldOutcome:
    """Train the End-to-end model on 3 s raw-audio windows (Dieleman & Schrauwen's setup) and evaluate it.

    Args:
        model_config: architecture.
        audio: waveform settings (16 kHz, first 29 s).
        training: optimiser and schedule.
        task: ``"genres"`` or ``"tags"``.
        context: fold from the runner.
    """
    extractor = WaveformExtractor(audio)

    def cut(signal, track):
        return waveform_windows(signal, model_config.window_samples, source=str(track.path))

    parts, kept, skipped = own_feature_parts(context, extractor, cut, task,
                                             cut_key=f"windows{model_config.window_samples}")
    model = _fresh_model(models.build_end_to_end, context, task, model_config)
    scores, details = fit_patch_model(model, parts, context, training, task, epoch_test=epoch_test)
    details.update(model_config=asdict(model_config), features=extractor.describe(), skipped_tracks=skipped)
    return evaluate(context, task, kept["test"], scores, details)


def mfcc_statistics(log_mel_db: np.ndarray, config: MFCCSVMConfig) -> np.ndarray:
    """MFCC summary of one track: mean and standard deviation over time of the MFCCs (and deltas).

    Args:
        log_mel_db: ``(n_mels, n_frames)`` log-mel spectrogram in dB.
        config: number of coefficients, deltas.

    Returns:
        float64 ``(2 * n_mfcc * (3 if deltas else 1),)``: 120 values for 20 MFCCs with deltas.
    """
    import librosa

    mfcc = librosa.feature.mfcc(S=log_mel_db, n_mfcc=config.n_mfcc)
    rows = [mfcc]
    if config.deltas:
        rows += [librosa.feature.delta(mfcc, order=1), librosa.feature.delta(mfcc, order=2)]
    stacked = np.concatenate(rows, axis=0)
    return np.concatenate([stacked.mean(axis=1), stacked.std(axis=1)]).astype(np.float64)


def run_mfcc_svm_fold(config: MFCCSVMConfig, context: FoldContext) -> FoldOutcome:
    """MFCC statistics + standardisation + RBF SVM (scikit-learn); C chosen on validation accuracy.

    The chosen C is refit on training + validation tracks before the test tracks are scored.
    Without validation tracks, C is chosen by 3-fold cross-validation on the training tracks.
    Accuracy, precision, recall and F1 use the SVM's decisions; ROC-AUC ranks tracks by the
    one-vs-rest decision values (no Platt probabilities: on a few hundred tracks they are poorly
    calibrated and can disagree with the decisions).
    """
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    split = context.split

    def features(ids):
        return np.stack([mfcc_statistics(context.features[i], config) for i in ids])

    def svm(c):
        return make_pipeline(StandardScaler(), SVC(kernel="rbf", C=c, gamma="scale", decision_function_shape="ovr"))

    x_train, y_train = features(split.train), context.labels(split.train)
    scores = {}
    if split.validation:
        x_val, y_val = features(split.validation), context.labels(split.validation)
        for c in config.C_grid:
            scores[c] = float(svm(c).fit(x_train, y_train).score(x_val, y_val))
        best = max(config.C_grid, key=lambda c: (scores[c], -c))
        final = svm(best).fit(np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val]))
    else:
        search = GridSearchCV(svm(1.0), {"svc__C": list(config.C_grid)}, cv=3).fit(x_train, y_train)
        best, final = search.best_params_["svc__C"], search.best_estimator_
    x_test = features(split.test)
    scores_ovr = final.decision_function(x_test)
    check_finite(scores_ovr, "SVM decision values on the test tracks")
    if scores_ovr.ndim == 1:  # two classes: one decision value, positive for classes_[1]
        scores_ovr = np.stack([-scores_ovr, scores_ovr], axis=1)
    ranked = np.full((len(split.test), len(context.index.classes)), -np.inf)
    ranked[:, final.classes_] = scores_ovr
    ranked[np.isinf(ranked)] = np.min(scores_ovr) - 1.0  # classes absent from training rank last
    return evaluate(context, "genres", split.test, ranked, {"C": best, "validation_accuracy_per_C": scores,
                                                            "config": asdict(config)},
                    predictions=final.predict(x_test))


def load_source_model(weights_path: str | Path, n_source_outputs: int, model_config: CRNNTFConfig) -> keras.Model:
    """The pre-trained CRNN-TF (tagging head of ``n_source_outputs`` sigmoid units) with its weights.

    Raises:
        ConfigError: the file does not exist or does not hold weights of this architecture.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise ConfigError(
            f"pre-trained CRNN-TF weights not found: {path}.\nTable III's transfer rows start from the CRNN-TF "
            f"trained on MagnaTagATune for Table I (make crnn_tf-table1-mtat MTAT_DIR=..., with the paper's epochs, "
            f"writes them to work/crnn_tf/table1_mtat/CRNN-TF/fold_00/best.weights.h5; a run with an EPOCHS cap keeps "
            f"its checkpoint in its own work/crnn_tf/table1_mtat/CRNN-TF/fold_00-<identity>/ folder). Point at a weights file with CRNN_TF_WEIGHTS=/path/to/file.weights.h5, or run only the "
            f"schemes that need none: SCHEMES='MFCC + SVM,CRNN-TF'.")
    source = models.build_crnn_tf(n_source_outputs, "tags", model_config)
    try:
        source.load_weights(str(path))
    except Exception as exc:  # noqa: BLE001 - h5py/Keras raise many types for a wrong or corrupt file
        raise ConfigError(f"{path}: not weights of a CRNN-TF with {n_source_outputs} tag outputs and this "
                          f"configuration ({type(exc).__name__}: {exc})") from None
    return source


def run_transfer_fold(mode: str, weights_path: str | Path | None, n_source_outputs: int,
                      model_config: CRNNTFConfig, training: TrainingConfig, context: FoldContext) -> FoldOutcome:
    """Table III: CRNN-TF on GTZAN from scratch or transferred from the MTAT model (Sec. V-G).

    Args:
        mode: a key of :data:`TRANSFER_MODES`.
        weights_path: the pre-trained weights (``*.weights.h5``); unused for ``"scratch"``.
        n_source_outputs: tag outputs of the pre-trained model (MTAT: 50).
        model_config: CRNN-TF architecture (the same for source and target, Sec. V-G).
        training: optimiser and schedule (the same for every mode: the paper gives none).
        context: fold from the runner.

    Returns:
        ``FoldOutcome`` with accuracy (and the other genre metrics); details list the copied and
        frozen layers.

    Raises:
        ConfigError: unknown mode, or missing / mismatched weights.
    """
    if mode not in TRANSFER_MODES:
        raise ConfigError(f"unknown transfer mode {mode!r}; use one of {sorted(TRANSFER_MODES)}")
    model = _fresh_model(models.build_crnn_tf, context, "genres", model_config)
    copied, frozen = [], []
    if TRANSFER_MODES[mode] is not None:
        source = load_source_model(weights_path, n_source_outputs, model_config)
        copied = models.transfer_weights(source, model)
        frozen = models.freeze(model, TRANSFER_MODES[mode])
        del source
    scores, test_ids, details = fit_clip_model(model, context, training, "genres")
    details.update(mode=mode, weights=str(weights_path) if copied else None, layers_copied=copied,
                   layers_frozen=frozen, model_config=asdict(model_config))
    return evaluate(context, "genres", test_ids, scores, details)
