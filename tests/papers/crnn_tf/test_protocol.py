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
    from common.features import LogMelExtractor

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
    from common.splits import Split
    from common.waveform import WaveformConfig, WaveformExtractor, waveform_windows
    from papers.crnn_tf.protocol import own_feature_parts
    from tests.common.test_runner import tiny_gtzan

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

    parts, kept, skipped = own_feature_parts(context, WaveformExtractor(WaveformConfig(sample_rate=8000)), cut)
    assert set(skipped) == {"rock.00001"} and "one window" in skipped["rock.00001"]
    assert "rock.00001" not in kept["test"] and len(kept["test"]) == 9 and "validation" not in parts
    assert parts["train"].chunks.shape == (10 * 4, 1000) and parts["test"].labels.shape == (9, 10)
    # genre targets are one-hot rows in the index's class order
    assert (parts["test"].labels.sum(axis=1) == 1).all()
    assert parts["test"].labels[0].argmax() == index.classes.index(next(
        t.label for t in index.tracks if t.track_id == kept["test"][0]))

    def refuse(signal, track):
        return waveform_windows(signal, 10 ** 6, source=str(track.path))

    with pytest.raises(DatasetError, match="no usable train track"):
        own_feature_parts(context, WaveformExtractor(WaveformConfig(sample_rate=8000)), refuse)
