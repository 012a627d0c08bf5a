"""A user's frame model (``--scheme-module``) under the LSTM segment tables' protocol (Tables 2 and 4, ISMIR 2004).

The adapter of :mod:`common.runner.scheme_module` for ``lstm_segment.table2_ismir2004`` and
``lstm_segment.table4_ismir2004``. The module's model takes the place of the paper's LSTM RNN:
it is a **frame model**, mapping a sequence of scattering frames to a class posterior at every
frame, ``build_model((None, 545), 6)`` returning a Keras model ``float32 (B, T, 545) -> (B, T, 6)``
softmax over the last axis (any ``T``: keep the time axis, one output per input frame).

It is trained as the table's LSTM rows are (:func:`papers.lstm_segment.protocol.train_lstm_posteriors`):

- the split: ISMIR 2004 ``training`` subset for training, with a stratified 10 % of it held out
  (Kaldi's cross-validation set, for the schedule only), ``development`` subset for test;
- the frames: each track's scattering frames ``(n_frames, 545)`` (:data:`papers.lstm_segment.config.SCATTERING`:
  first and second order, 371.5 ms windows, hop 185.8 ms, ``log(S + 2**-20)``), standardised per
  dimension with the mean and std of the training tracks' frames
  (:class:`~papers.lstm_segment.protocol.FrameStandardizer`, Kaldi's global feature transform);
- the minibatches: the training tracks in a seeded random order dealt to 60 parallel streams,
  each minibatch the next 20 frames of every stream (:func:`~papers.lstm_segment.protocol.stream_layout`):
  the model gets ``(60, 20, 545)``. The LSTM rows carry their state from one window to the next
  of the same track (truncated back-propagation through time); a module's model is a plain Keras
  model with no such state, so each window is a sequence of its own, starting from the model's
  initial state;
- padding: the end of a track's last window is filled with all-zero frames, whose loss weight
  is 0 (they add nothing to the loss); at test, tracks are batched 16 at a time and zero frames
  are appended after the shorter ones up to a multiple of 128 frames
  (:func:`~papers.lstm_segment.protocol.predict_tracks`), whose outputs are dropped. A causal
  model (a forward RNN) is not affected by frames after a track's end; a model that looks ahead
  (bidirectional RNN, centred convolution) must mask them: begin it with
  ``keras.layers.Masking(mask_value=0.0)`` (a standardised real frame is never exactly zero in
  every dimension);
- the training: frame cross-entropy summed over the minibatch's frames, SGD with momentum 0.8,
  per-frame learning rate 2e-5, each gradient value clipped to +-5, under Kaldi's newbob schedule on
  the held-out tracks' frame cross-entropy (an epoch that does not lower it is undone; the rate is
  multiplied by 0.9 every epoch once the relative gain falls below 1 %; training stops when, while
  halving, it falls below 0.1 %; at most 50 epochs): :func:`~papers.lstm_segment.protocol.newbob_train`.
  The module's ``TRAINING`` may set ``learning_rate``, ``momentum``, ``epochs`` (the schedule's
  maximum) and ``batch_size`` (the number of streams per minibatch); the other keys do not apply
  to this schedule and are refused (:func:`training_not_settable`);
- the outputs: the trained model's frame posteriors of every track, whole tracks at a time,
  cached beside the LSTM rows' (``<work>/lstm_segment/lstm_posteriors/``) so that Tables 2 and 4
  train the module's model once; then Table 2's frame accuracy and majority-vote segment accuracy
  (:func:`~papers.lstm_segment.protocol.table2_outcome`) or Table 4's Seg / LSeg / FSeg accuracy:
  majority vote, and linear SVMs on the segment features f_lstm (the statistics of the frame
  posteriors: per class max, min, mean and share above k = 0.9) and f_fusion = [mean scattering
  frame, f_lstm] of the training-subset tracks (:func:`~papers.lstm_segment.protocol.table4_outcome`),
  with Figure 3's curve over k.

``predict`` / ``--export`` are not supported for these tables (the paper's rows neither): a
track's decision comes from a vote over its frame posteriors or from an SVM trained on segment
features, which no saved model file holds; ``make predict`` says so before looking for a run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import keras
import numpy as np

from common.features.scattering import n_coefficients
from common.features.store import FrameSequenceFile
from common.runner.identity import file_code_version
from common.runner.scheme_module import SchemeModule, SchemeModuleRef, TableInput, build_checked
from common.runner.spec import FoldContext, FoldOutcome, Scheme
from common.training.trainer import TrainingConfig
from common.datasets import ismir2004
from papers.lstm_segment.config import NewbobSchedule, SegmentConfig
from papers.lstm_segment.protocol import (FrameStandardizer, StreamBatches, TrackFrames, frame_cross_entropy,
                                          frame_optimizer, newbob_train, posterior_cache_path, predict_tracks,
                                          prepare_frames, read_posterior_cache, run_lstm_table2_fold,
                                          run_lstm_table4_fold, start_epoch, stream_layout, summed_frame_loss,
                                          table2_outcome, table4_outcome, write_posterior_cache)


#: Class names of each LSTM segment table's dataset (the softmax size), by ``DatasetSpec.name``.
DATASET_CLASSES = {ismir2004.NAME: ismir2004.CLASSES}


@dataclass(frozen=True)
class FrameTraining:
    """How a module's frame model is trained: the LSTM rows' schedule and minibatch layout.

    Attributes:
        schedule: Kaldi's newbob schedule (rate, momentum, epochs, halving, clipping).
        num_streams: streams (sequences) per minibatch (``TRAINING``'s ``batch_size``).
        bptt_length: frames per stream per minibatch (the LSTM rows' window, 20).
    """

    schedule: NewbobSchedule
    num_streams: int
    bptt_length: int


@dataclass(frozen=True)
class FramePosteriorsKey:
    """What a module's frame posteriors depend on besides the fold: with the split, seed, epoch cap and
    features, the key of their cache (:func:`papers.lstm_segment.protocol.posterior_cache_path`)."""

    scheme: str
    module_code: str
    adapter_code: str
    training: FrameTraining


def _lstm_row(spec):
    """``(LSTMConfig, SegmentConfig or None)`` of the table's first LSTM row, or None."""
    for scheme in spec.paper_trainable():
        run_fold = scheme.run_fold
        func = getattr(run_fold, "func", None)
        if func is run_lstm_table2_fold:
            return run_fold.args[0], None
        if func is run_lstm_table4_fold:
            return run_fold.args[0], run_fold.args[1]
    return None


def _power_of_two(value: float) -> str:
    """``2**-20`` for a power of two, else the number (``1e-06``)."""
    exponent = float(np.log2(value)) if value > 0 else 0.5
    return f"2**{int(exponent)}" if exponent.is_integer() else f"{value:g}"


def _n_features(spec) -> int:
    return n_coefficients(spec.extractor().config)


def table_input(spec) -> TableInput | None:
    """What a user's model gets in this LSTM segment table: one track's standardised scattering frames
    ``(None, 545)``, and what it must return: a softmax per frame; None if the table is not supported.

    Supported: every LSTM segment table with an LSTM row and :func:`~papers.lstm_segment.protocol.prepare_frames`
    features (Tables 2 and 4).
    """
    if spec.paper != "lstm_segment" or spec.prepare is not prepare_frames or spec.dataset.name not in DATASET_CLASSES:
        return None
    row = _lstm_row(spec)
    if row is None:
        return None
    lstm, segment = row
    scattering = spec.extractor().config
    dim = _n_features(spec)
    hop = scattering.T / 2 ** scattering.oversampling
    n_classes = len(DATASET_CLASSES[spec.dataset.name])
    if segment is None:
        aggregation = ("frame accuracy: the argmax of every test frame against its track's genre, pooled over the "
                       "test tracks; segment accuracy: each test track's majority vote of its frames' argmax")
    else:
        aggregation = (f"Seg: each test track's majority vote of its frames' argmax; LSeg / FSeg: a linear SVM "
                       f"trained on the segment features of the training-subset tracks, f_lstm (per class: the "
                       f"max, min and mean of the frame posteriors and the share of frames above k = {segment.k}) "
                       f"and f_fusion = [mean scattering frame, f_lstm], tested on the test tracks' features (Figure "
                       f"3: at every k of its grid)")
    return TableInput(
        shape=(None, dim),
        meaning=(f"one track's scattering frames, (time, {dim}): log(S + {_power_of_two(scattering.log_offset)}) "
                 f"of the first- and second-order time scattering ({scattering.sample_rate} Hz, windows of "
                 f"{scattering.T} samples "
                 f"= {1000 * scattering.T / scattering.sample_rate:.1f} ms, hop "
                 f"{1000 * hop / scattering.sample_rate:.1f} ms), standardised per dimension with the training "
                 f"frames' mean and std; training windows ({lstm.num_streams}, {lstm.bptt_length}, {dim}), whole "
                 f"tracks at test; all-zero frames pad a track's last window and shorter tracks of a test batch"),
        outputs="frame classes", n_outputs=n_classes, aggregation=aggregation)


def table_training(spec) -> TrainingConfig:
    """The training configuration a user's ``TRAINING`` overrides in this table: the LSTM rows'
    schedule as a :class:`~common.training.trainer.TrainingConfig` (SGD, per-frame learning rate,
    momentum, ``batch_size`` = streams per minibatch, ``epochs`` = the schedule's maximum); the
    fields that do not apply are refused (:func:`training_not_settable`). Call for a table that
    :func:`table_input` supports."""
    lstm, _ = _lstm_row(spec)
    schedule = lstm.schedule
    return TrainingConfig(optimizer="sgd", learning_rate=schedule.learning_rate, momentum=schedule.momentum,
                          nesterov=False, batch_size=lstm.num_streams, epochs=schedule.max_epochs, patience=0,
                          lr_decay_per_epoch=1.0, clipnorm=None)


def training_not_settable(spec) -> dict[str, str]:
    """``{TRAINING key: why}``: the keys a module may not set in this table (its LSTM rows' newbob schedule)."""
    lstm, _ = _lstm_row(spec)
    schedule = lstm.schedule
    return {
        "optimizer": "SGD with momentum, as the LSTM rows (Kaldi nnet1)",
        "nesterov": "classical momentum, as the LSTM rows",
        "patience": ("Kaldi's newbob schedule: an epoch that does not lower the held-out loss is undone, and "
                     "training stops once the gain stays small"),
        "lr_decay_per_epoch": (f"the newbob schedule multiplies the rate by {schedule.halving_factor} per epoch once "
                               f"the held-out gain falls below {schedule.start_halving_impr:g}"),
        "clipnorm": (f"each gradient value is clipped to +-{schedule.clip_value:g}, as the LSTM rows"
                     if schedule.clip_value else "no gradient clipping, as the LSTM rows"),
    }


def frame_training(spec, training: TrainingConfig) -> FrameTraining:
    """The module's :class:`FrameTraining`: the table's LSTM schedule with ``training``'s rate, momentum,
    epochs and streams (``batch_size``)."""
    lstm, _ = _lstm_row(spec)
    schedule = replace(lstm.schedule, learning_rate=training.learning_rate, momentum=training.momentum,
                       max_epochs=training.epochs)
    return FrameTraining(schedule=schedule, num_streams=training.batch_size, bptt_length=lstm.bptt_length)


def user_scheme(spec, module: SchemeModule, table_input_: TableInput) -> Scheme:
    """The table row of a user's scheme module (see :func:`common.runner.scheme_module.add_scheme_module`).

    Its ``config`` (part of the run identity) holds the module's code version, the frame training
    after the module's overrides, Table 4's segment settings, the input shape and this adapter's
    code version. It has no ``predictor``: the table has no inference adapter.
    """
    _, segment = _lstm_row(spec)
    training = frame_training(spec, module.training_config(table_training(spec)))
    dim = int(table_input_.shape[1])
    config = {"scheme_module_code": module.ref.code, "training": asdict(training), "input_shape": [None, dim],
              "adapter_code": file_code_version(Path(__file__))}
    if segment is None:
        run_fold = partial(run_user_table2_fold, module.ref, dim, training)
        what = "frame and majority-vote segment accuracy of its frame posteriors"
    else:
        run_fold = partial(run_user_table4_fold, module.ref, dim, training, segment)
        config["segment"] = asdict(segment)
        what = "majority vote and linear SVMs on segment features of its frame posteriors"
    return Scheme(module.name, run_fold,
                  f"{module.description} (scheme module {module.ref.path}; not the paper's; a frame model trained "
                  f"as the LSTM rows; {what})",
                  config=config, scheme_module=module.ref.path)


class WindowBatches(StreamBatches):
    """:class:`~papers.lstm_segment.protocol.StreamBatches` for a one-input model: ``(frames, labels, weights)``.

    Yields (``__getitem__``): ``(float32 (S, L, D), int32 (S, L), float32 (S, L))``: the windows of
    the ``S`` streams (zeros on padding), every frame's track label, and weight 0 on padding. The
    streams' reset flags are dropped: each window is a sequence of its own.
    """

    def __getitem__(self, i):
        inputs, labels, weights = super().__getitem__(i)
        return inputs["frames"], labels, weights


def frame_model_posteriors(ref: SchemeModuleRef, n_features: int, training: FrameTraining, context: FoldContext,
                           log=print) -> tuple[dict, dict]:
    """Train a module's frame model as the LSTM rows are trained; its frame posteriors of every track (cached).

    Args:
        ref: the scheme module.
        n_features: frame dimension (545).
        training: schedule and minibatch layout.
        context: the fold (features: per track float32 ``(n_frames, n_features)``).
        log: progress printer.

    Returns:
        ``({track_id: float32 (n_frames, n_classes)} for the train, validation and test tracks,
        details dict)``; the details hold the schedule's history (``"training"``), timings and the
        module's file and code version.

    Raises:
        ConfigError: the module changed since the run was planned, or its model does not fit.
        TrainingDiverged: the loss, weights or outputs became non-finite (through the protocol's checks).
    """
    module = ref.load()
    key = FramePosteriorsKey(ref.name, ref.code, file_code_version(Path(__file__)), training)
    cache = posterior_cache_path(key, context)
    cached = read_posterior_cache(cache, log)
    if cached is not None:
        return cached
    split, n_classes = context.split, len(context.index.classes)
    standardize = FrameStandardizer.fit(TrackFrames(context.features, split.train))
    order = np.random.default_rng(context.seed).permutation(len(split.train))
    train_ids = [split.train[k] for k in order]
    train_labels = context.labels(split.train)[order]
    table_input_ = TableInput(shape=(None, n_features), meaning="one track's standardised scattering frames",
                              outputs="frame classes", n_outputs=n_classes, aggregation="")
    with FrameSequenceFile.write(TrackFrames(context.features, train_ids, standardize),
                                 context.work_dir / "module_train_frames.f32") as frame_file:
        lengths = [int(n) for n in frame_file.lengths]
        index, reset = stream_layout(lengths, training.num_streams, training.bptt_length)
        data = WindowBatches(frame_file.frames, np.repeat(train_labels, lengths), index, reset)
        validation = TrackFrames(context.features, split.validation, standardize)
        validation_labels = context.labels(split.validation)

        keras.backend.clear_session()
        keras.utils.set_random_seed(context.seed)
        model = build_checked(module, table_input_, n_classes)
        optimizer = frame_optimizer(training.schedule)
        model.compile(optimizer=optimizer, loss=summed_frame_loss())

        def train_epoch(rate):
            start_epoch(optimizer, rate)
            history = model.fit(data, epochs=1, shuffle=False, verbose=0)
            return float(history.history["loss"][-1]) / (training.num_streams * training.bptt_length)

        def validation_loss():
            if not len(validation):
                return float("nan")
            return frame_cross_entropy(predict_tracks(model, validation), validation_labels)

        t0 = time.time()
        history = newbob_train(train_epoch, validation_loss, model.get_weights, model.set_weights,
                               training.schedule, context.epochs, log)
        train_seconds = time.time() - t0
        del data
    ids = list(split.train) + list(split.validation) + list(split.test)
    posteriors = predict_tracks(model, TrackFrames(context.features, ids, standardize))
    details = {"training": history, "train_seconds": train_seconds,
               "train_frames_per_second": int(sum(lengths)) * history["epochs_run"] / max(train_seconds, 1e-9),
               "n_train_frames": int(sum(lengths)), "minibatches_per_epoch": int(len(index)),
               "padding_share": float(1.0 - sum(lengths) / max(index.size, 1)),
               "model_parameters": int(model.count_params()), "frame_training": asdict(training),
               "scheme_module": ref.path, "scheme_module_code": ref.code}
    write_posterior_cache(cache, ids, posteriors, details)
    return dict(zip(ids, posteriors)), details


def run_user_table2_fold(ref: SchemeModuleRef, n_features: int, training: FrameTraining,
                         context: FoldContext) -> FoldOutcome:
    """Table 2 row of a module's frame model: frame and majority-vote segment accuracy (%) on the test subset.

    Returns:
        :func:`papers.lstm_segment.protocol.table2_outcome` of :func:`frame_model_posteriors`.
    """
    posteriors, details = frame_model_posteriors(ref, n_features, training, context)
    return table2_outcome(posteriors, details, context)


def run_user_table4_fold(ref: SchemeModuleRef, n_features: int, training: FrameTraining, segment: SegmentConfig,
                         context: FoldContext) -> FoldOutcome:
    """Table 4 row of a module's frame model: Seg, LSeg and FSeg accuracy (%) and Figure 3's curve.

    Returns:
        :func:`papers.lstm_segment.protocol.table4_outcome` of :func:`frame_model_posteriors`.
    """
    posteriors, details = frame_model_posteriors(ref, n_features, training, context)
    return table4_outcome(posteriors, details, segment, context)

