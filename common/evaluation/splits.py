"""Evaluation protocols: seeded, stratified cross-validation and predefined dataset splits.

A protocol turns a :class:`~common.datasets.base.DatasetIndex` into a list of :class:`Split`
(track ids for train, validation and test). Splits are saved as JSON next to the results
(:func:`save_splits`) so that a run can be repeated exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

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
        splits = [Split(fold=f["fold"], train=tuple(f["train"]), validation=tuple(f["validation"]),
                        test=tuple(f["test"])) for f in payload["folds"]]
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a splits file ({exc})") from None
    return splits, payload["protocol"]
