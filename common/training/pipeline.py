"""tf.data input pipelines built from cached features, and feature standardisation.

Two granularities:

- **chunk level** (:func:`chunk_dataset`): every chunk is an example carrying its track's
  label; used by models that classify chunks (MCCLSTM schemes R0, R2, R3, CNNs-3). A track's
  prediction is then made from its own chunks only (:func:`common.evaluation.metrics.track_probabilities`).
- **track level** (:func:`sequence_dataset`): every track is an example holding its sequence of
  chunks, zero-padded per batch to the longest track of the batch, together with its true chunk
  count ``n_chunks``. Sequence models mask the padded steps with ``n_chunks``
  (:class:`common.models.layers.SequenceMask`), so padding never reaches a prediction.

Both pipelines shuffle (training only), batch and prefetch (``tf.data.AUTOTUNE``) so that a GPU
is kept busy; all arrays live in host memory (the full GTZAN at 40 x 80 chunks is ~200 MB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrackChunks:
    """The chunks of a set of tracks, concatenated.

    Attributes:
        chunks: float32 ``(total_chunks, n_bands, n_frames)``.
        n_chunks: int64 ``(n_tracks,)``: chunks per track, in track order.
        labels: ``(n_tracks,)`` int64 class indices, or ``(n_tracks, n_tags)`` float32 targets.
    """

    chunks: np.ndarray
    n_chunks: np.ndarray
    labels: np.ndarray

    @property
    def chunk_track(self) -> np.ndarray:
        """int64 ``(total_chunks,)``: index of the track each chunk belongs to."""
        return np.repeat(np.arange(len(self.n_chunks)), self.n_chunks)

    @property
    def chunk_labels(self) -> np.ndarray:
        """Targets repeated per chunk: ``(total_chunks,)`` or ``(total_chunks, n_tags)``."""
        return np.repeat(self.labels, self.n_chunks, axis=0)

    @classmethod
    def from_tracks(cls, per_track: list[np.ndarray], labels: np.ndarray) -> "TrackChunks":
        """Concatenate per-track chunk arrays ``(n_chunks_i, n_bands, n_frames)``.

        Raises:
            ValueError: the lists differ in length, a track has no chunk, or shapes disagree.
        """
        if len(per_track) != len(labels):
            raise ValueError(f"{len(per_track)} tracks but {len(labels)} labels")
        if not per_track or any(len(c) == 0 for c in per_track):
            raise ValueError("every track needs at least one chunk")
        return cls(chunks=np.concatenate(per_track).astype(np.float32, copy=False),
                   n_chunks=np.array([len(c) for c in per_track], dtype=np.int64),
                   labels=np.asarray(labels))


@dataclass(frozen=True)
class BandStandardizer:
    """Per-band standardisation fitted on training data: ``(x - mean[band]) / std[band]``.

    Attributes:
        mean, std: float32 ``(n_bands,)``.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, chunks: np.ndarray, floor: float = 1e-3) -> "BandStandardizer":
        """Fit on chunks ``(n, n_bands, n_frames)`` (training tracks only: never validation/test)."""
        mean = chunks.mean(axis=(0, 2), dtype=np.float64)
        std = np.maximum(chunks.std(axis=(0, 2), dtype=np.float64), floor)
        return cls(mean=mean.astype(np.float32), std=std.astype(np.float32))

    def __call__(self, chunks: np.ndarray) -> np.ndarray:
        """Standardised float32 copy of ``chunks`` ``(n, n_bands, n_frames)``."""
        return ((chunks - self.mean[None, :, None]) / self.std[None, :, None]).astype(np.float32)


def chunk_dataset(data: TrackChunks, batch_size: int, *, shuffle: bool, seed: int = 0):
    """Chunk-level ``tf.data.Dataset`` of ``(chunk, target)`` batches.

    Args:
        data: chunks and labels.
        batch_size: chunks per batch.
        shuffle: reshuffle every epoch (training).
        seed: shuffle seed.

    Returns:
        dataset of ``(float32 (B, n_bands, n_frames), target (B,) or (B, n_tags))``.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((data.chunks, data.chunk_labels))
    if shuffle:
        ds = ds.shuffle(len(data.chunks), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def chunk_inputs_dataset(chunks: np.ndarray, batch_size: int):
    """Chunk-level dataset of inputs only, in order, for prediction."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(chunks).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def sequence_dataset(data: TrackChunks, batch_size: int, *, shuffle: bool, seed: int = 0,
                     with_targets: bool = True):
    """Track-level ``tf.data.Dataset``: padded chunk sequences with their true lengths.

    Args:
        data: chunks and labels.
        batch_size: tracks per batch.
        shuffle: reshuffle every epoch (training).
        seed: shuffle seed.
        with_targets: yield ``(inputs, target)``; False yields inputs only (prediction).

    Returns:
        dataset of ``({"chunks": float32 (B, L, n_bands, n_frames), "n_chunks": int32 (B,)},
        target)`` where ``L`` is the longest track of the batch and steps ``>= n_chunks`` are zeros.
    """
    import tensorflow as tf

    ragged = tf.RaggedTensor.from_row_lengths(data.chunks, data.n_chunks)
    inputs = tf.data.Dataset.from_tensor_slices(ragged).map(
        lambda seq: {"chunks": seq, "n_chunks": tf.shape(seq, out_type=tf.int32)[0]})
    ds = tf.data.Dataset.zip((inputs, tf.data.Dataset.from_tensor_slices(data.labels))) if with_targets else inputs
    if shuffle:
        ds = ds.shuffle(len(data.n_chunks), seed=seed, reshuffle_each_iteration=True)
    return ds.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)


def clip_dataset(features, targets: np.ndarray | None, batch_size: int, *, shuffle: bool, seed: int = 0,
                 dtype: str = "float32"):
    """Clip-level ``tf.data.Dataset``: whole fixed-shape spectrograms with multi-label targets.

    For models that tag a whole clip at once (FCN-5, MsE-CNN: one 96 x 1366 log-mel spectrogram
    per MagnaTagATune clip). ``features`` may be an in-memory array or a read-only memory map
    (:class:`common.features.store.ClipFeatureStore`): the dataset shuffles clip *indices*, batches
    them, and gathers each batch from ``features`` in a ``tf.numpy_function`` running in parallel
    with training (``num_parallel_calls=AUTOTUNE``, prefetched), so nothing is copied into a
    TensorFlow constant and a store larger than memory streams from the page cache. Indices are
    sorted within a batch (memory locality); a batch's targets are gathered with the same indices.

    Args:
        features: array-like ``(n_clips, *shape)`` (float16 or float32) supporting
            ``features[int_array]``.
        targets: float32 ``(n_clips, n_tags)``, or None for an inputs-only dataset (prediction).
        batch_size: clips per batch (the last batch may be smaller).
        shuffle: reshuffle the clip order every epoch (training).
        seed: shuffle seed.
        dtype: dtype of the yielded spectrograms.

    Returns:
        dataset of ``(float (B, *shape), float32 (B, n_tags))`` batches, or of ``float (B, *shape)``
        when ``targets`` is None; unshuffled datasets keep the clip order.

    Raises:
        ValueError: ``features`` and ``targets`` differ in length, or ``features`` is empty.
    """
    import tensorflow as tf

    n_clips = len(features)
    if n_clips == 0:
        raise ValueError("clip_dataset: no clips")
    if targets is not None and len(targets) != n_clips:
        raise ValueError(f"clip_dataset: {n_clips} clips but {len(targets)} targets")
    shape = tuple(features.shape[1:])
    out_dtype = tf.as_dtype(dtype)
    targets = None if targets is None else np.asarray(targets, dtype=np.float32)

    def gather(indices):
        order = np.sort(indices)
        x = np.asarray(features[order], dtype=dtype)
        if targets is None:
            return x
        return x, targets[order]

    def load(indices):
        if targets is None:
            x = tf.numpy_function(gather, [indices], out_dtype, stateful=False)
            x.set_shape((None, *shape))
            return x
        x, y = tf.numpy_function(gather, [indices], (out_dtype, tf.float32), stateful=False)
        x.set_shape((None, *shape))
        y.set_shape((None, targets.shape[1]))
        return x, y

    ds = tf.data.Dataset.range(n_clips)
    if shuffle:
        ds = ds.shuffle(n_clips, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
