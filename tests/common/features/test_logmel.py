import numpy as np
import pytest

from common.errors import AudioError
from common.features.logmel import (TF_LIBROSA_TOLERANCE_DB, LogMelConfig, LogMelExtractor, chunk_spectrogram,
                             logmel_librosa, logmel_tf)
from tests.audio_fixtures import tone, write_audio

MCCLSTM = LogMelConfig(sample_rate=44100, n_fft=2048, hop_length=1024, window="blackmanharris", n_mels=40)


def test_logmel_shape_follows_centred_framing():
    signal = tone(30.0, 44100)
    spec = logmel_librosa(signal, MCCLSTM)
    assert spec.shape == (40, 1 + signal.size // 1024) == (40, 1292)
    assert spec.dtype == np.float32
    chunks = chunk_spectrogram(spec, 80)
    assert chunks.shape == (16, 40, 80)  # MCCLSTM: a 30 s track gives 16 chunks


@pytest.mark.parametrize("config", [MCCLSTM, LogMelConfig(sample_rate=12000, n_fft=512, hop_length=256,
                                                          window="hann", n_mels=96),
                                    LogMelConfig(**{**MCCLSTM.__dict__, "center": False})])
def test_tf_and_librosa_agree(config):
    rng = np.random.default_rng(0)
    signal = (tone(3.0, config.sample_rate, 330.0) + 0.1 * rng.standard_normal(3 * config.sample_rate)
              ).astype(np.float32)
    reference = logmel_librosa(signal, config)
    ours = np.asarray(logmel_tf(signal, config))
    assert ours.shape == reference.shape
    relevant = reference > reference.max() - 80.0
    assert np.max(np.abs(ours - reference)[relevant]) < TF_LIBROSA_TOLERANCE_DB


def test_tf_batched_input():
    signals = np.stack([tone(1.0, 44100, f) for f in (220.0, 440.0)])
    out = np.asarray(logmel_tf(signals, MCCLSTM))
    assert out.shape == (2, 40, 1 + 44100 // 1024)
    np.testing.assert_allclose(out[1], np.asarray(logmel_tf(signals[1], MCCLSTM)), atol=1e-4)


def test_log_modes():
    signal = tone(1.0, 44100)
    db = logmel_librosa(signal, MCCLSTM)
    natural = logmel_librosa(signal, LogMelConfig(**{**MCCLSTM.__dict__, "log": "log", "log_offset": 0.0}))
    np.testing.assert_allclose(db, 10 * natural / np.log(10), atol=1e-3)
    with pytest.raises(ValueError):
        LogMelConfig(log="cube-root")


def test_chunking_drops_the_remainder_and_rejects_short_input():
    spec = np.arange(3 * 170, dtype=np.float32).reshape(3, 170)
    chunks = chunk_spectrogram(spec, 80)
    assert chunks.shape == (2, 3, 80)
    np.testing.assert_array_equal(chunks[1], spec[:, 80:160])
    with pytest.raises(AudioError, match="clip.wav: too short for one chunk: 79 frames"):
        chunk_spectrogram(spec[:, :79], 80, source="clip.wav")


def test_fingerprint_tracks_every_parameter():
    assert MCCLSTM.fingerprint() == LogMelConfig(**MCCLSTM.__dict__).fingerprint()
    assert MCCLSTM.fingerprint() != LogMelConfig(**{**MCCLSTM.__dict__, "hop_length": 512}).fingerprint()
    uncentred = LogMelConfig(**{**MCCLSTM.__dict__, "center": False})
    assert MCCLSTM.fingerprint() != uncentred.fingerprint()
    assert LogMelExtractor(MCCLSTM).fingerprint() != LogMelExtractor(uncentred).fingerprint()


def test_fingerprint_of_a_centred_config_is_unchanged_by_the_center_field():
    # the value from before ``center`` existed (FEATURE_CODE_VERSION 1): cached centred features stay valid
    assert MCCLSTM.fingerprint() == "30d2b0e35a6afed1"
    assert LogMelExtractor(MCCLSTM).fingerprint() != LogMelExtractor(MCCLSTM, backend="tf").fingerprint()


def test_extractor_reads_a_file(tmp_path):
    path = write_audio(tmp_path / "a.wav", seconds=2.0, sample_rate=22050)
    spec = LogMelExtractor(MCCLSTM)(path)
    assert spec.shape == (40, 1 + 88200 // 1024)


def test_uncentred_framing_has_no_padding():
    config = LogMelConfig(**{**MCCLSTM.__dict__, "center": False})
    signal = tone(30.0, 44100)
    spec = logmel_librosa(signal, config)
    assert spec.shape == (40, config.n_frames(signal.size)) == (40, 1 + (signal.size - 2048) // 1024) == (40, 1290)
    assert chunk_spectrogram(spec, 80).shape == (16, 40, 80)  # still 16 chunks per 30 s track
    # frame t of the uncentred STFT is frame t + 1 of the centred one (hop = n_fft / 2)
    np.testing.assert_allclose(spec[:, :-1], logmel_librosa(signal, MCCLSTM)[:, 1:spec.shape[1]], atol=1e-3)
    assert config.n_frames(2047) == 0 and config.n_frames(2048) == 1
    with pytest.raises(ValueError, match="shorter than one frame"):
        logmel_librosa(signal[:2000], config)


def test_uncentred_frame_zero_has_no_edge_transient():
    # a loud band-limited tone that starts at full amplitude: zero padding makes a step at sample 0
    config = LogMelConfig(**{**MCCLSTM.__dict__, "center": False})
    signal = np.cos(2 * np.pi * 1000.0 * np.arange(44100) / 44100).astype(np.float32)
    centred = logmel_librosa(signal, MCCLSTM)
    uncentred = logmel_librosa(signal, config)
    top = slice(35, 40)  # bands above 11.025 kHz
    assert centred[top, 0].max() > centred[top, 2:-2].max() + 20.0  # the transient of centred framing
    assert uncentred[top, 0].max() <= uncentred[top, 1:-1].max() + 1.0
