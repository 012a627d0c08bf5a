"""Choi et al. 2016 clip mel-spectrogram: length fixing, shape, agreement with Choi's computation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from common.audio.decoding import load_audio
from common.errors import AudioError
from common.features.clip_melgram import ClipMelgramConfig, ClipMelgramExtractor, fix_length, log_amplitude_melgram
from tests.audio_fixtures import write_audio, write_corrupt


def choi_compute_melgram(signal: np.ndarray) -> np.ndarray:
    """Choi's ``compute_melgram`` (music-auto_tagging-keras) with today's librosa names.

    ``librosa.logamplitude(S, ref_power=1.0)`` of librosa 0.4 is ``power_to_db(S, ref=1.0,
    amin=1e-10, top_db=80.0)``; librosa 0.4's centred STFT padded by reflection.
    """
    import librosa

    n_fit = int(29.12 * 12000)
    n = signal.shape[0]
    if n < n_fit:
        signal = np.hstack((signal, np.zeros(n_fit - n)))
    elif n > n_fit:
        signal = signal[(n - n_fit) // 2:(n + n_fit) // 2]
    mel = librosa.feature.melspectrogram(y=signal.astype(np.float64), sr=12000, hop_length=256, n_fft=512,
                                         n_mels=96, pad_mode="reflect")
    return librosa.power_to_db(mel ** 2, ref=1.0, amin=1e-10, top_db=80.0)


def test_fix_length_crops_the_centre_and_zero_pads_the_end():
    signal = np.arange(10, dtype=np.float32)
    assert fix_length(signal, 4).tolist() == [3, 4, 5, 6]
    assert fix_length(signal, 5).tolist() == [2, 3, 4, 5, 6]
    assert fix_length(signal, 10).tolist() == signal.tolist()
    assert fix_length(signal, 12).tolist() == [*range(10), 0, 0]
    assert fix_length(signal, 12).dtype == np.float32


def test_default_config_gives_96_by_1366():
    config = ClipMelgramConfig()
    assert config.n_samples == 349440
    assert config.shape == (96, 1366)


@pytest.mark.parametrize("seconds", [29.5, 28.6])
def test_extractor_matches_choi_compute_melgram_except_the_edge_frames(tmp_path, seconds):
    path = write_audio(tmp_path / "clip.wav", seconds, 16000, frequency=660.0)
    ours = ClipMelgramExtractor()(path)
    assert ours.shape == (96, 1366) and ours.dtype == np.float32
    reference = choi_compute_melgram(load_audio(path, 12000).astype(np.float64))
    assert reference.shape == ours.shape
    # interior frames: the same computation (float32 vs float64 round-off only)
    np.testing.assert_allclose(ours[:, 1:-1], reference[:, 1:-1], atol=0.02)
    # values span exactly top_db = 80 dB below the clip's maximum
    assert ours.min() >= ours.max() - 80.0 - 1e-4
    # the edge frames differ only through the STFT padding (zeros here, reflection in librosa 0.4)
    assert np.abs(ours[:, [0, -1]] - reference[:, [0, -1]]).max() > 0.02


def test_db_scale_one_is_plain_decibels(tmp_path):
    path = write_audio(tmp_path / "clip.wav", 29.2, 12000)
    config = ClipMelgramConfig(db_scale=1.0, top_db=None)
    plain = ClipMelgramExtractor(config)(path)
    doubled = ClipMelgramExtractor(dataclasses.replace(config, db_scale=2.0))(path)
    np.testing.assert_allclose(doubled, 2.0 * plain, rtol=1e-6, atol=1e-4)


def test_tf_backend_agrees_with_librosa(tmp_path):
    path = write_audio(tmp_path / "clip.wav", 29.2, 12000)
    signal = load_audio(path, 12000)
    config = ClipMelgramConfig()
    a = log_amplitude_melgram(signal, config, "librosa")
    b = log_amplitude_melgram(signal, config, "tf")
    np.testing.assert_allclose(a, b, atol=0.2)


def test_short_and_broken_clips_raise_audio_error(tmp_path):
    extractor = ClipMelgramExtractor()
    with pytest.raises(AudioError, match="too short"):
        extractor(write_audio(tmp_path / "short.wav", 5.0, 16000))
    with pytest.raises(AudioError, match="cannot decode"):
        extractor(write_corrupt(tmp_path / "broken.mp3"))
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        extractor(empty)


def test_a_clip_between_min_and_clip_seconds_is_zero_padded(tmp_path):
    path = write_audio(tmp_path / "clip.wav", 28.5, 12000)
    spectrogram = ClipMelgramExtractor()(path)
    assert spectrogram.shape == (96, 1366)
    # the padded tail (silence) sits at the floor, max - 80 dB
    assert np.allclose(spectrogram[:, -10:], spectrogram.max() - 80.0)


def test_config_validation_and_fingerprints():
    with pytest.raises(ValueError):
        ClipMelgramConfig(min_seconds=30.0)
    with pytest.raises(ValueError):
        ClipMelgramConfig(top_db=0.0)
    base = ClipMelgramConfig()
    assert base.fingerprint() == ClipMelgramConfig().fingerprint()
    assert base.fingerprint() != dataclasses.replace(base, top_db=None).fingerprint()
    assert ClipMelgramExtractor(base).fingerprint() != ClipMelgramExtractor(base, backend="tf").fingerprint()
