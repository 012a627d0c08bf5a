"""Raw-audio features for end-to-end models: a file's mono waveform at a fixed rate, cropped.

:class:`WaveformExtractor` is a :class:`~common.features.cache.FeatureCache` extractor (like
:class:`common.features.logmel.LogMelExtractor`), so the decoded and resampled signal is computed once per
file and reused by every fold and table. :func:`waveform_windows` cuts it into the fixed-length
windows such models are trained on (e.g. 3 s windows, Dieleman & Schrauwen 2014).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from common.audio.decoding import load_audio
from common.errors import AudioError

#: Bump when the numerical definition changes: it invalidates every cache entry.
WAVEFORM_CODE_VERSION = 1


@dataclass(frozen=True)
class WaveformConfig:
    """Every parameter of the raw-audio feature.

    Attributes:
        sample_rate: Hz; audio is resampled to it (soxr VHQ, :func:`common.audio.decoding.load_audio`).
        max_seconds: keep the first ``max_seconds`` s of the file (None: all of it).
        min_seconds: shorter files raise :class:`AudioError` (skipped and recorded by the runner).
    """

    sample_rate: int = 16000
    max_seconds: float | None = 29.0
    min_seconds: float = 0.0

    def fingerprint(self) -> str:
        """Stable 16-hex-digit hash of the configuration and :data:`WAVEFORM_CODE_VERSION`."""
        payload = json.dumps({"kind": "waveform", "version": WAVEFORM_CODE_VERSION, **asdict(self)},
                             sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


class WaveformExtractor:
    """Audio file -> mono float32 waveform ``(n_samples,)`` at ``config.sample_rate``, cropped."""

    kind = "waveform"

    def __init__(self, config: WaveformConfig):
        self.config = config

    def fingerprint(self) -> str:
        """Hash of everything that determines the output."""
        return self.config.fingerprint()

    def describe(self) -> dict:
        """JSON-serialisable description recorded in run manifests."""
        return {"kind": self.kind, **asdict(self.config)}

    def __call__(self, path: str | os.PathLike, *, band_limit_rate: int | None = None) -> np.ndarray:
        """The first ``max_seconds`` of the file, float32 ``(n_samples,)``.

        Args:
            path: the audio file.
            band_limit_rate: Hz, or None: decode as a recording made at that rate would sound
                (``predict``: the training audio's own rate; see :func:`common.audio.decoding.load_audio`).

        Raises:
            AudioError: the file cannot be loaded or is shorter than ``min_seconds``.
        """
        signal = load_audio(path, self.config.sample_rate, min_duration=self.config.min_seconds,
                            band_limit_rate=band_limit_rate)
        if self.config.max_seconds is not None:
            signal = signal[: int(round(self.config.max_seconds * self.config.sample_rate))]
        return np.ascontiguousarray(signal, dtype=np.float32)


def waveform_windows(signal: np.ndarray, window: int, *, source: str | None = None) -> np.ndarray:
    """Split a waveform into non-overlapping windows of ``window`` samples (the rest is dropped).

    Args:
        signal: float ``(n_samples,)``.
        window: samples per window.
        source: file name for the error message.

    Returns:
        ``(n_windows, window)`` array, ``n_windows = n_samples // window``.

    Raises:
        AudioError: the signal is shorter than one window.
    """
    n = signal.shape[0] // window
    if n == 0:
        raise AudioError(source or "<waveform>", f"too short for one window: {signal.shape[0]} samples, "
                                                 f"a window needs {window}")
    return np.ascontiguousarray(signal[: n * window].reshape(n, window))
