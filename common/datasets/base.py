"""Dataset-independent records: a track and the index of a dataset folder.

Every index holds each track id once and each audio file once (checked when the index is made,
:class:`DatasetIndex`): a clip indexed twice could land in both the training and the test part of
a split. Loaders that can meet two files for one track (e.g. GTZAN's ``.au`` beside a converted
``.wav``) keep one by a rule they state (:func:`choose_file`) and record the other in
``DatasetIndex.problems`` with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.audio.decoding import header_problem
from common.errors import DatasetError


@dataclass(frozen=True)
class Track:
    """One audio item of a dataset.

    Attributes:
        track_id: identifier unique within the dataset (e.g. ``"blues.00000"``).
        path: the audio file.
        label: class name for single-label tasks (genre, dance style, emotion), else None.
        tags: tag names for multi-label tasks (e.g. MagnaTagATune), else empty.
        subset: name of the dataset's own predefined subset (``"train"``, ``"validation"``,
            ``"test"``, ...) where the dataset defines one, else None.
    """

    track_id: str
    path: Path
    label: str | None = None
    tags: tuple[str, ...] = ()
    subset: str | None = None


@dataclass
class DatasetIndex:
    """What a loader found in a dataset folder.

    Attributes:
        name: dataset name (e.g. ``"gtzan"``).
        root: the folder that was indexed.
        classes: ordered class (or tag) vocabulary; label indices refer to it.
        tracks: usable tracks, sorted by ``track_id``.
        problems: ``{path: reason}`` for files of the dataset that were found unusable while
            indexing (empty, unreadable header). They are not in ``tracks``; the run manifest
            lists them.
        unexpected: files under ``root`` that do not belong to the layout (reported, ignored).
        expected_counts: the full dataset's per-class counts as published, for comparison.
        notes: JSON-serialisable facts about how the index was made that a reader of the run
            needs (e.g. the rule that derived the labels and the items it could not decide);
            written to the manifest.

    Raises:
        DatasetError: on construction, when two tracks share a ``track_id`` (the message names
            both files) or one file is the ``path`` of two tracks (it names both ids).
    """

    name: str
    root: Path
    classes: tuple[str, ...]
    tracks: list[Track]
    problems: dict[str, str] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    expected_counts: dict[str, int] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        by_id: dict[str, Track] = {}
        by_path: dict[str, Track] = {}
        for track in self.tracks:
            first = by_id.setdefault(track.track_id, track)
            if first is not track:
                raise DatasetError(f"{self.name}: track id {track.track_id!r} is used twice, for {first.path} "
                                   f"and {track.path}; a track indexed twice could be in both training and "
                                   f"test data")
            first = by_path.setdefault(str(track.path), track)
            if first is not track:
                raise DatasetError(f"{self.name}: {track.path} is the file of two tracks, {first.track_id!r} "
                                   f"and {track.track_id!r}; a file indexed twice could be in both training "
                                   f"and test data")

    def label_indices(self) -> np.ndarray:
        """Class index of every track, int64 array ``(n_tracks,)``.

        Raises:
            DatasetError: a track has no label or a label outside ``classes``.
        """
        lookup = {name: i for i, name in enumerate(self.classes)}
        try:
            return np.array([lookup[t.label] for t in self.tracks], dtype=np.int64)
        except KeyError as exc:
            raise DatasetError(f"{self.name}: track label {exc} is not one of {self.classes}") from None

    def tag_matrix(self) -> np.ndarray:
        """Binary tag matrix, float32 ``(n_tracks, n_classes)``, for multi-label datasets."""
        lookup = {name: i for i, name in enumerate(self.classes)}
        matrix = np.zeros((len(self.tracks), len(self.classes)), dtype=np.float32)
        for row, track in enumerate(self.tracks):
            for tag in track.tags:
                matrix[row, lookup[tag]] = 1.0
        return matrix

    def class_counts(self) -> dict[str, int]:
        """Number of usable tracks per class (single-label datasets)."""
        counts = Counter(t.label for t in self.tracks)
        return {name: counts.get(name, 0) for name in self.classes}

    def count_differences(self) -> dict[str, tuple[int, int]]:
        """``{class: (found, published)}`` for every class whose count differs from the paper's."""
        found = self.class_counts()
        return {name: (found.get(name, 0), n) for name, n in self.expected_counts.items()
                if found.get(name, 0) != n}

    def without(self, track_ids: set[str], reasons: dict[str, str]) -> "DatasetIndex":
        """A copy without ``track_ids``, whose reasons are added to ``problems`` (keyed by path)."""
        kept = [t for t in self.tracks if t.track_id not in track_ids]
        problems = dict(self.problems)
        for track in self.tracks:
            if track.track_id in track_ids:
                problems[str(track.path)] = reasons.get(track.track_id, "excluded")
        return DatasetIndex(self.name, self.root, self.classes, kept, problems, list(self.unexpected),
                            dict(self.expected_counts), dict(self.notes))

    def summary(self) -> dict:
        """JSON-serialisable summary for the run manifest."""
        return {
            "name": self.name,
            "root": str(self.root),
            "n_tracks": len(self.tracks),
            "class_counts": self.class_counts() if any(t.label for t in self.tracks) else None,
            "count_differences_from_published": {k: {"found": a, "published": b}
                                                 for k, (a, b) in self.count_differences().items()},
            "problems": dict(self.problems),
            "unexpected_files": list(self.unexpected),
            "notes": dict(self.notes),
        }


def require_folder(path: Path, dataset: str, layout_hint: str, variable: str) -> Path:
    """Check that a dataset folder exists.

    Args:
        path: the folder the user pointed at.
        dataset: dataset name for the message.
        layout_hint: the expected layout, shown in the message.
        variable: the Make variable / CLI option that sets the folder.

    Returns:
        ``path`` resolved.

    Raises:
        DatasetError: the folder does not exist or is not a folder.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DatasetError(
            f"{dataset} not found: {path} is not a folder.\n"
            f"Put the dataset there or point at your copy with {variable}=/path/to/it.\n"
            f"Expected layout:\n{layout_hint}")
    return path.resolve()


def choose_file(track_id: str, candidates: Sequence[Path], rule: str,
                problem_of: Callable[[Path], str | None] = header_problem) -> tuple[Path | None, dict[str, str]]:
    """Of several files of one track, in order of preference, the first usable one.

    Args:
        track_id: the track the files belong to (for the messages).
        candidates: its files, most preferred first.
        rule: the stated preference, for the messages (e.g. ``"GTZAN keeps the official .au"``).
        problem_of: why a file is unusable, or None (default :func:`common.audio.decoding.header_problem`).

    Returns:
        ``(kept, problems)``: the first file without a problem (None if there is none) and
        ``{path: reason}`` for every other file: its own problem, or, for files after the kept one,
        ``"duplicate of <kept>: same track id '<id>' (<rule>)"`` (those are not examined).
    """
    kept, problems = None, {}
    for path in candidates:
        if kept is not None:
            problems[str(path)] = f"duplicate of {kept}: same track id {track_id!r} ({rule})"
            continue
        problem = problem_of(path)
        if problem:
            problems[str(path)] = problem
        else:
            kept = path
    return kept, problems
