"""Small Ballroom and Soundtracks folders in the published layouts, written by tests.

Audio is real-format (WAV for Ballroom, MP3 for Soundtracks, as the releases ship them) via
:func:`tests.audio_fixtures.write_audio`; the Soundtracks rating files use the real headers (Set 1
lower-case, Set 2 capitalised with its extra columns) and two-decimal ratings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.datasets import ballroom, soundtracks
from tests.audio_fixtures import write_audio

#: Set 1 / Set 2 rating-file headers as published.
SET1_HEADER = "number,valence,energy,tension,anger,fear,happy,sad,tender,TARGET"
SET2_HEADER = "Number,Valence,Energy,Tension,Anger,Fear,Happy,Sad,Tender,Beauty,Liking,TARGET,soundtrack,link"

#: Class -> rating column of the files.
CLASS_COLUMNS = {c: col for col, c in soundtracks.COLUMN_CLASSES.items()}


def write_ballroom(root: Path, per_folder: dict[str, int] | int, seconds=(0.1,), sample_rate: int = 8000,
                   file_list: bool = False) -> Path:
    """Write ``<root>/BallroomData/<Style>/Albums-Gen_<Style>-NN.wav``; returns ``BallroomData``.

    Args:
        per_folder: clips per style folder (an int for all ten folders).
        seconds: clip durations, cycled over each folder's clips.
        file_list: also write ``allBallroomFiles`` listing every clip.
    """
    data = root / "BallroomData"
    counts = per_folder if isinstance(per_folder, dict) else {s: per_folder for s in ballroom.FOLDER_CLASSES}
    listed = []
    for i, (style, n) in enumerate(counts.items()):
        (data / style).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            name = f"Albums-Gen_{style}-{k:02d}.wav"
            write_audio(data / style / name, seconds[k % len(seconds)], sample_rate,
                        frequency=110.0 * (i + 1) + 7 * k, seed=100 * i + k)
            listed.append(f"./{style}/{name}")
    if file_list:
        (data / ballroom.FILE_LIST).write_text("\n".join(listed) + "\n")
    return data


def rating_values(label: str, rng: np.random.Generator) -> dict[str, float]:
    """Discrete-emotion ratings (1-9, two decimals) whose single highest scale is ``label``'s."""
    values = {col: round(float(rng.uniform(1.0, 3.0)), 2) for col in soundtracks.RATING_COLUMNS}
    values[CLASS_COLUMNS[label]] = round(float(rng.uniform(5.5, 8.0)), 2)
    return values


def write_ratings(path: Path, rows: list[tuple[int, dict, str]], style: str, trailing_empty: bool = False,
                  seed: int = 0) -> Path:
    """Write a mean-rating file in the published format.

    Args:
        rows: ``(number, {anger, fear, happy, sad, tender: rating}, TARGET)`` per excerpt.
        style: ``"set1"`` (lower-case header) or ``"set2"`` (capitalised, Beauty, Liking, soundtrack, link).
        trailing_empty: add two empty columns to every line (an older copy of Set 1 has them).
    """
    rng = np.random.default_rng(seed)
    lines = [SET1_HEADER if style == "set1" else SET2_HEADER]
    for number, ratings, target in rows:
        dims = ",".join(f"{rng.uniform(1, 9):.2f}" for _ in range(3))
        emotions = ",".join(f"{ratings[c]:.2f}" for c in soundtracks.RATING_COLUMNS)
        if style == "set1":
            line = f"{number:03d},{dims},{emotions},{target}"
        else:
            line = f"{number:03d},{dims},{emotions},{rng.uniform(3, 7):.2f},{rng.uniform(3, 7):.2f},{target}," \
                   f"Some Film,{(number * 7) % 360 + 1:03d}"
        lines.append(line + (",," if trailing_empty else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_soundtracks(root: Path, set1: list[str], set2: list[str], seconds=(0.3,), sample_rate: int = 8000,
                      layout: str = "osf", seed: int = 0) -> dict[str, Path]:
    """Write a Soundtracks folder: audio ``NNN.mp3`` and rating files whose rule labels are ``set1``/``set2``.

    Args:
        set1, set2: the class of excerpt 1, 2, ... of each set (its ratings make it that class).
        seconds: clip durations, cycled over the excerpts.
        layout: ``"osf"`` (``Set1/``, ``Set2/``, CSVs in root), ``"nested"`` (``Set1/Set1/``,
            ``Set2/set2/``, CSVs in root), or ``"jyu"`` (``set1/mp3/Soundtrack360_mp3/`` with
            ``set1/mean_ratings_set1.csv``; ``set2/`` with its CSV inside).

    Returns:
        ``{"set1": audio folder, "set2": audio folder, "ratings_set1": csv, "ratings_set2": csv}``.
    """
    rng = np.random.default_rng(seed)
    folders = {"osf": ("Set1", "Set2"), "nested": ("Set1/Set1", "Set2/set2"),
               "jyu": ("set1/mp3/Soundtrack360_mp3", "set2")}[layout]
    out = {}
    targets = {"set1": "HIGH VALENCE", "set2": "TENSION POS MODERATE"}  # deliberately not the label
    for set_name, labels, folder in (("set1", set1, folders[0]), ("set2", set2, folders[1])):
        audio_dir = root / folder
        rows = []
        for k, label in enumerate(labels, start=1):
            write_audio(audio_dir / f"{k:03d}.mp3", seconds[(k - 1) % len(seconds)], sample_rate,
                        frequency=150.0 + 40 * soundtracks.CLASSES.index(label) + 3 * k, seed=k)
            rows.append((k, rating_values(label, rng), targets[set_name]))
        csv_dir = root / set_name if layout == "jyu" else root
        out[f"ratings_{set_name}"] = write_ratings(csv_dir / soundtracks.RATING_FILES[set_name], rows, set_name,
                                                   seed=seed)
        out[set_name] = audio_dir
    return out
