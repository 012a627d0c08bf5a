"""GTZAN genre collection (Tzanetakis & Cook 2002): 1000 clips of 30 s, 10 genres x 100.

Accepted layouts (``root`` may be any of these folders or the folder holding them):

- canonical archive ``genres.tar.gz``: ``genres/<genre>/<genre>.000NN.au`` (or ``.wav`` after
  conversion, as in ``gtzan-mini``);
- common re-packaging (e.g. Kaggle): ``Data/genres_original/<genre>/<genre>.000NN.wav``.

Works on subsets (fewer clips per genre, e.g. the 100-clip ``gtzan-mini``): the index records
how many tracks it found and how the per-genre counts differ from the published 100 each.
Files that are empty, truncated or whose header cannot be read (the re-packaged ``jazz.00054.wav``
is a known broken file) go to ``DatasetIndex.problems``; other files go to ``unexpected``.

One clip, one track: when a genre folder holds both ``<genre>.000NN.au`` and ``<genre>.000NN.wav``
(a converted copy left beside the original), the track uses the official ``.au`` and the ``.wav``
goes to ``problems`` as ``"duplicate of <the .au>: same track id ..."``; if the ``.au`` is unusable
(empty, truncated, unreadable) the ``.wav`` is used instead and the ``.au`` is in ``problems`` with
its own reason.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path


from common.datasets.base import DatasetIndex, Track, choose_file, require_folder
from common.errors import DatasetError

NAME = "gtzan"

CITATION = """@article{tzanetakis2002musical,
  title={Musical genre classification of audio signals},
  author={Tzanetakis, George and Cook, Perry},
  journal={IEEE Transactions on Speech and Audio Processing},
  volume={10}, number={5}, pages={293--302}, year={2002}}"""

#: The ten genres, in the order used for class indices.
GENRES = ("blues", "classical", "country", "disco", "hiphop",
          "jazz", "metal", "pop", "reggae", "rock")

#: Published size of the collection: 100 clips per genre.
EXPECTED_COUNTS = {genre: 100 for genre in GENRES}

#: The official archive; the first URL is the original host, the second a public mirror.
ARCHIVE_URLS = ("http://opihi.cs.uvic.ca/sound/genres.tar.gz",
                "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz")
ARCHIVE_MD5 = "5b3d6dddb579ab49814ab86dba69e7c7"

LAYOUT = ("  <GTZAN_DIR>/genres/<genre>/<genre>.000NN.au   (official archive; .wav also accepted)\n"
          "  or <GTZAN_DIR>/genres_original/<genre>/<genre>.000NN.wav   (re-packaged copies)\n"
          f"  with <genre> one of: {', '.join(GENRES)}")

_FILE_PATTERN = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})\.(?P<ext>au|wav)$")

#: Preference among files of one clip: the official archive's format first.
EXTENSION_PREFERENCE = ("au", "wav")
#: The preference as stated in ``problems`` for the file not used.
DUPLICATE_RULE = "GTZAN keeps the official .au"


def find_genres_folder(root: str | Path) -> Path:
    """Locate the folder whose sub-folders are the ten genres.

    Args:
        root: the dataset folder, its ``genres``/``genres_original`` folder, or a parent of those
            (``Data/`` of the re-packaged copies is searched too).

    Returns:
        the folder holding ``blues/``, ``classical/``, ...

    Raises:
        DatasetError: ``root`` is missing, or no genre folders are found under it.
    """
    root = require_folder(Path(root), "GTZAN", LAYOUT, "GTZAN_DIR")
    candidates = [root, root / "genres", root / "genres_original", root / "Data" / "genres_original",
                  root / "gtzan_genre" / "genres"]
    for folder in candidates:
        if folder.is_dir() and any((folder / g).is_dir() for g in GENRES):
            return folder
    found = sorted(p.name for p in root.iterdir())[:10]
    raise DatasetError(f"GTZAN layout not recognised under {root}: no genre folders found "
                       f"(it holds: {found}).\nExpected layout:\n{LAYOUT}")


def index(root: str | Path) -> DatasetIndex:
    """Index a GTZAN folder.

    Args:
        root: see :func:`find_genres_folder`.

    Returns:
        :class:`DatasetIndex` with ``classes = GENRES``, one :class:`Track` per readable clip
        (``track_id`` like ``"blues.00000"``, ``label`` the genre; of an ``.au`` and a ``.wav`` of
        one clip the ``.au``, see the module text), unreadable clips and second files of a clip
        in ``problems``, stray files in ``unexpected``.

    Raises:
        DatasetError: the folder is missing or mis-laid, a genre folder is missing, or no clip
            at all is found.
    """
    genres_dir = find_genres_folder(root)
    missing = [g for g in GENRES if not (genres_dir / g).is_dir()]
    if missing:
        raise DatasetError(f"GTZAN at {genres_dir}: genre folder(s) missing: {', '.join(missing)}.\n"
                           f"Expected layout:\n{LAYOUT}")
    tracks, problems, unexpected = [], {}, []
    for entry in sorted(genres_dir.iterdir()):
        if entry.is_file() or entry.name not in GENRES:
            unexpected.append(str(entry))
    for genre in GENRES:
        clips: dict[str, list[tuple[int, Path]]] = {}
        for path in sorted((genres_dir / genre).iterdir()):
            match = _FILE_PATTERN.match(path.name)
            if not path.is_file() or match is None or match["genre"] != genre:
                unexpected.append(str(path))
                continue
            clips.setdefault(f"{genre}.{match['number']}", []).append(
                (EXTENSION_PREFERENCE.index(match["ext"]), path))
        for track_id, files in sorted(clips.items()):
            kept, reasons = choose_file(track_id, [path for _, path in sorted(files)], DUPLICATE_RULE)
            problems.update(reasons)
            if kept is not None:
                tracks.append(Track(track_id=track_id, path=kept, label=genre))
    if not tracks:
        raise DatasetError(f"GTZAN at {genres_dir}: no readable clip found.\nExpected layout:\n{LAYOUT}")
    return DatasetIndex(name=NAME, root=genres_dir, classes=GENRES, tracks=tracks,
                        problems=problems, unexpected=unexpected, expected_counts=dict(EXPECTED_COUNTS))


def download(destination: str | Path) -> Path:
    """Download the official archive (checksum-verified by pooch) and unpack it.

    Args:
        destination: folder to unpack into; ``<destination>/genres/`` is created.

    Returns:
        ``destination`` (pass it as ``GTZAN_DIR``).

    Raises:
        DatasetError: no mirror could be reached or the checksum did not match; the message says
            where to put a manually obtained copy.
    """
    import pooch

    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in ARCHIVE_URLS:
        try:
            archive = pooch.retrieve(url, known_hash=f"md5:{ARCHIVE_MD5}", fname="genres.tar.gz",
                                     path=destination, progressbar=True)
            break
        except Exception as exc:  # noqa: BLE001 - network errors come in many types; all are reported
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
    else:
        raise DatasetError("GTZAN download failed:\n  " + "\n  ".join(errors) +
                           f"\nObtain genres.tar.gz (md5 {ARCHIVE_MD5}) yourself and unpack it as\n{LAYOUT}\n"
                           f"with GTZAN_DIR={destination}")
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")
    return destination
