"""A tiny FMA medium folder written by tests: tracks.csv in the real format and real mp3 audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.datasets import fma
from tests.audio_fixtures import write_audio

#: The 52 columns of the real fma_metadata/tracks.csv, in its order (two header levels).
TRACKS_COLUMNS = (
    [("album", c) for c in ("comments", "date_created", "date_released", "engineer", "favorites", "id",
                            "information", "listens", "producer", "tags", "title", "tracks", "type")]
    + [("artist", c) for c in ("active_year_begin", "active_year_end", "associated_labels", "bio", "comments",
                               "date_created", "favorites", "id", "latitude", "location", "longitude", "members",
                               "name", "related_projects", "tags", "website", "wikipedia_page")]
    + [("set", "split"), ("set", "subset")]
    + [("track", c) for c in ("bit_rate", "comments", "composer", "date_created", "date_recorded", "duration",
                              "favorites", "genre_top", "genres", "genres_all", "information", "interest",
                              "language_code", "license", "listens", "lyricist", "number", "publisher", "tags",
                              "title")])


def write_tracks_csv(path: Path, rows: list[dict]) -> Path:
    """Write ``tracks.csv`` as the dataset does (pandas, two-level header, ``track_id`` index line).

    Args:
        rows: dicts with ``track_id``, ``subset``, ``split``, ``genre_top`` (None allowed).
    """
    frame = pd.DataFrame(index=pd.Index([r["track_id"] for r in rows], name="track_id"),
                         columns=pd.MultiIndex.from_tuples(TRACKS_COLUMNS))
    for r in rows:
        frame.loc[r["track_id"], ("set", "subset")] = r["subset"]
        frame.loc[r["track_id"], ("set", "split")] = r["split"]
        frame.loc[r["track_id"], ("track", "genre_top")] = r["genre_top"]
        frame.loc[r["track_id"], ("track", "duration")] = 30
        frame.loc[r["track_id"], ("track", "title")] = f"Track {r['track_id']}, with a comma"
        frame.loc[r["track_id"], ("album", "tags")] = "[]"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path)
    return path


def tiny_fma(root: Path, genres=fma.GENRES[:3], per_split=(3, 1, 2), seconds: float = 1.0,
             sample_rate: int = 16000) -> Path:
    """A small fma_medium: ``per_split`` (training, validation, test) mp3 clips per genre.

    Also lists a ``large``-only track (must be ignored) with no audio, and tone frequencies per genre
    so that a model can tell the genres apart.
    """
    rows, track_id = [], 2
    for g, genre in enumerate(genres):
        for split, n in zip(fma.SPLITS, per_split):
            for i in range(n):
                rows.append({"track_id": track_id, "subset": "small" if i == 0 else "medium", "split": split,
                             "genre_top": genre})
                write_audio(fma.audio_path(root, track_id), seconds, sample_rate,
                            frequency=150.0 * (g + 1) * (1 + 0.05 * i), seed=track_id, channels=2)
                track_id += 1
    rows.append({"track_id": 999999, "subset": "large", "split": "training", "genre_top": np.nan})
    write_tracks_csv(root / "fma_metadata" / "tracks.csv", rows)
    return root
