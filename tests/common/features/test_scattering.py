"""Scattering frames: configuration, dimension, blocked vs whole-signal kymatio, alignment, cache."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from common.features.cache import FeatureCache
from common.errors import AudioError
from common.features.scattering import (BlockScattering, ScatteringConfig, ScatteringExtractor, coefficient_orders,
                               n_coefficients)
from tests.audio_fixtures import write_audio, write_corrupt

#: A small transform (window 32 samples, hop 16) that runs in milliseconds.
SMALL = ScatteringConfig(sample_rate=8000, J=4, Q=(4, 1), T=32, oversampling=1, block_frames=48,
                         context_frames=16, precision="float64")


def _kymatio_whole(x: np.ndarray, config: ScatteringConfig) -> np.ndarray:
    from kymatio.scattering1d.frontend.numpy_frontend import ScatteringNumPy1D

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transform = ScatteringNumPy1D(J=config.J, shape=x.size, Q=config.Q, T=config.T,
                                      oversampling=config.oversampling)
    assert transform.pad_left % config.hop == 0, "choose a length whose padding keeps the frame grid"
    return transform.scattering(x)[1:].T


def _aligned_length(config: ScatteringConfig, min_frames: int) -> int:
    """A signal length whose whole-signal kymatio padding is a multiple of the hop (same frame grid)."""
    from kymatio.scattering1d.frontend.numpy_frontend import ScatteringNumPy1D

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for frames in range(min_frames, 4 * min_frames):
            n = frames * config.hop
            if ScatteringNumPy1D(J=config.J, shape=n, Q=config.Q, T=config.T, oversampling=1).pad_left % config.hop == 0:
                return n
    raise AssertionError("no aligned length")


def _music_like(n: int, sample_rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    tone = np.sin(2 * np.pi * 440 * t * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)))
    return tone * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.1 * rng.standard_normal(n)


def test_paper_configuration_dimension_and_timing():
    config = ScatteringConfig()
    assert config.hop == 4096 and config.T == 8192
    assert config.window_seconds == pytest.approx(0.3715, abs=1e-4)   # paper: 370 ms
    assert config.hop_seconds == pytest.approx(config.window_seconds / 2)  # half overlap
    orders = coefficient_orders(config)
    assert (orders == 1).sum() == 86 and (orders == 2).sum() == 459
    assert n_coefficients(config) == 545
    assert n_coefficients(replace(config, include_zeroth_order=True)) == 546
    assert config.n_frames(4096) == 1 and config.n_frames(4097) == 2


def test_config_validation_and_fingerprint():
    base = ScatteringConfig()
    assert base.fingerprint() == ScatteringConfig().fingerprint()
    assert base.fingerprint() == replace(base, batch_blocks=7).fingerprint()
    for changed in (replace(base, J=11), replace(base, log_offset=None), replace(base, precision="float64"),
                    replace(base, context_frames=8), replace(base, backend="tensorflow")):
        assert changed.fingerprint() != base.fingerprint()
    with pytest.raises(ValueError, match="power of two"):
        ScatteringConfig(T=8000)
    with pytest.raises(ValueError, match="block_frames"):
        ScatteringConfig(block_frames=32, context_frames=16)
    with pytest.raises(ValueError, match="backend"):
        ScatteringConfig(backend="torch")


def test_blocked_transform_matches_whole_signal_kymatio():
    n = _aligned_length(SMALL, 200)
    x = _music_like(n, SMALL.sample_rate)
    blocked = BlockScattering(SMALL)(x)
    whole = _kymatio_whole(x, SMALL)
    assert blocked.shape == whole.shape == (n // SMALL.hop, n_coefficients(SMALL))
    assert n // SMALL.hop > 2 * (SMALL.block_frames - 2 * SMALL.context_frames)  # several blocks
    log_blocked, log_whole = np.log(blocked + 2.0 ** -20), np.log(whole + 2.0 ** -20)
    assert np.abs(log_blocked - log_whole).max() < 1e-3
    # too little context breaks the agreement: the test can fail
    short = replace(SMALL, block_frames=36, context_frames=2)
    assert np.abs(np.log(BlockScattering(short)(x) + 2.0 ** -20) - log_whole).max() > 1e-2


def test_float32_close_to_float64():
    x = _music_like(3000, SMALL.sample_rate, seed=1)
    f64 = BlockScattering(SMALL)(x)
    f32 = BlockScattering(replace(SMALL, precision="float32"))(x)
    assert np.abs(np.log(np.maximum(f32, 0) + 2.0 ** -20) - np.log(f64 + 2.0 ** -20)).max() < 1e-3


def test_tensorflow_backend_matches_numpy():
    x = _music_like(3000, SMALL.sample_rate, seed=2)
    numpy_frames = BlockScattering(SMALL)(x)
    tf_frames = BlockScattering(replace(SMALL, backend="tensorflow"))(x)
    assert np.abs(np.log(np.maximum(tf_frames, 0) + 2.0 ** -20) - np.log(numpy_frames + 2.0 ** -20)).max() < 1e-3


def test_frames_are_centred_on_multiples_of_the_hop():
    config = SMALL
    x = np.zeros(100 * config.hop)
    click = 57 * config.hop
    x[click] = 1.0
    frames = BlockScattering(config)(x)
    first_order = frames[:, coefficient_orders(config) == 1].sum(axis=1)
    assert int(np.argmax(first_order)) == 57
    assert frames.shape[0] == 100


def test_extractor_shape_dtype_and_log(tmp_path):
    config = replace(SMALL, sample_rate=8000)
    path = write_audio(tmp_path / "a.wav", 0.5, sample_rate=16000)  # resampled to 8 kHz
    frames = ScatteringExtractor(config)(path)
    assert frames.dtype == np.float32 and np.all(np.isfinite(frames))
    assert frames.shape == (config.n_frames(4000), n_coefficients(config))
    assert frames.min() >= np.log(2.0 ** -20) - 1e-6 and frames.max() < 0  # log of values below 1
    raw = ScatteringExtractor(replace(config, log_offset=None))(path)
    assert np.allclose(np.log(np.maximum(raw, 0) + 2.0 ** -20), frames, atol=1e-5)


def test_extractor_through_feature_cache(tmp_path):
    path = write_audio(tmp_path / "a.flac", 0.3, sample_rate=8000)
    extractor = ScatteringExtractor(SMALL)
    cache = FeatureCache(tmp_path / "cache", extractor)
    first = cache.get(path)
    second = cache.get(path)
    assert cache.stats.computed == 1 and cache.stats.hits == 1
    np.testing.assert_array_equal(first, second)
    assert cache.folder.name.startswith("scattering-")
    other = FeatureCache(tmp_path / "cache", ScatteringExtractor(replace(SMALL, J=3)))
    assert other.folder != cache.folder
    assert extractor.describe()["n_coefficients"] == n_coefficients(SMALL)


def test_a_used_extractor_crosses_to_a_worker_without_its_transform(tmp_path, monkeypatch):
    import pickle

    paths = [write_audio(tmp_path / f"{k}.wav", 0.3, sample_rate=8000, frequency=300.0 + 100 * k, seed=k)
             for k in range(3)]
    for backend in ("numpy", "tensorflow"):
        extractor = ScatteringExtractor(replace(SMALL, backend=backend))
        first = extractor(paths[0])  # builds the transform (a TensorFlow one cannot be pickled)
        copy = pickle.loads(pickle.dumps(extractor))
        assert copy._scattering._transform is None
        np.testing.assert_array_equal(copy(paths[0]), first)
    monkeypatch.setattr("common.features.cache.POOL_AFTER_SECONDS", 0.0)  # a pool even for tiny files
    one = FeatureCache(tmp_path / "one", ScatteringExtractor(SMALL)).extract_all(paths, progress=False)
    two = FeatureCache(tmp_path / "two", ScatteringExtractor(SMALL)).extract_all(paths, progress=False, workers=2)
    for path in paths:
        np.testing.assert_array_equal(two.features[str(path)], one.features[str(path)])


def test_extractor_bad_audio(tmp_path):
    extractor = ScatteringExtractor(SMALL)  # min_duration: one window, 32 samples = 4 ms
    short = tmp_path / "short.wav"
    sf.write(str(short), np.zeros(20, np.float32), 8000)
    with pytest.raises(AudioError, match="too short"):
        extractor(short)
    with pytest.raises(AudioError, match="cannot decode"):
        extractor(write_corrupt(tmp_path / "bad.wav"))
    with pytest.raises(AudioError, match="does not exist"):
        extractor(tmp_path / "missing.wav")
