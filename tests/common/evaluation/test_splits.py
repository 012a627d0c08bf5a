import numpy as np
import pytest

from common.datasets.base import DatasetIndex, Track
from common.errors import DatasetError
from common.evaluation.splits import CrossValidation, PredefinedSplit, load_splits, save_splits, stratified_cross_validation


def dataset(per_class=10, classes=("a", "b", "c", "d")):
    ids = [f"{c}.{i:03d}" for c in classes for i in range(per_class)]
    labels = np.repeat(np.arange(len(classes)), per_class)
    return ids, labels


def test_ten_folds_80_10_10_partition_and_stratification():
    ids, labels = dataset(per_class=20)
    splits = stratified_cross_validation(ids, labels, n_folds=10, validation_fraction=0.1, seed=3)
    assert len(splits) == 10
    all_test = [i for s in splits for i in s.test]
    assert sorted(all_test) == sorted(ids)  # the test sets partition the data
    label_of = dict(zip(ids, labels))
    for split in splits:
        parts = [set(split.train), set(split.validation), set(split.test)]
        assert sum(map(len, parts)) == len(ids) and not (parts[0] & parts[1] or parts[0] & parts[2]
                                                         or parts[1] & parts[2])
        assert len(split.test) == 8 and len(split.validation) == 8 and len(split.train) == 64
        for part in (split.test, split.validation):
            counts = np.bincount([label_of[i] for i in part], minlength=4)
            assert counts.tolist() == [2, 2, 2, 2]


def test_seeded_and_repeatable():
    ids, labels = dataset()
    a = stratified_cross_validation(ids, labels, seed=1)
    assert a == stratified_cross_validation(ids, labels, seed=1)
    assert a != stratified_cross_validation(ids, labels, seed=2)


def test_class_too_small_to_stratify_is_named():
    ids, labels = dataset(per_class=10)
    ids, labels = ids[:-2], labels[:-2]  # class "d" keeps 8 tracks
    with pytest.raises(DatasetError, match=r"\{'d': 8\}"):
        stratified_cross_validation(ids, labels, n_folds=10, class_names=("a", "b", "c", "d"))


def test_saved_splits_round_trip(tmp_path):
    ids, labels = dataset()
    splits = stratified_cross_validation(ids, labels)
    save_splits(tmp_path / "s.json", splits, CrossValidation().describe())
    loaded, protocol = load_splits(tmp_path / "s.json")
    assert loaded == splits and protocol == CrossValidation().describe()


def test_cross_validation_protocol_and_predefined_split(tmp_path):
    tracks = [Track(f"t{i}", tmp_path / f"t{i}.wav", label="ab"[i % 2],
                    subset=["train", "train", "validation", "test"][i % 4]) for i in range(40)]
    index = DatasetIndex("toy", tmp_path, ("a", "b"), tracks)
    assert len(CrossValidation(n_folds=5).make_splits(index)) == 5
    [split] = PredefinedSplit().make_splits(index)
    assert len(split.train) == 20 and len(split.validation) == 10 and len(split.test) == 10
    with pytest.raises(DatasetError):
        PredefinedSplit(test=("evaluation",)).make_splits(index)


def test_validation_split_too_small_for_the_classes():
    ids, labels = dataset(per_class=5, classes=tuple("abcdefghij"))
    with pytest.raises(DatasetError, match="fewer than the 10 classes"):
        stratified_cross_validation(ids, labels, n_folds=5, validation_fraction=0.1)


# --- splits read back from disk are checked completely ----------------------------------------------------

def test_split_problems_accepts_the_protocol_own_splits_and_names_each_defect():
    from dataclasses import replace

    from common.evaluation.splits import split_problems

    ids, labels = dataset(per_class=10)
    splits = stratified_cross_validation(ids, labels, n_folds=5, validation_fraction=0.1, seed=0)
    assert split_problems(splits, ids, 5) == []
    leak = [replace(splits[0], train=splits[0].train + splits[0].test), *splits[1:]]
    assert any("both in train and test" in p for p in split_problems(leak, ids, 5))
    assert any("0 fold(s) where the protocol has 5" in p for p in split_problems([], ids, 5))
    assert any("4 fold(s)" in p for p in split_problems(splits[:4], ids, 5))
    assert any("in no test fold" in p for p in split_problems([*splits[:4], replace(splits[4], test=())], ids, 5))
    unknown = [replace(splits[0], train=splits[0].train + ("zz.999",)), *splits[1:]]
    assert any("not in the dataset (zz.999)" in p for p in split_problems(unknown, ids, 5))
    twice = [splits[0], replace(splits[1], test=splits[1].test + splits[0].test[:1]), *splits[2:]]
    assert any("more than one test fold" in p for p in split_problems(twice, ids, 5))
    renumbered = [replace(s, fold=s.fold + 1) for s in splits]
    assert any("not 0..4" in p for p in split_problems(renumbered, ids, 5))
    # a single predefined fold need not test every track
    one = [replace(splits[0], validation=())]
    assert split_problems(one, ids, 1) == []


@pytest.mark.parametrize("payload, problem", [
    ({"folds": []}, "no 'protocol' key"),
    ({"protocol": {"protocol": "x"}}, "no 'folds' key"),
    ([1, 2], "not an object"),
    ({"protocol": {}, "folds": [{"fold": 0, "train": "abc", "validation": [], "test": ["a"]}]}, "track-id strings"),
])
def test_load_splits_refuses_a_malformed_file_with_a_value_error(tmp_path, payload, problem):
    import json

    path = tmp_path / "s.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=f"{path}: not a splits file.*{problem}"):
        load_splits(path)
