"""Frame-model training holds a few tracks' frames at a time, however many tracks the fold has.

At ISMIR 2004's real size the training frames are ~2 GB of float32 and all tracks' frames 4.3 GB;
listing or concatenating them in the process (as the protocol did) grows memory with the dataset.
The fold's features here are a mapping that hands out a fresh array per access and counts how many
of them are alive at once: the training, the validation loss and the posteriors of every track must
never keep more than a prediction batch (16 tracks) of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from common.datasets.base import DatasetIndex, Track
from common.features.store import FrameSequenceFile
from common.runner import FoldContext
from papers.lstm_segment.config import DNNS, LSTMS
from papers.lstm_segment.protocol import (ShuffledFrames, StreamBatches, TrainingHoldoutSplit, stream_layout,
                                          train_dnn_posteriors, train_lstm_posteriors)

N_PER_CLASS = 20  # 40 training-subset tracks, more than a prediction batch (16)


class CountingFeatures(Mapping):
    """``{track_id: (n_frames, 5) float32}`` built on each access; ``peak_alive`` arrays alive at once."""

    def __init__(self, index: DatasetIndex):
        self.lengths = {t.track_id: 9 + k % 7 for k, t in enumerate(index.tracks)}
        self.labels = {t.track_id: int(t.label[1]) for t in index.tracks}
        self.alive, self.peak_alive = 0, 0

    def _release(self):
        self.alive -= 1

    def __getitem__(self, track_id):
        rng = np.random.default_rng(abs(hash(track_id)) % 2 ** 32)
        frames = rng.normal(self.labels[track_id], 1.0, (self.lengths[track_id], 5)).astype(np.float32)
        self.alive += 1
        self.peak_alive = max(self.peak_alive, self.alive)
        weakref.finalize(frames, self._release)
        return frames

    def __iter__(self):
        return iter(self.lengths)

    def __len__(self):
        return len(self.lengths)


def _context(tmp_path, name):
    tracks = [Track(track_id=f"{subset}/c{c}/{k}", path=f"{subset}-{c}-{k}.mp3", label=f"c{c}", subset=subset)
              for subset, n in (("training", N_PER_CLASS), ("development", 4)) for c in range(2) for k in range(n)]
    index = DatasetIndex(name="toy", root=tmp_path, classes=("c0", "c1"), tracks=tuple(tracks))
    (split,) = TrainingHoldoutSplit(validation_fraction=0.2, seed=0).make_splits(index)
    features = CountingFeatures(index)
    context = FoldContext(index=index, features=features, split=split, seed=3, epochs=None,
                          work_dir=tmp_path / "lstm_segment" / "table2_ismir2004" / name / "fold_00")
    return context, features


def test_lstm_training_and_posteriors_hold_a_batch_of_tracks_not_the_dataset(tmp_path):
    config = replace(LSTMS[0], layers=((3, 4),), num_streams=2, bptt_length=4,
                     schedule=replace(LSTMS[0].schedule, max_epochs=1))
    context, features = _context(tmp_path, config.name)
    posteriors, details = train_lstm_posteriors(config, context, log=lambda *_: None)
    assert len(posteriors) == len(features) == 48
    assert features.peak_alive <= 16 + 1, f"{features.peak_alive} tracks' frames alive at once"
    assert not list(context.work_dir.glob("*.f32*")), "the scratch frame file is removed after training"


def test_dnn_training_holds_a_track_at_a_time(tmp_path):
    config = replace(DNNS[0], hidden_units=(4,), batch_size=16, schedule=replace(DNNS[0].schedule, max_epochs=2))
    context, features = _context(tmp_path, config.name)
    test, details = train_dnn_posteriors(config, context, log=lambda *_: None)
    assert len(test) == len(context.split.test) and details["training"]["epochs_run"] == 2
    assert features.peak_alive <= 2, f"{features.peak_alive} tracks' frames alive at once"
    assert not list(context.work_dir.glob("*.f32*"))


def test_frame_file_is_the_concatenation_and_batches_match_in_memory_ones(tmp_path):
    rng = np.random.default_rng(0)
    tracks = [rng.normal(size=(n, 3)).astype(np.float32) for n in (5, 2, 3)]
    with FrameSequenceFile.write(iter(tracks), tmp_path / "frames.f32") as frames:
        assert isinstance(frames.frames, np.memmap)
        np.testing.assert_array_equal(np.asarray(frames.frames), np.concatenate(tracks))
        np.testing.assert_array_equal(frames.track(1), tracks[1])
        labels = np.repeat([0, 1, 2], frames.lengths)
        layout = stream_layout(list(frames.lengths), 2, 3)
        on_disk = StreamBatches(frames.frames, labels, *layout)
        in_memory = StreamBatches(np.concatenate(tracks), labels, *layout)
        for i in range(len(on_disk)):
            (a, la, wa), (b, lb, wb) = on_disk[i], in_memory[i]
            np.testing.assert_array_equal(a["frames"], b["frames"])
            np.testing.assert_array_equal(la, lb)
            np.testing.assert_array_equal(wa, wb)
            assert np.all(a["frames"][wa == 0] == 0) and np.all(la[wa == 0] == 0)
        shuffled = ShuffledFrames(frames.frames, labels, batch_size=4, seed=0)
        seen = np.concatenate([shuffled[i][1] for i in range(len(shuffled))])
        assert sorted(seen.tolist()) == sorted(labels.tolist())   # every frame once per epoch
    assert not (tmp_path / "frames.f32").exists()


def test_frame_file_refuses_mixed_dimensions_and_leaves_nothing(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="track 1 has shape"):
        FrameSequenceFile.write([np.zeros((2, 3)), np.zeros((2, 4))], tmp_path / "frames.f32")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no frame"):
        FrameSequenceFile.write([], tmp_path / "frames.f32")
    assert list(tmp_path.iterdir()) == []
