"""Results integrity: run identity, canonical vs capped results, one writer, clean failures.

Each test reproduces a defect found by deliberately breaking runs (quick runs overwriting full
results, stale folds after an audio change, two runs at once, kill -9, read-only and full disks,
leftovers) and checks the behaviour that replaced it. Processes are real where the defect needs
them (kill -9, concurrent runs, read-only and full file systems).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from common import cli
from common.errors import ConfigError, DatasetError
from common.runner import Scheme, run_table
from common.evaluation.splits import Split
from tests.audio_fixtures import write_audio
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

REPO = Path(__file__).resolve().parents[3]
CANONICAL = ("table_toy.csv", "table_toy_folds.csv", "table_toy.png", "table_toy_manifest.json")


def tree_digest(folder: Path) -> dict:
    """``{relative path: sha256}`` of every file below ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run(spec, data, tmp_path, **kwargs):
    return run_table(spec, data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", progress=False, **kwargs)


def records_of(results: Path, scheme="majority") -> dict:
    """``{fold: (metrics, details)}`` of every stored record of a scheme (timings left out)."""
    out = {}
    for path in sorted((results / "toy" / "table_toy" / "folds" / scheme).rglob("*.json")):
        record = json.loads(path.read_text())
        out[record["fold"]] = (record["metrics"], record["details"], record["identity"])
    return out


# --- 1. capped runs never touch canonical results ----------------------------------------------------------

def test_quick_run_leaves_the_full_results_byte_identical(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme()), data, tmp_path)
    paper_dir = tmp_path / "r" / "toy"
    before = {name: (paper_dir / name).read_bytes() for name in CANONICAL}
    records_before = tree_digest(paper_dir / "table_toy")

    quick = MajorityScheme()
    frame = run(toy_spec(quick), data, tmp_path, folds=2, epochs=2)
    assert quick.calls == [0, 1]  # an epoch cap is another identity: trained again, not reused
    assert {name: (paper_dir / name).read_bytes() for name in CANONICAL} == before
    assert tree_digest(paper_dir / "table_toy") == records_before

    partial = paper_dir / "partial" / "table_toy" / "folds-2of3_epochs-2"
    table = pd.read_csv(partial / "table_toy.csv").set_index("scheme")
    assert table.loc["majority", "status"] == "subset: 40/1000 tracks, partial: 2/3 folds, epochs <= 2"
    assert table.loc["majority", "folds_run"] == 2 and frame.shape == table.reset_index().shape
    manifest = json.loads((partial / "table_toy_manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["caps"]["epochs"] == 2
    assert manifest["caps"]["description"] == "2/3 folds, epochs <= 2"


def test_fewer_folds_reuse_full_records_and_subset_tables_show_every_matching_scheme(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    first, second = MajorityScheme(), MajorityScheme()
    spec = toy_spec(first, extra_schemes=(Scheme("second", second, "majority again", config={"v": 1}),))
    run(spec, data, tmp_path)
    assert first.calls == [0, 1, 2] and second.calls == [0, 1, 2]
    canonical = (tmp_path / "r" / "toy" / "table_toy.csv").read_bytes()

    again = MajorityScheme()
    spec = toy_spec(again, extra_schemes=(Scheme("second", MajorityScheme(), "majority again", config={"v": 1}),))
    run(spec, data, tmp_path, schemes=["majority"], folds=2)
    assert again.calls == []  # no epoch cap: the full run's records are this run's units too
    table = pd.read_csv(tmp_path / "r/toy/partial/table_toy/folds-2of3_schemes-majority/table_toy.csv")
    table = table.set_index("scheme")
    assert table.loc["second", "status"].endswith("partial: 2/3 folds")  # not run here, but its records match
    assert table.loc["majority", "folds_run"] == 2
    assert (tmp_path / "r" / "toy" / "table_toy.csv").read_bytes() == canonical


def test_changed_scheme_settings_keep_old_records_beside_new_ones(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme()), data, tmp_path, folds=1)
    spec = toy_spec(MajorityScheme())
    changed = type(spec)(**{**spec.__dict__, "schemes": (spec.schemes[0], Scheme("majority", MajorityScheme(),
                                                                                 config={"lr": 0.1}))})
    run(changed, data, tmp_path, folds=1)
    assert len(list((tmp_path / "r/toy/table_toy/folds/majority/fold_00").glob("*.json"))) == 2


# --- 2. audio content is part of the identity ---------------------------------------------------------------

class HalfProtocol:
    """Two folds that read different tracks: fold 0 the first half of every class, fold 1 the second."""

    n_folds = 2

    def make_splits(self, index):
        splits = []
        for fold in range(2):
            ids = sorted(t.track_id for t in index.tracks if int(t.track_id.split(".")[1]) // 2 == fold)
            splits.append(Split(fold, tuple(i for i in ids if i.endswith("0") or i.endswith("2")), (),
                                tuple(i for i in ids if i.endswith("1") or i.endswith("3"))))
        return splits

    def describe(self):
        return {"protocol": "half"}


def test_an_audio_change_reruns_exactly_the_folds_that_read_it(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme(), protocol=HalfProtocol()), data, tmp_path)
    path = data / "genres" / "jazz" / "jazz.00003.wav"  # read by fold 1 only
    write_audio(path, seconds=0.5, sample_rate=8000, frequency=1234.0, seed=9)  # same name, other content
    again = MajorityScheme()
    run(toy_spec(again, protocol=HalfProtocol()), data, tmp_path)
    assert again.calls == [1]
    unchanged = MajorityScheme()
    run(toy_spec(unchanged, protocol=HalfProtocol()), data, tmp_path)
    assert unchanged.calls == []


def test_an_audio_change_with_cross_validation_reruns_every_fold(tmp_path):
    """Every track is in every fold of a cross-validation (train, validation or test): all folds rerun."""
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme()), data, tmp_path)
    path = data / "genres" / "rock" / "rock.00001.wav"
    stamp = path.stat()
    write_audio(path, seconds=0.5, sample_rate=8000, frequency=777.0, seed=3)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10 ** 9))
    again = MajorityScheme()
    run(toy_spec(again), data, tmp_path)
    assert again.calls == [0, 1, 2]


# --- 4. one writer at a time, atomic checkpoints -------------------------------------------------------------

def toy_command(data, results, work, *extra):
    return [sys.executable, "-m", "tests.runner_fixtures", str(data), str(results), str(work), *extra]


def wait_for(path: Path, process, seconds=90.0):
    deadline = time.time() + seconds
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the run ended early ({process.returncode}):\n{out}\n{err}")
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.1)


def test_a_second_run_of_the_same_table_is_refused_and_nothing_is_corrupted(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    results, work = tmp_path / "r", tmp_path / "w"
    work.mkdir()
    first = subprocess.Popen(toy_command(data, results, work, "--hold-fold", "1"), cwd=REPO, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(work / "holding-1", first)
        second = subprocess.run(toy_command(data, results, work), cwd=REPO, text=True, capture_output=True,
                                timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"is being written by process {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        (work / "release").write_text("go")
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            first.kill()
    alone = tmp_path / "alone"
    run_table(toy_spec(MajorityScheme()), data, results_dir=alone / "r", work_dir=alone / "w", progress=False)
    assert records_of(results) == records_of(alone / "r")
    assert ((results / "toy" / "table_toy.csv").read_text() == (alone / "r" / "toy" / "table_toy.csv").read_text())


def test_checkpoints_are_written_atomically_and_a_full_disk_is_refused_cleanly(tmp_path, monkeypatch):
    import keras

    from common.training import trainer as training

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "unit" / "best.weights.h5"
    training.save_weights_atomically(model, path)
    assert path.is_file() and not list(path.parent.glob(".*tmp*"))
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~_umask()
    before = path.read_bytes()
    monkeypatch.setattr(training.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10, 10, 1024))
    with pytest.raises(OSError, match="no space left for a checkpoint") as caught:
        training.save_weights_atomically(model, path)
    assert caught.value.filename == str(path) and path.read_bytes() == before


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- kill -9 and resume ----------------------------------------------------------------------------------------

def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    results, work = tmp_path / "r", tmp_path / "w"
    work.mkdir()
    victim = subprocess.Popen(toy_command(data, results, work, "--hold-fold", "2"), cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(work / "holding-2", victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert not (results / "toy" / "table_toy.csv").exists()  # no canonical table from an unfinished run
    unfinished = results / "toy/partial/table_toy/full-protocol-unfinished"
    progress = pd.read_csv(unfinished / "table_toy.csv")
    assert progress.set_index("scheme").loc["majority", "status"].endswith("partial: 2/3 folds")
    killed = json.loads((unfinished / "table_toy_manifest.json").read_text())
    assert killed["status"] == "running" and killed["pid"] == victim.pid  # says which process it was

    resumed = MajorityScheme()
    run_table(toy_spec(resumed), data, results_dir=results, work_dir=work, progress=False)
    assert resumed.calls == [2]
    alone = tmp_path / "alone"
    run_table(toy_spec(MajorityScheme()), data, results_dir=alone / "r", work_dir=alone / "w", progress=False)
    assert records_of(results) == records_of(alone / "r")
    for name in ("table_toy.csv",):
        assert (results / "toy" / name).read_text() == (alone / "r" / "toy" / name).read_text()
    assert json.loads((results / "toy" / "table_toy_manifest.json").read_text())["status"] == "complete"


# --- 5. operating-system errors: clean message, exit 2, earlier results intact ---------------------------------

def _namespace_command(setup: str, command: list[str]) -> list[str]:
    """Run ``command`` in a private mount namespace after the shell ``setup`` (mounts vanish with it)."""
    return ["unshare", "-m", "sh", "-c", f"{setup} && exec \"$@\"", "sh", *command]


def _can_mount(tmp_path) -> bool:
    probe = tmp_path / "mount-probe"
    probe.mkdir()
    try:
        done = subprocess.run(_namespace_command(f"mount -t tmpfs -o size=64k tmpfs {probe}", ["true"]),
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def test_a_read_only_results_folder_gives_a_clean_error_and_keeps_the_results(tmp_path):
    if not _can_mount(tmp_path):
        pytest.skip("needs `unshare -m` and mount (root or user namespaces) to make a truly read-only folder")
    data = tiny_gtzan(tmp_path / "data")
    results, work = tmp_path / "r", tmp_path / "w"
    run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, folds=1, progress=False)
    before = tree_digest(results)
    shutil.rmtree(work)
    work.mkdir()
    setup = f"mount --bind {results} {results} && mount -o remount,bind,ro {results}"
    done = subprocess.run(_namespace_command(setup, toy_command(data, results, work)), cwd=REPO, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Read-only file system" in done.stderr and str(results / "toy") in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_digest(results) == before
    assert not (work / "cache").exists()  # refused before any feature work


def test_a_full_work_disk_during_features_gives_a_clean_error(tmp_path):
    if not _can_mount(tmp_path):
        pytest.skip("needs `unshare -m` and mount (root or user namespaces) to make a small file system")
    data = tiny_gtzan(tmp_path / "data", per_genre=4, seconds=20.0)
    results, work = tmp_path / "r", tmp_path / "w"
    work.mkdir()
    done = subprocess.run(_namespace_command(f"mount -t tmpfs -o size=96k tmpfs {work}",
                                             toy_command(data, results, work)),
                          cwd=REPO, text=True, capture_output=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "No space left on device" in done.stderr and str(work / "cache") in done.stderr
    assert "Traceback" not in done.stderr
    assert not (results / "toy" / "table_toy.csv").exists()


def test_os_errors_become_a_message_with_exit_status_2(capsys):
    import errno

    def full():
        raise OSError(errno.ENOSPC, "No space left on device", "/w/cache/x.npz")

    assert cli.guarded(full) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No space left on device: /w/cache/x.npz (the disk is full")


# --- 7. smaller defects ---------------------------------------------------------------------------------------

def test_more_folds_than_the_protocol_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="FOLDS=4 but the protocol has 3 fold"):
        run(toy_spec(MajorityScheme()), tmp_path / "absent", tmp_path, folds=4)


def test_class_sizes_are_checked_before_feature_extraction(tmp_path):
    data = tiny_gtzan(tmp_path / "data", per_genre=4)
    for path in (data / "genres" / "jazz").iterdir():
        if not path.name.endswith("00000.wav"):
            path.unlink()
    with pytest.raises(DatasetError, match="too few tracks"):
        run(toy_spec(MajorityScheme()), data, tmp_path)
    assert not list((tmp_path / "w").rglob("*.npz"))  # no feature was extracted


def test_leftover_temporary_files_are_removed_and_files_respect_the_umask(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme()), data, tmp_path, folds=1)
    stale = tmp_path / "r" / "toy" / "table_toy" / "folds" / "majority" / ".x.json.abc.tmp"
    stale.write_bytes(b"")
    other_table = tmp_path / "r" / "toy" / ".other_table.csv.abc.tmp"
    other_table.write_bytes(b"")
    run(toy_spec(MajorityScheme()), data, tmp_path, folds=1)
    assert not stale.exists() and other_table.exists()  # another table's in-flight file is not touched
    partial = tmp_path / "r/toy/partial/table_toy/folds-1of3"
    for path in [*partial.iterdir(), *(tmp_path / "r/toy/table_toy").rglob("*.json")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask(), path


@pytest.mark.parametrize("content", ["[1, 2]", "\"text\"", "{\"scheme\": \"majority\"}", "{not json"])
def test_a_malformed_fold_record_is_reported_and_recomputed(tmp_path, content):
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme()), data, tmp_path, folds=1)
    [path] = (tmp_path / "r/toy/table_toy/folds/majority/fold_00").glob("*.json")
    path.write_text(content)
    again = MajorityScheme()
    with pytest.warns(UserWarning, match="the fold runs again"):
        run(toy_spec(again), data, tmp_path, folds=1)
    assert again.calls == [0] and isinstance(json.loads(path.read_text()), dict)
