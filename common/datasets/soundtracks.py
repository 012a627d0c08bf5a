"""Soundtracks (Eerola & Vuoskoski 2011): 470 film-music excerpts with mean emotion ratings.

The stimulus sets are distributed by the authors on OSF (https://osf.io/p6vkg/, first released in
2011 at the University of Jyvaskyla): ``Set1.zip`` (360 excerpts, ``001.mp3`` to ``360.mp3``),
``Set2.zip`` (110 excerpts, numbered the same way), and the per-excerpt mean ratings on a 1-9
scale, one CSV per set. Accepted layout (folder names are matched case-insensitively)::

    <SOUNDTRACKS_DIR>/
      mean_ratings_set1.csv      number,valence,energy,tension,anger,fear,happy,sad,tender,TARGET
      mean_ratings_set2.csv      Number,Valence,Energy,Tension,Anger,Fear,Happy,Sad,Tender,Beauty,
                                 Liking,TARGET,soundtrack,link
      Set1/001.mp3 ... 360.mp3   (Set1.zip unpacked; Set1/Set1/ also found)
      Set2/001.mp3 ... 110.mp3   (Set2.zip unpacked; Set2/set2/ also found)

The audio folder of a set is the one folder, at most four levels under ``root``, named ``set1``
(``set2``) -- or ``Soundtrack360_mp3`` for Set 1 as in the 2011 release
(``set1/mp3/Soundtrack360_mp3/``) -- that directly holds ``NNN.<audio extension>`` files. A rating
file is found at the shallowest level (at most three under ``root``) where it occurs. What was
checked against public copies: the two rating files' headers and values, the 001-360 numbering,
Set 1's ``Soundtrack360_mp3`` folder and the ``Set2/set2`` nesting seen in users' code. What is
assumed: Set 2's audio files are named ``001.mp3`` to ``110.mp3`` like Set 1's (the release
readme says so for the archive as a whole).

Labels (MCCLSTM Sec. 3.1: "one of the five discrete emotions: anger 61, fear 116, sadness 108,
happiness 89, and tenderness 96", citing Eerola & Vuoskoski). The files' ``TARGET`` column gives
the emotion or dimension an excerpt was *selected* for (12 targets in Set 1, 22 in Set 2, among
them surprise and the valence/energy/tension poles), so it cannot be the paper's 5-class tag. The
rule used here, :func:`discrete_labels`: an excerpt's class is the discrete emotion scale with the
highest mean rating among ``anger, fear, happy, sad, tender``; ties (ratings are given to two
decimals; 9 of the 470 excerpts tie) go to the scale that comes first in the files' column order
``anger, fear, happy, sad, tender``. On the published files this gives exactly the paper's counts
(anger 61, fear 116, sadness 108, happiness 89, tenderness 96; Set 1: 51/93/75/65/76, Set 2:
10/23/33/24/20 in the order anger/fear/sadness/happiness/tenderness). The tie-break matters: of
the 120 possible orders only 4 reproduce the counts, the files' own order among them.

Track ids are ``set1_001`` ... ``set2_110``. Per-set and per-class counts are compared with the
published sizes; the label rule, tied excerpts and per-set counts are written to
``DatasetIndex.notes`` (and so to the run manifest).

Bad input: a missing folder, rating file or set folder, or a rating file without the needed
columns, with a non-numeric rating or a repeated number raises :class:`DatasetError` naming the
file (and row); a rating row without its audio file, an audio file without a rating row, an
empty, truncated or unreadable audio file and a second file for the same number go to
``DatasetIndex.problems``; other files go to ``unexpected``. Of two audio files for one number
(``003.mp3`` and a converted ``003.wav``) the usable ``.mp3`` of the release is used, else the
first usable one in name order (:data:`DUPLICATE_RULE`).

No ``download()``: the OSF files carry no published checksum and the archives' OSF download ids
were not verified here, so the data must be fetched by hand (see ``LAYOUT``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from common.audio.decoding import AUDIO_EXTENSIONS
from common.datasets.base import DatasetIndex, Track, choose_file, require_folder
from common.errors import DatasetError

NAME = "soundtracks"

CITATION = """@article{eerola2011comparison,
  title={A comparison of the discrete and dimensional models of emotion in music},
  author={Eerola, Tuomas and Vuoskoski, Jonna K.},
  journal={Psychology of Music}, volume={39}, number={1}, pages={18--49}, year={2011},
  doi={10.1177/0305735610362821}}"""

#: The paper's 5 classes (MCCLSTM Sec. 3.1), in the order used for class indices.
CLASSES = ("anger", "fear", "sadness", "happiness", "tenderness")

#: Discrete-emotion rating columns of the rating files (lower-cased), in the files' order; this
#: order breaks ties in :func:`discrete_labels`.
RATING_COLUMNS = ("anger", "fear", "happy", "sad", "tender")

#: Rating column -> class.
COLUMN_CLASSES = {"anger": "anger", "fear": "fear", "happy": "happiness", "sad": "sadness", "tender": "tenderness"}

#: Published per-class counts (MCCLSTM Sec. 3.1; 470 excerpts).
EXPECTED_COUNTS = {"anger": 61, "fear": 116, "sadness": 108, "happiness": 89, "tenderness": 96}

#: The two stimulus sets: number of excerpts and rating file.
SETS = {"set1": 360, "set2": 110}
RATING_FILES = {"set1": "mean_ratings_set1.csv", "set2": "mean_ratings_set2.csv"}

#: Other names of a set's audio folder in known releases (lower case).
FOLDER_ALIASES = {"set1": ("set1", "soundtrack360_mp3"), "set2": ("set2",)}

LABEL_RULE = ("class = discrete emotion scale with the highest mean rating among anger, fear, happy, sad, "
              "tender; ties go to the first of these in this (the rating files') column order")

#: Which file is used when a set's folder holds two audio files for one excerpt number.
DUPLICATE_RULE = "Soundtracks keeps the release's .mp3, else the first file in name order"

SOURCE_URL = "https://osf.io/p6vkg/"

LAYOUT = ("  <SOUNDTRACKS_DIR>/mean_ratings_set1.csv, mean_ratings_set2.csv\n"
          "  <SOUNDTRACKS_DIR>/Set1/001.mp3 ... 360.mp3   (Set1.zip unpacked)\n"
          "  <SOUNDTRACKS_DIR>/Set2/001.mp3 ... 110.mp3   (Set2.zip unpacked)\n"
          f"  Download the four files by hand from {SOURCE_URL} (Eerola & Vuoskoski's OSF project).")

_AUDIO_NAME = re.compile(r"^(?P<number>\d{3})\.(?P<ext>[A-Za-z0-9]+)$")


def _walk(root: Path, max_depth: int):
    """``(folder, depth)`` for ``root`` and every sub-folder down to ``max_depth`` levels, sorted."""
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop(0)
        yield folder, depth
        if depth < max_depth:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                continue
            stack.extend((child, depth + 1) for child in children)


def _audio_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.is_file() and _AUDIO_NAME.match(p.name)
            and p.suffix.lower() in AUDIO_EXTENSIONS]


def find_audio_folder(root: Path, set_name: str) -> Path:
    """The folder holding a set's ``NNN.mp3`` files.

    Args:
        root: dataset folder (resolved).
        set_name: ``"set1"`` or ``"set2"``.

    Returns:
        the one folder named like the set (see :data:`FOLDER_ALIASES`, any case) at most four
        levels under ``root`` that directly holds ``NNN.<audio extension>`` files.

    Raises:
        DatasetError: no such folder, or more than one.
    """
    names = FOLDER_ALIASES[set_name]
    found = [folder for folder, _ in _walk(root, 4) if folder.name.lower() in names and _audio_files(folder)]
    if not found:
        raise DatasetError(f"Soundtracks at {root}: no audio folder for {set_name} (a folder named "
                           f"{' or '.join(names)} holding 001.mp3, 002.mp3, ...).\nExpected layout:\n{LAYOUT}")
    if len(found) > 1:
        raise DatasetError(f"Soundtracks at {root}: several audio folders for {set_name}: "
                           f"{', '.join(map(str, found))}; keep one.\nExpected layout:\n{LAYOUT}")
    return found[0]


def find_rating_file(root: Path, set_name: str) -> Path:
    """The rating CSV of a set, at the shallowest level (at most three under ``root``) holding it.

    Raises:
        DatasetError: the file is absent (an Excel copy is mentioned if one is found), or several
            copies lie at the same shallowest level.
    """
    wanted = RATING_FILES[set_name]
    by_depth: dict[int, list[Path]] = {}
    excel = []
    for folder, depth in _walk(root, 3):
        for path in folder.iterdir():
            if path.is_file() and path.name.lower() == wanted.lower():
                by_depth.setdefault(depth, []).append(path)
            elif path.is_file() and path.name.lower() in (wanted[:-4] + ".xls", wanted[:-4] + ".xlsx"):
                excel.append(path)
    if not by_depth:
        hint = f" (found {excel[0]}: save it as CSV or download the CSV)" if excel else ""
        raise DatasetError(f"Soundtracks at {root}: rating file {wanted} not found{hint}.\n"
                           f"Expected layout:\n{LAYOUT}")
    shallowest = sorted(by_depth[min(by_depth)])
    if len(shallowest) > 1:
        raise DatasetError(f"Soundtracks at {root}: several copies of {wanted}: "
                           f"{', '.join(map(str, shallowest))}; keep one.")
    return shallowest[0]


def read_ratings(path: str | Path) -> pd.DataFrame:
    """Read a mean-rating file of either set.

    Header names are matched case-insensitively (Set 1 writes ``number, anger, ...``, Set 2
    ``Number, Anger, ...``); empty unnamed columns are dropped; blank lines are skipped.

    Args:
        path: ``mean_ratings_set1.csv`` or ``mean_ratings_set2.csv``.

    Returns:
        DataFrame indexed by the excerpt number (int), with lower-case columns; the discrete
        emotion columns :data:`RATING_COLUMNS` are float64 ratings (1-9 scale), the rest as read.

    Raises:
        DatasetError: the file cannot be read as CSV, lacks the ``number`` column or a discrete
            emotion column, or has a row whose number or rating is not a number, or a number
            that appears twice. The message names the file and the row.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, skip_blank_lines=True, encoding="utf-8-sig",
                            encoding_errors="replace")
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path}: cannot read the rating file as CSV ({exc})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("unnamed") and frame[c].isna().all()])
    frame = frame.dropna(how="all")
    needed = ["number", *RATING_COLUMNS]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: column(s) {', '.join(missing)} missing; the header is "
                           f"{', '.join(frame.columns)} (expected number, ..., anger, fear, happy, sad, tender, ...)")
    numbers = []
    for row, value in enumerate(frame["number"], start=2):
        text = str(value).strip()
        if not text.isdigit():
            raise DatasetError(f"{path}: line {row}: excerpt number {value!r} is not a number")
        numbers.append(int(text))
    frame.index = pd.Index(numbers, name="number")
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise DatasetError(f"{path}: excerpt number(s) {repeated} appear more than once")
    for column in RATING_COLUMNS:
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
        bad = values.index[~np.isfinite(values.to_numpy(dtype=float))]
        if len(bad):
            raise DatasetError(f"{path}: excerpt {bad[0]:03d}: rating {column}={frame.loc[bad[0], column]!r} "
                               f"is not a number")
        frame[column] = values.astype(np.float64)
    return frame.drop(columns="number")


def discrete_labels(ratings: pd.DataFrame) -> tuple[pd.Series, list]:
    """The paper's 5-class label of every excerpt from its mean ratings (the rule :data:`LABEL_RULE`).

    Args:
        ratings: frame from :func:`read_ratings` (the columns :data:`RATING_COLUMNS`).

    Returns:
        ``(labels, ties)``: ``labels`` a Series of class names (:data:`CLASSES`) with the same
        index as ``ratings``; ``ties`` the index values whose highest rating is shared by two or
        more scales (decided by column order).

    Source: MCCLSTM Sec. 3.1 counts, Eerola & Vuoskoski (2011) rating files; see the module text.
    """
    values = ratings[list(RATING_COLUMNS)].to_numpy(dtype=np.float64)
    winner = values.argmax(axis=1)  # numpy returns the first maximum: ties go to column order
    labels = pd.Series([COLUMN_CLASSES[RATING_COLUMNS[i]] for i in winner], index=ratings.index, name="label")
    tied = (values == values.max(axis=1, keepdims=True)).sum(axis=1) > 1
    return labels, list(ratings.index[tied])


def index(root: str | Path) -> DatasetIndex:
    """Index a Soundtracks folder (both sets).

    Args:
        root: the dataset folder (see :data:`LAYOUT`).

    Returns:
        :class:`DatasetIndex` with ``classes = CLASSES``; one :class:`Track` per excerpt that has
        both a readable audio file and a rating row (``track_id`` ``set1_001``, ``label`` from
        :func:`discrete_labels`; of two files for one excerpt the one :data:`DUPLICATE_RULE`
        picks); ``expected_counts = EXPECTED_COUNTS``; unusable files, second files of an excerpt
        and rating rows without audio in ``problems``; ``notes`` with the label rule, the tied
        excerpts and the per-set counts found vs published.

    Raises:
        DatasetError: the folder, a set's audio folder or rating file is missing, a rating file
            is malformed (see :func:`read_ratings`), or no usable excerpt is found.
    """
    root = require_folder(Path(root), "Soundtracks", LAYOUT, "SOUNDTRACKS_DIR")
    tracks, problems, unexpected = [], {}, []
    ties, set_counts = [], {}
    for set_name in SETS:
        audio_dir = find_audio_folder(root, set_name)
        rating_file = find_rating_file(root, set_name)
        ratings = read_ratings(rating_file)
        labels, tied = discrete_labels(ratings)
        ties.extend(f"{set_name}_{n:03d}" for n in tied)
        audio: dict[int, list[Path]] = {}
        for path in sorted(audio_dir.iterdir()):
            match = _AUDIO_NAME.match(path.name)
            if not path.is_file() or match is None or path.suffix.lower() not in AUDIO_EXTENSIONS:
                if path.is_file() and path.name.lower() not in {f.lower() for f in RATING_FILES.values()}:
                    unexpected.append(str(path))
                continue
            audio.setdefault(int(match["number"]), []).append(path)
        found = 0
        for number in ratings.index:
            if number not in audio:
                problems[str(audio_dir / f"{number:03d}.mp3")] = (
                    f"{rating_file.name} has a row for excerpt {number:03d} but {audio_dir} has no audio file for it")
        for number, paths in sorted(audio.items()):
            if number not in ratings.index:
                for path in paths:
                    problems[str(path)] = f"no rating row for excerpt {number:03d} in {rating_file}: no label"
                continue
            track_id = f"{set_name}_{number:03d}"
            preferred = sorted(paths, key=lambda p: (p.suffix.lower() != ".mp3", p.name))
            kept, reasons = choose_file(track_id, preferred, DUPLICATE_RULE)
            problems.update(reasons)
            if kept is None:
                continue
            tracks.append(Track(track_id=track_id, path=kept, label=labels[number]))
            found += 1
        set_counts[set_name] = {"found": found, "published": SETS[set_name], "rating_file": str(rating_file),
                                "audio_folder": str(audio_dir)}
    if not tracks:
        raise DatasetError(f"Soundtracks at {root}: no excerpt with both audio and ratings.\n"
                           f"Expected layout:\n{LAYOUT}")
    notes = {"label_rule": LABEL_RULE, "tied_excerpts": ties, "sets": set_counts}
    return DatasetIndex(name=NAME, root=root, classes=CLASSES, tracks=sorted(tracks, key=lambda t: t.track_id),
                        problems=problems, unexpected=unexpected, expected_counts=dict(EXPECTED_COUNTS), notes=notes)
