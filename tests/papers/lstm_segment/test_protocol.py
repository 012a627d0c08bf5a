"""Segment statistics, accuracies, split, stream batching, newbob schedule, posterior cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from common.datasets.base import DatasetIndex, Track
from common.errors import AudioError, DatasetError
from common.runner import FoldContext
from common.evaluation.splits import Split
from papers.lstm_segment.config import LSTMS, NewbobSchedule, SegmentConfig
from papers.lstm_segment.protocol import (FrameStandardizer, StreamBatches, TrainingHoldoutSplit,
                                          frame_and_segment_accuracy, frame_cross_entropy, majority_vote, newbob_train,
                                          posterior_cache_path, prepare_frames, segment_features,
                                          segment_statistics, stream_layout, svm_accuracy, train_lstm_posteriors)

#: Four frames of a 3-class softmax.
POSTERIORS = np.array([[0.95, 0.03, 0.02],
                       [0.60, 0.30, 0.10],
                       [0.10, 0.85, 0.05],
                       [0.92, 0.07, 0.01]])


def test_segment_statistics_known_sequence():
    f = segment_statistics(POSTERIORS, k=0.9)
    assert f.shape == (12,)
    np.testing.assert_allclose(f[0:3], [0.95, 0.85, 0.10])                       # max, eq. 11
    np.testing.assert_allclose(f[3:6], [0.10, 0.03, 0.01])                       # min, eq. 12
    np.testing.assert_allclose(f[6:9], [2.57 / 4, 1.25 / 4, 0.18 / 4])           # mean, eq. 13
    np.testing.assert_allclose(f[9:12], [0.5, 0.0, 0.0])                          # share > 0.9, eq. 14
    np.testing.assert_allclose(segment_statistics(POSTERIORS, k=0.8)[9:12], [0.5, 0.25, 0.0])
    np.testing.assert_allclose(segment_statistics(POSTERIORS, k=0.95)[9:12], [0.0, 0.0, 0.0])  # strictly above
    with pytest.raises(ValueError):
        segment_statistics(np.zeros((0, 3)), 0.9)


def test_segment_features_sc_lstm_fusion():
    frames = np.arange(4 * 5, dtype=np.float32).reshape(4, 5)
    f = segment_features(frames, POSTERIORS, 0.9)
    np.testing.assert_allclose(f["sc"], frames.mean(axis=0))                     # eq. 10
    assert f["lstm"].shape == (12,) and f["fusion"].shape == (5 + 12,)
    np.testing.assert_allclose(f["fusion"], np.concatenate([f["sc"], f["lstm"]]))
    # the paper's sizes: 6 genres -> 24 values; 545 scattering coefficients here -> 569 fused
    six = np.full((10, 6), 1 / 6)
    assert segment_features(np.zeros((10, 545)), six, 0.9)["fusion"].shape == (569,)


def test_majority_vote():
    assert majority_vote(np.array([2, 0, 2, 1, 2, 0]), 3) == 2
    assert majority_vote(np.array([5]), 6) == 5
    assert majority_vote(np.array([1, 0, 0, 1]), 2) == 0  # tie: smallest class index
    with pytest.raises(ValueError, match="zero frames"):
        majority_vote(np.array([], dtype=int), 3)
    with pytest.raises(ValueError, match="must lie in"):
        majority_vote(np.array([0, 3]), 3)


def test_frame_and_segment_accuracy():
    tracks = [POSTERIORS, POSTERIORS[[2, 2, 1]], np.array([[0.1, 0.2, 0.7]])]
    labels = np.array([0, 1, 0])
    result = frame_and_segment_accuracy(tracks, labels, 3)
    # frames right: track 0: 3 of 4 (class 0), track 1: 2 of 3 (class 1), track 2: 0 of 1
    assert result["frame_accuracy"] == pytest.approx(100 * 5 / 8)
    # majority votes: 0 (right), 1 (right), 2 (wrong)
    assert result["segment_accuracy"] == pytest.approx(100 * 2 / 3)
    assert frame_cross_entropy([POSTERIORS], np.array([0])) == pytest.approx(
        -np.mean(np.log([0.95, 0.60, 0.10, 0.92])))


def test_stream_layout_follows_kaldi_multistream():
    index, reset = stream_layout([5, 2, 3], n_streams=2, window=3)
    # batch 0: stream 0 track 0 frames 0-2, stream 1 track 1 (2 frames + padding); both reset
    # batch 1: stream 0 track 0 frames 3-4 + pad; stream 1 gets track 2 (reset)
    # batch 2: nothing left on stream 0... track 2 is on stream 1 and finished in batch 1 -> stop
    np.testing.assert_array_equal(index, [[[0, 1, 2], [5, 6, -1]],
                                          [[3, 4, -1], [7, 8, 9]]])
    np.testing.assert_array_equal(reset, [[1, 1], [0, 1]])
    index, reset = stream_layout([2, 2, 2], n_streams=1, window=2)
    np.testing.assert_array_equal(index[:, 0], [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(reset[:, 0], [1, 1, 1])
    frames = np.arange(10, dtype=np.float32)[:, None] + 1
    batches = StreamBatches(frames, np.arange(10) % 3, *stream_layout([5, 2, 3], 2, 3))
    inputs, labels, weights = batches[0]
    assert inputs["frames"].shape == (2, 3, 1) and len(batches) == 2
    np.testing.assert_array_equal(inputs["frames"][1, :, 0], [6, 7, 0])      # padding is zeros
    np.testing.assert_array_equal(weights, [[1, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(labels[0], [0, 1, 2])


def test_newbob_schedule():
    losses = iter([1.0,                      # before training
                   0.5, 0.45, 0.447, 0.6, 0.4468])
    weights = {"w": 0}
    rates = []

    def train_epoch(rate):
        rates.append(rate)
        weights["w"] += 1
        return 0.0

    schedule = NewbobSchedule(learning_rate=1.0, halving_factor=0.5, max_epochs=10)
    history = newbob_train(train_epoch, lambda: next(losses), lambda: weights["w"],
                           lambda w: weights.update(w=w), schedule, log=lambda *_: None)
    # epoch 1: 1.0 -> 0.5 accepted; epoch 2: 0.45 (10 % better) accepted; epoch 3: 0.447 (0.67 %)
    # accepted, < 1 % -> halving starts; epoch 4: 0.6 rejected (weights of epoch 3 restored);
    # improvement 0 < 0.1 % while halving -> stop
    assert [e["accepted"] for e in history["epochs"]] == [True, True, True, False]
    assert rates == [1.0, 1.0, 1.0, 0.5]
    assert history["best_validation_loss"] == pytest.approx(0.447) and weights["w"] == 3
    assert "while halving" in history["stop_reason"] and history["epochs_run"] == 4
    capped = newbob_train(lambda r: 0.0, iter([1.0, 0.5, 0.25, 0.1]).__next__, lambda: 0, lambda w: None,
                          schedule, max_epochs=2, log=lambda *_: None)
    assert capped["epochs_run"] == 2


def _index(per_class_train: int, per_class_test: int, n_classes: int = 3) -> DatasetIndex:
    tracks = []
    for c in range(n_classes):
        for subset, n in (("training", per_class_train), ("development", per_class_test)):
            tracks += [Track(f"{subset}/c{c}/{i}", Path(f"/x/{subset}{c}{i}.mp3"), f"c{c}", subset=subset)
                       for i in range(n)]
    return DatasetIndex("ismir2004", Path("/x"), tuple(f"c{c}" for c in range(n_classes)), tracks)


def test_training_holdout_split():
    index = _index(10, 4)
    (split,) = TrainingHoldoutSplit(validation_fraction=0.1, seed=3).make_splits(index)
    assert len(split.validation) == 3 and len(split.train) == 27 and len(split.test) == 12
    assert all(i.startswith("development/") for i in split.test)
    assert not set(split.train) & set(split.validation)
    assert {i.split("/")[1] for i in split.validation} == {"c0", "c1", "c2"}   # stratified
    again = TrainingHoldoutSplit(validation_fraction=0.1, seed=3).make_splits(index)[0]
    assert again == split
    assert TrainingHoldoutSplit(validation_fraction=0.0).make_splits(index)[0].validation == ()
    with pytest.raises(DatasetError, match="too few"):
        TrainingHoldoutSplit(validation_fraction=0.5).make_splits(_index(1, 1))
    with pytest.raises(DatasetError):
        TrainingHoldoutSplit(test=("evaluation",)).make_splits(index)


def test_frame_standardizer_and_prepare():
    rng = np.random.default_rng(0)
    tracks = [rng.normal(3.0, 2.0, (50, 4)), rng.normal(3.0, 2.0, (70, 4))]
    norm = FrameStandardizer.fit(tracks)
    pooled = norm(np.concatenate(tracks))
    np.testing.assert_allclose(pooled.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(pooled.std(axis=0), 1, atol=1e-4)
    track = Track("a", Path("/x/a.mp3"), "c0")
    assert prepare_frames(tracks[0], track) is tracks[0]
    with pytest.raises(AudioError, match="no scattering frame"):
        prepare_frames(np.zeros((0, 4)), track)


def test_linear_svm_on_separable_segments():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.1, (20, 5)), rng.normal(1, 0.1, (20, 5))])
    y = np.repeat([0, 1], 20)
    assert svm_accuracy(x[::2], y[::2], x[1::2], y[1::2], SegmentConfig()) == 100.0
    assert svm_accuracy(x[::2], y[::2], x[1::2], 1 - y[1::2], SegmentConfig()) == 0.0


def test_non_finite_segment_features_are_a_diverged_unit_not_a_sklearn_traceback():
    """e.g. posteriors of a diverged LSTM reused from the cache: the unit is recorded as diverged."""
    from common.training.divergence import TrainingDiverged

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.1, (20, 5)), rng.normal(1, 0.1, (20, 5))])
    y = np.repeat([0, 1], 20)
    broken = x.copy()
    broken[3, 2] = np.nan
    with pytest.raises(TrainingDiverged, match=r"segment features of the test tracks nan for 1 of 20 rows"):
        svm_accuracy(x[::2], y[::2], broken[1::2], y[1::2], SegmentConfig())
    broken[2, 0] = np.inf
    with pytest.raises(TrainingDiverged, match=r"segment features of the training tracks inf for 1 of 20 rows"):
        svm_accuracy(broken[::2], y[::2], x[1::2], y[1::2], SegmentConfig())


def test_lstm_posteriors_trained_once_and_reused(tmp_path):
    index = _index(3, 2)
    rng = np.random.default_rng(2)
    features = {t.track_id: rng.normal(int(t.label[1]), 1.0, (int(rng.integers(9, 15)), 5)).astype(np.float32)
                for t in index.tracks}
    (split,) = TrainingHoldoutSplit(validation_fraction=0.34, seed=0).make_splits(index)
    config = replace(LSTMS[0], layers=((3, 4),), num_streams=2, bptt_length=4,
                     schedule=replace(LSTMS[0].schedule, max_epochs=1))
    context = FoldContext(index=index, features=features, split=split, seed=5, epochs=None,
                          work_dir=tmp_path / "lstm_segment" / "table2_ismir2004" / config.name / "fold_00")
    posteriors, details = train_lstm_posteriors(config, context, log=lambda *_: None)
    assert set(posteriors) == set(features)
    for track_id, probs in posteriors.items():
        assert probs.shape == (len(features[track_id]), 3)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert details["training"]["epochs_run"] == 1 and "posteriors_reused_from" not in details
    cache = posterior_cache_path(config, context)
    assert cache.is_file() and cache.parent == tmp_path / "lstm_segment" / "lstm_posteriors"
    # the other table's work dir, same settings: reused, not retrained
    other = replace(context, work_dir=tmp_path / "lstm_segment" / "table4_ismir2004" / config.name / "fold_00")
    again, details2 = train_lstm_posteriors(config, other, log=lambda *_: None)
    assert details2["posteriors_reused_from"] == str(cache)
    for track_id in posteriors:
        np.testing.assert_array_equal(again[track_id], posteriors[track_id])
    # another seed or split is a different model
    assert posterior_cache_path(config, replace(context, seed=6)) != cache
    assert posterior_cache_path(config, replace(context, split=Split(0, split.train[1:], split.validation,
                                                                     split.test))) != cache
