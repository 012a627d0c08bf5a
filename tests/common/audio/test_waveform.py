"""Raw-audio features: crop, minimum duration, windows, cache identity."""

import numpy as np
import pytest

from common.features.cache import FeatureCache
from common.errors import AudioError
from common.audio.waveform import WaveformConfig, WaveformExtractor, waveform_windows
from tests.audio_fixtures import write_audio


def test_waveform_is_resampled_and_cropped(tmp_path):
    path = write_audio(tmp_path / "a.wav", 2.0, 22050, channels=2)
    signal = WaveformExtractor(WaveformConfig(sample_rate=8000, max_seconds=1.5))(path)
    assert signal.shape == (12000,) and signal.dtype == np.float32
    assert WaveformExtractor(WaveformConfig(sample_rate=8000, max_seconds=None))(path).shape == (16000,)
    with pytest.raises(AudioError, match="too short"):
        WaveformExtractor(WaveformConfig(sample_rate=8000, min_seconds=3.0))(path)


def test_windows_drop_the_remainder():
    windows = waveform_windows(np.arange(10, dtype=np.float32), 4)
    assert windows.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(AudioError, match="one window"):
        waveform_windows(np.zeros(3, np.float32), 4, source="x.wav")


def test_cache_folders_differ_by_configuration(tmp_path):
    path = write_audio(tmp_path / "a.wav", 0.5, 8000)
    a = FeatureCache(tmp_path / "c", WaveformExtractor(WaveformConfig(sample_rate=8000)))
    b = FeatureCache(tmp_path / "c", WaveformExtractor(WaveformConfig(sample_rate=4000)))
    assert a.folder != b.folder and a.folder.name.startswith("waveform-")
    np.testing.assert_array_equal(a.get(path), a.get(path))
    assert a.stats.computed == 1 and a.stats.hits == 1
