"""Log-mel spectrograms (librosa reference and TensorFlow implementation) and chunking.

Both implementations compute the same thing, with every parameter explicit in
:class:`LogMelConfig`:

1. framing: with ``center=True`` the signal is padded with ``n_fft // 2`` zeros at both ends
   (librosa ``center=True, pad_mode="constant"``; the TF path pads zeros too), so frame ``t`` is
   centred on sample ``t * hop_length``; with ``center=False`` nothing is padded and frame ``t``
   covers samples ``[t * hop_length, t * hop_length + n_fft)``, every frame wholly inside the signal;
2. STFT with a periodic window of ``n_fft`` samples (e.g. Blackman-Harris) and hop ``hop_length``;
3. power spectrum ``|X|**power``;
4. a mel filter bank of ``n_mels`` bands between ``fmin`` and ``fmax`` (librosa's Slaney mel
   scale and Slaney area normalisation; the TF path multiplies by the very same matrix);
5. log compression: ``"db"`` is ``10 * log10(max(S, amin))`` (dB, no reference, no top_db
   clipping); ``"log"`` is ``log(S + log_offset)`` (natural log).

:func:`logmel_librosa` is the reference; :func:`logmel_tf` runs in TensorFlow (on a GPU when one
is present, and inside ``tf.data.Dataset.map``). ``tests/common/features/test_logmel.py`` shows that
they agree within :data:`TF_LIBROSA_TOLERANCE_DB`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.signal

from common.audio.decoding import load_audio
from common.errors import AudioError

#: Bump when the numerical definition of a feature changes: it invalidates every cache entry.
FEATURE_CODE_VERSION = 1

#: Largest absolute difference (dB) allowed between the TF and librosa log-mel spectrograms on
#: bins within 80 dB of a spectrogram's maximum (float32 STFT round-off; see the test).
TF_LIBROSA_TOLERANCE_DB = 0.05


@dataclass(frozen=True)
class LogMelConfig:
    """Every parameter of a log-mel spectrogram.

    Attributes:
        sample_rate: Hz; audio is resampled to it before the STFT.
        n_fft: FFT size and window length, samples.
        hop_length: samples between frames.
        window: window name understood by ``scipy.signal.get_window`` (periodic), e.g.
            ``"blackmanharris"`` or ``"hann"``.
        n_mels: number of mel bands.
        fmin: lowest mel band edge, Hz.
        fmax: highest mel band edge, Hz; ``None`` means ``sample_rate / 2``.
        power: exponent of the magnitude spectrum (2.0 = power spectrogram).
        log: ``"db"`` (10 log10, dB) or ``"log"`` (natural log with ``log_offset``).
        amin: floor applied before ``"db"`` compression (power units).
        log_offset: offset added before ``"log"`` compression.
        center: True pads ``n_fft // 2`` zeros at both ends (centred frames); False frames the
            signal as it is. Zero padding joins silence to a clip that starts (or ends) mid-sound;
            the step leaks broadband energy into the first (and last) frame, e.g. -48 to -75 dB in
            mel bands that are otherwise at the -100 dB floor (MCCLSTM on 22,050 Hz GTZAN; see
            ``papers/mcclstm/README.md``, "Input scaling"). Reflect or edge padding leak as much.
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 1024
    window: str = "blackmanharris"
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float | None = None
    power: float = 2.0
    log: str = "db"
    amin: float = 1e-10
    log_offset: float = 1e-6
    center: bool = True

    def __post_init__(self):
        if self.log not in ("db", "log"):
            raise ValueError(f"LogMelConfig.log must be 'db' or 'log', not {self.log!r}")
        if self.hop_length <= 0 or self.n_fft <= 0 or self.n_mels <= 0:
            raise ValueError("n_fft, hop_length and n_mels must be positive")

    @property
    def frame_duration(self) -> float:
        """Seconds between consecutive frames (``hop_length / sample_rate``)."""
        return self.hop_length / self.sample_rate

    def n_frames(self, n_samples: int) -> int:
        """Number of frames produced for a signal of ``n_samples`` samples.

        ``1 + n_samples // hop_length`` when centred; ``1 + (n_samples - n_fft) // hop_length``
        (0 when ``n_samples < n_fft``) when not.
        """
        if self.center:
            return 1 + n_samples // self.hop_length
        return 0 if n_samples < self.n_fft else 1 + (n_samples - self.n_fft) // self.hop_length

    def fingerprint(self) -> str:
        """Stable 16-hex-digit hash of the configuration and :data:`FEATURE_CODE_VERSION`.

        Every field enters the hash, except that a field listed in :data:`_ADDED_FIELD_DEFAULTS`
        is left out while it holds the value that reproduces the output from before it existed,
        so the cache entries of configurations that do not use it stay valid.
        """
        settings = {name: value for name, value in dataclasses.asdict(self).items()
                    if not (name in _ADDED_FIELD_DEFAULTS and value == _ADDED_FIELD_DEFAULTS[name])}
        payload = json.dumps({"kind": "logmel", "version": FEATURE_CODE_VERSION, **settings}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


#: Fields added to :class:`LogMelConfig` after version 1, with the value that gives version 1's
#: output: ``center=True`` is the centred, zero-padded STFT every config used before.
_ADDED_FIELD_DEFAULTS = {"center": True}


@lru_cache(maxsize=16)
def _window(name: str, n_fft: int) -> np.ndarray:
    return scipy.signal.get_window(name, n_fft, fftbins=True).astype(np.float32)


@lru_cache(maxsize=16)
def mel_filterbank(config: LogMelConfig) -> np.ndarray:
    """Mel filter bank of ``config``: float32 array ``(n_mels, 1 + n_fft // 2)`` (librosa, Slaney)."""
    import librosa

    return librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                               fmin=config.fmin, fmax=config.fmax).astype(np.float32)


def _compress(mel: np.ndarray, config: LogMelConfig) -> np.ndarray:
    if config.log == "db":
        return (10.0 * np.log10(np.maximum(mel, config.amin))).astype(np.float32)
    return np.log(mel + config.log_offset).astype(np.float32)


def logmel_librosa(signal: np.ndarray, config: LogMelConfig) -> np.ndarray:
    """Reference log-mel spectrogram computed with librosa.

    Args:
        signal: mono audio, shape ``(n_samples,)``, float32, at ``config.sample_rate``.
        config: the spectrogram parameters.

    Returns:
        float32 array ``(n_mels, n_frames)`` with ``n_frames = config.n_frames(n_samples)``;
        units dB for ``log="db"``.

    Raises:
        ValueError: ``signal`` is not one-dimensional, is empty, or (``center=False``) is shorter
            than ``n_fft``.
    """
    import librosa

    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1 or signal.size == 0:
        raise ValueError(f"signal must be a non-empty 1-D array, got shape {signal.shape}")
    if config.n_frames(signal.size) == 0:
        raise ValueError(f"signal of {signal.size} samples is shorter than one frame ({config.n_fft})")
    spec = np.abs(librosa.stft(signal, n_fft=config.n_fft, hop_length=config.hop_length,
                               window=_window(config.window, config.n_fft), center=config.center,
                               pad_mode="constant")) ** config.power
    mel = mel_filterbank(config) @ spec
    return _compress(mel, config)


def logmel_tf(signal, config: LogMelConfig):
    """Log-mel spectrogram in TensorFlow (``tf.signal``), usable on a GPU and in ``tf.data``.

    Args:
        signal: ``tf.Tensor`` (or array) of shape ``(..., n_samples)``, float32, at
            ``config.sample_rate``.
        config: the spectrogram parameters.

    Returns:
        float32 ``tf.Tensor`` ``(..., n_mels, n_frames)``, the same layout and values as
        :func:`logmel_librosa` (within :data:`TF_LIBROSA_TOLERANCE_DB`).
    """
    import tensorflow as tf

    signal = tf.convert_to_tensor(signal, dtype=tf.float32)
    if config.center:
        pad = config.n_fft // 2
        rank = len(signal.shape)
        padded = tf.pad(signal, [[0, 0]] * (rank - 1) + [[pad, pad]])  # zeros, as pad_mode="constant"
    else:
        padded = signal
    window = tf.constant(_window(config.window, config.n_fft))
    stft = tf.signal.stft(padded, frame_length=config.n_fft, frame_step=config.hop_length,
                          fft_length=config.n_fft, window_fn=lambda n, dtype: window,
                          pad_end=False)
    spec = tf.pow(tf.abs(stft), config.power)                      # (..., frames, bins)
    mel = tf.matmul(spec, tf.constant(mel_filterbank(config).T))   # (..., frames, mels)
    mel = tf.linalg.matrix_transpose(mel)                          # (..., mels, frames)
    if config.log == "db":
        return 10.0 * tf.math.log(tf.maximum(mel, config.amin)) / tf.math.log(10.0)
    return tf.math.log(mel + config.log_offset)


class LogMelExtractor:
    """Audio file -> log-mel spectrogram, the unit the feature cache stores.

    Args:
        config: spectrogram parameters.
        backend: ``"librosa"`` (reference) or ``"tf"`` (:func:`logmel_tf`).
        min_duration: shortest accepted audio, seconds; shorter files raise
            :class:`~common.errors.AudioError` (see :func:`common.audio.decoding.load_audio`).
    """

    kind = "logmel"

    def __init__(self, config: LogMelConfig, backend: str = "librosa", min_duration: float = 0.0):
        if backend not in ("librosa", "tf"):
            raise ValueError(f"backend must be 'librosa' or 'tf', not {backend!r}")
        self.config = config
        self.backend = backend
        self.min_duration = min_duration

    def fingerprint(self) -> str:
        """Hash of everything that determines the output (config, backend)."""
        return hashlib.sha1(f"{self.config.fingerprint()}-{self.backend}".encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """JSON-serialisable description recorded in run manifests."""
        return {"kind": self.kind, "backend": self.backend, **dataclasses.asdict(self.config)}

    def __call__(self, path: str | os.PathLike, *, band_limit_rate: int | None = None) -> np.ndarray:
        """Compute the float32 ``(n_mels, n_frames)`` log-mel spectrogram of one file.

        Args:
            path: the audio file.
            band_limit_rate: Hz, or None: decode as a recording made at that rate would sound
                (``predict``: the training audio's own rate; see :func:`common.audio.decoding.load_audio`).

        Raises:
            AudioError: the file cannot be loaded (see :func:`common.audio.decoding.load_audio`), or it is
                shorter than one frame (``center=False``).
        """
        signal = load_audio(path, self.config.sample_rate, min_duration=self.min_duration,
                            band_limit_rate=band_limit_rate)
        if self.config.n_frames(signal.size) == 0:
            raise AudioError(path, f"too short for one frame: {signal.size} samples, "
                                   f"a frame needs {self.config.n_fft}")
        if self.backend == "tf":
            return np.asarray(logmel_tf(signal, self.config), dtype=np.float32)
        return logmel_librosa(signal, self.config)


def chunk_spectrogram(spectrogram: np.ndarray, n_frames: int, *, source: str | None = None) -> np.ndarray:
    """Split a spectrogram into non-overlapping chunks of ``n_frames`` frames.

    Frames left over after the last whole chunk are dropped (MCCLSTM Sec. 2.1: "split into L
    chunks without overlapping").

    Args:
        spectrogram: array ``(n_bands, total_frames)``.
        n_frames: frames per chunk (``N``; 80 frames at 44.1 kHz, hop 1024 span 1.858 s).
        source: file name used in the error message.

    Returns:
        array ``(n_chunks, n_bands, n_frames)``, same dtype, ``n_chunks = total_frames // n_frames``.

    Raises:
        AudioError: fewer than ``n_frames`` frames (the clip is shorter than one chunk).
    """
    n_bands, total = spectrogram.shape
    n_chunks = total // n_frames
    if n_chunks == 0:
        raise AudioError(source or "<spectrogram>",
                         f"too short for one chunk: {total} frames, a chunk needs {n_frames}")
    trimmed = spectrogram[:, : n_chunks * n_frames]
    return np.ascontiguousarray(trimmed.reshape(n_bands, n_chunks, n_frames).transpose(1, 0, 2))
