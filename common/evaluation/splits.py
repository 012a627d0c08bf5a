"""Evaluation protocols: seeded, stratified cross-validation and predefined dataset splits.

A protocol turns a :class:`~common.datasets.base.DatasetIndex` into a list of :class:`Split`
(track ids for train, validation and test). Splits are saved as JSON next to the results
(:func:`save_splits`) so that a run can be repeated exactly.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from common.atomic_files import atomic_write_text
from common.datasets.base import DatasetIndex
from common.errors import DatasetError


@dataclass(frozen=True)
class Split:
    """One fold: disjoint lists of track ids.

    Attributes:
        fold: 0-based fold number.
        train, validation, test: track ids (``validation`` may be empty when a protocol has none).
    """

    fold: int
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]

    def fingerprint(self) -> str:
        """Hash of the three id lists; a stored fold result is reused only for the same split."""
        payload = json.dumps([self.train, self.validation, self.test])
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


def stratified_cross_validation(track_ids: list[str], labels: np.ndarray, *, n_folds: int = 10,
                                validation_fraction: float = 0.1, seed: int = 0,
                                class_names: tuple[str, ...] | None = None) -> list[Split]:
    """K-fold cross-validation with a stratified random train/validation/test split per fold.

    The ``n_folds`` test sets partition the data (``StratifiedKFold``, shuffled with ``seed``);
    in fold ``k`` a stratified random ``validation_fraction`` of *all* tracks is drawn from the
    remaining tracks for validation and the rest is training data. With ``n_folds=10`` and
    ``validation_fraction=0.1`` this is the 80/10/10 % protocol of MCCLSTM Sec. 3.

    Args:
        track_ids: ids, length ``n``.
        labels: int class indices, shape ``(n,)``.
        n_folds: number of folds (>= 2).
        validation_fraction: share of all tracks used for validation in each fold; 0 for none.
        seed: random seed (the same seed gives the same splits).
        class_names: names for error messages.

    Returns:
        ``n_folds`` :class:`Split` objects.

    Raises:
        DatasetError: a class has fewer than ``n_folds`` tracks (each test fold needs one), or
            the validation split is too small to hold one track of every class.
    """
    labels = np.asarray(labels)
    counts = Counter(labels.tolist())
    need = n_folds
    small = {c: n for c, n in counts.items() if n < need}
    if small:
        names = {(class_names[c] if class_names else str(c)): n for c, n in small.items()}
        raise DatasetError(
            f"too few tracks to stratify {n_folds}-fold cross-validation: "
            f"classes {names} have fewer than {need} tracks each")
    ids = np.asarray(track_ids)
    n_validation = int(round(validation_fraction * len(ids)))
    if 0 < n_validation < len(counts):
        raise DatasetError(f"a validation split of {validation_fraction:.0%} holds {n_validation} of "
                           f"{len(ids)} tracks, fewer than the {len(counts)} classes it must stratify")
    kfold = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    splits = []
    for fold, (rest, test) in enumerate(kfold.split(ids, labels)):
        if n_validation > 0:
            train, validation = train_test_split(rest, test_size=n_validation, stratify=labels[rest],
                                                 random_state=seed * 1000 + fold)
        else:
            train, validation = rest, np.array([], dtype=int)
        splits.append(Split(fold=fold, train=tuple(sorted(ids[train])),
                            validation=tuple(sorted(ids[validation])), test=tuple(sorted(ids[test]))))
    return splits


@dataclass(frozen=True)
class CrossValidation:
    """Protocol: :func:`stratified_cross_validation` over a dataset's labels.

    Attributes:
        n_folds: number of folds.
        validation_fraction: share of all tracks per fold used for validation.
        seed: split seed.
    """

    n_folds: int = 10
    validation_fraction: float = 0.1
    seed: int = 0

    def make_splits(self, index: DatasetIndex) -> list[Split]:
        """Splits of ``index`` (see :func:`stratified_cross_validation`)."""
        return stratified_cross_validation([t.track_id for t in index.tracks], index.label_indices(),
                                           n_folds=self.n_folds,
                                           validation_fraction=self.validation_fraction,
                                           seed=self.seed, class_names=index.classes)

    def describe(self) -> dict:
        """JSON description for manifests."""
        return {"protocol": "stratified_cross_validation", **asdict(self)}

    def keeping_together(self, groups) -> "GroupedCrossValidation":
        """This protocol with every group of ``groups`` kept within one part of every fold.

        Args:
            groups: groups of track ids that must not be separated (identical audio under
                several ids); any iterable of iterables of str; groups of one id are ignored.

        Returns:
            a :class:`GroupedCrossValidation` (a different split, so a different run identity).
        """
        return GroupedCrossValidation(self, normalised_groups(groups))


def normalised_groups(groups) -> tuple[tuple[str, ...], ...]:
    """``groups`` (iterables of track ids) as sorted tuples of sorted ids, groups of one id dropped."""
    return tuple(sorted(tuple(sorted(set(group))) for group in groups if len(set(group)) > 1))


def stratified_group_cross_validation(track_ids: list[str], labels: np.ndarray, group_keys: list[str], *,
                                      n_folds: int = 10, validation_fraction: float = 0.1, seed: int = 0,
                                      class_names: tuple[str, ...] | None = None) -> list[Split]:
    """K-fold cross-validation like :func:`stratified_cross_validation`, never separating a group.

    Tracks with the same group key (identical audio under several ids) always fall into the same
    part of every fold: all in training, all in validation or all in test. The test sets
    partition the data (scikit-learn's ``StratifiedGroupKFold``, shuffled with ``seed``: whole
    groups are assigned greedily so that each test fold's class proportions stay close to the
    dataset's); in fold ``k`` the validation part is the first part of a
    ``StratifiedGroupKFold(round(len(rest) / n_validation))`` of the remaining tracks (seeded
    ``seed * 1000 + k``), so it holds about ``validation_fraction`` of all tracks, in whole
    groups. Stratification and part sizes are therefore approximate, unlike the paper's
    protocol (MCCLSTM Sec. 3: 80/10/10 %), which this function does not reproduce: it is the
    leak-free variant for datasets with repeats (GTZAN's exact repeats: Sturm 2013, the GTZAN
    reference [18] of the CRNN-TF paper). With every group a single track, the folds still differ
    from :func:`stratified_cross_validation`'s (another algorithm).

    Args:
        track_ids: ids, length ``n``.
        labels: int class indices, shape ``(n,)``.
        group_keys: group key of every track, length ``n`` (str; a track alone in its group
            has a key of its own). The split depends on the keys only through their order, so
            use keys that do not change with unrelated data (e.g. the group's smallest track id).
        n_folds: number of folds (>= 2).
        validation_fraction: share of all tracks used for validation in each fold; 0 for none.
        seed: random seed (the same seed and groups give the same splits).
        class_names: names for error messages.

    Returns:
        ``n_folds`` :class:`Split` objects.

    Raises:
        DatasetError: a class has fewer than ``n_folds`` groups (each test fold needs one), or a
            test or validation part came out empty.
    """
    labels = np.asarray(labels)
    keys = np.asarray(group_keys)
    ids = np.asarray(track_ids)
    if not len(keys) == len(labels) == len(ids):
        raise ValueError(f"{len(ids)} track ids, {len(labels)} labels and {len(keys)} group keys")
    distinct = {c: len(set(keys[labels == c].tolist())) for c in sorted(set(labels.tolist()))}
    small = {c: n for c, n in distinct.items() if n < n_folds}
    if small:
        names = {(class_names[c] if class_names else str(c)): n for c, n in small.items()}
        raise DatasetError(f"too few distinct recordings to stratify {n_folds}-fold cross-validation keeping "
                           f"identical audio together: classes {names} have fewer than {n_folds} groups each")
    n_validation = int(round(validation_fraction * len(ids)))
    splits = []
    with warnings.catch_warnings():
        # a class rarer than the parts of the inner validation split is expected in small data sets
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        outer = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for fold, (rest, test) in enumerate(outer.split(ids, labels, keys)):
            if n_validation > 0:
                n_parts = min(max(2, int(round(len(rest) / n_validation))), len(set(keys[rest].tolist())))
                inner = StratifiedGroupKFold(n_splits=n_parts, shuffle=True, random_state=seed * 1000 + fold)
                train_part, validation_part = next(inner.split(rest, labels[rest], keys[rest]))
                train, validation = rest[train_part], rest[validation_part]
            else:
                train, validation = rest, np.array([], dtype=int)
            if len(test) == 0 or (n_validation > 0 and len(validation) == 0):
                raise DatasetError(f"fold {fold} of the group-aware split has {len(test)} test and "
                                   f"{len(validation)} validation tracks: too few groups for {n_folds} folds")
            splits.append(Split(fold=fold, train=tuple(sorted(ids[train])),
                                validation=tuple(sorted(ids[validation])), test=tuple(sorted(ids[test]))))
    return splits


@dataclass(frozen=True)
class GroupedCrossValidation:
    """Protocol: a :class:`CrossValidation` that keeps each group of tracks within one part of every fold.

    The groups are identical audio under several track ids (found by
    :mod:`common.runner.duplicates`); see :func:`stratified_group_cross_validation`. This is not
    the papers' protocol (they kept GTZAN's repeats), so a run with it is a variant, never the
    canonical table.

    Attributes:
        base: the protocol whose fold count, validation share and seed are used.
        groups: groups (sorted tuples of >= 2 track ids, sorted) kept together.
    """

    base: CrossValidation
    groups: tuple[tuple[str, ...], ...] = ()

    @property
    def n_folds(self) -> int:
        """The base protocol's fold count."""
        return self.base.n_folds

    def group_keys(self, track_ids) -> list[str]:
        """Group key of every id: the smallest id of its group, or the id itself when it is in none."""
        key = {track: group[0] for group in self.groups for track in group}
        return [key.get(track, track) for track in track_ids]

    def make_splits(self, index: DatasetIndex) -> list[Split]:
        """Splits of ``index`` (:func:`stratified_group_cross_validation`); group ids not in ``index`` are ignored."""
        ids = [t.track_id for t in index.tracks]
        return stratified_group_cross_validation(ids, index.label_indices(), self.group_keys(ids),
                                                 n_folds=self.base.n_folds,
                                                 validation_fraction=self.base.validation_fraction,
                                                 seed=self.base.seed, class_names=index.classes)

    def describe(self) -> dict:
        """JSON description for manifests: the base protocol's, renamed, with the groups' count and fingerprint."""
        digest = hashlib.sha1(json.dumps(self.groups).encode()).hexdigest()[:16]
        return {**self.base.describe(), "protocol": "stratified_group_cross_validation",
                "groups_kept_together": {"what": "identical audio under several track ids", "groups": len(self.groups),
                                         "tracks": sum(len(g) for g in self.groups), "fingerprint": digest}}


@dataclass(frozen=True)
class PredefinedSplit:
    """Protocol: the dataset's own subsets (``Track.subset``) as a single fold.

    Attributes:
        train, validation, test: the subset names that make up each part (tuples of names).
    """

    train: tuple[str, ...] = ("train",)
    validation: tuple[str, ...] = ("validation",)
    test: tuple[str, ...] = ("test",)

    @property
    def n_folds(self) -> int:
        """Always 1."""
        return 1

    def make_splits(self, index: DatasetIndex) -> list[Split]:
        """One :class:`Split` from the tracks' ``subset`` fields.

        Raises:
            DatasetError: the training or test part is empty.
        """
        def ids(names):
            return tuple(sorted(t.track_id for t in index.tracks if t.subset in names))

        split = Split(fold=0, train=ids(self.train), validation=ids(self.validation), test=ids(self.test))
        if not split.train or not split.test:
            raise DatasetError(f"{index.name} at {index.root}: predefined split has "
                               f"{len(split.train)} training and {len(split.test)} test tracks")
        return [split]

    def describe(self) -> dict:
        """JSON description for manifests."""
        return {"protocol": "predefined_split", **asdict(self)}


def save_splits(path: str | Path, splits: list[Split], protocol: dict) -> None:
    """Write splits and their protocol to JSON (atomically)."""
    payload = {"protocol": protocol, "folds": [asdict(s) for s in splits]}
    atomic_write_text(path, json.dumps(payload, indent=1))


def load_splits(path: str | Path) -> tuple[list[Split], dict]:
    """Read splits written by :func:`save_splits`: ``(splits, protocol description)``.

    Raises:
        ValueError: the file is not a splits file.
    """
    try:
        payload = json.loads(Path(path).read_text())
        if not isinstance(payload, dict):
            raise TypeError(f"a JSON {type(payload).__name__}, not an object")
        for key in ("protocol", "folds"):
            if key not in payload:
                raise KeyError(f"no {key!r} key")
        if not isinstance(payload["protocol"], dict) or not isinstance(payload["folds"], list):
            raise TypeError("'protocol' must be an object and 'folds' a list")
        splits = []
        for f in payload["folds"]:
            parts = {name: f[name] for name in ("train", "validation", "test")}
            if not isinstance(f["fold"], int) or not all(
                    isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in parts.values()):
                raise TypeError("a fold needs an integer 'fold' and lists of track-id strings")
            splits.append(Split(fold=f["fold"], **{name: tuple(ids) for name, ids in parts.items()}))
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a splits file ({exc})") from None
    return splits, payload["protocol"]


def split_problems(splits: list[Split], track_ids, n_folds: int) -> list[str]:
    """What is wrong with splits read back from disk for a dataset of ``track_ids`` (empty: nothing).

    A saved split decides which tracks a model sees, so it is checked completely before reuse:

    - exactly ``n_folds`` folds, numbered ``0 .. n_folds - 1`` in order;
    - in every fold a non-empty training and test part, no id twice, and training, validation
      and test pairwise disjoint (the same track is never in training and test);
    - every id is one of ``track_ids``;
    - with several folds (k-fold cross-validation, :func:`stratified_cross_validation`) the test
      parts partition ``track_ids``: every track is tested exactly once.

    Args:
        splits: the folds as read by :func:`load_splits`.
        track_ids: ids of the usable tracks of the dataset (any iterable of str).
        n_folds: the protocol's number of folds.

    Returns:
        one line per problem, naming the fold and (up to 3 of) the ids concerned.
    """
    known = set(track_ids)
    problems = []

    def some(ids) -> str:
        ids = sorted(ids)
        return ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")

    if len(splits) != n_folds:
        problems.append(f"{len(splits)} fold(s) where the protocol has {n_folds}")
    if [s.fold for s in splits] != list(range(len(splits))):
        problems.append(f"folds numbered {[s.fold for s in splits]}, not 0..{len(splits) - 1}")
    for split in splits:
        parts = {"train": split.train, "validation": split.validation, "test": split.test}
        for name in ("train", "test"):
            if not parts[name]:
                problems.append(f"fold {split.fold}: empty {name} part")
        for name, ids in parts.items():
            if len(set(ids)) != len(ids):
                problems.append(f"fold {split.fold}: {name} lists a track twice "
                                f"({some(i for i, n in Counter(ids).items() if n > 1)})")
            unknown = set(ids) - known
            if unknown:
                problems.append(f"fold {split.fold}: {name} names {len(unknown)} track(s) not in the dataset "
                                f"({some(unknown)})")
        for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
            shared = set(parts[a]) & set(parts[b])
            if shared:
                problems.append(f"fold {split.fold}: {len(shared)} track(s) both in {a} and {b} ({some(shared)})")
    if n_folds > 1 and splits:
        tested = Counter(i for s in splits for i in s.test)
        twice = {i for i, n in tested.items() if n > 1}
        untested = known - set(tested)
        if twice:
            problems.append(f"{len(twice)} track(s) in more than one test fold ({some(twice)})")
        if untested:
            problems.append(f"{len(untested)} track(s) in no test fold ({some(untested)})")
    return problems
