"""A user's chunk model (``--scheme-module``) under the MCCLSTM tables' protocol (Tables 3, 4, 5).

The adapter of :mod:`common.runner.scheme_module` for every MCCLSTM table. A user's model is run as
the table runs its chunk schemes (CNNs-3, R0, R2, R3; :func:`papers.mcclstm.protocol.run_scheme_fold`):

- the table's 10-fold stratified 80/10/10 splits and 40-band log-mel chunks of 80 frames (1.858 s);
- per-band standardisation fitted on the fold's training chunks
  (:func:`papers.mcclstm.protocol.fit_standardizer`, saved beside the checkpoint);
- the table's chunk training configuration (SGD, batch 32 chunks, early stopping on the
  validation loss with the best checkpoint kept; :data:`papers.mcclstm.config.CHUNK_TRAINING`, or
  the table variant's), with the module's ``TRAINING`` overrides;
- categorical cross-entropy on chunks, each labelled with its track's class; a track's
  probabilities are the mean of its chunks' softmax (:func:`papers.mcclstm.protocol.predict_tracks`);
  accuracy (%) of the test tracks, and the per-track predictions the confusion matrices read.

The steps are those of :func:`~papers.mcclstm.protocol.run_scheme_fold`, with the model built by
the user's ``build_model((40, 80), n_classes)`` instead of a Table 2 builder; the test
``tests/papers/mcclstm/test_user_scheme.py`` checks that a user module returning CNNs-3 gives the
same fold result as the CNNs-3 row. (The protocol module itself is not changed for this: it
is part of the code version of every stored MCCLSTM fold record.)
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import keras
import numpy as np

from common.atomic_files import atomic_write_bytes
from common.datasets import ballroom, gtzan, soundtracks
from common.evaluation.metrics import accuracy_percent
from common.runner.identity import file_code_version
from common.runner.scheme_module import SchemeModule, SchemeModuleRef, TableInput, build_checked
from common.runner.spec import FoldContext, FoldOutcome, Scheme
from common.training.pipeline import TrackChunks, chunk_dataset
from common.training.trainer import TrainingConfig, train
from papers.mcclstm.config import CHUNK_FRAMES, FEATURES
from papers.mcclstm.protocol import STANDARDIZATION_FILE, fit_standardizer, predict_tracks, run_scheme_fold
from papers.mcclstm.tables import prepare_chunks

#: Class names of each MCCLSTM table's dataset (the softmax size), by ``DatasetSpec.name``.
DATASET_CLASSES = {"gtzan": gtzan.GENRES, "ballroom": ballroom.CLASSES, "soundtracks": soundtracks.CLASSES}


def _chunk_row(spec):
    """``(model_config, training)`` of the table's first chunk scheme (its ``run_fold`` partial's arguments)."""
    for scheme in spec.paper_trainable():
        run_fold = scheme.run_fold
        if getattr(run_fold, "func", None) is run_scheme_fold and not run_fold.args[0].lstm:
            return run_fold.args[1], run_fold.args[2]
    return None


def table_input(spec) -> TableInput | None:
    """What a user's model gets in this MCCLSTM table: one standardised chunk ``(40, 80)``; None if not supported.

    Supported: every table whose rows are built by :func:`papers.mcclstm.tables.make_schemes`
    from chunks (:func:`papers.mcclstm.tables.prepare_chunks`) of a dataset in :data:`DATASET_CLASSES`,
    or of a user's own collection (``--own-dataset``), whose class folders give the output size.
    """
    row = _chunk_row(spec) if spec.paper == "mcclstm" and spec.prepare is prepare_chunks else None
    own = getattr(spec.dataset, "own_collection", None)
    classes = own.classes if own is not None else DATASET_CLASSES.get(spec.dataset.name)
    if row is None or classes is None:
        return None
    model_config, _ = row
    n_classes = len(classes)
    seconds = CHUNK_FRAMES * FEATURES.frame_duration
    return TableInput(
        shape=(model_config.n_bands, model_config.n_frames),
        meaning=(f"one log-mel chunk, {model_config.n_bands} mel bands x {model_config.n_frames} frames "
                 f"({seconds:.3f} s, dB), standardised per band with the fold's training-chunk mean and std"),
        outputs="classes", n_outputs=n_classes,
        aggregation="a track's class probabilities are the mean of its chunks' softmax outputs "
                    "(as the chunk schemes CNNs-3, R0, R2, R3)")


def table_training(spec) -> TrainingConfig:
    """The training configuration a user's ``TRAINING`` overrides in this table: its chunk schemes'
    (:data:`papers.mcclstm.config.CHUNK_TRAINING`, or the table variant's). Call for a table that
    :func:`table_input` supports."""
    return _chunk_row(spec)[1]


def user_scheme(spec, module: SchemeModule, table_input_: TableInput) -> Scheme:
    """The table row of a user's scheme module (see :func:`common.runner.scheme_module.add_scheme_module`).

    Its ``config`` (part of the run identity) holds the module's code version, the training
    configuration after the module's overrides, the input shape and this adapter's code version.
    """
    _, training = _chunk_row(spec)
    training = module.training_config(training)
    return Scheme(
        module.name, partial(run_user_fold, module.ref, tuple(table_input_.shape), training),
        f"{module.description} (scheme module {module.ref.path}; not the paper's)",
        config={"scheme_module_code": module.ref.code, "training": training.describe(),
                "input_shape": list(table_input_.shape), "adapter_code": file_code_version(Path(__file__))},
        scheme_module=module.ref.path, predictor=fold_model)


def _chunks(context: FoldContext, ids) -> TrackChunks:
    return TrackChunks.from_tracks([context.features[i] for i in ids], context.labels(ids))


def run_user_fold(ref: SchemeModuleRef, input_shape: tuple, training: TrainingConfig,
                  context: FoldContext) -> FoldOutcome:
    """Train a user's chunk model on one fold and measure test accuracy, as the chunk schemes are.

    Args:
        ref: the scheme module (loaded again here, so that shards and Ray workers can run it).
        input_shape: ``(40, 80)``.
        training: the table's chunk training configuration with the module's overrides.
        context: fold data from the runner (features: chunks float32 ``(n_chunks, 40, 80)`` in dB).

    Returns:
        ``FoldOutcome(metrics={"accuracy": percent}, details=...)`` with the keys of
        :func:`papers.mcclstm.protocol.run_scheme_fold`'s details (test predictions and labels,
        epochs, throughput, validation accuracy, ...) and the module's file and code version.

    Raises:
        ConfigError: the module changed since the run was planned, or its model does not fit the
            dataset's class count.
    """
    module = ref.load()
    split = context.split
    train_raw = _chunks(context, split.train)
    standardize = fit_standardizer(train_raw.chunks)
    atomic_write_bytes(context.work_dir / STANDARDIZATION_FILE,
                       lambda out: np.savez(out, mean=standardize.mean, std=standardize.std))

    def scaled(data: TrackChunks) -> TrackChunks:
        return TrackChunks(standardize(data.chunks), data.n_chunks, data.labels)

    train_data = scaled(train_raw)
    val_data = scaled(_chunks(context, split.validation)) if split.validation else None
    test_data = scaled(_chunks(context, split.test))
    n_classes = len(context.index.classes)

    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    table_input_ = TableInput(shape=tuple(input_shape), meaning="one standardised log-mel chunk",
                              outputs="classes", n_outputs=n_classes, aggregation="")
    model = build_checked(module, table_input_, n_classes)
    train_ds = chunk_dataset(train_data, training.batch_size, shuffle=True, seed=context.seed)
    val_ds = chunk_dataset(val_data, training.batch_size, shuffle=False) if val_data is not None else None
    result = train(model, train_ds, val_ds, training, loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], n_train_examples=len(train_data.chunks),
                   checkpoint_path=context.work_dir / "best.weights.h5", log_dir=context.work_dir / "tensorboard",
                   epochs=context.epochs, verbose=context.verbose)
    test_probs = predict_tracks(model, test_data, False, training.batch_size)
    details = {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
               "train_seconds": result.seconds, "train_chunks_per_second": result.examples_per_second,
               "n_train_chunks": int(train_data.n_chunks.sum()), "n_test_tracks": len(test_data.n_chunks),
               "test_predictions": test_probs.argmax(axis=1).tolist(),
               "test_labels": test_data.labels.tolist(), "test_ids": list(split.test),
               "model_parameters": model.count_params(),
               "scheme_module": ref.path, "scheme_module_code": ref.code}
    if val_data is not None:
        val_probs = predict_tracks(model, val_data, False, training.batch_size)
        details["validation_accuracy"] = accuracy_percent(val_data.labels, val_probs.argmax(axis=1))
    return FoldOutcome(metrics={"accuracy": accuracy_percent(test_data.labels, test_probs.argmax(axis=1))},
                       details=details)


def fold_model(source):
    """Rebuild a trained fold of a user's row for ``predict`` / ``--export`` (the row's ``predictor``).

    Args:
        source: the fold (:class:`common.inference.fold_model.FoldSource`); its scheme's ``run_fold`` is
            ``partial(run_user_fold, SchemeModuleRef, input_shape, TrainingConfig)``.

    Returns:
        :class:`common.inference.fold_model.FoldModel` whose ``probabilities(chunks)`` maps one file's
        chunks float32 ``(n_chunks, 40, 80)`` (``spec.prepare``'s output) to class probabilities
        float64 ``(n_classes,)``: the fold's standardisation, then the mean of the chunks' softmax.

    Raises:
        ConfigError: the module changed since the run, the fold's statistics are missing or
            unreadable, or the checkpoint does not load.
    """
    from common.errors import ConfigError
    from common.inference.fold_model import FoldModel, load_checkpoint
    from papers.mcclstm.inference import load_standardizer

    ref, input_shape, training = source.scheme.run_fold.args
    module = ref.load()
    standardize = load_standardizer(source.unit_dir)
    if standardize is None:
        raise ConfigError(f"{source.unit_dir / STANDARDIZATION_FILE} is missing; train {ref.name} again")
    keras.backend.clear_session()
    table_input_ = TableInput(shape=tuple(input_shape), meaning="one standardised log-mel chunk", outputs="classes",
                              n_outputs=len(source.classes), aggregation="")
    model = build_checked(module, table_input_)
    load_checkpoint(model, source)

    def probabilities(chunks: np.ndarray) -> np.ndarray:
        data = TrackChunks.from_tracks([standardize(np.asarray(chunks, dtype=np.float32))], np.zeros(1, np.int64))
        return np.asarray(predict_tracks(model, data, False, training.batch_size)[0], dtype=np.float64)

    hop = source.spec.extractor().config.frame_duration
    return FoldModel(
        model=model, outputs="classes", probabilities=probabilities,
        describe_input=lambda chunks: f"{len(chunks)} chunk{'s' if len(chunks) != 1 else ''} of {CHUNK_FRAMES * hop:.3f} s",
        preprocessing={
            "chunking": {"chunk_frames": CHUNK_FRAMES, "chunk_seconds": CHUNK_FRAMES * hop, "overlap": 0,
                         "shape": [None, *input_shape]},
            "standardization": {"kind": "per mel band, fitted on the fold's training chunks",
                                "formula": "(x[:, band, :] - mean[band]) / std[band]",
                                "mean": standardize.mean, "std": standardize.std},
            "input": {"shape": [None, *input_shape], "dtype": "float32",
                      "meaning": "standardised chunks, a batch of any of the file's chunks"},
            "aggregation": "the file's probabilities are the mean of its chunks' softmax outputs",
            "scheme_module": {"file": ref.path, "code": ref.code}})
