import keras
import numpy as np
import pytest

from common.models.layers import PerStep, SequenceMask
from common.training.pipeline import BandStandardizer, TrackChunks, chunk_dataset, sequence_dataset


def toy(n_chunks=(2, 4, 3), bands=5, frames=6):
    rng = np.random.default_rng(0)
    per_track = [rng.standard_normal((n, bands, frames)).astype(np.float32) for n in n_chunks]
    return TrackChunks.from_tracks(per_track, np.arange(len(n_chunks)))


def test_track_chunks_bookkeeping():
    data = toy()
    assert data.chunks.shape == (9, 5, 6)
    assert data.chunk_track.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert data.chunk_labels.tolist() == data.chunk_track.tolist()
    with pytest.raises(ValueError):
        TrackChunks.from_tracks([np.zeros((0, 5, 6), np.float32)], np.array([0]))


def test_chunk_dataset_batches_every_chunk_once():
    data = toy()
    batches = list(chunk_dataset(data, 4, shuffle=True, seed=1))
    assert [b[0].shape[0] for b in batches] == [4, 4, 1]
    seen = np.concatenate([b[0].numpy() for b in batches])
    assert sorted(seen[:, 0, 0].tolist()) == sorted(data.chunks[:, 0, 0].tolist())


def test_sequence_dataset_pads_per_batch_and_keeps_lengths():
    data = toy()
    [(inputs, labels)] = list(sequence_dataset(data, 3, shuffle=False))
    assert inputs["chunks"].shape == (3, 4, 5, 6)
    assert inputs["n_chunks"].numpy().tolist() == [2, 4, 3]
    np.testing.assert_array_equal(inputs["chunks"].numpy()[0, 2:], 0.0)  # padding
    np.testing.assert_array_equal(inputs["chunks"].numpy()[0, :2], data.chunks[:2])
    assert labels.numpy().tolist() == [0, 1, 2]


def test_masked_recurrent_model_ignores_padding():
    """A track's prediction must not change when it is batched with a longer, padded track."""
    chunks = keras.Input((None, 5, 6))
    n_chunks = keras.Input((), dtype="int32")
    encoder = keras.Sequential([keras.Input((5, 6)), keras.layers.Flatten(), keras.layers.Dense(4)])
    x = PerStep(encoder)(chunks)
    out = keras.layers.LSTM(3)(x, mask=SequenceMask()(chunks, n_chunks))
    model = keras.Model({"chunks": chunks, "n_chunks": n_chunks}, out)
    data = toy((2, 4))
    alone = model.predict(sequence_dataset(TrackChunks(data.chunks[:2], np.array([2]), data.labels[:1]), 1,
                                           shuffle=False, with_targets=False), verbose=0)
    together = model.predict(sequence_dataset(data, 2, shuffle=False, with_targets=False), verbose=0)
    np.testing.assert_allclose(alone[0], together[0], atol=1e-6)
    # and the mask matters: without it the padded steps would change the output
    unmasked = keras.Model({"chunks": chunks, "n_chunks": n_chunks},
                           keras.layers.LSTM(3)(PerStep(encoder)(chunks)))
    a = unmasked.predict({"chunks": data.chunks[None, :2], "n_chunks": np.array([2])}, verbose=0)
    padded = np.concatenate([data.chunks[None, :2], np.ones((1, 2, 5, 6), np.float32)], axis=1)
    b = unmasked.predict({"chunks": padded, "n_chunks": np.array([2])}, verbose=0)
    assert np.abs(a - b).max() > 1e-4


def test_band_standardizer_uses_training_statistics():
    data = toy()
    standardize = BandStandardizer.fit(data.chunks)
    out = standardize(data.chunks)
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2)), 1.0, atol=1e-4)
