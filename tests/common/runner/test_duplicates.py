"""Identical audio under several track ids: reported per group and per fold; the group-aware split variant."""

import filecmp
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from common.datasets import gtzan
from common.errors import ConfigError
from common.evaluation.splits import CrossValidation, PredefinedSplit, Split
from common.runner import run_table
from common.runner.duplicates import identical_audio_groups, straddling
from common.runner.identity import ContentHashes
from common.runner.layout import RunCaps, RunLayout
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

#: copies made under new ids: (source, copy) in the GTZAN tree
COPIES = [("rock/rock.00000.wav", "rock/rock.00100.wav"), ("rock/rock.00000.wav", "rock/rock.00101.wav"),
          ("blues/blues.00001.wav", "blues/blues.00100.wav"), ("jazz/jazz.00002.wav", "jazz/jazz.00100.wav")]
GROUPS = [["blues.00001", "blues.00100"], ["jazz.00002", "jazz.00100"], ["rock.00000", "rock.00100", "rock.00101"]]


def tree_with_copies(root: Path) -> Path:
    data = tiny_gtzan(root)
    for source, copy in COPIES:
        shutil.copyfile(data / "genres" / source, data / "genres" / copy)
    return data


def saved_splits(results: Path, under: str = "table_toy") -> list[dict]:
    [path] = (results / "toy" / under / "splits").glob("*.json")
    return json.loads(path.read_text())["folds"]


def copies_by_comparison(data: Path) -> dict[str, set[str]]:
    """track id -> ids of the other tracks whose files are byte-identical (compared directly, not hashed)."""
    files = {p.stem: p for p in (data / "genres").rglob("*.wav")}
    return {a: {b for b, q in files.items() if b != a and filecmp.cmp(p, q, shallow=False)} for a, p in files.items()}


def test_copies_are_reported_with_the_straddle_count_of_every_fold(tmp_path, capsys):
    data = tree_with_copies(tmp_path / "data")
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work",
              progress=False)
    out = capsys.readouterr().out
    manifest = json.loads((tmp_path / "results/toy/table_toy_manifest.json").read_text())  # canonical: kept by default
    duplicates = manifest["duplicate_audio"]
    assert [[m["track_id"] for m in group] for group in duplicates["groups"]] == GROUPS
    assert duplicates["n_groups"] == 3 and duplicates["n_tracks"] == 7 and duplicates["group_aware_split"] is False
    for group in duplicates["groups"]:
        for member in group:
            genre = member["track_id"].split(".")[0]
            assert Path(member["path"]).samefile(data / "genres" / genre / f"{member['track_id']}.wav")
            assert f"{member['track_id']} ({member['path']})" in out  # every group on the console, with paths
    assert "3 group(s) of byte-identical files, 7 tracks" in out

    # the per-fold counts, recomputed from the saved splits by comparing the files themselves
    copies = copies_by_comparison(data)
    expected = []
    for fold in saved_splits(tmp_path / "results"):
        train, validation = set(fold["train"]), set(fold["validation"])
        expected.append({"fold": fold["fold"],
                         "test_with_copy_in_training": sum(bool(copies[i] & train) for i in fold["test"]),
                         "test_with_copy_in_validation": sum(bool(copies[i] & validation) for i in fold["test"]),
                         "validation_with_copy_in_training": sum(bool(copies[i] & train) for i in fold["validation"])})
    found = [{k: v for k, v in row.items() if k != "groups_straddling"} for row in duplicates["per_fold"]]
    assert found == expected
    assert sum(row["test_with_copy_in_training"] for row in expected) > 0  # the papers' protocol leaks here
    for row in expected:
        assert (f"fold {row['fold'] + 1}/3: {row['test_with_copy_in_training']} test track(s) with a copy in training, "
                f"{row['test_with_copy_in_validation']} in validation") in out


@pytest.mark.parametrize("copies", [False, True])
def test_the_default_split_does_not_move(tmp_path, copies):
    data = tree_with_copies(tmp_path / "data") if copies else tiny_gtzan(tmp_path / "data")
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work",
              progress=False)
    protocol = CrossValidation(n_folds=3, validation_fraction=0.25, seed=0)
    made = protocol.make_splits(gtzan.index(data))  # the protocol alone, which knows nothing of copies
    assert [(f["train"], f["validation"], f["test"]) for f in saved_splits(tmp_path / "results")] == \
        [(list(s.train), list(s.validation), list(s.test)) for s in made]
    manifest = json.loads((tmp_path / "results/toy/table_toy_manifest.json").read_text())
    assert manifest["protocol"] == protocol.describe() and manifest["status"] == "complete"
    assert manifest["duplicate_audio"]["n_groups"] == (3 if copies else 0)
    table = pd.read_csv(tmp_path / "results/toy/table_toy.csv").set_index("scheme")
    assert "group-aware" not in table.loc["majority", "status"]  # "reproduced" but for the tiny dataset


def test_group_aware_split_is_a_variant_that_never_touches_the_canonical_table(tmp_path, capsys):
    data = tree_with_copies(tmp_path / "data")
    results, work = tmp_path / "results", tmp_path / "work"
    run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, progress=False)
    canonical = {p: p.read_bytes() for p in (results / "toy").glob("table_toy*") if p.is_file()}
    default_records = {p.name for p in (results / "toy/table_toy/folds").rglob("*.json")}
    capsys.readouterr()

    grouped = MajorityScheme()
    run_table(toy_spec(grouped), data, results_dir=results, work_dir=work, progress=False, group_duplicates=True)
    out = capsys.readouterr().out
    assert grouped.calls == [0, 1, 2]  # its own identities: nothing of the default run is reused
    assert {p: p.read_bytes() for p in (results / "toy").glob("table_toy*") if p.is_file()} == canonical
    assert {p.name for p in (results / "toy/table_toy/folds").rglob("*.json")} == default_records
    variant = results / "toy/partial/table_toy/group-aware-split"
    table = pd.read_csv(variant / "table_toy.csv").set_index("scheme")
    assert table.loc["majority", "status"].endswith("variant: group-aware split")
    manifest = json.loads((variant / "table_toy_manifest.json").read_text())
    assert manifest["caps"]["description"] == "group-aware split" and manifest["caps"]["capped"]
    assert manifest["protocol"]["protocol"] == "stratified_group_cross_validation"
    assert manifest["duplicate_audio"]["group_aware_split"] is True
    assert all(row["groups_straddling"] == 0 and row["test_with_copy_in_training"] == 0
               for row in manifest["duplicate_audio"]["per_fold"])
    assert "group-aware split: each group stays within one part of every fold" in out
    folds = saved_splits(results, "partial/table_toy")
    assert sorted(i for f in folds for i in f["test"]) == sorted(t.track_id for t in gtzan.index(data).tracks)
    for fold in folds:
        for group in GROUPS:
            assert sum(bool(set(group) & set(fold[part])) for part in ("train", "validation", "test")) == 1
    assert set(manifest["records"].values()).isdisjoint({name.removesuffix(".json") for name in default_records})

    again = MajorityScheme()
    run_table(toy_spec(again), data, results_dir=results, work_dir=work, progress=False, group_duplicates=True)
    assert again.calls == []  # the variant's records are reused by the same variant


def test_group_aware_split_is_refused_for_a_predefined_split(tmp_path):
    spec = toy_spec(MajorityScheme(), protocol=PredefinedSplit())
    with pytest.raises(ConfigError, match="group-duplicates"):
        run_table(spec, tmp_path / "nowhere", results_dir=tmp_path / "results", work_dir=tmp_path / "work",
                  progress=False, group_duplicates=True)


def test_groups_and_straddles_from_the_content_hashes(tmp_path):
    data = tree_with_copies(tmp_path / "data")
    index = gtzan.index(data)
    hashes = ContentHashes(tmp_path / "cache")
    groups = identical_audio_groups(index.tracks, hashes.of)
    assert [[t.track_id for t in g] for g in groups] == GROUPS
    leaky = Split(fold=0, train=("classical.00000", "jazz.00002", "jazz.00100", "rock.00100"),
                  validation=("blues.00100",), test=("blues.00001", "pop.00000", "rock.00000", "rock.00101"))
    [row] = straddling([leaky], groups)
    assert row == {"fold": 0, "test_with_copy_in_training": 2, "test_with_copy_in_validation": 1,
                   "validation_with_copy_in_training": 0, "groups_straddling": 2}


def test_caps_of_a_group_aware_run():
    caps = RunCaps(folds_run=10, folds_in_protocol=10, group_duplicates=True)
    assert caps.capped and caps.variant == "group-aware split" and caps.label() == "group-aware-split"
    assert caps.describe() == "group-aware split" and caps.as_dict()["group_duplicates"] is True
    quick = RunCaps(folds_run=1, folds_in_protocol=10, epochs=1, schemes=("R0",), group_duplicates=True)
    assert quick.label() == "folds-1of10_epochs-1_schemes-R0_group-aware-split"
    layout = RunLayout(Path("r"), Path("w"), "p", "t", caps)
    assert layout.records_root == Path("r/p/partial/t")
    plain = RunCaps(folds_run=10, folds_in_protocol=10)
    assert not plain.capped and plain.label() == "full-protocol-unfinished"
    assert "group_duplicates" not in plain.as_dict()
    assert RunLayout(Path("r"), Path("w"), "p", "t", plain).records_root == Path("r/p/t")


def test_make_passes_group_duplicates():
    root = Path(__file__).resolve().parents[3]
    def dry(*variables):
        return subprocess.run(["make", "-n", "-s", "table3-gtzan", "VENV=.venv", *variables], cwd=root,
                              capture_output=True, text=True, check=True).stdout
    assert "--group-duplicates" in dry("GROUP_DUPLICATES=1")
    assert "--group-duplicates" not in dry()
