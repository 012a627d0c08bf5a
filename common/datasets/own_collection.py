"""A user's own labelled collection: one folder per class (``make own-dataset``, ``--own-dataset``).

Layout::

    <DATA_DIR>/
      <class name>/            <- one folder per class; the folder's name is the class name
        song.wav               <- audio files, found recursively (album sub-folders are fine):
        some album/02.flac        .wav .au .snd .flac .ogg .mp3 .aif .aiff (any case), i.e.
        ...                       :data:`common.audio.decoding.AUDIO_EXTENSIONS`, what the decoder reads
      <another class>/...

Class and folder names may hold spaces and non-ASCII characters. Classes are the class folders'
names sorted by code point (Python's ``sorted``), the order of the label indices and of the
model's outputs. A track's id is its file's path relative to ``<DATA_DIR>``, with ``/`` as the
separator (``"hip hop/album 1/02.flac"``): unique, and it names the class.

Ignored: hidden files and folders (names starting with ``.``; e.g. ``.DS_Store``, ``.git/``),
counted in ``DatasetIndex.notes``; files with another extension (cover art, playlists, notes),
listed in ``DatasetIndex.unexpected`` and counted in the notes; files directly in ``<DATA_DIR>``
(they belong to no class), listed in ``unexpected`` too. Symbolic links to files are followed,
links to folders are not (a link loop could not make the walk endless).

Bad input (:class:`~common.errors.DatasetError`, raised by :func:`describe_folder` and
:func:`index` before any feature work): the folder is missing or not a folder; fewer than two
class folders; a class folder holding no audio file (named, with what it does hold). An empty,
truncated or unreadable audio file goes to ``DatasetIndex.problems`` with its reason
(:func:`common.audio.decoding.header_problem`; files that fail only later, while decoding, are
skipped by the runner with their reason, as for every dataset); a class left with no usable file
is then refused. Whether every class has enough tracks for a table's folds, and whether identical
audio lies in two classes, is checked by the runner (:mod:`common.runner.own_dataset`), which
knows the protocol and the files' content hashes.

There are no published counts (``expected_counts`` is empty): the runner labels such a run
``own dataset: <n> classes, <m> tracks`` (:mod:`common.runner.coverage`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from common.audio.decoding import AUDIO_EXTENSIONS, header_problem
from common.datasets.base import DatasetIndex, Track
from common.errors import DatasetError

#: Prefix of the index's ``name`` (the full name adds the folder's label, :attr:`Collection.label`).
NAME = "own_collection"

LAYOUT = ("  <DATA_DIR>/<class name>/<audio files, in sub-folders too>   (one folder per class; at least two)\n"
          f"  audio: {' '.join(AUDIO_EXTENSIONS)} (any case); hidden files and other files are ignored")


@dataclass(frozen=True)
class Collection:
    """A user's collection folder, as read before indexing (cheap: names only, no audio header).

    Attributes:
        root: the folder, resolved (absolute).
        classes: class names (the class folders' names, sorted by code point).
        label: folder-name form of the collection, :func:`folder_label` of ``root``.
    """

    root: Path
    classes: tuple[str, ...]
    label: str


def folder_label(root: str | os.PathLike) -> str:
    """The collection's folder name in a safe form plus 8 hex digits of its absolute path.

    Two collections with the same folder name in different places get different labels; the
    same folder always gets the same one.

    >>> folder_label("/data/My Music (2024)").startswith("My-Music-2024-")
    True

    Args:
        root: the collection folder (made absolute and resolved first).

    Returns:
        ``"<name with runs of characters other than ASCII letters, digits, '.', '_' and '-' made '-'>-<8 hex>"``
        (``"collection-<8 hex>"`` for a name with none of those).
    """
    import hashlib

    path = Path(root).expanduser().resolve()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name).strip("-.") or "collection"
    return f"{safe[:60]}-{hashlib.sha1(str(path).encode('utf-8', 'surrogateescape')).hexdigest()[:8]}"


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _is_audio(name: str) -> bool:
    return Path(name).suffix.lower() in AUDIO_EXTENSIONS


def _walk(folder: Path) -> tuple[list[Path], list[Path], int]:
    """``(audio files, other files, hidden entries)`` under ``folder``, recursively, sorted.

    Hidden files and folders (and everything inside hidden folders) are passed over and counted;
    links to folders are not followed.
    """
    audio, other, hidden = [], [], 0
    for current, folders, files in os.walk(folder, onerror=None, followlinks=False):
        hidden += sum(1 for name in folders if _hidden(name)) + sum(1 for name in files if _hidden(name))
        folders[:] = sorted(name for name in folders if not _hidden(name))
        for name in sorted(files):
            if _hidden(name):
                continue
            path = Path(current) / name
            (audio if _is_audio(name) else other).append(path)
    return sorted(audio), sorted(other), hidden


def _class_folders(root: Path) -> tuple[list[Path], list[Path], int]:
    """``(class folders sorted by name, files directly in root, hidden entries of root)``."""
    folders, files, hidden = [], [], 0
    for entry in root.iterdir():
        if _hidden(entry.name):
            hidden += 1
        elif entry.is_dir():
            folders.append(entry)
        else:
            files.append(entry)
    return sorted(folders, key=lambda p: p.name), sorted(files), hidden


def _describe_contents(other: list[Path], hidden: int) -> str:
    """``"it holds 2 other files (cover.jpg, notes.txt) and 1 hidden entry"`` for a class without audio."""
    parts = []
    if other:
        shown = ", ".join(p.name for p in other[:3]) + (", ..." if len(other) > 3 else "")
        parts.append(f"{len(other)} other file{'s' if len(other) > 1 else ''} ({shown})")
    if hidden:
        parts.append(f"{hidden} hidden entr{'ies' if hidden > 1 else 'y'}")
    return "it holds " + " and ".join(parts) if parts else "it is empty"


def describe_folder(root: str | os.PathLike) -> Collection:
    """Check a collection folder's layout and read its class names (no audio file is opened).

    Args:
        root: the collection folder (``DATA_DIR``).

    Returns:
        :class:`Collection` (resolved root, sorted class names, folder label).

    Raises:
        DatasetError: ``root`` is missing or not a folder; it has fewer than two class folders
            (the message says what it holds); a class folder holds no audio file, searched
            recursively (the message names the folder and what it holds instead).
    """
    given = Path(root).expanduser()
    if not str(root).strip():
        raise DatasetError(f"own dataset: no folder given (DATA_DIR / --own-dataset is empty).\n"
                           f"Expected layout:\n{LAYOUT}")
    if not given.exists():
        raise DatasetError(f"own dataset: {given} does not exist (DATA_DIR / --own-dataset).\nExpected layout:\n{LAYOUT}")
    if not given.is_dir():
        raise DatasetError(f"own dataset: {given} is not a folder (DATA_DIR / --own-dataset names the folder that "
                           f"holds one folder per class).\nExpected layout:\n{LAYOUT}")
    path = given.resolve()
    folders, files, _ = _class_folders(path)
    if len(folders) < 2:
        held = (f"one class folder, {folders[0].name!r}" if folders else "no class folder")
        loose = sum(1 for f in files if _is_audio(f.name))
        hint = f"; its {loose} audio file(s) directly in the folder belong to no class" if loose else ""
        raise DatasetError(f"own dataset at {path}: {held}{hint}. A classifier needs at least two classes: one "
                           f"folder per class, named after it.\nExpected layout:\n{LAYOUT}")
    for folder in folders:
        audio, other, hidden = _walk(folder)
        if not audio:
            raise DatasetError(f"own dataset at {path}: class folder {folder} holds no audio file "
                               f"({_describe_contents(other, hidden)}); put the class's audio there "
                               f"({' '.join(AUDIO_EXTENSIONS)}) or remove the folder.\nExpected layout:\n{LAYOUT}")
    return Collection(root=path, classes=tuple(f.name for f in folders), label=folder_label(path))


def index(root: str | os.PathLike) -> DatasetIndex:
    """Index a collection folder.

    Args:
        root: the collection folder (see the module text).

    Returns:
        :class:`DatasetIndex` named ``own_collection-<label>``, ``classes`` the class folders'
        names (sorted), one :class:`Track` per usable audio file (``track_id`` its path relative
        to ``root`` with ``/``, ``label`` its class folder's name), unusable files in ``problems``
        with the reason, non-audio files and files outside the class folders in ``unexpected``,
        no ``expected_counts``, and ``notes``: ``{"own_dataset": True, "label", "classes",
        "ignored_non_audio_files", "ignored_hidden_entries", "files_outside_class_folders",
        "unusable_files"}``.

    Raises:
        DatasetError: see :func:`describe_folder`; also a class none of whose audio files is usable
            (the message names the folder and the first reasons).
    """
    collection = describe_folder(root)
    path = collection.root
    folders, loose, hidden = _class_folders(path)
    tracks, problems, unexpected = [], {}, [str(f) for f in loose]
    non_audio = 0
    for folder in folders:
        audio, other, hidden_here = _walk(folder)
        hidden += hidden_here
        non_audio += len(other)
        unexpected.extend(str(p) for p in other)
        usable = 0
        for file in audio:
            problem = header_problem(file)
            if problem:
                problems[str(file)] = problem
                continue
            tracks.append(Track(track_id=file.relative_to(path).as_posix(), path=file, label=folder.name))
            usable += 1
        if not usable:
            reasons = "; ".join(f"{Path(p).name}: {problems[str(p)]}" for p in audio[:3])
            raise DatasetError(f"own dataset at {path}: none of the {len(audio)} audio file(s) of class folder "
                               f"{folder} is usable ({reasons}{'; ...' if len(audio) > 3 else ''})")
    notes = {"own_dataset": True, "label": collection.label, "classes": list(collection.classes),
             "ignored_non_audio_files": non_audio, "ignored_hidden_entries": hidden,
             "files_outside_class_folders": len(loose), "unusable_files": len(problems)}
    return DatasetIndex(name=f"{NAME}-{collection.label}", root=path, classes=collection.classes,
                        tracks=sorted(tracks, key=lambda t: t.track_id), problems=problems,
                        unexpected=unexpected, notes=notes)
