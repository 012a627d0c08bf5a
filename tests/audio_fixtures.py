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


def truncate(path: str | Path, fraction: float = 0.5) -> Path:
    """Cut a file to ``fraction`` of its bytes (as an interrupted copy or download leaves it)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


#: Layer III bit rates (kbit/s) by bit-rate index: MPEG-1, and MPEG-2 / 2.5 (ISO/IEC 11172-3, 13818-3).
_MP3_KBPS = {1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
#: Sample rates (Hz) by version bits (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5) and rate index.
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def remove_xing_frame(path: str | Path) -> Path:
    """Drop the first frame of an mp3 written by libsndfile: the one holding its ``Xing`` tag.

    What remains is an mp3 without a frame-count tag (as many encoders write them): decoders then
    estimate the length from the file size and the first frame's bit rate.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:3] == b"ID3" or data.find(b"Xing", 0, 64) < 0:
        raise ValueError(f"{path}: does not start with a Xing frame")
    header = int.from_bytes(data[:4], "big")
    version, rate_index = (header >> 19) & 3, (header >> 10) & 3
    kbps = _MP3_KBPS[1 if version == 3 else 2][(header >> 12) & 15]
    length = (144 if version == 3 else 72) * kbps * 1000 // _MP3_RATES[version][rate_index] + ((header >> 9) & 1)
    path.write_bytes(data[length:])
    return path
