"""CRNN-TF protocol pieces: clip crop/pad rule, MFCC statistics, loading pre-trained weights, features."""

from dataclasses import replace

import numpy as np
import pytest

from common.errors import ConfigError
from papers.crnn_tf import config as cfg
from papers.crnn_tf import models
from papers.crnn_tf.protocol import load_source_model, mfcc_statistics
from papers.crnn_tf.tables import Settings, prepare_clip
from tests.audio_fixtures import write_audio


def test_clips_are_cropped_to_the_first_frames_or_padded_with_silence():
    spec = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    np.testing.assert_array_equal(prepare_clip(spec, None, 4), spec[:, :4])
    padded = prepare_clip(spec, None, 13)
    assert padded.shape == (2, 13) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:, :10], spec)
    assert (padded[:, 10:] == cfg.PAD_DB).all()


def test_29_seconds_give_1360_frames_through_the_real_extractor(tmp_path):
    from common.features.logmel import LogMelExtractor

    path = write_audio(tmp_path / "clip.wav", 30.0, 22050)
    spec = LogMelExtractor(cfg.FEATURES, min_duration=cfg.MIN_SECONDS)(path)
    assert spec.shape == (96, 1 + 30 * 12000 // 256)
    assert prepare_clip(spec, None, cfg.CLIP_FRAMES).shape == (96, 1360)


def test_mfcc_statistics_are_120_values_of_the_right_kind():
    rng = np.random.default_rng(0)
    log_mel = rng.standard_normal((96, 200)).astype(np.float32) * 10 - 40
    stats = mfcc_statistics(log_mel, cfg.MFCCSVMConfig())
    assert stats.shape == (120,)
    import librosa

    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=20)
    np.testing.assert_allclose(stats[:20], mfcc.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(stats[60:80], mfcc.std(axis=1), rtol=1e-5)
    assert mfcc_statistics(log_mel, cfg.MFCCSVMConfig(deltas=False)).shape == (40,)


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_source_weights_load_exactly_or_fail_clearly(tmp_path):
    config = cfg.CRNNTFConfig(n_mels=16, n_frames=48, conv_filters=(4, 6), rnn_units=4)
    trained = models.build_crnn_tf(5, "tags", config)
    path = tmp_path / "w.weights.h5"
    trained.save_weights(str(path))
    loaded = load_source_model(path, 5, config)
    for a, b in zip(trained.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="not found"):
        load_source_model(tmp_path / "absent.weights.h5", 5, config)
    with pytest.raises(ConfigError, match="not weights of a CRNN-TF"):
        load_source_model(path, 5, replace(config, rnn_units=3))
    path.write_bytes(b"not hdf5")
    with pytest.raises(ConfigError, match="not weights of a CRNN-TF"):
        load_source_model(path, 5, config)


def test_weights_path_order(monkeypatch):
    monkeypatch.delenv("CRNN_TF_WEIGHTS", raising=False)
    assert str(Settings().weights_path()).endswith("table1_mtat/CRNN-TF/fold_00/best.weights.h5")
    monkeypatch.setenv("CRNN_TF_WEIGHTS", "/x/env.weights.h5")
    assert str(Settings().weights_path()) == "/x/env.weights.h5"
    assert str(Settings(weights="/y/arg.weights.h5").weights_path()) == "/y/arg.weights.h5"


def test_own_features_skip_and_record_unusable_tracks(tmp_path):
    from common.datasets import gtzan
    from common.errors import DatasetError
    from common.runner import FoldContext
    from common.evaluation.splits import Split
    from common.audio.waveform import WaveformConfig, WaveformExtractor, waveform_windows
    from common.features.cache import FeatureCache
    from papers.crnn_tf.protocol import own_feature_parts
    from tests.common.runner.test_execution import tiny_gtzan

    data = tiny_gtzan(tmp_path / "g", per_genre=2, seconds=0.5)
    write_audio(data / "genres" / "rock" / "rock.00001.wav", 0.05, 8000)  # shorter than one window
    index = gtzan.index(data)
    ids = [t.track_id for t in index.tracks]
    split = Split(0, train=tuple(i for i in ids if i.endswith("0")), validation=(),
                  test=tuple(i for i in ids if i.endswith("1")))
    context = FoldContext(index=index, features={}, split=split, seed=0, epochs=1, work_dir=tmp_path / "w",
                          cache_dir=tmp_path / "cache")

    def cut(signal, track):
        return waveform_windows(signal, 1000, source=str(track.path))

    extractor = WaveformExtractor(WaveformConfig(sample_rate=8000))
    parts, kept, skipped = own_feature_parts(context, extractor, cut, cut_key="w1000", dtype="float32")
    assert set(skipped) == {"rock.00001"} and "one window" in skipped["rock.00001"]
    assert "rock.00001" not in kept["test"] and len(kept["test"]) == 9 and "validation" not in parts
    train = parts["train"]
    assert train.store.features.shape == (10 * 4, 1000) and train.n_patches.tolist() == [4] * 10
    assert parts["test"].targets.shape == (9, 10) and train.patch_targets.shape == (40, 10)
    assert train.patch_track.tolist() == [i for i in range(10) for _ in range(4)]
    # rows are the tracks' windows, in order
    first = context.tracks([kept["train"][0]])[0]
    np.testing.assert_array_equal(train.rows[np.arange(4)], cut(FeatureCache(tmp_path / "cache", extractor).get(
        first.path), first))
    # genre targets are one-hot rows in the index's class order
    assert (parts["test"].targets.sum(axis=1) == 1).all()
    assert parts["test"].targets[0].argmax() == index.classes.index(next(
        t.label for t in index.tracks if t.track_id == kept["test"][0]))
    # a second scheme (or a rerun) reuses the stores, skip reasons included, without reading the audio
    stamp = (train.store.folder / "features.npy").stat().st_mtime_ns
    again, kept_again, skipped_again = own_feature_parts(context, extractor, cut, cut_key="w1000", dtype="float32")
    assert (again["train"].store.folder / "features.npy").stat().st_mtime_ns == stamp
    assert skipped_again == skipped and kept_again == kept
    # other cut settings get their own stores
    other, _, _ = own_feature_parts(context, extractor, lambda s, t: waveform_windows(s, 500, source=""),
                                    cut_key="w500", dtype="float32")
    assert other["train"].store.features.shape == (10 * 8, 500)

    def refuse(signal, track):
        return waveform_windows(signal, 10 ** 6, source=str(track.path))

    with pytest.raises(DatasetError, match="no usable train track"):
        own_feature_parts(context, extractor, refuse, cut_key="refuse")


def _tag_context(tmp_path):
    from pathlib import Path

    from common.datasets.base import DatasetIndex, Track
    from common.runner import FoldContext
    from common.evaluation.splits import Split

    tags = ("rock", "piano", "slow") + tuple(f"unused{i}" for i in range(9))  # Recall@10 needs >= 10 tags
    tracks = [Track("a", Path("a.mp3"), tags=("rock",)), Track("b", Path("b.mp3"), tags=("piano", "slow")),
              Track("c", Path("c.mp3"), tags=("rock", "slow")), Track("d", Path("d.mp3"), tags=("piano",))]
    index = DatasetIndex("tiny", Path("."), tags, tracks)
    split = Split(0, train=("a",), validation=(), test=("a", "b", "c", "d"))
    return FoldContext(index=index, features={}, split=split, seed=0, epochs=1, work_dir=tmp_path / "w")


def test_tag_evaluation_gives_table1_metrics_and_per_tag_auc(tmp_path):
    from papers.crnn_tf.protocol import evaluate, fold_targets

    context = _tag_context(tmp_path)
    y = fold_targets(context, ["a", "b", "c", "d"], "tags")
    np.testing.assert_array_equal(y[:, :3], [[1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 1, 0]])
    assert not y[:, 3:].any()
    scores = np.zeros((4, 12), dtype=np.float32)
    scores[:, :3] = [[0.9, 0.1, 0.2], [0.2, 0.8, 0.6], [0.7, 0.3, 0.1], [0.4, 0.6, 0.3]]
    outcome = evaluate(context, "tags", ["a", "b", "c", "d"], scores, {})
    m = outcome.metrics
    # rock and piano are ranked perfectly (AUC 1); slow: positives {0.6, 0.1}, negatives {0.2, 0.3} -> 2/4;
    # the unused tags have no positive clip: no AUC, left out of the average
    assert outcome.details["per_tag_auc"] == {"rock": 1.0, "piano": 1.0, "slow": 0.5,
                                              **{f"unused{i}": None for i in range(9)}}
    assert len(outcome.details["test_tags_left_out"]) == 9
    assert m["AUC"] == pytest.approx(2.5 / 3)
    # Recall@1: a 1/1, b 1/2 (piano), c 1/2 (rock), d 1/1 -> 0.75; JSC at 0.5: a 1, b 1, c 1/2, d 1
    assert m["Recall@1"] == pytest.approx(0.75) and m["JSC"] == pytest.approx(3.5 / 4)
    assert set(m) == {"AUC", "Recall@1", "Recall@3", "Recall@5", "Recall@10", "NDCG@50", "JSC"}
    assert np.load(outcome.details["test_scores_file"]).shape == (4, 12)


def test_genre_targets_are_one_hot_and_unknown_tasks_refused(tmp_path):
    from common.datasets import gtzan
    from papers.crnn_tf.protocol import fold_targets
    from tests.common.runner.test_execution import tiny_gtzan

    data = tiny_gtzan(tmp_path / "g", per_genre=1, seconds=0.2)
    context = replace(_tag_context(tmp_path), index=gtzan.index(data))
    y = fold_targets(context, ["rock.00000", "blues.00000"], "genres")
    assert y.shape == (2, 10) and y[0, gtzan.GENRES.index("rock")] == 1 and y[1, 0] == 1 and y.sum() == 2
    with pytest.raises(ConfigError, match="task"):
        fold_targets(context, ["rock.00000"], "moods")



def test_non_finite_svm_decision_values_are_a_diverged_unit(tmp_path, monkeypatch):
    """The MFCC + SVM row: non-finite decision values give a diverged unit, not a ROC-AUC traceback."""
    from pathlib import Path

    from sklearn.svm import SVC

    from common.datasets.base import DatasetIndex, Track
    from common.evaluation.splits import Split
    from common.runner.spec import FoldContext
    from common.training.divergence import TrainingDiverged
    from papers.crnn_tf.protocol import run_mfcc_svm_fold

    rng = np.random.default_rng(0)
    classes = ("a", "b", "c")
    tracks = [Track(f"t{i}", Path(f"/x/t{i}.wav"), classes[i % 3]) for i in range(15)]
    features = {t.track_id: (rng.standard_normal((96, 40)) * 10 - 40 + 10 * classes.index(t.label)).astype(np.float32)
                for t in tracks}
    ids = [t.track_id for t in tracks]
    context = FoldContext(index=DatasetIndex(name="toy", root=tmp_path, classes=classes, tracks=tracks),
                          features=features, split=Split(0, tuple(ids[:9]), tuple(ids[9:12]), tuple(ids[12:])),
                          seed=0, epochs=None, work_dir=tmp_path)
    config = replace(cfg.MFCCSVMConfig(), C_grid=(1.0,))
    assert 0.0 <= run_mfcc_svm_fold(config, context).metrics["accuracy"] <= 1.0  # finite: a result
    decision = SVC.decision_function
    monkeypatch.setattr(SVC, "decision_function", lambda self, x: decision(self, x) * np.nan)
    with pytest.raises(TrainingDiverged, match=r"^SVM decision values on the test tracks nan "
                                               r"for 3 of 3 rows$"):
        run_mfcc_svm_fold(config, context)
