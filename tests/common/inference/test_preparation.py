"""Predict's reading of a user's file: the band limit that makes it sound as the training audio did."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import soxr

from common.inference.preparation import band_limit_rate, feature_sample_rate, prepare_file
from papers.mcclstm.tables import table3_gtzan
from tests.audio_fixtures import tone


def test_band_limit_rate_is_the_training_audios_rate_below_the_features_rate():
    assert band_limit_rate({"22050": 790, "44100": 10}, 44100) == 22050
    assert band_limit_rate({"44100": 698}, 44100) is None            # Ballroom: already the features' rate
    assert band_limit_rate({"16000": 100}, 12000) is None            # features below the recordings' rate
    assert band_limit_rate({}, 44100) is None and band_limit_rate({"unknown": 3}, 44100) is None
    assert band_limit_rate({"22050": 5, "44100": 5}, 48000) == 44100   # a tie goes to the higher rate
    assert feature_sample_rate({"sample_rate": 44100}) == 44100
    assert feature_sample_rate({"logmel": {"sample_rate": 12000}}) == 12000
    assert feature_sample_rate({}) is None


def test_a_16_bit_44k_copy_of_a_22k_clip_gets_the_originals_top_bands(tmp_path):
    # before: the copy's quantisation noise filled the mel bands above 11,025 Hz that the original
    # (and so every GTZAN training clip) leaves at the -100 dB floor
    spec = table3_gtzan()
    y = tone(4.0, 22050, frequency=440.0, seed=1)
    original, copy = tmp_path / "original.wav", tmp_path / "copy.wav"
    sf.write(original, y, 22050, subtype="PCM_16")
    sf.write(copy, soxr.resample(y, 22050, 44100, quality="VHQ"), 44100, subtype="PCM_16")
    reference = prepare_file(spec, original)
    unlimited = prepare_file(spec, copy)
    limited = prepare_file(spec, copy, band_limit=22050)
    assert reference.shape == limited.shape == unlimited.shape == (2, 40, 80)
    top = slice(34, 40)                                  # the mel bands above 11,025 Hz
    assert np.abs(unlimited[:, top] - reference[:, top]).max() > 5.0          # dB
    assert np.abs(limited[:, top] - reference[:, top]).max() < 1.0
    assert np.abs(limited - reference).mean() < 0.5
