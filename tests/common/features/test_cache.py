import os
import time

import numpy as np
import pytest

from common.features.cache import FeatureCache
from common.errors import AudioError
from common.features.logmel import LogMelConfig, LogMelExtractor
from tests.audio_fixtures import write_audio, write_corrupt

CONFIG = LogMelConfig(sample_rate=22050, n_fft=512, hop_length=256, window="hann", n_mels=16)


class CountingExtractor(LogMelExtractor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def __call__(self, path):
        self.calls += 1
        return super().__call__(path)


def test_computed_once_and_reused(tmp_path):
    audio = write_audio(tmp_path / "a.wav", seconds=1.0)
    extractor = CountingExtractor(CONFIG)
    cache = FeatureCache(tmp_path / "cache", extractor)
    first = cache.get(audio)
    second = FeatureCache(tmp_path / "cache", extractor).get(audio)  # a new cache object, same folder
    assert extractor.calls == 1
    np.testing.assert_array_equal(first, second)
    assert cache.stats.computed == 1


def test_invalidated_when_the_audio_or_the_config_changes(tmp_path):
    audio = write_audio(tmp_path / "a.wav", seconds=1.0)
    extractor = CountingExtractor(CONFIG)
    cache = FeatureCache(tmp_path / "cache", extractor)
    before = cache.get(audio)
    time.sleep(0.01)
    write_audio(audio, seconds=2.0, frequency=880.0)
    os.utime(audio, ns=(time.time_ns(), time.time_ns()))
    after = cache.get(audio)
    assert extractor.calls == 2 and after.shape[1] > before.shape[1]
    other = CountingExtractor(LogMelConfig(**{**CONFIG.__dict__, "n_mels": 8}))
    assert FeatureCache(tmp_path / "cache", other).get(audio).shape[0] == 8
    assert other.calls == 1


def test_corrupt_entry_is_detected_and_recomputed(tmp_path):
    audio = write_audio(tmp_path / "a.wav", seconds=1.0)
    extractor = CountingExtractor(CONFIG)
    cache = FeatureCache(tmp_path / "cache", extractor)
    good = cache.get(audio)
    cache.entry_path(audio).write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(UserWarning, match="corrupt"):
        again = cache.get(audio)
    np.testing.assert_array_equal(good, again)
    assert extractor.calls == 2 and cache.stats.corrupt == 1


def test_no_temporary_files_left_and_bad_audio_not_cached(tmp_path):
    good = write_audio(tmp_path / "good.wav", seconds=1.0)
    bad = write_corrupt(tmp_path / "bad.wav")
    cache = FeatureCache(tmp_path / "cache", LogMelExtractor(CONFIG))
    report = cache.extract_all([good, bad], progress=False)
    assert list(report.features) == [str(good)]
    assert "cannot decode" in report.failures[str(bad)]
    files = os.listdir(cache.folder)
    assert len(files) == 1 and files[0].endswith(".npz")
    with pytest.raises(AudioError):
        cache.get(bad)
