"""MagnaTagATune (Law et al., ISMIR 2009): 25 863 clips of ~29 s, 188 binary tags.

Release layout (``root`` is the folder holding it; the clips may also sit in ``root/mp3/``)::

    <MTAT_DIR>/annotations_final.csv    tab-separated, every field double-quoted:
                                        "clip_id" <TAB> 188 tag columns (0/1) <TAB> "mp3_path"
    <MTAT_DIR>/clip_info_final.csv      clip metadata (title, artist, ...; not needed here)
    <MTAT_DIR>/0/ ... <MTAT_DIR>/f/     the mp3 clips, e.g.
        f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3

The tagging protocol used by Dieleman & Schrauwen (2014), Choi et al. (2016) and MsE-CNN:

- the vocabulary is the ``n_tags = 50`` most frequent tags, counted over every row of
  ``annotations_final.csv`` (ties keep the file's column order); classes are in frequency order;
- clips with none of those tags are removed (a dataset rule, counted in ``DatasetIndex.notes``);
- the split is by the clip's folder (the first path component of ``mp3_path``): ``0``-``b``
  training, ``c`` validation, ``d``-``f`` test (12/1/3 of the 16 folders); ``Track.subset`` is
  ``"train"``, ``"validation"`` or ``"test"``.

Bad input: a missing or malformed annotation file, tag values other than 0/1, or a clip id on two
rows raise :class:`~common.errors.DatasetError`. Clips listed in the annotations whose mp3 is
missing or empty (0 bytes; the release has a few such files), and a row naming the mp3 of an
earlier row (one file, one track: the earlier row's clip is used), go to
``DatasetIndex.problems``; clips whose mp3 cannot be decoded, is truncated or is too short are
refused at feature extraction (:class:`~common.errors.AudioError`, see :mod:`common.audio.decoding`) and
recorded by the runner as skipped. Headers are not read while indexing: probing 25 863 mp3 files
would take minutes.
"""

from __future__ import annotations

import shutil
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from common.datasets.base import DatasetIndex, Track, require_folder
from common.errors import DatasetError

NAME = "magnatagatune"

CITATION = """@inproceedings{law2009evaluation,
  title={Evaluation of algorithms using games: the case of music tagging},
  author={Law, Edith and West, Kris and Mandel, Michael I and Bay, Mert and Downie, J Stephen},
  booktitle={Proceedings of the 10th International Society for Music Information Retrieval Conference (ISMIR)},
  pages={387--392}, year={2009}}"""

ANNOTATIONS_FILE = "annotations_final.csv"
CLIP_INFO_FILE = "clip_info_final.csv"

#: Number of clips (rows) and tags (columns) of the published ``annotations_final.csv``.
PUBLISHED_CLIPS = 25863
PUBLISHED_TAGS = 188

#: The 16 clip folders of the release and the subset each belongs to (standard 12/1/3 split).
FOLDERS = tuple("0123456789abcdef")
SUBSET_OF_FOLDER = {**{f: "train" for f in "0123456789ab"}, "c": "validation",
                    **{f: "test" for f in "def"}}

#: Official download (City, University of London); the archive is split in three zip parts.
BASE_URLS = ("https://mirg.city.ac.uk/datasets/magnatagatune/",
             "http://mi.soi.city.ac.uk/datasets/magnatagatune/")
#: How to obtain the dataset (for "not found" messages).
HOW_TO_GET = ("MagnaTagATune mp3.zip.001-003 + annotations_final.csv from "
              "https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset "
              "(make download-mtat MTAT_DIR=DIR)")

DOWNLOAD_FILES = ("mp3.zip.001", "mp3.zip.002", "mp3.zip.003", ANNOTATIONS_FILE, CLIP_INFO_FILE)

LAYOUT = (f"  <MTAT_DIR>/{ANNOTATIONS_FILE}   (tab-separated: \"clip_id\", 188 tag columns, \"mp3_path\")\n"
          f"  <MTAT_DIR>/{CLIP_INFO_FILE}    (optional here)\n"
          "  <MTAT_DIR>/0/ ... <MTAT_DIR>/f/   the mp3 clips named by mp3_path, e.g. f/<artist>-<album>-NN-<title>-S-E.mp3\n"
          "  (the 16 clip folders may also be in <MTAT_DIR>/mp3/)")


def read_annotations(path: str | Path) -> pd.DataFrame:
    """Read ``annotations_final.csv``.

    Args:
        path: the annotation file (tab-separated, quoted fields, header ``clip_id``, tag names,
            ``mp3_path``).

    Returns:
        DataFrame with columns ``clip_id`` (str), one int8 0/1 column per tag (file order) and
        ``mp3_path`` (str), one row per clip.

    Raises:
        DatasetError: the file is missing or unreadable, lacks the ``clip_id`` / ``mp3_path``
            columns, has no tag column, a tag value other than 0/1, or a repeated clip id.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"MagnaTagATune: annotation file {path} not found.\nExpected layout:\n{LAYOUT}")
    options = dict(sep="\t", header=None, quotechar='"', keep_default_na=False)
    try:
        header = pd.read_csv(path, nrows=1, dtype=str, **options)
        columns = [str(c).strip() for c in header.iloc[0]] if len(header) else []
        if len(columns) < 3 or columns[0] != "clip_id" or columns[-1] != "mp3_path":
            raise DatasetError(f"MagnaTagATune: {path} has header {columns[:3]}...{columns[-1:]}; expected "
                               "\"clip_id\", the tag names, \"mp3_path\" (tab-separated)")
        body = pd.read_csv(path, skiprows=1, dtype={0: str, len(columns) - 1: str}, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DatasetError(f"MagnaTagATune: cannot parse {path} as tab-separated values ({exc})") from None
    if body.shape[1] != len(columns):
        raise DatasetError(f"MagnaTagATune: {path}: {body.shape[1]} fields per row but {len(columns)} in the header")
    tags = columns[1:-1]
    if len(set(tags)) != len(tags):
        repeated = sorted(t for t, n in Counter(tags).items() if n > 1)
        raise DatasetError(f"MagnaTagATune: {path} repeats tag column(s) {repeated}")
    raw = body.iloc[:, 1:-1]
    numeric = raw if all(pd.api.types.is_integer_dtype(t) for t in raw.dtypes) else \
        raw.apply(pd.to_numeric, errors="coerce")
    values = numeric.to_numpy(dtype=np.float64)
    bad = ~np.isin(values, (0.0, 1.0))
    clip_ids = body.iloc[:, 0].astype(str).str.strip().rename("clip_id")
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DatasetError(f"MagnaTagATune: {path}: tag {tags[col]!r} of clip {clip_ids.iloc[row]!r} "
                           f"is {raw.iloc[row, col]!r}; tags must be 0 or 1")
    duplicated = clip_ids[clip_ids.duplicated()]
    if len(duplicated):
        raise DatasetError(f"MagnaTagATune: {path}: clip id(s) {sorted(set(duplicated))[:5]} appear more than once")
    return pd.concat([clip_ids, pd.DataFrame(values.astype(np.int8), columns=tags),
                      body.iloc[:, -1].astype(str).str.strip().rename("mp3_path")], axis=1)


def top_tags(annotations: pd.DataFrame, n_tags: int = 50) -> tuple[str, ...]:
    """The ``n_tags`` most frequent tags of an annotation table.

    Args:
        annotations: as returned by :func:`read_annotations`.
        n_tags: vocabulary size (50 in Dieleman & Schrauwen 2014, Choi et al. 2016, MsE-CNN).

    Returns:
        tag names, most frequent first; ties keep the file's column order.

    Raises:
        DatasetError: the file has fewer than ``n_tags`` tags.
    """
    tags = list(annotations.columns[1:-1])
    if len(tags) < n_tags:
        raise DatasetError(f"MagnaTagATune: the annotation file has {len(tags)} tags, fewer than the "
                           f"{n_tags} requested")
    counts = annotations[tags].sum(axis=0)
    order = counts.sort_values(ascending=False, kind="stable")
    return tuple(order.index[:n_tags])


def find_audio_root(root: Path) -> Path:
    """The folder holding the clip folders ``0``-``f``: ``root`` itself or ``root/mp3``."""
    for candidate in (root, root / "mp3"):
        if any((candidate / f).is_dir() for f in FOLDERS):
            return candidate
    return root


def index(root: str | Path, n_tags: int = 50) -> DatasetIndex:
    """Index a MagnaTagATune folder for tagging with the ``n_tags`` most frequent tags.

    Args:
        root: the release folder (see :data:`LAYOUT`).
        n_tags: vocabulary size.

    Returns:
        :class:`DatasetIndex` with ``classes`` = the top tags (most frequent first), one
        :class:`Track` per usable clip that has at least one of them (``track_id`` = clip_id,
        ``tags`` its top tags, ``subset`` from its folder), unusable clips and rows naming an
        already used mp3 in ``problems``,
        stray entries of ``root`` in ``unexpected``, and ``notes`` with the tag counts, the
        number of clips removed for having no top tag, and the clip counts per subset.

    Raises:
        DatasetError: the folder or the annotation file is missing or malformed, or no clip of
            the annotation file is present.
    """
    root = require_folder(Path(root), "MagnaTagATune", LAYOUT, "MTAT_DIR")
    annotations = read_annotations(root / ANNOTATIONS_FILE)
    vocabulary = top_tags(annotations, n_tags)
    audio_root = find_audio_root(root)
    tag_matrix = annotations[list(vocabulary)].to_numpy(dtype=bool)
    tracks, problems = [], {}
    used: dict[str, tuple[str, int]] = {}  # mp3_path -> (clip id, line) of the row whose track uses it
    removed = Counter()
    for row, (clip_id, mp3_path) in enumerate(zip(annotations["clip_id"], annotations["mp3_path"])):
        folder = mp3_path.split("/", 1)[0]
        path = audio_root / mp3_path
        subset = SUBSET_OF_FOLDER.get(folder) if "/" in mp3_path else None
        if subset is None:
            problems[str(path)] = (f"clip {clip_id}: mp3_path {mp3_path!r} is not in one of the folders "
                                   f"0-f, so it has no split")
            continue
        if not tag_matrix[row].any():
            removed[subset] += 1
            continue
        if not path.is_file():
            problems[str(path)] = f"clip {clip_id}: listed in {ANNOTATIONS_FILE} but the file is missing"
            continue
        if path.stat().st_size == 0:
            problems[str(path)] = f"clip {clip_id}: file is empty (0 bytes)"
            continue
        if mp3_path in used:
            first_id, first_line = used[mp3_path]
            problems[str(path)] = (f"clip {clip_id}: {mp3_path!r} is also the file of clip {first_id} "
                                   f"(line {first_line} of {ANNOTATIONS_FILE}); clip {clip_id} is left out")
            continue
        used[mp3_path] = (clip_id, row + 2)
        tags = tuple(t for t, on in zip(vocabulary, tag_matrix[row]) if on)
        tracks.append(Track(track_id=clip_id, path=path, tags=tags, subset=subset))
    if not tracks:
        raise DatasetError(f"MagnaTagATune at {root}: none of the {len(annotations)} clips of {ANNOTATIONS_FILE} "
                           f"with a top-{n_tags} tag was found under {audio_root}.\nExpected layout:\n{LAYOUT}")
    tracks.sort(key=lambda t: (int(t.track_id) if t.track_id.isdigit() else 0, t.track_id))
    expected_entries = {ANNOTATIONS_FILE, CLIP_INFO_FILE, *FOLDERS, "mp3"}
    unexpected = [str(p) for p in sorted(root.iterdir()) if p.name not in expected_entries]
    subset_counts = Counter(t.subset for t in tracks)
    notes = {
        "annotation_rows": len(annotations),
        "annotation_tags": len(annotations.columns) - 2,
        "published_rows_and_tags": [PUBLISHED_CLIPS, PUBLISHED_TAGS],
        "top_tags": list(vocabulary),
        "top_tag_counts_all_rows": {t: int(c) for t, c in zip(vocabulary, tag_matrix.sum(axis=0))},
        "clips_without_top_tag_removed": dict(sorted(removed.items())),
        "clips_per_subset": {s: subset_counts.get(s, 0) for s in ("train", "validation", "test")},
        "audio_root": str(audio_root),
    }
    return DatasetIndex(name=NAME, root=root, classes=vocabulary, tracks=tracks, problems=problems,
                        unexpected=unexpected, notes=notes)


def task_size(index_: DatasetIndex) -> int:
    """Clips of the full release that a top-``n`` tagging table uses (its ``published_size``).

    With the release's own ``annotations_final.csv`` (:data:`PUBLISHED_CLIPS` rows): every row
    with at least one of the top tags (the rows without one are removed from the task, as in the
    papers). With another annotation file (e.g. a generated or cut-down one) the number of tagged
    clips of the release cannot be known from it, and the release's :data:`PUBLISHED_CLIPS` is
    returned: such a run is a subset either way.

    Args:
        index_: an index made by :func:`index` (its ``notes`` hold the row counts).

    Returns:
        the number of clips.
    """
    notes = index_.notes
    rows = int(notes.get("annotation_rows", 0))
    if rows != PUBLISHED_CLIPS:
        return PUBLISHED_CLIPS
    return rows - int(sum((notes.get("clips_without_top_tag_removed") or {}).values()))


def download(destination: str | Path) -> Path:
    """Download the release (three zip parts and the two csv files) and unpack the clips.

    No checksums are published for these files, so the download is not verified; the index
    (:func:`index`) reports missing and empty clips.

    Args:
        destination: folder to download and unpack into (becomes ``MTAT_DIR``).

    Returns:
        ``destination``.

    Raises:
        DatasetError: no host answered for some file; the message says how to set it up by hand.
    """
    import pooch

    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in DOWNLOAD_FILES:
        errors = []
        for base in BASE_URLS:
            try:
                files[name] = Path(pooch.retrieve(base + name, known_hash=None, fname=name, path=destination,
                                                  progressbar=True))
                break
            except Exception as exc:  # noqa: BLE001 - network errors come in many types; all are reported
                errors.append(f"{base + name}: {type(exc).__name__}: {exc}")
        else:
            raise DatasetError("MagnaTagATune download failed:\n  " + "\n  ".join(errors) +
                               "\nDownload mp3.zip.001-003, annotations_final.csv and clip_info_final.csv from "
                               f"{BASE_URLS[0]}, then `cat mp3.zip.* > mp3.zip && unzip mp3.zip` in {destination}.")
    joined = destination / "mp3.zip"
    with open(joined, "wb") as out:
        for part in ("mp3.zip.001", "mp3.zip.002", "mp3.zip.003"):
            with open(files[part], "rb") as handle:
                shutil.copyfileobj(handle, out)
    try:
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(destination)
    except zipfile.BadZipFile as exc:
        raise DatasetError(f"MagnaTagATune: {joined} (the three parts joined) is not a valid zip archive "
                           f"({exc}); delete the parts and download again") from None
    joined.unlink()
    return destination
