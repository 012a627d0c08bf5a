"""GTZAN's fault-filtered split: the shipped lists (checksums, counts, disjointness) and the one-fold protocol."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from common.datasets.base import DatasetIndex, Track
from common.datasets.gtzan import GENRES
from common.errors import DatasetError
from common.evaluation import gtzan_fault_filtered as ff

REPO = Path(__file__).resolve().parents[3]
LISTS = REPO / "common" / "datasets" / "gtzan_fault_filtered"

#: SHA-256 of the files as published (coreyker/dnn-mgr, gtzan/*_filtered.txt at bdad579e), typed in here from
#: the source, not read from the module under test.
PUBLISHED = {"train_filtered.txt": ("2b04966cef1486f1a7767b74271533fa23e220388db804a1937835e1fc4fa3fa", 443),
             "valid_filtered.txt": ("f8fbee7c52397a0e0f3a91dc54fedecb2e27f5bdc9a9daeab8cb10d077e26956", 197),
             "test_filtered.txt": ("09cafa6a89ce0a27f30ed250d56ecb4d03c22fffb5a693f96c7ae655ee02ac72", 290)}


def test_the_shipped_lists_are_the_published_ones():
    lines = {}
    for name, (sha256, count) in PUBLISHED.items():
        payload = (LISTS / name).read_bytes()
        assert hashlib.sha256(payload).hexdigest() == sha256, name
        lines[name] = payload.decode().splitlines()
        assert len(lines[name]) == count and len(set(lines[name])) == count, name
    assert all(not set(lines[a]) & set(lines[b]) for a in lines for b in lines if a < b)  # disjoint
    assert sum(len(v) for v in lines.values()) == 930
    assert {ff.LIST_FILES[p]: ff.SHA256[p] for p in ff.PARTS} == {n: s for n, (s, _) in PUBLISHED.items()}
    readme = (LISTS / "README.md").read_text()
    assert all(sha256 in readme for sha256, _ in PUBLISHED.values()) and ff.SOURCE_COMMIT in readme


def test_read_lists_gives_track_ids_of_every_part():
    lists = ff.read_lists()
    assert {p: len(ids) for p, ids in lists.items()} == {"train": 443, "validation": 197, "test": 290}
    assert lists["train"][0] == "blues.00029"  # blues/blues.00029.wav
    assert all(i.split(".")[0] in GENRES for ids in lists.values() for i in ids)


def test_an_altered_list_is_refused_naming_the_file(tmp_path):
    for name in PUBLISHED:
        shutil.copy(LISTS / name, tmp_path / name)
    path = tmp_path / "valid_filtered.txt"
    path.write_text(path.read_text().replace("blues/blues.", "jazz/jazz.", 1))
    with pytest.raises(DatasetError, match=r"valid_filtered\.txt has SHA-256 .* not the published"):
        ff.read_lists(tmp_path)
    (tmp_path / "test_filtered.txt").unlink()
    with pytest.raises(DatasetError, match="test_filtered.txt"):
        ff.read_lists(tmp_path, checksums={p: hashlib.sha256((tmp_path / ff.LIST_FILES[p]).read_bytes()).hexdigest()
                                           for p in ("train", "validation")} | {"test": ""})


def test_malformed_or_overlapping_lists_are_refused(tmp_path):
    def write(parts):
        for part, text in parts.items():
            (tmp_path / ff.LIST_FILES[part]).write_text(text)
        return {p: hashlib.sha256((tmp_path / ff.LIST_FILES[p]).read_bytes()).hexdigest() for p in ff.PARTS}

    sums = write({"train": "blues/blues.00001.wav\n", "validation": "rock/rock.00001.au\n", "test": "pop/pop.00001.wav\n"})
    with pytest.raises(DatasetError, match="line 1: 'rock/rock.00001.au' is not"):
        ff.read_lists(tmp_path, sums)
    sums = write({"train": "blues/blues.00001.wav\n", "validation": "rock/rock.00001.wav\n",
                  "test": "blues/blues.00001.wav\n"})
    with pytest.raises(DatasetError, match="train and test lists .* share"):
        ff.read_lists(tmp_path, sums)


def stand_in(ids, root="/nowhere/genres") -> DatasetIndex:
    """A GTZAN-layout index of ``ids`` (``genre.000NN``); the files need not exist."""
    return DatasetIndex(name="gtzan", root=Path(root), classes=GENRES,
                        tracks=[Track(i, Path(root) / i.split(".")[0] / f"{i}.wav", i.split(".")[0]) for i in sorted(ids)])


def test_the_split_uses_exactly_the_listed_ids_present():
    lists = ff.read_lists()
    chosen = {part: ids[::7] for part, ids in lists.items()}  # every 7th listed id of each part
    unlisted = ["classical.00042", "country.00008", "hiphop.00001"]  # in none of the lists (removed by the filter)
    assert not set(unlisted) & {i for ids in lists.values() for i in ids}
    index = stand_in([*chosen["train"], *chosen["validation"], *chosen["test"], *unlisted])
    [split] = ff.FaultFilteredSplit().make_splits(index)
    assert split.fold == 0
    assert (split.train, split.validation, split.test) == tuple(tuple(sorted(chosen[p])) for p in ff.PARTS)
    report = ff.FaultFilteredSplit().filter_report(index)
    assert report["removed_by_filter"] == unlisted and report["n_removed_by_filter"] == 3
    assert {p: v["present"] for p, v in report["parts"].items()} == {p: len(ids) for p, ids in chosen.items()}
    assert {p: v["listed"] for p, v in report["parts"].items()} == {"train": 443, "validation": 197, "test": 290}
    assert report["individual_faults"].startswith("not reported: no public list")
    assert ff.FaultFilteredSplit().n_folds == 1
    assert ff.FaultFilteredSplit().describe()["protocol"] == "gtzan_fault_filtered_split"


def test_a_subset_like_gtzan_mini_keeps_its_listed_ids_and_notes_classes_without_training():
    index = stand_in(f"{genre}.{n:05d}" for genre in GENRES for n in range(10))  # gtzan-mini's ids
    [split] = ff.FaultFilteredSplit().make_splits(index)
    lists = ff.read_lists()
    for part, ids in zip(ff.PARTS, (split.train, split.validation, split.test)):
        assert set(ids) == {i for i in lists[part] if int(i.split(".")[1]) < 10}
    report = ff.FaultFilteredSplit().filter_report(index)
    assert report["n_removed_by_filter"] == 100 - len(split.train) - len(split.validation) - len(split.test)
    # blues, classical and country have listed ids 00000-00009 in validation only
    assert report["classes_without_training"] == ["blues", "classical", "country"]
    assert any("blues, classical, country" in line for line in ff.report_lines(report))


def test_an_empty_part_or_a_tested_class_without_training_is_refused():
    lists = ff.read_lists()
    with pytest.raises(DatasetError, match="test part.* would be empty: listed ids present: train 2/443"):
        ff.FaultFilteredSplit().make_splits(stand_in([*lists["train"][:2], *lists["validation"][:2]]))
    with pytest.raises(DatasetError, match="train and validation and test part"):
        ff.FaultFilteredSplit().make_splits(stand_in(["blues.10000", "rock.10001"]))  # not GTZAN's ids
    rock_test = [i for i in lists["test"] if i.startswith("rock.")][:1]
    blues = [i for part in ("train", "validation") for i in lists[part] if i.startswith("blues.")][:4]
    with pytest.raises(DatasetError, match="class\\(es\\) rock have test tracks but no training track"):
        ff.FaultFilteredSplit().make_splits(stand_in([*blues, *rock_test,
                                                      *[i for i in lists["validation"] if i.startswith("blues.")][:1]]))
