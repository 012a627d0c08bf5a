"""A generated ISMIR 2004 genre tree in the real layout (tracklist.csv + mp3 audio), for tests."""

from __future__ import annotations

import csv
from pathlib import Path

import soundfile as sf

from common.datasets.ismir2004 import CLASSES
from tests.audio_fixtures import tone

#: A tone frequency per class, so that tiny models have something to learn.
CLASS_FREQUENCIES = {name: 220.0 * 1.5 ** i for i, name in enumerate(CLASSES)}


def write_ismir2004_tree(root: str | Path, per_class: dict[str, int], seconds: float = 3.0,
                         sample_rate: int = 22050, audio_format: str = "mp3") -> Path:
    """Write ``<root>/metadata/<subset>/tracklist.csv`` and ``<root>/audio/<subset>/...`` files.

    Args:
        root: dataset folder to create.
        per_class: tracks per class for each subset, e.g. ``{"training": 3, "development": 2}``.
        seconds: duration of every clip.
        sample_rate: Hz of the written files.
        audio_format: ``"mp3"`` (as in the real collection) or ``"wav"``.

    Returns:
        ``root``. Paths in the tracklists look like the real ones:
        ``<class>/<artist>/<album>/<n>-<title>.<ext>``; rows are quoted and header-less.
    """
    root = Path(root)
    for subset, n in per_class.items():
        rows = []
        for c, name in enumerate(CLASSES):
            for i in range(n):
                artist, album = f"artist_{c}{i % 2}", f"album_{i}"
                relative = f"{name}/{artist}/{album}/{i + 1}-song_{subset[:3]}_{i}.{audio_format}"
                path = root / "audio" / subset / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                signal = tone(seconds + 0.1 * i, sample_rate, CLASS_FREQUENCIES[name] * (1 + 0.01 * i),
                              seed=hash((subset, c, i)) % 1000)
                sf.write(str(path), signal, sample_rate, format=audio_format.upper())
                rows.append([name, f"Artist {c}{i % 2}", f"Album {i}", f"Song {i}", str(i + 1), relative])
        tracklist = root / "metadata" / subset / "tracklist.csv"
        tracklist.parent.mkdir(parents=True, exist_ok=True)
        with tracklist.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(rows)
    return root
