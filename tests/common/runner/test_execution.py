"""Runner protocol: resume after interruption, recorded skips, outputs. Uses a toy scheme (no training)."""

import json

import numpy as np
import pandas as pd
import pytest

from common.datasets import gtzan
from common.runner import run_table
from tests.audio_fixtures import write_audio, write_corrupt
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

def test_outputs_and_resume_after_interruption(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    failing = MajorityScheme(fail_on_fold=1)
    with pytest.raises(KeyboardInterrupt):
        run_table(toy_spec(failing), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work",
                  progress=False)
    assert not (tmp_path / "results/toy/table_toy_manifest.json").exists()  # canonical only when complete
    unfinished = tmp_path / "results/toy/partial/table_toy/full-protocol-unfinished"
    manifest = json.loads((unfinished / "table_toy_manifest.json").read_text())
    assert manifest["status"] == "interrupted" and failing.calls == [0]
    progress = pd.read_csv(unfinished / "table_toy.csv")
    assert progress.loc[progress["scheme"] == "majority", "status"].item() == "subset: 40/1000 tracks, partial: 1/3 folds"

    resumed = MajorityScheme()
    run_table(toy_spec(resumed), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work",
                      progress=False)
    assert resumed.calls == [1, 2]  # fold 0 was finished before the interruption: not redone
    canonical_manifest = tmp_path / "results/toy/table_toy_manifest.json"
    trained = canonical_manifest.read_bytes()
    again = MajorityScheme()
    run_table(toy_spec(again), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work", progress=False)
    assert again.calls == []
    # a run that computed nothing keeps the manifest of the run that trained the records
    assert canonical_manifest.read_bytes() == trained

    out = tmp_path / "results" / "toy"
    table = pd.read_csv(out / "table_toy.csv")
    assert table["scheme"].tolist() == ["[ref]", "majority"]
    ref, ours = table.iloc[0], table.iloc[1]
    assert ref["status"] == "paper-only" and np.isnan(ref["our_mean"]) and ref["paper_mean"] == 50.0
    # every fold, no cap, but 40 of GTZAN's 1000 published tracks
    assert ours["status"] == "subset: 40/1000 tracks" and ours["folds_run"] == 3 and ours["n_tracks"] == 40
    folds = pd.read_csv(out / "table_toy_folds.csv")
    assert ours["our_mean"] == pytest.approx(folds["accuracy"].mean(), abs=1e-3)
    assert ours["difference"] == pytest.approx(ours["our_mean"] - 10.0, abs=1e-3)
    assert (out / "table_toy.png").stat().st_size > 1000
    manifest = json.loads((out / "table_toy_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["dataset"]["n_tracks"] == 40
    assert {"tensorflow", "numpy", "librosa"} <= set(manifest["versions"])
    assert "cpu_count" in manifest["hardware"] and manifest["wall_seconds"] > 0
    assert len(list((out / "table_toy" / "splits").glob("*.json"))) == 1
    assert manifest["caps"]["description"] == "full protocol" and len(manifest["records"]) == 3
    from common.runner.identity import code_version
    assert manifest["code_version"] == code_version("toy", datasets=("common.datasets.gtzan",))  # the table's loader only
    assert not unfinished.exists()  # the unfinished run's partial table is gone once the table is complete


def test_changed_settings_rerun_the_folds(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
              folds=1, progress=False)
    capped = MajorityScheme()
    run_table(toy_spec(capped), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", folds=1, epochs=3,
              progress=False)
    assert capped.calls == [0]  # a different epoch cap is a different experiment


def test_unusable_tracks_are_skipped_and_recorded(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    write_corrupt(data / "genres" / "rock" / "rock.00010.wav")
    write_audio(data / "genres" / "pop" / "pop.00011.wav", seconds=0.1, sample_rate=8000)  # < one chunk
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", folds=1,
              progress=False)
    manifest = json.loads((tmp_path / "r/toy/partial/table_toy/folds-1of3/table_toy_manifest.json").read_text())
    assert manifest["status"] == "partial"
    assert "too short for one chunk" in manifest["skipped_tracks"]["pop.00011"]
    problems = manifest["dataset"]["problems"]
    assert any(path.endswith("rock.00010.wav") and "cannot read" in why for path, why in problems.items())
    assert manifest["dataset"]["n_tracks"] == 40


def test_class_too_small_and_missing_dataset_give_clear_cli_errors(tmp_path, capsys, monkeypatch):
    from common import cli

    data = tiny_gtzan(tmp_path / "data", per_genre=3, seconds=2.0)
    for path in (data / "genres" / "jazz").iterdir():
        if not path.name.endswith("00000.wav"):
            path.unlink()
    code = cli.main(["run", "mcclstm.table3_gtzan", "--data-dir", str(data), "--results-dir",
                     str(tmp_path / "r"), "--work-dir", str(tmp_path / "w"), "--no-progress", "--folds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "too few tracks" in err and "'jazz': 1" in err
    code = cli.main(["run", "mcclstm.table3_gtzan", "--data-dir", str(tmp_path / "absent"), "--results-dir",
                     str(tmp_path / "r"), "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and "GTZAN not found" in err and "GTZAN_DIR" in err
    assert "Traceback" not in err


def test_features_beyond_the_memory_budget_are_read_back_from_the_cache(tmp_path, monkeypatch):
    from common.runner import prepare_features

    data = tiny_gtzan(tmp_path / "data")
    spec = toy_spec(MajorityScheme())
    index = gtzan.index(data)
    monkeypatch.setenv("REPRO_FEATURE_MEMORY_GB", "0")
    _, lazy, _, _ = prepare_features(spec, index, tmp_path / "cache", progress=False)
    monkeypatch.setenv("REPRO_FEATURE_MEMORY_GB", "4")
    _, held, _, _ = prepare_features(spec, index, tmp_path / "cache", progress=False)
    assert not lazy.all_in_memory and held.all_in_memory and len(lazy) == len(held) == 40
    for track_id in held:
        np.testing.assert_array_equal(lazy[track_id], held[track_id])


def test_a_missing_dataset_names_how_to_get_it_and_a_failed_download_leaves_nothing(tmp_path, capsys, monkeypatch):
    from common import cli
    from common.datasets import gtzan as gtzan_module
    from common.errors import DatasetError

    code = cli.main(["run", "mcclstm.table3_gtzan", "--data-dir", str(tmp_path / "absent"), "--results-dir",
                     str(tmp_path / "r"), "--work-dir", str(tmp_path / "w")])
    assert code == 2 and "make download-gtzan" in capsys.readouterr().err

    def unreachable(destination):
        (tmp_path / "data" / "gtzan").mkdir(parents=True, exist_ok=True)
        raise DatasetError("GTZAN download failed: no mirror reachable")

    monkeypatch.setattr(gtzan_module, "download", unreachable)
    code = cli.main(["download", "gtzan", "--dest", str(tmp_path / "data" / "gtzan")])
    assert code == 2 and "download failed" in capsys.readouterr().err
    assert not (tmp_path / "data" / "gtzan").exists()  # the next run says "not found", not "layout not recognised"


@pytest.mark.parametrize("tamper, problem", [
    (lambda p: {**p, "folds": []}, "0 fold"),
    (lambda p: {**p, "folds": [{**p["folds"][0], "train": p["folds"][0]["train"] + p["folds"][0]["test"]},
                               *p["folds"][1:]]}, "both in train and test"),
    (lambda p: {"folds": p["folds"]}, "no 'protocol' key"),
])
def test_a_bad_splits_file_is_reported_remade_and_never_used(tmp_path, tamper, problem):
    data = tiny_gtzan(tmp_path / "data")
    results, work = tmp_path / "results", tmp_path / "work"
    run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, progress=False, folds=1)
    [splits_file] = (results / "toy/table_toy/splits").glob("*.json")
    original = splits_file.read_bytes()
    records = sorted(p.name for p in (results / "toy/table_toy/folds").rglob("*.json"))
    splits_file.write_text(json.dumps(tamper(json.loads(original))))

    again = MajorityScheme()
    with pytest.warns(UserWarning, match=rf"splits file {splits_file} is not usable: .*{problem}.*made again"):
        frame = run_table(toy_spec(again), data, results_dir=results, work_dir=work, progress=False, folds=1)
    assert splits_file.read_bytes() == original  # made again: the protocol's own splits
    assert again.calls == []  # the fold record of the true split is reused; nothing trained on a leaky split
    assert sorted(p.name for p in (results / "toy/table_toy/folds").rglob("*.json")) == records
    assert frame.set_index("scheme").loc["majority", "status"].endswith("partial: 1/3 folds")


def test_status_is_reproduced_only_on_the_whole_published_dataset(tmp_path, monkeypatch):
    """With GTZAN's published counts set to the tree's 4 per genre, the same run is a reproduction."""
    data = tiny_gtzan(tmp_path / "data")
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "sub", work_dir=tmp_path / "w", folds=1,
              progress=False)
    capped = pd.read_csv(tmp_path / "sub/toy/partial/table_toy/folds-1of3/table_toy.csv").set_index("scheme")
    assert capped.loc["majority", "status"] == "subset: 40/1000 tracks, partial: 1/3 folds"

    monkeypatch.setattr(gtzan, "EXPECTED_COUNTS", {genre: 4 for genre in gtzan.GENRES})
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "full", work_dir=tmp_path / "w",
              progress=False)
    table = pd.read_csv(tmp_path / "full/toy/table_toy.csv").set_index("scheme")
    assert table.loc["majority", "status"] == "reproduced"
    assert table.loc["majority", "test"] == "Welch t-test, 3 vs 3 folds"
    manifest = json.loads((tmp_path / "full/toy/table_toy_manifest.json").read_text())
    assert manifest["dataset"]["coverage"]["full_published_dataset"] is True
    assert manifest["dataset"]["path_as_given"] == str(data)
    assert manifest["comparison"]["verdict"]["cells_compared"] == 1

    # one genre short of its published count: a subset, even though the protocol ran in full
    (data / "genres" / "rock" / "rock.00003.wav").unlink()
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "short", work_dir=tmp_path / "w",
              progress=False)
    table = pd.read_csv(tmp_path / "short/toy/table_toy.csv").set_index("scheme")  # still the canonical files
    assert table.loc["majority", "status"] == "subset: 39/40 tracks"


def test_a_kept_manifest_gains_the_dataset_status_and_verdict(tmp_path):
    """A collect over the records of an older run keeps its provenance but states the subset and verdict."""
    data = tiny_gtzan(tmp_path / "data")
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", progress=False)
    path = tmp_path / "r/toy/table_toy_manifest.json"
    old = json.loads(path.read_text())
    del old["comparison"], old["dataset"]["coverage"]
    path.write_text(json.dumps(old))
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", progress=False,
              collect_only=True)
    kept = json.loads(path.read_text())
    assert kept["started"] == old["started"] and kept["mode"] == old["mode"]
    assert kept["dataset"]["coverage"]["description"] == "subset: 40/1000 tracks"
    assert kept["comparison"]["dataset"] == "subset: 40/1000 tracks"


@pytest.mark.e2e
def test_a_full_size_generated_gtzan_is_reproduced(tmp_path):
    """1000 generated clips of 0.17 s, 100 per genre: GTZAN's published size (about 30 s on 2 cores)."""
    data = tiny_gtzan(tmp_path / "data", per_genre=100, seconds=0.17)
    table = run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
                      progress=False).set_index("scheme")
    assert table.loc["majority", "status"] == "reproduced" and table.loc["majority", "n_tracks"] == 1000
    (data / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"")  # a broken file: one track short
    table = run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r2", work_dir=tmp_path / "w",
                      progress=False).set_index("scheme")
    assert table.loc["majority", "status"] == "subset: 999/1000 tracks"
