"""The standardised MCCLSTM input on real GTZAN clips, computed exactly as the Table 3 pipeline does.

GTZAN is 22,050 Hz: resampled to 44.1 kHz it holds nothing above 11,025 Hz, so the mel bands that
lie wholly above that frequency are "dead". A centred, zero-padded STFT put a broadband transient
into frame 0 there (-48 to -75 dB over a -100 dB floor), and per-band standardisation turned it
into |z| of 13 to 40, larger than anything in the live bands; the P channel's max-pool over time
then picks it up. These tests bound the standardised values (see papers/mcclstm/README.md,
"Input scaling").
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from common.datasets import gtzan
from papers.mcclstm import config as cfg
from papers.mcclstm.protocol import fit_standardizer
from papers.mcclstm.tables import prepare_chunks, table3_gtzan

#: training clips: numbers 02-05 of every genre; examined clips: 00 and 01 of every genre.
TRAIN_NUMBERS = ("00002", "00003", "00004", "00005")
EXAMINED_NUMBERS = ("00000", "00001")
#: bound on |z| everywhere: live bands of these clips stay below 5.
Z_BOUND = 10.0
#: bounds on |z| in the dead bands: they carry (almost) nothing. Float32 round-off of loud frames
#: leaves up to ~3 dB above the -100 dB floor there (pop.00001, hiphop.00001), which the 1 dB std
#: floor keeps below 3; everywhere else they are at the floor and standardise to ~0.
DEAD_BAND_BOUND = 3.0
DEAD_BAND_TYPICAL = 0.05


def dead_bands(features, source_rate: int = 22050) -> np.ndarray:
    """Indices of the mel bands whose whole filter lies above ``source_rate / 2`` (lower edge above it).

    For the MCCLSTM features these are bands 35-39; band 34 (10.90-13.33 kHz) still overlaps the
    last 120 Hz below 11,025 Hz and is covered by the general bound only.
    """
    edges = librosa.mel_frequencies(features.n_mels + 2, fmin=features.fmin,
                                    fmax=features.fmax or features.sample_rate / 2)
    return np.flatnonzero(edges[:-2] >= source_rate / 2)


@pytest.fixture(scope="module")
def standardised(gtzan_mini):
    """``{track_id: z (n_chunks, 40, 80)}`` for the examined clips, standardiser fitted on the training clips."""
    spec = table3_gtzan()
    extractor = spec.extractor()
    tracks = {t.track_id: t for t in gtzan.index(gtzan_mini).tracks}

    def chunks(track_id):
        track = tracks[track_id]
        return spec.prepare(extractor(track.path), track)

    train = np.concatenate([chunks(f"{g}.{n}") for g in gtzan.GENRES for n in TRAIN_NUMBERS])
    standardize = fit_standardizer(train)
    return {f"{g}.{n}": standardize(chunks(f"{g}.{n}")) for g in gtzan.GENRES for n in EXAMINED_NUMBERS}


def test_the_dead_bands_are_the_top_five():
    assert dead_bands(cfg.FEATURES).tolist() == list(range(35, 40))


def test_standardised_input_is_bounded(standardised):
    worst = {track_id: float(np.abs(z).max()) for track_id, z in standardised.items()}
    assert max(worst.values()) < Z_BOUND, {k: round(v, 1) for k, v in worst.items() if v >= Z_BOUND}


def test_dead_bands_stay_near_zero(standardised):
    dead = dead_bands(cfg.FEATURES)
    worst = {track_id: float(np.abs(z[:, dead]).max()) for track_id, z in standardised.items()}
    assert max(worst.values()) < DEAD_BAND_BOUND, {k: round(v, 2) for k, v in worst.items()
                                                  if v >= DEAD_BAND_BOUND}
    values = np.abs(np.concatenate([z[:, dead].ravel() for z in standardised.values()]))
    assert np.quantile(values, 0.99) < DEAD_BAND_TYPICAL


def test_first_frame_is_no_outlier(standardised):
    # frame 0 of a track (all bands) is no further from zero than the track's other frames, within 1
    for track_id, z in standardised.items():
        first = np.abs(z[0, :, 0]).max()
        rest = max(np.abs(z[0, :, 1:]).max(), np.abs(z[1:]).max(initial=0.0))
        assert first <= rest + 1.0, (track_id, first, rest)


def test_prepare_matches_table3_chunking(standardised):
    for z in standardised.values():
        assert z.shape[1:] == (cfg.FEATURES.n_mels, cfg.CHUNK_FRAMES) and z.dtype == np.float32
    assert prepare_chunks is table3_gtzan().prepare
