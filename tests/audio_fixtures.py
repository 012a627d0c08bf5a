"""Audio written by tests: real-format files (WAV, FLAC, OGG, AU) with known content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

#: Where tests look for the shared 100-clip GTZAN subset (never copied into the project).
GTZAN_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-mini"


def tone(seconds: float, sample_rate: int, frequency: float = 440.0, seed: int = 0) -> np.ndarray:
    """A sine tone plus a little noise: float32 ``(round(seconds * sample_rate),)`` in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (0.5 * np.sin(2 * np.pi * frequency * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_audio(path: str | Path, seconds: float, sample_rate: int = 22050, frequency: float = 440.0,
                seed: int = 0, channels: int = 1, subtype: str | None = None) -> Path:
    """Write a tone to ``path`` in the format its extension names (.wav, .flac, .ogg, .au)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    signal = tone(seconds, sample_rate, frequency, seed)
    if channels > 1:
        signal = np.stack([signal] * channels, axis=1)
    sf.write(str(path), signal, sample_rate, subtype=subtype)
    return path


def write_corrupt(path: str | Path) -> Path:
    """A file with an audio extension that holds no decodable audio."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(64)))
    return path
