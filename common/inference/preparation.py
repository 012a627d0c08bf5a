"""Reading a user's audio file through a table's own preprocessing, for ``predict``.

A model learns the spectrum of its training audio, including what that audio lacks. GTZAN is
recorded at 22,050 Hz, so a 44.1 kHz log-mel of a GTZAN clip holds only the -100 dB floor
in every mel band above 11,025 Hz, and the fold's standardisation learned that floor. A user's
44.1 or 48 kHz recording has content there (70-80 dB above the floor for music; even the
quantisation noise of a 16-bit file sits ~11 dB above it), which standardises to values the model
never saw. So ``predict`` decodes a file as the training audio sounded: a file recorded above the
training audio's own sample rate (stored in every fold record, ``training_audio.sample_rates``)
is first resampled to that rate, which removes what the training audio could not hold, and then
to the features' rate, as the training tracks were (:func:`common.audio.decoding.load_audio`).
"""

from __future__ import annotations

from pathlib import Path

from common.audio.decoding import sample_rate_counts
from common.datasets.base import Track


def feature_sample_rate(description: dict) -> int | None:
    """The sample rate (Hz) the features are computed at, from an extractor's ``describe()``; None when it has none."""
    rate = description.get("sample_rate") or (description.get("logmel") or {}).get("sample_rate")
    return int(rate) if rate else None


def training_sample_rates(source) -> tuple[dict[str, int], str]:
    """``({"22050": 80}, where from)``: the native sample rates of a trained fold's training audio.

    Read from the fold record's ``training_audio`` (written by the runner); for a record made
    before the runner stored it, from the headers of the dataset named in the run's manifest
    (every track: the folds of a table share one dataset). Empty when neither is available.

    Args:
        source: a :class:`~common.inference.fold_model.FoldSource`.
    """
    stored = ((source.record.get("training_audio") or {}).get("sample_rates"))
    if isinstance(stored, dict) and stored:
        return {str(k): int(v) for k, v in stored.items()}, f"fold {source.fold}'s record"
    dataset = (source.run.manifest.get("dataset") or {}).get("path")
    try:
        index = source.spec.dataset.index(Path(dataset))
    except Exception:  # noqa: BLE001 - any dataset problem means "not known"
        return {}, "unknown (the fold record does not say and the dataset is not readable)"
    return sample_rate_counts(t.path for t in index.tracks), f"the headers of the dataset at {dataset}"


def band_limit_rate(rates: dict[str, int], features_rate: int | None) -> int | None:
    """The rate to decode a user's file at first: the training audio's most common rate, when below the features' rate.

    Args:
        rates: ``{"22050": 800, ...}`` (see :func:`training_sample_rates`).
        features_rate: Hz of the features (``None``: unknown).

    Returns:
        Hz, or None when no band limit applies (the training audio was recorded at or above the
        features' rate, so resampling to the features' rate already limits the band as in training;
        or the rates are unknown).

    >>> band_limit_rate({"22050": 790, "44100": 10}, 44100)
    22050
    >>> band_limit_rate({"44100": 698}, 44100) is None
    True
    """
    known = {int(k): n for k, n in rates.items() if str(k).isdigit()}
    if not known or features_rate is None:
        return None
    rate = max(known, key=lambda r: (known[r], r))
    return rate if rate < features_rate else None


def prepare_file(spec, path: str | Path, extractor=None, band_limit: int | None = None):
    """The table's preprocessing of one audio file: ``spec.prepare(spec.extractor()(path), track)``.

    Args:
        spec: the table.
        path: any file the table's audio loader decodes (WAV, FLAC, OGG, MP3, ...; any rate, mono or stereo).
        extractor: an instance of ``spec.extractor()`` to reuse (default: a new one).
        band_limit: Hz, or None: a file recorded above this rate is resampled to it first
            (:func:`band_limit_rate`; module text).

    Returns:
        what the table's schemes receive as one track's features (e.g. chunks
        ``(n_chunks, 40, 80)`` float32).

    Raises:
        AudioError: the file cannot be decoded, is empty or too short for the table's features.
    """
    path = Path(path)
    extractor = extractor or spec.extractor()
    track = Track(track_id=path.stem, path=path)
    return spec.prepare(extractor(path, band_limit_rate=band_limit), track)
