"""Fixed-length log-amplitude mel-spectrogram of a music clip (Choi et al. 2016 front end).

Choi, Fazekas & Sandler, "Automatic tagging using deep convolutional neural networks", ISMIR 2016
(Sec. 3; code: ``audio_processor.compute_melgram`` of keunwoochoi/music-auto_tagging-keras), used
by FCN-4/FCN-5 and by the papers built on them (MsE-CNN, CRNN):

1. load the clip at 12 kHz (mono);
2. fix its length to 29.12 s = 349 440 samples: a longer clip keeps its centre
   (``src[(n - n_fit) // 2 : (n + n_fit) // 2]``), a shorter one is zero-padded at the end;
3. mel power spectrogram: 512-point FFT, Hann window, hop 256, 96 mel bands (librosa defaults:
   Slaney mel scale and area normalisation, 0 Hz to ``sr / 2``);
4. log amplitude as Choi's code computes it: ``logamplitude(melgram ** 2, ref_power=1.0)`` with
   librosa 0.4's defaults ``amin=1e-10, top_db=80``, i.e.
   ``L = 10 log10(max(mel ** 2, 1e-10)) = 20 log10(max(mel, 1e-5))`` dB, then clipped from below at
   ``max(L) - 80`` dB.

Step 3-4 reuse :func:`common.features.logmel.logmel_librosa` (or :func:`~common.features.logmel.logmel_tf`):
with ``log="db"`` and ``amin=1e-5`` it gives ``10 log10(max(mel, 1e-5))``, which
:class:`ClipMelgramExtractor` multiplies by ``db_scale = 2`` (the squaring of ``melgram``) before
the ``top_db`` clipping. The result is 96 x 1366 (``1 + 349440 // 256`` frames, centred STFT).

One difference from Choi's code remains: librosa 0.4 padded the signal for the centred STFT by
reflection, the common layer pads with zeros (``pad_mode="constant"``, librosa >= 0.10's
default). Only the first and last frame (of 1366) differ; ``tests/common/features/test_clip_melgram.py``
measures it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from common.audio.decoding import load_audio
from common.errors import AudioError
from common.features.logmel import LogMelConfig, logmel_librosa, logmel_tf

#: Choi et al. 2016 STFT / mel parameters (12 kHz, n_fft 512, hop 256, Hann, 96 mel bands); amin
#: 1e-5 on the mel power equals Choi's 1e-10 on the squared mel power (see the module docstring).
CHOI2016_LOGMEL = LogMelConfig(sample_rate=12000, n_fft=512, hop_length=256, window="hann", n_mels=96,
                               fmin=0.0, fmax=None, power=2.0, log="db", amin=1e-5)


@dataclass(frozen=True)
class ClipMelgramConfig:
    """Every parameter of the fixed-length clip mel-spectrogram.

    Attributes:
        logmel: STFT / mel / dB parameters (``log`` must be ``"db"``).
        db_scale: factor applied to the dB values: 2.0 reproduces Choi's ``logamplitude(mel ** 2)``
            (20 log10 of the mel power), 1.0 gives plain 10 log10.
        top_db: clip values below ``max - top_db`` dB (per clip, after ``db_scale``); None: no clip.
        clip_seconds: length every clip is cropped / padded to, s (Choi: 29.12 s -> 1366 frames).
        min_seconds: clips shorter than this (after decoding) are refused with
            :class:`~common.errors.AudioError` (recorded and skipped by the runner) instead of
            being padded; clips between ``min_seconds`` and ``clip_seconds`` are zero-padded.
    """

    logmel: LogMelConfig = field(default_factory=lambda: CHOI2016_LOGMEL)
    db_scale: float = 2.0
    top_db: float | None = 80.0
    clip_seconds: float = 29.12
    min_seconds: float = 28.0

    def __post_init__(self):
        if self.logmel.log != "db":
            raise ValueError("ClipMelgramConfig needs a dB log-mel configuration (log='db')")
        if not 0 < self.min_seconds <= self.clip_seconds:
            raise ValueError(f"need 0 < min_seconds <= clip_seconds, got {self.min_seconds}, {self.clip_seconds}")
        if self.top_db is not None and self.top_db <= 0:
            raise ValueError(f"top_db must be positive or None, not {self.top_db}")

    @property
    def n_samples(self) -> int:
        """Samples of a clip after length fixing (``int(clip_seconds * sample_rate)``, as Choi)."""
        return int(self.clip_seconds * self.logmel.sample_rate)

    @property
    def n_frames(self) -> int:
        """Frames of every spectrogram (1366 for Choi's settings)."""
        return self.logmel.n_frames(self.n_samples)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_mels, n_frames)`` of every spectrogram."""
        return (self.logmel.n_mels, self.n_frames)

    def fingerprint(self) -> str:
        """Stable 16-hex-digit hash of every parameter (including the log-mel fingerprint)."""
        payload = json.dumps({"kind": "clip_melgram", "logmel": self.logmel.fingerprint(),
                              **{k: v for k, v in dataclasses.asdict(self).items() if k != "logmel"}},
                             sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


def fix_length(signal: np.ndarray, n_samples: int) -> np.ndarray:
    """Crop a signal to its centre or zero-pad it at the end to exactly ``n_samples`` samples.

    The centre crop keeps ``signal[(n - n_samples) // 2 : (n - n_samples) // 2 + n_samples]``
    (Choi et al. 2016, ``compute_melgram``).

    Args:
        signal: float32 ``(n,)``.
        n_samples: target length.

    Returns:
        float32 ``(n_samples,)``.
    """
    n = signal.shape[0]
    if n >= n_samples:
        start = (n - n_samples) // 2
        return np.ascontiguousarray(signal[start:start + n_samples], dtype=np.float32)
    return np.concatenate([signal, np.zeros(n_samples - n, dtype=np.float32)]).astype(np.float32)


def log_amplitude_melgram(signal: np.ndarray, config: ClipMelgramConfig, backend: str = "librosa") -> np.ndarray:
    """Log-amplitude mel-spectrogram of a signal already at ``config.logmel.sample_rate``.

    Args:
        signal: float32 ``(n,)``; it is length-fixed with :func:`fix_length` first.
        config: parameters.
        backend: ``"librosa"`` (:func:`~common.features.logmel.logmel_librosa`) or ``"tf"``.

    Returns:
        float32 ``(n_mels, n_frames)`` in dB (``db_scale`` x 10 log10 of the mel power, clipped
        at ``top_db`` below the clip's maximum).
    """
    fixed = fix_length(np.asarray(signal, dtype=np.float32), config.n_samples)
    if backend == "tf":
        db = np.asarray(logmel_tf(fixed, config.logmel), dtype=np.float32)
    else:
        db = logmel_librosa(fixed, config.logmel)
    db = (config.db_scale * db).astype(np.float32)
    if config.top_db is not None:
        db = np.maximum(db, db.max() - np.float32(config.top_db))
    return db


class ClipMelgramExtractor:
    """Audio file -> fixed-length log-amplitude mel-spectrogram, the unit the feature cache stores.

    Args:
        config: the parameters (default: Choi et al. 2016).
        backend: ``"librosa"`` or ``"tf"`` (see :func:`log_amplitude_melgram`).
    """

    kind = "clip_melgram"

    def __init__(self, config: ClipMelgramConfig | None = None, backend: str = "librosa"):
        if backend not in ("librosa", "tf"):
            raise ValueError(f"backend must be 'librosa' or 'tf', not {backend!r}")
        self.config = config or ClipMelgramConfig()
        self.backend = backend

    def fingerprint(self) -> str:
        """Hash of everything that determines the output (config, backend)."""
        return hashlib.sha1(f"{self.config.fingerprint()}-{self.backend}".encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """JSON-serialisable description recorded in run manifests."""
        return {"kind": self.kind, "backend": self.backend, "shape": list(self.config.shape),
                **dataclasses.asdict(self.config)}

    def __call__(self, path: str | os.PathLike, *, band_limit_rate: int | None = None) -> np.ndarray:
        """The float32 ``(n_mels, n_frames)`` spectrogram of one clip.

        Args:
            path: the audio file.
            band_limit_rate: Hz, or None: decode as a recording made at that rate would sound
                (``predict``: the training audio's own rate; see :func:`common.audio.decoding.load_audio`).

        Raises:
            AudioError: the file cannot be decoded, is empty, or is shorter than
                ``config.min_seconds`` (see :func:`common.audio.decoding.load_audio`).
        """
        signal = load_audio(path, self.config.logmel.sample_rate, min_duration=self.config.min_seconds,
                            band_limit_rate=band_limit_rate)
        spectrogram = log_amplitude_melgram(signal, self.config, self.backend)
        if spectrogram.shape != self.config.shape:
            raise AudioError(path, f"spectrogram shape {spectrogram.shape}, expected {self.config.shape}")
        return spectrogram
