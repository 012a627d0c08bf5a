"""Group-aware cross-validation (identical audio kept within one part of every fold); the default split unchanged."""

import numpy as np
import pytest

from common.datasets.base import DatasetIndex, Track
from common.errors import DatasetError
from common.evaluation.splits import (CrossValidation, GroupedCrossValidation, stratified_cross_validation,
                                      stratified_group_cross_validation)


def dataset(per_class=12, classes=("blues", "rock", "jazz")):
    ids = [f"{c}.{i:05d}" for c in classes for i in range(per_class)]
    return ids, np.repeat(np.arange(len(classes)), per_class)


def test_default_split_is_the_one_the_committed_results_were_made_with():
    # fingerprints of the folds made by the code before group support (common/evaluation/splits.py
    # at the commit that grouped common/ into packages): the default protocol must not move
    ids, labels = dataset()
    splits = stratified_cross_validation(ids, labels, n_folds=4, validation_fraction=0.25, seed=0)
    assert [s.fingerprint() for s in splits] == ["e0b6169ab5eb48ca", "9a5c11c3403d1a7e", "f72a0d29ab0338ff",
                                                 "dcb3d5189136ec07"]
    assert CrossValidation(n_folds=4).describe() == {"protocol": "stratified_cross_validation", "n_folds": 4,
                                                     "validation_fraction": 0.1, "seed": 0}


def check_grouped(splits, ids, groups, n_folds):
    """Every fold: disjoint parts covering the data; test parts partition it; no group separated."""
    assert len(splits) == n_folds and [s.fold for s in splits] == list(range(n_folds))
    assert sorted(i for s in splits for i in s.test) == sorted(ids)
    for split in splits:
        parts = [set(split.train), set(split.validation), set(split.test)]
        assert sum(map(len, parts)) == len(ids) and set().union(*parts) == set(ids)
        assert all(parts)
        for group in groups:
            assert sum(bool(set(group) & part) for part in parts) == 1, (split.fold, group)


def test_grouped_split_keeps_every_group_in_one_part_and_the_folds_sound():
    ids, labels = dataset(per_class=20, classes=("a", "b", "c", "d"))
    groups = [("a.00000", "a.00001", "a.00002"), ("b.00005", "b.00006"), ("c.00010", "d.00011")]  # one across classes
    protocol = CrossValidation(n_folds=5, validation_fraction=0.1, seed=3).keeping_together(groups)
    keys = protocol.group_keys(ids)
    splits = stratified_group_cross_validation(ids, labels, keys, n_folds=5, validation_fraction=0.1, seed=3)
    check_grouped(splits, ids, groups, 5)
    for split in splits:
        assert 6 <= len(split.validation) <= 10 and 14 <= len(split.test) <= 18  # about 10 % and 20 %
        counts = np.bincount([labels[ids.index(i)] for i in split.test], minlength=4)
        assert counts.min() >= 2  # every class in every test fold
    assert splits == stratified_group_cross_validation(ids, labels, keys, n_folds=5, validation_fraction=0.1, seed=3)
    # the default protocol separates such groups: this is what the option is for
    default = stratified_cross_validation(ids, labels, n_folds=5, validation_fraction=0.1, seed=3)
    assert default != splits


def test_grouped_protocol_on_an_index(tmp_path):
    tracks = [Track(f"t{i:02d}", tmp_path / f"t{i:02d}.wav", label="ab"[i % 2]) for i in range(40)]
    index = DatasetIndex("toy", tmp_path, ("a", "b"), tracks)
    groups = [("t00", "t02", "t04"), ("t01", "t03")]
    protocol = CrossValidation(n_folds=5, validation_fraction=0.1, seed=0).keeping_together(groups)
    assert isinstance(protocol, GroupedCrossValidation) and protocol.n_folds == 5
    check_grouped(protocol.make_splits(index), [t.track_id for t in tracks], groups, 5)
    described = protocol.describe()
    assert described["protocol"] == "stratified_group_cross_validation"
    assert described["groups_kept_together"]["groups"] == 2 and described["groups_kept_together"]["tracks"] == 5
    # another grouping is another protocol (its saved splits are not reused); the order of the groups does not matter
    other = CrossValidation(n_folds=5, validation_fraction=0.1, seed=0).keeping_together([("t00", "t02")])
    assert other.describe() != described
    same = CrossValidation(n_folds=5, validation_fraction=0.1, seed=0).keeping_together([("t03", "t01"),
                                                                                          ("t04", "t00", "t02")])
    assert same.describe() == described


def test_too_few_distinct_recordings_per_class():
    ids, labels = dataset(per_class=4, classes=("a", "b"))
    groups = [("a.00000", "a.00001"), ("a.00002", "a.00003")]  # class a: two recordings, four ids
    keys = GroupedCrossValidation(CrossValidation(), groups).group_keys(ids)
    with pytest.raises(DatasetError, match=r"\{'a': 2\}"):
        stratified_group_cross_validation(ids, labels, keys, n_folds=3, validation_fraction=0.0, class_names=("a", "b"))
