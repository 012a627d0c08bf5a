"""Training, evaluation and segment features of the LSTM segment paper (Sec. 2.3, 3, 4).

- :class:`TrainingHoldoutSplit`: the ISMIR 2004 predefined split (train = ``training``, test =
  ``development``) with a stratified share of the training tracks held out as the
  cross-validation set that Kaldi's newbob schedule needs; the test subset is never used for
  training or model selection.
- :func:`newbob_train`: Kaldi nnet1's learning-rate schedule around a one-epoch training step.
- :func:`train_dnn_posteriors`, :func:`train_lstm_posteriors`: train a frame model and return the
  frame softmax of every track; LSTM posteriors are cached on disk and shared by Tables 2 and 4.
- :func:`majority_vote`: segment label from frame labels (Sec. 3.2).
- :func:`segment_statistics`, :func:`segment_features`: f_sc, f_lstm, f_fusion (eqs. 10-14).
- :func:`table2_outcome`, :func:`table4_outcome`: a table's result from a frame model's posteriors
  (the LSTM rows' and a scheme module's, ``papers/lstm_segment/user_scheme.py``).
- ``run_*_fold``: what a table row computes on the (single) fold.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from common.atomic_files import atomic_write_bytes
from common.datasets.base import DatasetIndex
from common.errors import AudioError, DatasetError
from common.evaluation.metrics import accuracy_percent
from common.features.store import FrameSequenceFile
from common.runner import FoldContext, FoldOutcome
from common.evaluation.splits import PredefinedSplit, Split
from common.training.divergence import check_finite
from papers.lstm_segment.config import DNNConfig, LSTMConfig, NewbobSchedule, SegmentConfig
from papers.lstm_segment.models import build_dnn, build_lstm, streaming_layers

# --------------------------------------------------------------------------------------------
# Protocol


@dataclass(frozen=True)
class TrainingHoldoutSplit:
    """Predefined train/test subsets, plus a held-out validation share of the training tracks.

    Attributes:
        train, test: subset names (paper: ISMIR 2004 ``training`` / ``development``).
        validation_fraction: share of the training tracks held out (stratified by class).
        seed: seed of the held-out draw.
    """

    train: tuple = ("training",)
    test: tuple = ("development",)
    validation_fraction: float = 0.1
    seed: int = 0

    @property
    def n_folds(self) -> int:
        """Always 1."""
        return 1

    def make_splits(self, index: DatasetIndex) -> list[Split]:
        """One :class:`Split`: validation drawn from the training subset, test = the test subset.

        Raises:
            DatasetError: a part is empty, or the training subset is too small to hold out at
                least one track per class and keep one per class for training.
        """
        base = PredefinedSplit(train=self.train, validation=(), test=self.test).make_splits(index)[0]
        if self.validation_fraction <= 0:
            return [base]
        lookup = {t.track_id: t.label for t in index.tracks}
        ids = np.array(base.train)
        labels = np.array([lookup[i] for i in ids])
        n_classes = len(set(labels))
        n_validation = max(int(round(self.validation_fraction * len(ids))), n_classes)
        counts = np.unique(labels, return_counts=True)[1]
        if len(ids) - n_validation < n_classes or counts.min() < 2:
            raise DatasetError(f"{index.name} at {index.root}: {len(ids)} training tracks (fewest per class: "
                               f"{counts.min()}) are too few to hold out a validation set of {n_validation}")
        train, validation = train_test_split(ids, test_size=n_validation, stratify=labels,
                                             random_state=self.seed)
        return [Split(fold=0, train=tuple(sorted(train)), validation=tuple(sorted(validation)), test=base.test)]

    def describe(self) -> dict:
        """JSON description for manifests."""
        return {"protocol": "predefined_split_with_training_holdout", **asdict(self)}


# --------------------------------------------------------------------------------------------
# Frame data


def majority_vote(frame_labels: np.ndarray, n_classes: int) -> int:
    """The most frequent label of a track's frames: its segment label by majority voting (Sec. 3.2).

    A tie goes to the smallest class index (the paper does not say; ``np.argmax`` of the counts).

    Args:
        frame_labels: int class indices ``(n_frames,)``, each in ``[0, n_classes)``.
        n_classes: number of classes.

    Returns:
        the winning class index.

    Raises:
        ValueError: no frame, or a label outside ``[0, n_classes)``.
    """
    frame_labels = np.asarray(frame_labels)
    if frame_labels.size == 0:
        raise ValueError("majority vote over zero frames")
    if frame_labels.min() < 0 or frame_labels.max() >= n_classes:
        raise ValueError(f"frame labels must lie in [0, {n_classes}), got {frame_labels.min()}..{frame_labels.max()}")
    return int(np.argmax(np.bincount(frame_labels, minlength=n_classes)))


@dataclass(frozen=True)
class FrameStandardizer:
    """Global per-dimension mean/variance normalisation fitted on training frames.

    Kaldi nnet1's ``train.sh`` puts this in front of every network (its feature transform).

    Attributes:
        mean, std: float32 ``(dim,)``.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, tracks: Sequence[np.ndarray], floor: float = 1e-5) -> "FrameStandardizer":
        """Fit on the frames ``(n_frames_i, dim)`` of the training tracks.

        Three passes over ``tracks`` (the frame count, the mean, then the variance about it), one
        track at a time: a lazy sequence (:class:`TrackFrames`) reads each track three times and
        never holds more than one in memory.
        """
        count = sum(len(t) for t in tracks)
        total = sum(t.sum(axis=0, dtype=np.float64) for t in tracks)
        mean = total / count
        var = sum(((t - mean) ** 2).sum(axis=0) for t in tracks) / count
        return cls(mean.astype(np.float32), np.maximum(np.sqrt(var), floor).astype(np.float32))

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Normalised float32 copy of ``frames`` ``(n, dim)``."""
        return ((frames - self.mean) / self.std).astype(np.float32)


class TrackFrames(Sequence):
    """The frames of some tracks, read from the fold's features on access (lazy, nothing held).

    ``context.features`` holds features in memory up to a budget and reads the rest back from
    the feature cache (:class:`common.runner.preparation.PreparedFeatures`); listing every
    track's frames at once (ISMIR 2004: 4.3 GB of float32 scattering frames) would defeat that.

    Args:
        features: ``{track_id: (n_frames, dim) array}``.
        ids: track ids, in the sequence's order.
        standardize: applied to each track on access (None: the frames as stored).
    """

    def __init__(self, features, ids, standardize: "FrameStandardizer | None" = None):
        self.features, self.ids, self.standardize = features, list(ids), standardize

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, k: int) -> np.ndarray:
        frames = self.features[self.ids[k]]
        return self.standardize(frames) if self.standardize is not None else frames


def frame_cross_entropy(probabilities: list[np.ndarray], labels: np.ndarray) -> float:
    """Mean per-frame cross-entropy (nats) of tracks' frame posteriors against their track labels.

    Args:
        probabilities: per track ``(n_frames_i, n_classes)``.
        labels: int ``(n_tracks,)``.
    """
    total, count = 0.0, 0
    for probs, label in zip(probabilities, labels):
        total += float(-np.log(np.clip(probs[:, label], 1e-12, None)).sum())
        count += len(probs)
    return total / count


def segment_votes(probabilities: list[np.ndarray], n_classes: int) -> np.ndarray:
    """Segment (track) label of each track by majority vote of its frames' argmax (Sec. 3.2).

    Args:
        probabilities: per track ``(n_frames_i, n_classes)`` frame posteriors.
        n_classes: number of classes.

    Returns:
        int64 ``(n_tracks,)`` class indices.
    """
    return np.array([majority_vote(p.argmax(axis=1), n_classes) for p in probabilities], dtype=np.int64)


def frame_and_segment_accuracy(probabilities: list[np.ndarray], labels: np.ndarray, n_classes: int) -> dict:
    """Frame accuracy and segment (track) accuracy by majority vote, in percent (Table 2).

    Args:
        probabilities: per track ``(n_frames_i, n_classes)`` frame posteriors.
        labels: int ``(n_tracks,)`` track labels.
        n_classes: number of classes.

    Returns:
        ``{"frame_accuracy": %, "segment_accuracy": %}``; frame accuracy pools all frames of
        all tracks, segment accuracy counts tracks whose majority-vote label is right.
    """
    frame_pred = np.concatenate([p.argmax(axis=1) for p in probabilities])
    frame_true = np.repeat(labels, [len(p) for p in probabilities])
    votes = segment_votes(probabilities, n_classes)
    return {"frame_accuracy": accuracy_percent(frame_true, frame_pred),
            "segment_accuracy": accuracy_percent(labels, votes)}


# --------------------------------------------------------------------------------------------
# Kaldi nnet1 newbob schedule


def newbob_train(train_epoch, validation_loss, get_weights, set_weights, schedule: NewbobSchedule,
                 max_epochs: int | None = None, log=print) -> dict:
    """Kaldi nnet1 ``train_scheduler.sh``: accept/reject epochs on held-out loss, halve the rate.

    Args:
        train_epoch: ``learning_rate -> mean training loss`` (one pass over the training data,
            momentum starting from zero).
        validation_loss: ``() -> mean per-frame cross-entropy`` on the held-out set.
        get_weights, set_weights: read / restore the model weights.
        schedule: rates and thresholds.
        max_epochs: cap overriding ``schedule.max_epochs`` (quick runs), or None.
        log: progress printer.

    Returns:
        ``{"epochs": [{epoch, learning_rate, train_loss, validation_loss, accepted}],
        "initial_validation_loss", "best_validation_loss", "epochs_run", "accepted_epochs",
        "stop_reason"}``; the model holds the last accepted weights on return.
    """
    limit = min(schedule.max_epochs, max_epochs) if max_epochs else schedule.max_epochs
    rate, halving = schedule.learning_rate, False
    loss = validation_loss()
    best = get_weights()
    history = {"initial_validation_loss": loss, "epochs": [], "stop_reason": f"max_epochs ({limit})"}
    for epoch in range(1, limit + 1):
        t0 = time.time()
        train_loss = train_epoch(rate)
        new_loss = validation_loss()
        loss_prev = loss
        accepted = bool(np.isfinite(new_loss) and new_loss < loss)
        if accepted:
            loss, best = new_loss, get_weights()
        else:
            set_weights(best)
        history["epochs"].append({"epoch": epoch, "learning_rate": rate, "train_loss": train_loss,
                                  "validation_loss": new_loss, "accepted": accepted,
                                  "seconds": time.time() - t0})
        log(f"    epoch {epoch}: lr {rate:.3g}, train loss {train_loss:.4f}, validation loss {new_loss:.4f} "
            f"({'accepted' if accepted else 'rejected'}, {time.time() - t0:.0f} s)")
        rel_impr = (loss_prev - loss) / loss_prev if loss_prev > 0 else 0.0
        if halving and rel_impr < schedule.end_halving_impr:
            history["stop_reason"] = f"relative improvement {rel_impr:.2e} < {schedule.end_halving_impr} while halving"
            break
        if rel_impr < schedule.start_halving_impr:
            halving = True
        if halving:
            rate *= schedule.halving_factor
    history["best_validation_loss"] = loss
    history["epochs_run"] = len(history["epochs"])
    history["accepted_epochs"] = sum(e["accepted"] for e in history["epochs"])
    return history


def frame_optimizer(schedule: NewbobSchedule) -> keras.optimizers.SGD:
    """SGD with the schedule's rate, momentum and per-value gradient clipping (Kaldi nnet1, paper Table 3)."""
    return keras.optimizers.SGD(learning_rate=schedule.learning_rate, momentum=schedule.momentum,
                                clipvalue=schedule.clip_value)


def start_epoch(optimizer: keras.optimizers.Optimizer, rate: float) -> None:
    """Set the rate and zero the momentum buffers (a Kaldi epoch starts from zero momentum)."""
    optimizer.learning_rate = rate
    for variable in getattr(optimizer, "momentums", []) or []:
        variable.assign(keras.ops.zeros(variable.shape, dtype=variable.dtype))  # zeros_like fails on JAX


def summed_frame_loss() -> keras.losses.Loss:
    """Frame cross-entropy summed over a minibatch's frames (Kaldi nnet1 accumulates the gradient so),
    for int labels ``(S, L)`` or ``(B,)`` and softmax outputs; padded frames get sample weight 0."""
    return keras.losses.SparseCategoricalCrossentropy(reduction="sum")


# --------------------------------------------------------------------------------------------
# DNN


class ShuffledFrames(keras.utils.PyDataset):
    """Minibatches of frames in a seeded random order, gathered from a (memory-mapped) frame array.

    What ``fit(x, y, shuffle=True)`` does for in-memory arrays, without the copy of the whole
    array it makes: the order is a permutation of all rows, drawn again by :meth:`reshuffle`;
    each batch's rows are read in increasing file order (the order within a minibatch does not
    change a summed loss).

    Args:
        frames: float32 ``(n_frames, dim)``, e.g. :attr:`FrameSequenceFile.frames`.
        labels: int ``(n_frames,)``.
        batch_size: frames per minibatch (the last one may be smaller).
        seed: seed of the permutations.

    Yields (``__getitem__``): ``(float32 (b, dim), int32 (b,))``.
    """

    def __init__(self, frames: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        super().__init__(workers=1, use_multiprocessing=False)
        self.frames, self.labels = frames, np.asarray(labels, dtype=np.int32)
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.labels))

    def reshuffle(self) -> None:
        """Draw the next epoch's order."""
        self.order = self.rng.permutation(len(self.labels))

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, i):
        rows = np.sort(self.order[i * self.batch_size:(i + 1) * self.batch_size])
        return np.asarray(self.frames[rows], dtype=np.float32), self.labels[rows]


def _frame_file_path(context: FoldContext, name: str):
    return context.work_dir / f"{name}.f32"


def train_dnn_posteriors(config: DNNConfig, context: FoldContext, log=print):
    """Train a baseline DNN on frames of the training tracks; frame posteriors of the test tracks.

    The standardised training frames are written once to a scratch :class:`FrameSequenceFile`
    in the unit's work folder and minibatches are gathered from it (:class:`ShuffledFrames`), so
    memory does not grow with the dataset; validation and test tracks are read one at a time.

    Returns:
        ``(test posteriors [per track float32 (n_frames, n_classes)], details dict)``.
    """
    split, n_classes = context.split, len(context.index.classes)
    standardize = FrameStandardizer.fit(TrackFrames(context.features, split.train))
    with FrameSequenceFile.write(TrackFrames(context.features, split.train, standardize),
                                 _frame_file_path(context, "dnn_train_frames")) as frame_file:
        train_labels = np.repeat(context.labels(split.train), frame_file.lengths)
        data = ShuffledFrames(frame_file.frames, train_labels, config.batch_size, context.seed)
        validation = TrackFrames(context.features, split.validation, standardize)
        validation_labels = context.labels(split.validation)

        keras.backend.clear_session()
        keras.utils.set_random_seed(context.seed)
        model = build_dnn(config, frame_file.frames.shape[1], n_classes)
        optimizer = frame_optimizer(config.schedule)
        model.compile(optimizer=optimizer, loss=summed_frame_loss())
        batch = config.batch_size

        def predict(tracks):
            return [model.predict(tracks[k], batch_size=4096, verbose=0) for k in range(len(tracks))]

        def train_epoch(rate):
            start_epoch(optimizer, rate)
            history = model.fit(data, epochs=1, shuffle=False, verbose=0)
            data.reshuffle()
            return float(history.history["loss"][-1]) / batch

        def validation_loss():
            return frame_cross_entropy(predict(validation), validation_labels) if len(validation) else float("nan")

        t0 = time.time()
        history = newbob_train(train_epoch, validation_loss, model.get_weights, model.set_weights, config.schedule,
                               context.epochs, log)
        train_seconds = time.time() - t0
        n_train_frames = int(frame_file.frames.shape[0])
    test = predict(TrackFrames(context.features, split.test, standardize))
    details = {"training": history, "train_seconds": train_seconds,
               "train_frames_per_second": n_train_frames * history["epochs_run"] / max(train_seconds, 1e-9),
               "n_train_frames": n_train_frames, "model_parameters": int(model.count_params()),
               "model_config": asdict(config)}
    return test, details


# --------------------------------------------------------------------------------------------
# LSTM


def stream_layout(lengths: list[int], n_streams: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaldi ``nnet-train-lstm-streams`` batching: tracks dealt to ``n_streams`` parallel streams.

    Each minibatch takes the next ``window`` frames of every stream; a stream whose track is
    exhausted gets the next track (in the given order) at the next minibatch, its state reset;
    the rest of an exhausted track's last window is padding. Batches continue until every track
    is consumed.

    Args:
        lengths: frames per track, in training order.
        n_streams: ``S``.
        window: ``L``, frames per stream per minibatch (BPTT length).

    Returns:
        ``(index, reset)``: int64 ``(B, S, L)`` positions in the concatenation of all tracks'
        frames (-1 for padding) and float32 ``(B, S)`` reset flags (1 where a stream starts a
        track).
    """
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    queue = [k for k, n in enumerate(lengths) if n > 0]
    position = 0
    start, remaining = np.zeros(n_streams, np.int64), np.zeros(n_streams, np.int64)
    indices, resets = [], []
    while True:
        reset = np.zeros(n_streams, np.float32)
        for s in range(n_streams):
            if remaining[s] <= 0 and position < len(queue):
                track = queue[position]
                position += 1
                start[s], remaining[s], reset[s] = offsets[track], lengths[track], 1.0
        if not np.any(remaining > 0):
            break
        index = np.full((n_streams, window), -1, np.int64)
        for s in range(n_streams):
            n = int(min(window, max(remaining[s], 0)))
            index[s, :n] = start[s] + np.arange(n)
            start[s] += window
            remaining[s] -= window
        indices.append(index)
        resets.append(reset)
    if not indices:
        return np.zeros((0, n_streams, window), np.int64), np.zeros((0, n_streams), np.float32)
    return np.stack(indices), np.stack(resets)


class StreamBatches(keras.utils.PyDataset):
    """Minibatches of :func:`stream_layout` for ``fit``: ``({"frames", "reset"}, labels, weights)``.

    ``frames`` is float32 ``(S, L, D)`` (zeros on padding), labels int32 ``(S, L)``, weights
    float32 ``(S, L)`` (0 on padding, so padded frames add nothing to the summed loss).

    Args:
        frames: float32 ``(n_frames, D)``, the training tracks one after another (a memory-mapped
            :attr:`FrameSequenceFile.frames`: rows are read per minibatch, never copied whole).
        frame_labels: int ``(n_frames,)``.
        index: int64 ``(B, S, L)`` rows of ``frames`` (-1: padding), from :func:`stream_layout`.
        reset: float32 ``(B, S)``.
    """

    def __init__(self, frames: np.ndarray, frame_labels: np.ndarray, index: np.ndarray, reset: np.ndarray):
        super().__init__(workers=1, use_multiprocessing=False)
        self.frames = frames
        self.frame_labels = np.asarray(frame_labels, dtype=np.int32)
        self.index, self.reset = index, reset

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        index = self.index[i]
        padding = index < 0
        weights = (~padding).astype(np.float32)
        rows = np.where(padding, 0, index)
        frames = np.asarray(self.frames[rows], dtype=np.float32)
        frames[padding] = 0.0
        labels = self.frame_labels[rows]
        labels[padding] = 0
        return ({"frames": frames, "reset": self.reset[i]}, labels, weights)


def predict_tracks(model: keras.Model, tracks: Sequence[np.ndarray], batch_tracks: int = 16,
                   bucket: int = 128, lengths: Sequence[int] | None = None) -> list[np.ndarray]:
    """Frame posteriors of whole tracks with the inference model, state reset per track.

    Tracks are sorted by length and batched ``batch_tracks`` at a time, zero-padded at the end to
    a multiple of ``bucket`` frames (few distinct shapes, so few retracings); the recurrence is
    causal, so the padding never changes a track's own outputs. Each track is read once when its
    batch is built (``tracks`` may be a lazy :class:`TrackFrames`; pass ``lengths`` to sort
    without reading them twice).

    Args:
        tracks: per track float32 ``(n_frames_i, dim)``.
        lengths: ``n_frames_i`` per track (None: ``len(tracks[k])``).

    Returns:
        per track float32 ``(n_frames_i, n_classes)``, in the order of ``tracks``.
    """
    lengths = [len(tracks[k]) for k in range(len(tracks))] if lengths is None else [int(n) for n in lengths]
    order = np.argsort(lengths, kind="stable")
    out: list = [None] * len(tracks)
    for first in range(0, len(order), batch_tracks):
        chosen = order[first:first + batch_tracks]
        longest = -(-max(lengths[k] for k in chosen) // bucket) * bucket
        batch = None
        for row, k in enumerate(chosen):
            frames = tracks[k]
            if batch is None:
                batch = np.zeros((batch_tracks, longest, frames.shape[1]), np.float32)
            batch[row, :len(frames)] = frames
        probs = np.asarray(model.predict_on_batch(batch))
        for row, k in enumerate(chosen):
            out[k] = probs[row, :lengths[k]].astype(np.float32)
    return out


def _feature_digest(context: FoldContext, ids) -> str:
    digest = hashlib.sha1()
    for track_id in ids:
        frames = context.features[track_id]
        digest.update(f"{track_id}:{frames.shape}".encode())
        digest.update(np.ascontiguousarray(frames[:: max(1, len(frames) // 16)]).tobytes())
    return digest.hexdigest()[:16]


def posterior_cache_path(config: LSTMConfig, context: FoldContext):
    """Where the LSTM's frame posteriors are shared between tables.

    ``<work>/<paper>/lstm_posteriors/<key>.npz``, the key hashing the model and training config,
    the split, the seed, the epoch cap and a digest of the features, so that Tables 2 and 4 (run
    with the same settings, seed and schemes) train each LSTM once.
    """
    split = context.split
    ids = split.train + split.validation + split.test
    key = hashlib.sha1(json.dumps({"config": asdict(config), "split": split.fingerprint(), "seed": context.seed,
                                   "epochs": context.epochs, "features": _feature_digest(context, ids)},
                                  sort_keys=True, default=str).encode()).hexdigest()[:16]
    return context.work_dir.parents[2] / "lstm_posteriors" / f"{key}.npz"


def train_lstm_posteriors(config: LSTMConfig, context: FoldContext, log=print) -> tuple[dict, dict]:
    """Frame posteriors of every track of the fold from a trained LSTM RNN (cached, see above).

    Training: tracks of the training part in a seeded random order, dealt to ``num_streams``
    streams, windows of ``bptt_length`` frames (truncated BPTT with state carried over), summed
    frame cross-entropy, SGD with momentum under the newbob schedule on the held-out tracks.
    Posteriors: the inference model over each whole track, state reset per track.

    Returns:
        ``({track_id: float32 (n_frames, n_classes)} for train, validation and test tracks,
        details dict)``.
    """
    cache = posterior_cache_path(config, context)
    cached = read_posterior_cache(cache, log)
    if cached is not None:
        return cached
    split, n_classes = context.split, len(context.index.classes)
    standardize = FrameStandardizer.fit(TrackFrames(context.features, split.train))
    rng = np.random.default_rng(context.seed)
    order = rng.permutation(len(split.train))
    train_ids = [split.train[k] for k in order]
    train_labels = context.labels(split.train)[order]
    with FrameSequenceFile.write(TrackFrames(context.features, train_ids, standardize),
                                 _frame_file_path(context, "lstm_train_frames")) as frame_file:
        lengths = [int(n) for n in frame_file.lengths]
        index, reset = stream_layout(lengths, config.num_streams, config.bptt_length)
        data = StreamBatches(frame_file.frames, np.repeat(train_labels, lengths), index, reset)
        validation = TrackFrames(context.features, split.validation, standardize)
        validation_labels = context.labels(split.validation)

        keras.backend.clear_session()
        keras.utils.set_random_seed(context.seed)
        training_model, inference_model = build_lstm(config, frame_file.frames.shape[1], n_classes)
        optimizer = frame_optimizer(config.schedule)
        training_model.compile(optimizer=optimizer, loss=summed_frame_loss())
        streams = streaming_layers(training_model)

        def train_epoch(rate):
            start_epoch(optimizer, rate)
            for layer in streams:
                layer.reset_streams()
            history = training_model.fit(data, epochs=1, shuffle=False, verbose=0)
            return float(history.history["loss"][-1]) / (config.num_streams * config.bptt_length)

        def validation_loss():
            if not len(validation):
                return float("nan")
            return frame_cross_entropy(predict_tracks(inference_model, validation), validation_labels)

        t0 = time.time()
        history = newbob_train(train_epoch, validation_loss, training_model.get_weights, training_model.set_weights,
                               config.schedule, context.epochs, log)
        train_seconds = time.time() - t0
        del data
    ids = list(split.train) + list(split.validation) + list(split.test)
    posteriors = predict_tracks(inference_model, TrackFrames(context.features, ids, standardize))
    details = {"training": history, "train_seconds": train_seconds,
               "train_frames_per_second": int(sum(lengths)) * history["epochs_run"] / max(train_seconds, 1e-9),
               "n_train_frames": int(sum(lengths)), "minibatches_per_epoch": int(len(index)),
               "padding_share": float(1.0 - sum(lengths) / max(index.size, 1)),
               "model_parameters": int(inference_model.count_params()), "model_config": asdict(config)}
    write_posterior_cache(cache, ids, posteriors, details)
    return dict(zip(ids, posteriors)), details


def read_posterior_cache(cache, log=print) -> tuple[dict, dict] | None:
    """Frame posteriors stored by :func:`write_posterior_cache`, or None (absent or unreadable: train again).

    Returns:
        ``({track_id: float32 (n_frames, n_classes)}, details)``; the details gain
        ``"posteriors_reused_from"``: the file.
    """
    if not cache.exists():
        return None
    try:
        with np.load(cache, allow_pickle=False) as stored:
            details = json.loads(str(stored["details"]))
            ids = [str(i) for i in stored["ids"]]
            lengths = stored["lengths"]
            flat = stored["posteriors"]
        parts = np.split(flat, np.cumsum(lengths)[:-1])
        log(f"    reusing LSTM posteriors from {cache}")
        return dict(zip(ids, parts)), {**details, "posteriors_reused_from": str(cache)}
    except (OSError, ValueError, KeyError) as exc:
        log(f"    {cache} unreadable ({exc}); training again")
        return None


def write_posterior_cache(cache, ids: list, posteriors: list[np.ndarray], details: dict) -> None:
    """Store the frame posteriors of tracks ``ids`` (per track float32 ``(n_frames, n_classes)``) and the
    training details (JSON-able) atomically in ``cache`` (``.npz``), for :func:`read_posterior_cache`."""
    payload = {"ids": np.array(ids), "lengths": np.array([len(p) for p in posteriors]),
               "posteriors": np.concatenate(posteriors), "details": np.array(json.dumps(details))}
    atomic_write_bytes(cache, lambda handle: np.savez(handle, **payload))


# --------------------------------------------------------------------------------------------
# Segment features (Sec. 2.3)


def segment_statistics(posteriors: np.ndarray, k: float) -> np.ndarray:
    """LSTM segment feature f_lstm of one track (paper eqs. 11-14).

    Args:
        posteriors: frame softmax ``(n_frames, n_classes)`` of the track.
        k: threshold of eq. 14.

    Returns:
        float64 ``(4 * n_classes,)``: ``[max over frames, min, mean, share of frames with
        probability > k]``, each per class (24 values for 6 genres).

    Raises:
        ValueError: no frame.
    """
    posteriors = np.asarray(posteriors, dtype=np.float64)
    if posteriors.ndim != 2 or len(posteriors) == 0:
        raise ValueError(f"need posteriors (n_frames >= 1, n_classes), got shape {posteriors.shape}")
    return np.concatenate([posteriors.max(axis=0), posteriors.min(axis=0), posteriors.mean(axis=0),
                           (posteriors > k).mean(axis=0)])


def segment_features(frames: np.ndarray, posteriors: np.ndarray, k: float, mean_frame: bool = False) -> dict:
    """The three segment features of one track (paper eqs. 10-14).

    Args:
        frames: scattering frames ``(n_frames, dim)`` (the initial features, before normalisation),
            or with ``mean_frame`` their float64 mean ``(dim,)`` already taken (f_sc itself).
        posteriors: LSTM frame softmax ``(n_frames, n_classes)``.
        k: threshold of f_lstm^k.
        mean_frame: ``frames`` is already f_sc.

    Returns:
        ``{"sc": (dim,), "lstm": (4 * n_classes,), "fusion": (dim + 4 * n_classes,)}`` float64:
        f_sc the mean frame (eq. 10), f_lstm (eqs. 11-14), f_fusion = [f_sc, f_lstm].
    """
    f_sc = np.asarray(frames, dtype=np.float64)
    f_sc = f_sc if mean_frame else f_sc.mean(axis=0)
    f_lstm = segment_statistics(posteriors, k)
    return {"sc": f_sc, "lstm": f_lstm, "fusion": np.concatenate([f_sc, f_lstm])}


def svm_predictions(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, config: SegmentConfig) -> np.ndarray:
    """Class indices ``(n_test,)`` predicted by a linear SVM (scikit-learn ``SVC(kernel="linear")``)
    trained on segment features ``train_x`` ``(n_train, dim)`` with int labels ``train_y``.

    Raises:
        TrainingDiverged: a segment feature or a decision value is not finite (e.g. posteriors of a
            diverged LSTM reused from the cache): the unit is recorded as diverged, not as a result.
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    check_finite(train_x, "segment features of the training tracks")
    check_finite(test_x, "segment features of the test tracks")
    steps = [StandardScaler()] if config.standardize else []
    classifier = make_pipeline(*steps, SVC(kernel="linear", C=config.svm_c))
    classifier.fit(train_x, train_y)
    check_finite(classifier.decision_function(test_x), "SVM decision values on the test tracks")
    return classifier.predict(test_x)


def svm_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 config: SegmentConfig) -> float:
    """Accuracy (%) of a linear SVM (scikit-learn ``SVC(kernel="linear")``) on segment features."""
    return accuracy_percent(test_y, svm_predictions(train_x, train_y, test_x, config))


# --------------------------------------------------------------------------------------------
# Table rows


def _subset_counts(context: FoldContext) -> dict:
    from common.datasets.ismir2004 import subset_class_counts

    return subset_class_counts(context.index)


def _test_decisions(context: FoldContext, decisions: dict) -> dict:
    """Per-track test decisions for the fold record (read by :mod:`common.outputs.confusion`).

    Args:
        context: the fold.
        decisions: ``{metric: int class indices (n_test,)}`` in the order of ``context.split.test``.

    Returns:
        ``{"test_ids", "test_labels", "test_predictions_by_metric", "classes"}`` (JSON-able).
    """
    test = list(context.split.test)
    return {"test_ids": test, "test_labels": context.labels(test).tolist(),
            "test_predictions_by_metric": {m: np.asarray(p).astype(int).tolist() for m, p in decisions.items()},
            "classes": list(context.index.classes)}


def test_evidence(labels: np.ndarray, decisions: dict, posteriors: list[np.ndarray] | None = None) -> dict:
    """Per-test-track evidence of a fold, from which :func:`evidence_metrics` gives its accuracies again.

    Args:
        labels: int ``(n_tracks,)`` true classes of the test tracks.
        decisions: ``{metric: int (n_tracks,)}`` the track decisions each accuracy counts.
        posteriors: per test track ``(n_frames_i, n_classes)`` frame posteriors, for the frame
            accuracy (None: no frame accuracy).

    Returns:
        ``{"labels", "pred_<metric>", ...}`` int64 ``(n_tracks,)`` and, with posteriors,
        ``"frames"`` (frames per track) and ``"frames_correct"`` (frames whose arg-max is the
        track's class); one row per test track, so a bootstrap resamples tracks with all their frames.
    """
    labels = np.asarray(labels, dtype=np.int64)
    evidence = {"labels": labels, **{f"pred_{m}": np.asarray(p, dtype=np.int64) for m, p in decisions.items()}}
    if posteriors is not None:
        evidence["frames"] = np.array([len(p) for p in posteriors], dtype=np.int64)
        evidence["frames_correct"] = np.array([int(np.sum(p.argmax(axis=1) == y)) for p, y in zip(posteriors, labels)],
                                              dtype=np.int64)
    return evidence


def evidence_metrics(evidence: dict) -> dict:
    """The accuracies (percent) of a fold's test evidence (:func:`test_evidence`) or of a resample of it.

    Track accuracies are :func:`common.evaluation.metrics.accuracy_percent` of the labels and each
    ``pred_<metric>``; the frame accuracy pools the frames of the tracks, as
    :func:`frame_and_segment_accuracy` does: ``100 * sum(frames_correct) / sum(frames)``.

    Returns:
        ``{metric: percent}``.
    """
    labels = evidence["labels"]
    out = {name[len("pred_"):]: accuracy_percent(labels, decided) for name, decided in evidence.items()
           if name.startswith("pred_")}
    if "frames" in evidence:
        out["frame_accuracy"] = float(100.0 * np.sum(evidence["frames_correct"]) / np.sum(evidence["frames"]))
    return out


def run_dnn_fold(config: DNNConfig, context: FoldContext) -> FoldOutcome:
    """Table 2, DNN row: train on frames, frame accuracy and majority-vote segment accuracy."""
    test, details = train_dnn_posteriors(config, context)
    labels = context.labels(context.split.test)
    metrics = frame_and_segment_accuracy(test, labels, len(context.index.classes))
    details["subset_class_counts"] = _subset_counts(context)
    votes = segment_votes(test, len(context.index.classes))
    details.update(_test_decisions(context, {"segment_accuracy": votes}))
    return FoldOutcome(metrics=metrics, details=details,
                       evidence=test_evidence(labels, {"segment_accuracy": votes}, test))


def run_lstm_table2_fold(config: LSTMConfig, context: FoldContext) -> FoldOutcome:
    """Table 2, LSTM row: frame and segment accuracy of the LSTM's frame posteriors."""
    posteriors, details = train_lstm_posteriors(config, context)
    return table2_outcome(posteriors, details, context)


def table2_outcome(posteriors: dict, details: dict, context: FoldContext) -> FoldOutcome:
    """Table 2's result of a frame model's posteriors: frame accuracy and majority-vote segment accuracy (%).

    Args:
        posteriors: ``{track_id: float32 (n_frames, n_classes)}`` frame softmax, the test tracks included.
        details: the training details (extended here).
        context: the fold.

    Returns:
        ``FoldOutcome`` with ``frame_accuracy`` and ``segment_accuracy`` of the test tracks, their
        decisions and the per-track evidence (:func:`test_evidence`).
    """
    split = context.split
    test = [posteriors[i] for i in split.test]
    labels = context.labels(split.test)
    metrics = frame_and_segment_accuracy(test, labels, len(context.index.classes))
    details["subset_class_counts"] = _subset_counts(context)
    votes = segment_votes(test, len(context.index.classes))
    details.update(_test_decisions(context, {"segment_accuracy": votes}))
    return FoldOutcome(metrics=metrics, details=details,
                       evidence=test_evidence(labels, {"segment_accuracy": votes}, test))


def run_lstm_table4_fold(config: LSTMConfig, segment: SegmentConfig, context: FoldContext) -> FoldOutcome:
    """Table 4, LSTM row: Seg acc (majority vote), LSeg acc (SVM on f_lstm), FSeg acc (SVM on f_fusion).

    The SVMs are trained on the segment features of all training-subset tracks (the LSTM's
    training and held-out tracks) and tested on the test subset, at ``segment.k`` for the table
    and at every ``segment.k_grid`` value for Figure 3.
    """
    posteriors, details = train_lstm_posteriors(config, context)
    return table4_outcome(posteriors, details, segment, context)


def table4_outcome(posteriors: dict, details: dict, segment: SegmentConfig, context: FoldContext) -> FoldOutcome:
    """Table 4's result of a frame model's posteriors: Seg, LSeg and FSeg accuracy (%) and Figure 3's curve.

    Seg: majority vote of the test tracks' frames; LSeg / FSeg: a linear SVM (:func:`svm_predictions`)
    trained on f_lstm / f_fusion (:func:`segment_features`) of every training-subset track (the
    frame model's training and held-out tracks) and tested on the test tracks, at ``segment.k``
    and at every ``segment.k_grid`` value (``details["k_curve"]``).

    Args:
        posteriors: ``{track_id: float32 (n_frames, n_classes)}`` frame softmax of every track of the fold.
        details: the training details (extended here).
        segment: k, the k grid and the SVM's settings.
        context: the fold (its features give f_sc, the mean scattering frame).
    """
    split, n_classes = context.split, len(context.index.classes)
    train_ids = list(split.train) + list(split.validation)
    train_y, test_y = context.labels(train_ids), context.labels(split.test)
    seg = frame_and_segment_accuracy([posteriors[i] for i in split.test], test_y, n_classes)

    # f_sc (eq. 10) does not depend on k: each track's frames are read once, not once per k and kind
    mean_frames = {i: np.asarray(context.features[i], dtype=np.float64).mean(axis=0)
                   for i in train_ids + list(split.test)}

    def features(ids, k, kind):
        return np.stack([segment_features(mean_frames[i], posteriors[i], k, mean_frame=True)[kind] for i in ids])

    curve = {"k": [], "lseg_accuracy": [], "fseg_accuracy": []}
    decisions = {"seg_accuracy": segment_votes([posteriors[i] for i in split.test], n_classes)}
    for k in sorted(set(segment.k_grid) | {segment.k}):
        curve["k"].append(float(k))
        for kind, name in (("lstm", "lseg_accuracy"), ("fusion", "fseg_accuracy")):
            predicted = svm_predictions(features(train_ids, k, kind), train_y, features(split.test, k, kind), segment)
            curve[name].append(accuracy_percent(test_y, predicted))
            if float(k) == float(segment.k):
                decisions[name] = predicted
    at_k = curve["k"].index(float(segment.k))
    metrics = {"seg_accuracy": seg["segment_accuracy"], "lseg_accuracy": curve["lseg_accuracy"][at_k],
               "fseg_accuracy": curve["fseg_accuracy"][at_k]}
    details.update({"k_curve": curve, "frame_accuracy": seg["frame_accuracy"], "segment_config": asdict(segment),
                    "n_svm_train_tracks": len(train_ids), "subset_class_counts": _subset_counts(context),
                    **_test_decisions(context, decisions)})
    return FoldOutcome(metrics=metrics, details=details, evidence=test_evidence(test_y, decisions))


def prepare_frames(frames: np.ndarray, track) -> np.ndarray:
    """Cached scattering frames ``(n_frames, dim)``, unchanged; a track without frames -> AudioError."""
    if frames.ndim != 2 or len(frames) == 0:
        raise AudioError(track.path, f"no scattering frame (features of shape {frames.shape})")
    return frames
