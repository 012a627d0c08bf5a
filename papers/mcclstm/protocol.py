"""Training and evaluation of one MCCLSTM scheme on one fold (Sec. 3).

Per fold: per-band standardisation fitted on the training tracks' chunks (saved beside the
checkpoint as :data:`STANDARDIZATION_FILE`, for :mod:`papers.mcclstm.inference`); training with
categorical cross-entropy (SGD, see :mod:`papers.mcclstm.config`), early stopping and the best
checkpoint chosen on the validation split; accuracy of track predictions on the test split.
"""

from __future__ import annotations

from dataclasses import asdict

import keras
import numpy as np

from common.atomic_files import atomic_write_bytes
from common.evaluation.metrics import accuracy_percent, track_probabilities
from common.training.pipeline import BandStandardizer, TrackChunks, chunk_dataset, chunk_inputs_dataset, sequence_dataset
from common.runner import FoldContext, FoldOutcome
from common.training.trainer import TrainingConfig, train
from papers.mcclstm.config import STANDARDIZATION_STD_FLOOR_DB, MCCLSTMConfig, SchemeSpec
from papers.mcclstm.models import build_model

#: File of the fold's per-band standardisation (``mean``, ``std``: float32 ``(n_bands,)``) in the
#: unit's work folder, beside ``best.weights.h5``.
STANDARDIZATION_FILE = "band_standardization.npz"


def _chunks(context: FoldContext, ids, standardize: BandStandardizer | None) -> TrackChunks:
    data = TrackChunks.from_tracks([context.features[i] for i in ids], context.labels(ids))
    if standardize is None:
        return data
    return TrackChunks(standardize(data.chunks), data.n_chunks, data.labels)


def fit_standardizer(chunks: np.ndarray) -> BandStandardizer:
    """Per-band standardisation of the MCCLSTM input, fitted on one fold's training chunks.

    Args:
        chunks: float32 log-mel chunks ``(n_chunks, 40, 80)`` in dB, training tracks only.

    Returns:
        :class:`~common.training.pipeline.BandStandardizer` with per-band mean and std (dB); the std is
        floored at :data:`~papers.mcclstm.config.STANDARDIZATION_STD_FLOOR_DB` so near-constant
        bands (above the source's Nyquist frequency) are not blown up.

    Source: choice (the paper does not say how its input is scaled; see README, "Input scaling").
    """
    return BandStandardizer.fit(chunks, floor=STANDARDIZATION_STD_FLOOR_DB)


def predict_tracks(model: keras.Model, data: TrackChunks, sequence: bool, batch_size: int) -> np.ndarray:
    """Class probabilities per track, float ``(n_tracks, n_classes)``.

    Sequence models predict each track from its masked chunk sequence; chunk models average the
    probabilities of the track's own chunks.
    """
    if sequence:
        return model.predict(sequence_dataset(data, batch_size, shuffle=False, with_targets=False), verbose=0)
    chunk_probs = model.predict(chunk_inputs_dataset(data.chunks, max(batch_size, 64)), verbose=0)
    return track_probabilities(chunk_probs, data.chunk_track, len(data.n_chunks))


def run_scheme_fold(scheme: SchemeSpec, model_config: MCCLSTMConfig, training: TrainingConfig,
                    context: FoldContext) -> FoldOutcome:
    """Train ``scheme`` on the fold's training tracks and measure test accuracy.

    Args:
        scheme: the architecture (Table 2 / CNNs-3).
        model_config: model settings.
        training: optimiser and schedule.
        context: fold data from the runner (features are chunk arrays ``(n_chunks, 40, 80)``).

    Returns:
        ``FoldOutcome(metrics={"accuracy": percent}, details=...)`` with the validation accuracy,
        epochs run, best epoch and training throughput (chunks/s).
    """
    split = context.split
    train_raw = _chunks(context, split.train, None)
    standardize = fit_standardizer(train_raw.chunks)
    atomic_write_bytes(context.work_dir / STANDARDIZATION_FILE,
                       lambda out: np.savez(out, mean=standardize.mean, std=standardize.std))
    train_data = TrackChunks(standardize(train_raw.chunks), train_raw.n_chunks, train_raw.labels)
    val_data = _chunks(context, split.validation, standardize) if split.validation else None
    test_data = _chunks(context, split.test, standardize)
    n_classes = len(context.index.classes)

    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    model = build_model(scheme, n_classes, model_config)
    if scheme.lstm:
        make = sequence_dataset
        n_examples = len(train_data.n_chunks)
    else:
        make = chunk_dataset
        n_examples = len(train_data.chunks)
    train_ds = make(train_data, training.batch_size, shuffle=True, seed=context.seed)
    val_ds = make(val_data, training.batch_size, shuffle=False) if val_data is not None else None
    result = train(model, train_ds, val_ds, training, loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], n_train_examples=n_examples,
                   checkpoint_path=context.work_dir / "best.weights.h5", log_dir=context.work_dir / "tensorboard",
                   epochs=context.epochs, verbose=context.verbose)
    test_probs = predict_tracks(model, test_data, scheme.lstm, training.batch_size)
    details = {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
               "train_seconds": result.seconds,
               "train_chunks_per_second": result.examples_per_second * (
                   float(train_data.n_chunks.mean()) if scheme.lstm else 1.0),
               "n_train_chunks": int(train_data.n_chunks.sum()), "n_test_tracks": len(test_data.n_chunks),
               "test_predictions": test_probs.argmax(axis=1).tolist(),
               "test_labels": test_data.labels.tolist(), "test_ids": list(split.test),
               "model_parameters": model.count_params(), "model_config": asdict(model_config)}
    if val_data is not None:
        val_probs = predict_tracks(model, val_data, scheme.lstm, training.batch_size)
        details["validation_accuracy"] = accuracy_percent(val_data.labels, val_probs.argmax(axis=1))
    return FoldOutcome(metrics={"accuracy": accuracy_percent(test_data.labels, test_probs.argmax(axis=1))},
                       details=details)
