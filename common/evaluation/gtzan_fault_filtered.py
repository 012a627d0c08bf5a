"""GTZAN's fault-filtered split (Kereliuk, Sturm & Larsen 2015) as a one-fold protocol.

The split: 443 training, 197 validation and 290 test excerpts of GTZAN, artist-conditional (no
artist in two parts), with the faulty excerpts of Sturm (2013) removed (930 of the 1000 excerpts
are listed; the other 70 are in no list). It is the community's answer to the artist leakage of
random cross-validation on GTZAN, which every paper reproduced here uses.

The three lists ship with the repository, unchanged, as data (not code) in
``common/datasets/gtzan_fault_filtered/`` (``train_filtered.txt``, ``valid_filtered.txt``,
``test_filtered.txt``; one ``<genre>/<genre>.000NN.wav`` per line); its ``README.md`` gives their
source and checksums. They are read and checked against :data:`SHA256` before every use.

Sources:
    Kereliuk, C., Sturm, B. L. and Larsen, J. (2015), "Deep learning and music adversaries",
    IEEE Transactions on Multimedia 17(11):2059-2071; the lists are the ``gtzan/*_filtered.txt``
    files of the authors' repository https://github.com/coreyker/dnn-mgr (commit
    :data:`SOURCE_COMMIT`).
    Sturm, B. L. (2013), "The GTZAN dataset: its contents, its faults, their effects on
    evaluation, and its future use", arXiv:1306.1461 (the faults the filter removes).

On a subset of GTZAN (e.g. gtzan-mini: clips 00000-00009 of each genre) the split uses the listed
ids that are present; see :class:`FaultFilteredSplit`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from common.datasets.base import DatasetIndex
from common.errors import DatasetError
from common.evaluation.splits import Split

#: Value of ``--split`` / ``SPLIT`` that selects this split.
SPLIT_NAME = "fault-filtered"

#: Folder of the three published lists (data files shipped with the repository).
LISTS_FOLDER = Path(__file__).resolve().parents[1] / "datasets" / "gtzan_fault_filtered"

#: The split's parts, in :class:`~common.evaluation.splits.Split` order.
PARTS = ("train", "validation", "test")

#: File of each part's list in :data:`LISTS_FOLDER` (the names of the published files).
LIST_FILES = {"train": "train_filtered.txt", "validation": "valid_filtered.txt", "test": "test_filtered.txt"}

#: SHA-256 of each published list file, as downloaded from the source (bytes, LF line ends).
SHA256 = {"train": "2b04966cef1486f1a7767b74271533fa23e220388db804a1937835e1fc4fa3fa",
          "validation": "f8fbee7c52397a0e0f3a91dc54fedecb2e27f5bdc9a9daeab8cb10d077e26956",
          "test": "09cafa6a89ce0a27f30ed250d56ecb4d03c22fffb5a693f96c7ae655ee02ac72"}

#: Excerpts per part in the published lists (930 of GTZAN's 1000).
PUBLISHED_COUNTS = {"train": 443, "validation": 197, "test": 290}

#: Where the lists come from: repository, paths and the commit they were taken at.
SOURCE_REPOSITORY = "https://github.com/coreyker/dnn-mgr"
SOURCE_COMMIT = "bdad579ea6cb37b665ea6019fe1026a6ce20cbc7"
SOURCE_PATHS = ("gtzan/train_filtered.txt", "gtzan/valid_filtered.txt", "gtzan/test_filtered.txt")

CITATION = ("Kereliuk, Sturm & Larsen (2015), \"Deep learning and music adversaries\", IEEE Transactions on "
            "Multimedia 17(11):2059-2071")

#: What is known here of Sturm's (2013) individual faults (repetitions, mislabellings, distortions).
INDIVIDUAL_FAULTS = ("not reported: no public list of Sturm's (2013) individual faults (repetitions, "
                     "mislabellings, distortions) with a clear source is available offline; the excerpts in "
                     "none of the three lists are the ones the filter removed, without the reason for each")

_LINE = re.compile(r"^(?P<genre>[a-z]+)/(?P=genre)\.(?P<number>\d{5})\.wav$")


def listed_track_id(line: str) -> str | None:
    """The track id of one list line: ``"blues/blues.00029.wav"`` -> ``"blues.00029"`` (None: malformed).

    The id is the GTZAN loader's (:func:`common.datasets.gtzan.index`), whatever the file's
    extension in the user's copy (``.au`` or ``.wav``).
    """
    match = _LINE.match(line.strip())
    return None if match is None else f"{match['genre']}.{match['number']}"


def read_lists(folder: str | Path = LISTS_FOLDER, checksums: dict[str, str] | None = None) -> dict[str, tuple[str, ...]]:
    """The published lists as track ids, checked against their checksums.

    Args:
        folder: the folder holding :data:`LIST_FILES` (default: the shipped copy).
        checksums: ``{part: sha256}`` to check against (default :data:`SHA256`).

    Returns:
        ``{"train": ids, "validation": ids, "test": ids}``, each a tuple of str in the file's order.

    Raises:
        DatasetError: a file is missing, its SHA-256 is not the published one, a line is not
            ``<genre>/<genre>.000NN.wav``, an id is listed twice, or two parts share an id;
            the message names the file.
    """
    folder = Path(folder)
    checksums = SHA256 if checksums is None else checksums
    lists = {}
    for part in PARTS:
        path = folder / LIST_FILES[part]
        try:
            payload = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"fault-filtered split: cannot read the list {path} ({exc.strerror or exc}); it ships "
                               f"with the repository (restore it with `git checkout -- {path.name}` in {folder})") from None
        digest = hashlib.sha256(payload).hexdigest()
        if digest != checksums[part]:
            raise DatasetError(f"fault-filtered split: {path} has SHA-256 {digest}, not the published list's "
                               f"{checksums[part]}; it was altered (see {folder / 'README.md'} for its source)")
        ids = []
        for number, line in enumerate(payload.decode("utf-8").splitlines(), start=1):
            track = listed_track_id(line)
            if track is None:
                raise DatasetError(f"fault-filtered split: {path} line {number}: {line!r} is not "
                                   f"<genre>/<genre>.000NN.wav")
            ids.append(track)
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        if twice:
            raise DatasetError(f"fault-filtered split: {path} lists {twice[:3]} twice")
        lists[part] = tuple(ids)
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        shared = sorted(set(lists[a]) & set(lists[b]))
        if shared:
            raise DatasetError(f"fault-filtered split: the {a} and {b} lists in {folder} share {shared[:3]}")
    return lists


@lru_cache(maxsize=1)
def published_lists() -> dict[str, tuple[str, ...]]:
    """:func:`read_lists` of the shipped copy, read once per process."""
    return read_lists()


@dataclass(frozen=True)
class FaultFilteredSplit:
    """Protocol: GTZAN's fault-filtered split as one fold (train / select / test on the published lists).

    Training uses the listed training excerpts, model selection (early stopping, an SVM's C) the
    listed validation excerpts, and the test the listed test excerpts, restricted to the tracks of
    the dataset at hand: on a subset of GTZAN only the listed ids present are used (the split file
    of the run shows exactly those). Tracks in no list are left out: they are the excerpts the filter
    removed (:meth:`filter_report`).

    Not the papers' protocol (they use 10-fold cross-validation), so a run with it is a variant,
    never the canonical table. Source: Kereliuk, Sturm & Larsen 2015 (see the module text).
    """

    @property
    def n_folds(self) -> int:
        """Always 1."""
        return 1

    @staticmethod
    def parts(index: DatasetIndex) -> dict[str, tuple[str, ...]]:
        """``{part: sorted ids}``: the listed ids of each part that ``index`` holds."""
        present = {t.track_id for t in index.tracks}
        return {part: tuple(sorted(i for i in ids if i in present)) for part, ids in published_lists().items()}

    @staticmethod
    def classes_without_training(index: DatasetIndex, parts: dict[str, tuple[str, ...]] | None = None) -> list[str]:
        """Classes of ``index`` with a validation or test track in the split but no training track."""
        parts = parts or FaultFilteredSplit.parts(index)
        label = {t.track_id: t.label for t in index.tracks}
        trained = {label[i] for i in parts["train"]}
        used = {label[i] for part in ("validation", "test") for i in parts[part]}
        return [c for c in index.classes if c in used - trained]

    def make_splits(self, index: DatasetIndex) -> list[Split]:
        """The one fold of ``index``: the listed ids present, per part, sorted.

        Raises:
            DatasetError: a part holds none of the dataset's tracks (not GTZAN's track ids, or too
                small a subset), or a class has test tracks but no training track (nothing could
                learn it); the message gives the listed ids present per part. A class with
                validation tracks only is allowed (noted by :meth:`filter_report`): on gtzan-mini
                blues, classical and country have listed ids 00000-00009 in validation only.
        """
        parts = self.parts(index)
        counts = ", ".join(f"{part} {len(parts[part])}/{PUBLISHED_COUNTS[part]}" for part in PARTS)
        where = f"{index.name} at {index.root} ({len(index.tracks)} usable tracks)"
        empty = [part for part in PARTS if not parts[part]]
        if empty:
            raise DatasetError(f"{where}: the fault-filtered split's {' and '.join(empty)} part(s) would be empty: "
                               f"listed ids present: {counts}. It needs GTZAN's own track ids (<genre>.000NN) and "
                               f"enough of the listed excerpts; run the paper's split (leave SPLIT unset) instead")
        label = {t.track_id: t.label for t in index.tracks}
        untrained = sorted({label[i] for i in parts["test"]} - {label[i] for i in parts["train"]})
        if untrained:
            raise DatasetError(f"{where}: in the fault-filtered split, class(es) {', '.join(untrained)} have test "
                               f"tracks but no training track (listed ids present: {counts}); no model could learn "
                               f"them: use a larger part of GTZAN, or the paper's split (leave SPLIT unset)")
        return [Split(fold=0, train=parts["train"], validation=parts["validation"], test=parts["test"])]

    def describe(self) -> dict:
        """JSON description for manifests: the protocol's name, source, and the lists' counts and checksums."""
        return {"protocol": "gtzan_fault_filtered_split", "source": f"{CITATION}; {SOURCE_REPOSITORY} "
                f"{', '.join(SOURCE_PATHS)} at {SOURCE_COMMIT}", "listed": dict(PUBLISHED_COUNTS),
                "lists_sha256": dict(SHA256)}

    def filter_report(self, index: DatasetIndex) -> dict:
        """What the split does to ``index``: listed ids present per part and the tracks the filter removed.

        Args:
            index: the run's dataset as indexed (usable tracks).

        Returns:
            ``{"split", "source", "parts": {part: {"file", "sha256", "listed", "present"}},
            "removed_by_filter": [ids of the dataset's tracks in none of the lists], "n_removed_by_filter",
            "classes_without_training": [...], "individual_faults": str}`` (JSON-able).
        """
        parts = self.parts(index)
        listed = {i for ids in published_lists().values() for i in ids}
        removed = sorted(t.track_id for t in index.tracks if t.track_id not in listed)
        return {"split": SPLIT_NAME, "source": self.describe()["source"],
                "parts": {part: {"file": LIST_FILES[part], "sha256": SHA256[part], "listed": PUBLISHED_COUNTS[part],
                                 "present": len(parts[part])} for part in PARTS},
                "removed_by_filter": removed, "n_removed_by_filter": len(removed),
                "classes_without_training": self.classes_without_training(index, parts),
                "individual_faults": INDIVIDUAL_FAULTS}


def report_lines(report: dict) -> list[str]:
    """Console lines of :meth:`FaultFilteredSplit.filter_report` (indented like the runner's)."""
    parts = report["parts"]
    lines = ["  fault-filtered split (Kereliuk, Sturm & Larsen 2015): listed ids present: " +
             ", ".join(f"{part} {p['present']}/{p['listed']}" for part, p in parts.items()) +
             f"; {report['n_removed_by_filter']} track(s) of this dataset in no list (removed by the filter"
             + (f": {', '.join(report['removed_by_filter'][:5])}" + (" ..." if report['n_removed_by_filter'] > 5 else "")
                if report["removed_by_filter"] else "") + ")"]
    if report["classes_without_training"]:
        lines.append(f"  note: class(es) {', '.join(report['classes_without_training'])} have validation tracks but "
                     f"no training track in this dataset's part of the split: the model never learns them")
    return lines


__all__ = ["SPLIT_NAME", "LISTS_FOLDER", "LIST_FILES", "SHA256", "PUBLISHED_COUNTS", "FaultFilteredSplit",
           "read_lists", "published_lists", "listed_track_id", "report_lines", "INDIVIDUAL_FAULTS"]
