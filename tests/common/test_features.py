import numpy as np
import pytest

from common.errors import AudioError
from common.features import (TF_LIBROSA_TOLERANCE_DB, LogMelConfig, LogMelExtractor, chunk_spectrogram,
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
                                                          window="hann", n_mels=96)])
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
    assert LogMelExtractor(MCCLSTM).fingerprint() != LogMelExtractor(MCCLSTM, backend="tf").fingerprint()


def test_extractor_reads_a_file(tmp_path):
    path = write_audio(tmp_path / "a.wav", seconds=2.0, sample_rate=22050)
    spec = LogMelExtractor(MCCLSTM)(path)
    assert spec.shape == (40, 1 + 88200 // 1024)
