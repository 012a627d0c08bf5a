"""Training and evaluation of one scheme on one fold, for CRNN-TF's genre tables (II and III).

Three kinds of input:

- **clip models** (CRNN-TF, CRNN): the table's own feature, one 96 x 1360 log-mel spectrogram
  per track (29 s), one example per track;
- **patch models** (Timbre CNN: 128-band log-mel patches of 187 frames; End-to-end: raw-audio
  windows of 3 s): their own feature, computed through the shared feature cache
  (``FoldContext.cache_dir``); every non-overlapping patch of a track is a training example
  labelled with the track's genre, and a track's prediction is the mean of its patches'
  probabilities (:func:`common.metrics.track_probabilities`);
- **MFCC + SVM** (Table III): MFCC statistics from the table's log-mel spectrogram.

Networks are trained with :func:`common.training.train`: early stopping and the kept checkpoint
are chosen on the fold's validation tracks; test tracks are predicted once, after training.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from common.cache import FeatureCache
from common.errors import AudioError, ConfigError, DatasetError
from common.features import LogMelExtractor, chunk_spectrogram
from common.metrics import track_probabilities
from common.multiclass_metrics import genre_metrics
from common.pipeline import TrackChunks, chunk_dataset, chunk_inputs_dataset
from common.runner import FoldContext, FoldOutcome
from common.training import TrainingConfig, train
from common.waveform import WaveformConfig, WaveformExtractor, waveform_windows
from papers.crnn_tf import models
from papers.crnn_tf.config import (CRNNConfig, CRNNTFConfig, EndToEndConfig, MFCCSVMConfig, TimbreCNNConfig)

#: Table III transfer modes: the layer-name prefixes frozen in each (None: random initialisation).
TRANSFER_MODES = {
    "scratch": None,                       # CRNN-TF trained on the target data only
    "freeze_all": ("cnn_", "rnn_"),        # "Freeze CRNN-TF": retrain the output layer only
    "freeze_cnn": ("cnn_",),               # "Freeze CNN + fine-tune RNN"
    "fine_tune": (),                       # "Fine-tune CRNN-TF": every layer, initialised
}


def _fit_and_predict(model: keras.Model, train_data: TrackChunks, val_data: TrackChunks | None,
                     test_data: TrackChunks, training: TrainingConfig, context: FoldContext) -> tuple:
    """Train on examples (chunks), predict tracks by averaging their chunks' probabilities."""
    train_ds = chunk_dataset(train_data, training.batch_size, shuffle=True, seed=context.seed)
    val_ds = chunk_dataset(val_data, training.batch_size, shuffle=False) if val_data is not None else None
    result = train(model, train_ds, val_ds, training, loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], n_train_examples=len(train_data.chunks),
                   checkpoint_path=context.work_dir / "best.weights.h5",
                   log_dir=context.work_dir / "tensorboard", epochs=context.epochs, verbose=context.verbose)

    def predict(data: TrackChunks) -> np.ndarray:
        chunk_probs = model.predict(chunk_inputs_dataset(data.chunks, training.batch_size), verbose=0)
        return track_probabilities(chunk_probs, data.chunk_track, len(data.n_chunks))

    test_probs = predict(test_data)
    details = {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "train_seconds": result.seconds,
               "train_examples_per_second": result.examples_per_second,
               "n_train_examples": len(train_data.chunks), "model_parameters": model.count_params(),
               "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights))}
    if val_data is not None:
        details["validation_accuracy"] = float(np.mean(predict(val_data).argmax(axis=1) == val_data.labels))
    return test_probs, details


def _outcome(context: FoldContext, test_labels: np.ndarray, test_probs: np.ndarray, details: dict,
             test_ids=None, predictions=None) -> FoldOutcome:
    predictions = test_probs.argmax(axis=1) if predictions is None else np.asarray(predictions)
    metrics = genre_metrics(test_labels, test_probs, predictions)
    test_ids = list(context.split.test if test_ids is None else test_ids)
    details = {**details, "auc_genres_skipped": [context.index.classes[i] for i in metrics.pop("auc_genres_skipped")],
               "n_train_tracks": len(context.split.train), "n_validation_tracks": len(context.split.validation),
               "n_test_tracks": len(test_ids), "test_ids": test_ids,
               "test_labels": test_labels.tolist(), "test_predictions": predictions.tolist()}
    return FoldOutcome(metrics=metrics, details=details)


def _clip_data(context: FoldContext, ids) -> TrackChunks | None:
    if not ids:
        return None
    return TrackChunks.from_tracks([context.features[i][None] for i in ids], context.labels(ids))


def run_clip_model_fold(builder: str, model_config: CRNNTFConfig | CRNNConfig, training: TrainingConfig,
                        context: FoldContext) -> FoldOutcome:
    """Train a clip model (``"crnn_tf"`` or ``"crnn"``) on whole 29 s log-mel clips; genre metrics.

    Args:
        builder: ``"crnn_tf"`` (:func:`models.build_crnn_tf`) or ``"crnn"`` (:func:`models.build_crnn`).
        model_config: its architecture.
        training: optimiser and schedule.
        context: fold from the runner; features ``(n_mels, n_frames)`` float32 per track.

    Returns:
        ``FoldOutcome`` with AUC, precision, recall, F1, accuracy (fractions).
    """
    build = {"crnn_tf": models.build_crnn_tf, "crnn": models.build_crnn}[builder]
    split = context.split
    train_data, val_data, test_data = (_clip_data(context, ids) for ids in (split.train, split.validation, split.test))
    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    model = build(len(context.index.classes), "genres", model_config)
    probs, details = _fit_and_predict(model, train_data, val_data, test_data, training, context)
    details["model_config"] = asdict(model_config)
    return _outcome(context, test_data.labels, probs, details)


def own_feature_parts(context: FoldContext, extractor, cut) -> tuple[dict, dict, dict]:
    """A scheme's own features for the fold, through the shared cache, cut into patches.

    Args:
        context: the fold (``cache_dir`` must be set, as :func:`common.runner.run_table` does).
        extractor: a feature-cache extractor (e.g. :class:`~common.waveform.WaveformExtractor`).
        cut: ``(features, track) -> patches (n, ...)``; may raise :class:`AudioError`.

    Returns:
        ``({"train"|"validation"|"test": TrackChunks}, {part: [track ids kept]},
        {track_id: reason} skipped)``. A track whose own feature cannot be made (an
        :class:`AudioError`) is skipped and recorded, never dropped silently.

    Raises:
        ConfigError: no ``cache_dir``.
        DatasetError: the training or test part has no usable track left.
    """
    if context.cache_dir is None:
        raise ConfigError("this scheme computes its own features and needs FoldContext.cache_dir")
    cache = FeatureCache(context.cache_dir, extractor)
    parts, kept, skipped = {}, {}, {}
    for name, ids in (("train", context.split.train), ("validation", context.split.validation),
                      ("test", context.split.test)):
        patches, ok = [], []
        for track in context.tracks(ids):
            try:
                patches.append(cut(cache.get(track.path), track))
                ok.append(track.track_id)
            except AudioError as exc:
                skipped[track.track_id] = exc.reason
        if not ok and name != "validation" and ids:
            raise DatasetError(f"no usable {name} track for {extractor.kind} features "
                               f"(e.g. {next(iter(skipped.values()), '?')})")
        if ok:
            parts[name] = TrackChunks.from_tracks(patches, context.labels(ok))
            kept[name] = ok
    return parts, kept, skipped


def run_timbre_cnn_fold(model_config: TimbreCNNConfig, features, training: TrainingConfig,
                        context: FoldContext) -> FoldOutcome:
    """Train the Timbre CNN on 187-frame patches of its own log-mel (Pons et al.'s setup).

    Patches are standardised element-wise (every (band, frame) position by the mean and standard
    deviation of the training patches, the code's "elementWise" normalisation).

    Args:
        model_config: architecture.
        features: its :class:`~common.features.LogMelConfig` (16 kHz, 128 bands, log compression).
        training: optimiser and schedule.
        context: fold from the runner (its tracks; the table's features are not used).
    """
    extractor = LogMelExtractor(features)

    def cut(spectrogram, track):
        return chunk_spectrogram(spectrogram, model_config.patch_frames, source=str(track.path))

    parts, kept, skipped = own_feature_parts(context, extractor, cut)
    mean = parts["train"].chunks.mean(axis=0)
    std = np.maximum(parts["train"].chunks.std(axis=0), 1e-3)
    for name, data in parts.items():
        parts[name] = TrackChunks(((data.chunks - mean) / std).astype(np.float32), data.n_chunks, data.labels)
    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    model = models.build_timbre_cnn(len(context.index.classes), "genres", model_config)
    probs, details = _fit_and_predict(model, parts["train"], parts.get("validation"), parts["test"], training, context)
    details.update(model_config=asdict(model_config), features=extractor.describe(), skipped_tracks=skipped)
    return _outcome(context, parts["test"].labels, probs, details, kept["test"])


def run_end_to_end_fold(model_config: EndToEndConfig, audio: WaveformConfig, training: TrainingConfig,
                        context: FoldContext) -> FoldOutcome:
    """Train the End-to-end model on 3 s raw-audio windows (Dieleman & Schrauwen's setup).

    Args:
        model_config: architecture.
        audio: waveform settings (16 kHz, first 29 s).
        training: optimiser and schedule.
        context: fold from the runner.
    """
    extractor = WaveformExtractor(audio)

    def cut(signal, track):
        return waveform_windows(signal, model_config.window_samples, source=str(track.path))

    parts, kept, skipped = own_feature_parts(context, extractor, cut)
    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    model = models.build_end_to_end(len(context.index.classes), "genres", model_config)
    probs, details = _fit_and_predict(model, parts["train"], parts.get("validation"), parts["test"], training, context)
    details.update(model_config=asdict(model_config), features=extractor.describe(), skipped_tracks=skipped)
    return _outcome(context, parts["test"].labels, probs, details, kept["test"])


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
    test_labels = context.labels(split.test)
    x_test = features(split.test)
    scores_ovr = final.decision_function(x_test)
    if scores_ovr.ndim == 1:  # two classes: one decision value, positive for classes_[1]
        scores_ovr = np.stack([-scores_ovr, scores_ovr], axis=1)
    ranked = np.full((len(split.test), len(context.index.classes)), -np.inf)
    ranked[:, final.classes_] = scores_ovr
    ranked[np.isinf(ranked)] = np.min(scores_ovr) - 1.0  # classes absent from training rank last
    return _outcome(context, test_labels, ranked, {"C": best, "validation_accuracy_per_C": scores,
                                                   "config": asdict(config)}, predictions=final.predict(x_test))


def load_source_model(weights_path: str | Path, n_source_outputs: int, model_config: CRNNTFConfig) -> keras.Model:
    """The pre-trained CRNN-TF (tagging head of ``n_source_outputs`` sigmoid units) with its weights.

    Raises:
        ConfigError: the file does not exist or does not hold weights of this architecture.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise ConfigError(
            f"pre-trained CRNN-TF weights not found: {path}.\nTable III's transfer rows start from the CRNN-TF "
            f"trained on MagnaTagATune for Table I (make crnn_tf-table1-mtat writes them; that table is not built "
            f"yet). Point at a weights file with CRNN_TF_WEIGHTS=/path/to/file.weights.h5, or run only the "
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
    split = context.split
    train_data, val_data, test_data = (_clip_data(context, ids) for ids in (split.train, split.validation, split.test))
    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    model = models.build_crnn_tf(len(context.index.classes), "genres", model_config)
    copied, frozen = [], []
    if TRANSFER_MODES[mode] is not None:
        source = load_source_model(weights_path, n_source_outputs, model_config)
        copied = models.transfer_weights(source, model)
        frozen = models.freeze(model, TRANSFER_MODES[mode])
        del source
    probs, details = _fit_and_predict(model, train_data, val_data, test_data, training, context)
    details.update(mode=mode, weights=str(weights_path) if copied else None, layers_copied=copied,
                   layers_frozen=frozen, model_config=asdict(model_config))
    return _outcome(context, test_data.labels, probs, details)
