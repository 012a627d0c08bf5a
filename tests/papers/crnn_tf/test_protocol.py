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
