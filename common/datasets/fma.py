"""Free Music Archive (Defferrard et al. 2017), the ``medium`` subset: 25,000 clips of 30 s,
16 unbalanced top-level genres, with the dataset's own training / validation / test split.

Layout (``root`` is ``FMA_DIR``)::

    <FMA_DIR>/fma_metadata/tracks.csv        metadata of all 106,574 tracks
    <FMA_DIR>/fma_medium/NNN/NNNNNN.mp3      audio; NNN = the first 3 of the 6-digit track id

``tracks.csv`` has a two-level column header (``album``/``artist``/``set``/``track`` x field)
plus the line naming the index (``track_id``), as written by pandas; it is read the way the
dataset's own ``utils.load`` reads it: ``pd.read_csv(path, index_col=0, header=[0, 1])``. Used:

- ``("set", "subset")``: ``small`` < ``medium`` < ``large``; the medium subset *includes* the
  small one, so a track belongs to ``fma_medium`` when its subset is ``small`` or ``medium``;
- ``("set", "split")``: ``training`` / ``validation`` / ``test``, the split the dataset's authors
  recommend (artist-filtered); it becomes :attr:`Track.subset`;
- ``("track", "genre_top")``: the top-level genre, the class label.

Bad input: a missing ``tracks.csv``, a file without the expected columns or one that lists a
track id twice raises :class:`~common.errors.DatasetError`; audio files that are missing, empty
or whose header cannot be read go to ``DatasetIndex.problems`` (with the reason) and are left
out -- the medium subset has a few known-broken mp3s. Files that pass the header check but fail
to decode or are truncated (:mod:`common.audio.decoding`) are skipped by the runner and recorded in the
run manifest.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path


from common.audio.decoding import header_problem
from common.datasets.base import DatasetIndex, Track, require_folder
from common.errors import DatasetError

NAME = "fma_medium"

CITATION = """@inproceedings{defferrard2017fma,
  title={{FMA}: A Dataset for Music Analysis},
  author={Defferrard, Micha{\\"e}l and Benzi, Kirell and Vandergheynst, Pierre and Bresson, Xavier},
  booktitle={18th International Society for Music Information Retrieval Conference (ISMIR)},
  year={2017}}"""

#: The 16 top-level genres of the medium subset, in the order used for class indices (alphabetical).
GENRES = ("Blues", "Classical", "Country", "Easy Listening", "Electronic", "Experimental", "Folk",
          "Hip-Hop", "Instrumental", "International", "Jazz", "Old-Time / Historic", "Pop", "Rock",
          "Soul-RnB", "Spoken")

#: Subsets making up fma_medium (the medium subset includes the small one).
MEDIUM_SUBSETS = ("small", "medium")

#: The dataset's split names, as they appear in ``("set", "split")``.
SPLITS = ("training", "validation", "test")

#: Split sizes the CRNN-TF paper reports for the medium subset (Sec. V-A).
PAPER_SPLIT_SIZES = {"training": 19922, "validation": 2505, "test": 2573}

#: The columns this loader needs.
REQUIRED_COLUMNS = (("set", "subset"), ("set", "split"), ("track", "genre_top"))

LAYOUT = ("  <FMA_DIR>/fma_metadata/tracks.csv     (from fma_metadata.zip)\n"
          "  <FMA_DIR>/fma_medium/NNN/NNNNNN.mp3   (from fma_medium.zip; NNN = first 3 digits of the id)\n"
          "  both from https://github.com/mdeff/fma")


def audio_path(root: str | Path, track_id: int, audio_folder: str = "fma_medium") -> Path:
    """Path of a track's mp3: ``<root>/<audio_folder>/NNN/NNNNNN.mp3`` (id zero-padded to 6)."""
    name = f"{int(track_id):06d}"
    return Path(root) / audio_folder / name[:3] / f"{name}.mp3"


def read_tracks(path: str | Path):
    """Read ``tracks.csv`` (two-level column header, ``track_id`` index).

    Returns:
        ``pandas.DataFrame`` indexed by int track id with MultiIndex columns.

    Raises:
        DatasetError: the file is missing, unreadable, lacks one of :data:`REQUIRED_COLUMNS`, has a
            track id that is not an integer, or lists a track id twice (``2`` and ``02`` count as
            the same id: both name ``000002.mp3``).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"FMA metadata not found: {path} does not exist.\nExpected layout:\n{LAYOUT}")
    try:
        tracks = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: cannot read FMA tracks.csv ({exc})") from None
    missing = [f"{a}/{b}" for a, b in REQUIRED_COLUMNS if (a, b) not in tracks.columns]
    if missing:
        raise DatasetError(f"{path}: not an FMA tracks.csv with a two-row header: column(s) "
                           f"{', '.join(missing)} missing (found e.g. {list(tracks.columns[:4])})")
    try:
        tracks.index = tracks.index.astype(int)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: the first column must hold integer track ids") from None
    repeated = sorted(set(tracks.index[tracks.index.duplicated()].tolist()))
    if repeated:
        raise DatasetError(f"{path}: track id(s) {repeated[:10]} listed more than once"
                           f"{f' ({len(repeated)} in all)' if len(repeated) > 10 else ''}; each track must "
                           f"have one row (one genre and split)")
    return tracks


def medium_tracks(tracks):
    """Rows of the medium subset (``set/subset`` is ``small`` or ``medium``)."""
    return tracks[tracks[("set", "subset")].isin(MEDIUM_SUBSETS)]


def index(root: str | Path, audio_folder: str = "fma_medium") -> DatasetIndex:
    """Index the FMA medium subset.

    Args:
        root: folder holding ``fma_metadata/`` and ``fma_medium/``.
        audio_folder: name of the audio folder under ``root``.

    Returns:
        :class:`DatasetIndex` with ``classes = GENRES``, one :class:`Track` per usable clip
        (``track_id`` the 6-digit id, ``label`` its top-level genre, ``subset`` its split),
        missing / unreadable audio in ``problems``.

    Raises:
        DatasetError: folder or metadata missing or mis-laid, a medium track with a genre or split
            outside :data:`GENRES` / :data:`SPLITS`, or no usable clip at all.
    """
    root = require_folder(Path(root), "FMA", LAYOUT, "FMA_DIR")
    tracks = medium_tracks(read_tracks(root / "fma_metadata" / "tracks.csv"))
    if tracks.empty:
        raise DatasetError(f"{root}/fma_metadata/tracks.csv lists no track of the small or medium subset")
    if not (root / audio_folder).is_dir():
        raise DatasetError(f"FMA audio folder {root / audio_folder} not found.\nExpected layout:\n{LAYOUT}")
    genres = tracks[("track", "genre_top")]
    splits = tracks[("set", "split")]
    bad_genre = sorted(set(genres.dropna()) - set(GENRES))
    if genres.isna().any() or bad_genre:
        raise DatasetError(f"{root}/fma_metadata/tracks.csv: medium tracks without a top-level genre "
                           f"({int(genres.isna().sum())}) or with unknown genres {bad_genre}")
    bad_split = sorted(set(splits.astype(str)) - set(SPLITS))
    if bad_split:
        raise DatasetError(f"{root}/fma_metadata/tracks.csv: unknown split value(s) {bad_split}; "
                           f"expected {SPLITS}")
    found, problems = [], {}
    for track_id in tracks.index:
        path = audio_path(root, track_id, audio_folder)
        if not path.is_file():
            problems[str(path)] = "file listed in tracks.csv does not exist"
            continue
        problem = header_problem(path)
        if problem:
            problems[str(path)] = problem
            continue
        found.append(Track(track_id=f"{int(track_id):06d}", path=path, label=str(genres[track_id]),
                           subset=str(splits[track_id])))
    if not found:
        raise DatasetError(f"FMA at {root}: none of the {len(tracks)} medium clips is readable "
                           f"(e.g. {next(iter(problems.values()), '?')}).\nExpected layout:\n{LAYOUT}")
    listed = {str(audio_path(root, t, audio_folder)) for t in tracks.index}
    unexpected = sorted(str(p) for p in (root / audio_folder).rglob("*.mp3") if str(p) not in listed)
    return DatasetIndex(name=NAME, root=root, classes=GENRES, tracks=sorted(found, key=lambda t: t.track_id),
                        problems=problems, unexpected=unexpected)


def split_sizes(index_: DatasetIndex) -> dict[str, int]:
    """Number of usable tracks per split (compare with :data:`PAPER_SPLIT_SIZES`)."""
    counts = Counter(t.subset for t in index_.tracks)
    return {name: counts.get(name, 0) for name in SPLITS}
