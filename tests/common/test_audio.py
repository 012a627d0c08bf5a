import numpy as np
import pytest

from common.audio import audio_duration, load_audio
from common.errors import AudioError
from tests.audio_fixtures import write_audio, write_corrupt


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".au"])
def test_load_formats_to_mono_float32_at_requested_rate(tmp_path, ext):
    path = write_audio(tmp_path / f"clip{ext}", seconds=1.0, sample_rate=22050, channels=2)
    signal = load_audio(path, 44100)
    assert signal.dtype == np.float32 and signal.ndim == 1
    assert abs(signal.size - 44100) <= 2
    assert np.max(np.abs(signal)) < 1.0


def test_resampling_keeps_the_tone_frequency(tmp_path):
    path = write_audio(tmp_path / "tone.wav", seconds=1.0, sample_rate=22050, frequency=1000.0)
    signal = load_audio(path, 12000)
    spectrum = np.abs(np.fft.rfft(signal))
    peak_hz = np.argmax(spectrum) * 12000 / signal.size
    assert abs(peak_hz - 1000.0) < 2.0


def test_missing_empty_corrupt_and_short_files_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav", 22050)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav: file is empty"):
        load_audio(empty, 22050)
    with pytest.raises(AudioError, match="corrupt.wav: cannot decode"):
        load_audio(write_corrupt(tmp_path / "corrupt.wav"), 22050)
    short = write_audio(tmp_path / "short.wav", seconds=0.5)
    with pytest.raises(AudioError, match="too short"):
        load_audio(short, 22050, min_duration=1.0)


def test_truncated_wav_is_reported_or_loaded_partially(tmp_path):
    path = write_audio(tmp_path / "trunc.wav", seconds=2.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # libsndfile reads what is there of a truncated data chunk; what matters is no crash and
    # no more samples than the file holds.
    signal = load_audio(path, 22050)
    assert 0 < signal.size <= 22050 + 10


def test_audio_duration(tmp_path):
    assert audio_duration(write_audio(tmp_path / "a.wav", seconds=1.5)) == pytest.approx(1.5, abs=1e-3)
