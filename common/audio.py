"""Audio loading: any file libsndfile decodes, to mono float32 at a requested sample rate.

Decoding is done by :mod:`soundfile` (libsndfile: WAV, AU/SND, FLAC, OGG/Vorbis, MP3 and more);
resampling by :mod:`soxr` at its "VHQ" (very high quality) setting.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from common.errors import AudioError

#: File extensions treated as audio when scanning dataset folders.
AUDIO_EXTENSIONS = (".wav", ".au", ".snd", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


def load_audio(path: str | os.PathLike, sample_rate: int, *, min_duration: float = 0.0) -> np.ndarray:
    """Load an audio file as a mono signal at ``sample_rate``.

    Multi-channel files are averaged to mono; the signal is resampled with soxr "VHQ" when the
    file's rate differs from ``sample_rate``.

    Args:
        path: audio file (any format libsndfile reads).
        sample_rate: target rate in Hz (e.g. 44100 for MCCLSTM, 12000 for FCN-5).
        min_duration: minimum accepted duration in seconds after loading (0 accepts any
            non-empty file).

    Returns:
        ``np.ndarray`` of shape ``(n_samples,)``, dtype float32, values nominally in [-1, 1].

    Raises:
        AudioError: the file does not exist, cannot be decoded (corrupt or truncated header,
            unsupported format), holds no samples, holds non-finite samples, or is shorter
            than ``min_duration`` seconds. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as exc:
        raise AudioError(path, f"cannot decode audio ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "audio stream holds no samples")
    signal = data.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(signal)):
        raise AudioError(path, "audio holds NaN or infinite samples")
    if file_rate != sample_rate:
        signal = soxr.resample(signal, file_rate, sample_rate, quality="VHQ").astype(np.float32)
    duration = signal.shape[0] / sample_rate
    if duration < min_duration:
        raise AudioError(
            path, f"too short: {duration:.3f} s, at least {min_duration:.3f} s needed")
    return signal


def audio_duration(path: str | os.PathLike) -> float:
    """Duration of an audio file in seconds, read from its header without decoding.

    Raises:
        AudioError: the header cannot be read.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(path, f"cannot read audio header ({exc})") from None
    return float(info.frames) / float(info.samplerate)


def header_problem(path: str | os.PathLike) -> str | None:
    """Why an audio file cannot be used, judged from its size and header alone, or None if it looks fine.

    Cheap (no decoding): used by dataset loaders while indexing. Decoding errors past the header
    are caught later by :func:`load_audio`.

    Returns:
        ``"file is empty (0 bytes)"``, ``"cannot read audio header (...)"``,
        ``"audio stream holds no samples"``, or None.
    """
    if os.path.getsize(path) == 0:
        return "file is empty (0 bytes)"
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        return f"cannot read audio header ({exc})"
    if info.frames == 0:
        return "audio stream holds no samples"
    return None
