"""ISMIR 2004 genre-contest collection (MTG, Barcelona): whole songs in six genres, three subsets.

The official distribution (``ismir04_genre``) has three subsets, ``training``, ``development`` and
``evaluation`` (729 tracks each), laid out as::

    <ISMIR2004_DIR>/metadata/<subset>/tracklist.csv
    <ISMIR2004_DIR>/audio/<subset>/<file_path>          (mp3; file_path from tracklist.csv)

A flat variant, ``<ISMIR2004_DIR>/<subset>/tracklist.csv`` with the audio under
``<ISMIR2004_DIR>/<subset>/``, is accepted too, and ``root`` may also be the folder that holds
``ismir04_genre/``.

``tracklist.csv`` is a quoted CSV without header (a header row is tolerated) whose columns are
class, artist, album, track, track number and file path, the path relative to the subset's
audio folder, e.g. ``"classical","Jeff Wahl","Guitarscapes","Spanish Steps","1",
"classical/jeff_wahl/guitarscapes/1-spanish_steps.mp3"``.

Some listed paths differ from the files on disk in punctuation or accents (copies are known where
an apostrophe became ``_``): when a listed file is missing, the file in the same folder whose
name matches after accent folding and replacing non-alphanumerics by ``_`` is used. Listed files
that still cannot be found, are empty, truncated, or whose header cannot be read go to
``DatasetIndex.problems``; audio files that no tracklist names go to ``unexpected``.

One file, one track: a tracklist naming one file twice (the same path, or the same path but for
the extension) raises :class:`~common.errors.DatasetError`; a listed name that is missing and
matches, after folding, a file another row already uses goes to ``problems`` (that row keeps it).

The LSTM segment paper (Sec. 3.1, Table 1) trains on ``training`` and tests on ``development``.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path


from common.audio.decoding import header_problem, AUDIO_EXTENSIONS
from common.datasets.base import DatasetIndex, Track, require_folder
from common.errors import DatasetError

NAME = "ismir2004"

CITATION = """@misc{cano2006ismir,
  title={{ISMIR} 2004 Audio Description Contest},
  author={Cano, Pedro and G{\\'o}mez, Emilia and Gouyon, Fabien and Herrera, Perfecto and
          Koppenberger, Markus and Ong, Beesuan and Serra, Xavier and Streich, Sebastian and
          Wack, Nicolas},
  howpublished={Music Technology Group, Universitat Pompeu Fabra, Technical Report MTG-TR-2006-02},
  year={2006}}"""

#: The six genre classes as written in ``tracklist.csv``, in the order used for class indices.
CLASSES = ("classical", "electronic", "jazz_blues", "metal_punk", "rock_pop", "world")

#: The three official subsets.
SUBSETS = ("training", "development", "evaluation")

#: Tracks per class and subset as published (LSTM segment paper, Table 1: train = training,
#: test = development; the evaluation subset has the development subset's counts).
PUBLISHED_COUNTS = {
    "training": {"classical": 320, "electronic": 115, "jazz_blues": 26, "metal_punk": 45,
                 "rock_pop": 101, "world": 122},
    "development": {"classical": 320, "electronic": 114, "jazz_blues": 26, "metal_punk": 45,
                    "rock_pop": 102, "world": 122},
    "evaluation": {"classical": 320, "electronic": 114, "jazz_blues": 26, "metal_punk": 45,
                   "rock_pop": 102, "world": 122},
}

#: Columns of ``tracklist.csv``.
COLUMNS = ("class", "artist", "album", "track", "track_number", "file_path")

LAYOUT = ("  <ISMIR2004_DIR>/metadata/<subset>/tracklist.csv\n"
          "  <ISMIR2004_DIR>/audio/<subset>/<file_path as listed>   (mp3)\n"
          "  (or <ISMIR2004_DIR>/<subset>/tracklist.csv with the audio beside it)\n"
          f"  with <subset> in {', '.join(SUBSETS)}; tracklist.csv columns: {', '.join(COLUMNS)}")


def _fold_name(name: str) -> str:
    """File name compared loosely: accents folded, lower case, non-alphanumerics as ``_``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9.]+", "_", ascii_name.lower())


def read_tracklist(path: str | Path) -> list[dict]:
    """Parse one ``tracklist.csv``.

    Args:
        path: the CSV file.

    Returns:
        one dict per row with the keys of :data:`COLUMNS` (strings, surrounding blanks removed)
        and ``line`` (1-based line number).

    Raises:
        DatasetError: the file cannot be read, a row has fewer than six columns, or a row names
            a class outside :data:`CLASSES` or an empty file path. The message names the file and
            line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    rows = []
    for line, fields in enumerate(csv.reader(text.splitlines()), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        fields = [f.strip() for f in fields]
        if line == 1 and fields[0].lower() in ("class", "genre", "label"):
            continue  # a header row
        if len(fields) < len(COLUMNS):
            raise DatasetError(f"{path}, line {line}: expected {len(COLUMNS)} columns "
                               f"({', '.join(COLUMNS)}), found {len(fields)}: {fields}")
        row = dict(zip(COLUMNS, fields[:len(COLUMNS)]))
        if row["class"] not in CLASSES:
            raise DatasetError(f"{path}, line {line}: class {row['class']!r} is not one of {CLASSES}")
        if not row["file_path"]:
            raise DatasetError(f"{path}, line {line}: empty file path")
        row["line"] = line
        rows.append(row)
    return rows


def find_subset_folders(root: str | Path, subset: str) -> tuple[Path, Path]:
    """Locate a subset's ``tracklist.csv`` and its audio folder.

    Args:
        root: the dataset folder (or the folder holding ``ismir04_genre/``).
        subset: one of :data:`SUBSETS`.

    Returns:
        ``(tracklist path, audio folder)``.

    Raises:
        DatasetError: ``root`` is missing or no tracklist of ``subset`` is found under it.
    """
    root = require_folder(Path(root), "ISMIR 2004 genre", LAYOUT, "ISMIR2004_DIR")
    for base in (root, root / "ismir04_genre"):
        candidates = [(base / "metadata" / subset / "tracklist.csv", base / "audio" / subset),
                      (base / subset / "tracklist.csv", base / subset)]
        for tracklist, audio in candidates:
            if tracklist.is_file():
                if not audio.is_dir():
                    raise DatasetError(f"ISMIR 2004 {subset}: {tracklist} exists but the audio folder "
                                       f"{audio} does not.\nExpected layout:\n{LAYOUT}")
                return tracklist, audio
    raise DatasetError(f"ISMIR 2004 layout not recognised under {root}: no tracklist.csv of the "
                       f"{subset!r} subset.\nExpected layout:\n{LAYOUT}")


def _resolve(audio_dir: Path, listed: str, folder_cache: dict) -> Path | None:
    relative = listed.replace("\\", "/").lstrip("./").lstrip("/")
    path = audio_dir / relative
    if path.is_file():
        return path
    parent = path.parent
    if parent not in folder_cache:
        folder_cache[parent] = ({_fold_name(p.name): p for p in parent.iterdir() if p.is_file()}
                                if parent.is_dir() else {})
    return folder_cache[parent].get(_fold_name(path.name))


def index(root: str | Path, subsets: tuple[str, ...] = ("training", "development")) -> DatasetIndex:
    """Index the ISMIR 2004 genre collection.

    Args:
        root: see :func:`find_subset_folders`.
        subsets: which official subsets to index (the paper uses training and development).

    Returns:
        :class:`DatasetIndex` with ``classes = CLASSES``; one :class:`Track` per listed, readable
        file with ``track_id = "<subset>/<file_path without extension>"``, ``label`` its class and
        ``subset`` its subset; ``expected_counts`` the published per-class counts summed over
        ``subsets``.

    Raises:
        DatasetError: folder missing or mis-laid, a malformed tracklist, an unknown subset, the
            same file listed twice, or no readable track at all.
    """
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        raise DatasetError(f"unknown ISMIR 2004 subset(s) {unknown}; use {SUBSETS}")
    root = require_folder(Path(root), "ISMIR 2004 genre", LAYOUT, "ISMIR2004_DIR")
    tracks, problems, unexpected = [], {}, []
    for subset in subsets:
        tracklist, audio_dir = find_subset_folders(root, subset)
        folder_cache: dict = {}
        seen_ids: dict[str, dict] = {}  # track id -> its row
        listed_files: dict[Path, tuple[int, Path]] = {}  # resolved file -> (line, path) of its row
        for row in read_tracklist(tracklist):
            path = _resolve(audio_dir, row["file_path"], folder_cache)
            stem = re.sub(r"\.[A-Za-z0-9]+$", "", row["file_path"].replace("\\", "/").lstrip("./").lstrip("/"))
            track_id = f"{subset}/{stem}"
            if track_id in seen_ids:
                first = seen_ids[track_id]
                raise DatasetError(f"{tracklist}, line {row['line']}: {row['file_path']!r} is listed twice "
                                   f"(line {first['line']}: {first['file_path']!r}, same track id {track_id!r})")
            seen_ids[track_id] = row
            if path is None:
                problems[str(audio_dir / row["file_path"])] = (
                    f"listed in {tracklist} (line {row['line']}) but not found")
                continue
            if path.resolve() in listed_files:
                first_line, first_path = listed_files[path.resolve()]
                problems[str(audio_dir / row["file_path"])] = (
                    f"listed in {tracklist} (line {row['line']}) as {row['file_path']!r}, which is the file of "
                    f"line {first_line} ({first_path}); left out")
                continue
            listed_files[path.resolve()] = (row["line"], path)
            problem = header_problem(path)
            if problem:
                problems[str(path)] = problem
                continue
            tracks.append(Track(track_id=track_id, path=path, label=row["class"], subset=subset))
        for path in sorted(audio_dir.rglob("*")):
            if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS and path.resolve() not in listed_files:
                unexpected.append(str(path))
    if not tracks:
        raise DatasetError(f"ISMIR 2004 at {root}: no readable track in subsets {subsets}.\n"
                           f"Expected layout:\n{LAYOUT}")
    expected = {name: sum(PUBLISHED_COUNTS[s][name] for s in subsets) for name in CLASSES}
    return DatasetIndex(name=NAME, root=root, classes=CLASSES, tracks=sorted(tracks, key=lambda t: t.track_id),
                        problems=problems, unexpected=unexpected, expected_counts=expected)


def subset_class_counts(dataset: DatasetIndex) -> dict[str, dict[str, int]]:
    """``{subset: {class: usable tracks}}`` of an index, for comparison with :data:`PUBLISHED_COUNTS`."""
    counts: dict[str, dict[str, int]] = {}
    for track in dataset.tracks:
        per_class = counts.setdefault(track.subset, {name: 0 for name in dataset.classes})
        per_class[track.label] += 1
    return counts
