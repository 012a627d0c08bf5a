"""Fan-out: shards and Ray tasks give the same fold records as one sequential run (gtzan-mini, toy scheme)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from common.errors import ConfigError
from common.runner import run_table
from common.runner.fanout import parse_shard, shard_units
from tests.runner_fixtures import MajorityScheme, toy_spec

REPO = Path(__file__).resolve().parents[3]


def records(results: Path) -> dict:
    """``{(scheme, fold): (identity, metrics, details)}`` of every stored record (timings left out)."""
    out = {}
    for path in sorted((results / "toy" / "table_toy" / "folds").rglob("*.json")):
        r = json.loads(path.read_text())
        out[r["scheme"], r["fold"]] = (r["identity"], r["metrics"], r["details"])
    return out


def table(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "toy" / "table_toy.csv")


def test_shards_cover_every_unit_once():
    units = [(s, f) for s in ("a", "b", "c") for f in range(10)]
    shards = [shard_units(units, i, 4) for i in range(4)]
    assert sorted(u for shard in shards for u in shard) == sorted(units)
    assert shard_units(units, 1, 4) == shard_units(list(units), 1, 4)  # deterministic
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(ConfigError, match="want I/N"):
            parse_shard(bad)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """One work folder (feature cache, checkpoints) for every run here: features are extracted once."""
    return tmp_path_factory.mktemp("shared-work")


@pytest.fixture(scope="module")
def sequential(gtzan_mini, work, tmp_path_factory):
    """The toy table on gtzan-mini, run once sequentially: the reference records, table and wall time."""
    root = tmp_path_factory.mktemp("sequential")
    run_table(toy_spec(MajorityScheme()), gtzan_mini, results_dir=root / "warm-up", work_dir=work, folds=1,
              progress=False)  # extracts the features: the timed run below reads them from the cache
    t0 = time.time()
    run_table(toy_spec(MajorityScheme()), gtzan_mini, results_dir=root / "r", work_dir=work, progress=False)
    return root / "r", time.time() - t0


def test_two_shards_in_parallel_then_collect_equal_the_sequential_run(gtzan_mini, sequential, work, tmp_path):
    results = tmp_path / "r"
    command = [sys.executable, "-m", "tests.runner_fixtures", str(gtzan_mini), str(results), str(work)]
    shards = [subprocess.Popen([*command, "--shard", f"{i}/2"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for i in range(2)]
    for shard in shards:
        out, err = shard.communicate(timeout=600)
        assert shard.returncode == 0, err
        assert "shard" in out and "collect" in out
    assert not (results / "toy" / "table_toy.csv").exists()  # shards write records, not the table
    assert records(results) == records(sequential[0])
    collected = MajorityScheme()
    run_table(toy_spec(collected), gtzan_mini, results_dir=results, work_dir=work, collect_only=True,
              progress=False)
    assert collected.calls == []
    pd.testing.assert_frame_equal(table(results), table(sequential[0]))


def test_a_local_ray_run_equals_the_sequential_run(gtzan_mini, sequential, work, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]')")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    try:
        t0 = time.time()
        run_table(toy_spec(MajorityScheme()), gtzan_mini, results_dir=tmp_path / "r", work_dir=work, ray=True,
                  progress=False)
        seconds = time.time() - t0
    finally:
        ray.shutdown()
    assert records(tmp_path / "r") == records(sequential[0])
    pd.testing.assert_frame_equal(table(tmp_path / "r"), table(sequential[0]))
    print(f"toy table on gtzan-mini: sequential {sequential[1]:.1f} s, local Ray with 2 workers {seconds:.1f} s")


def test_ray_workers_import_tensorflow_quietly(monkeypatch):
    """Each Ray worker runs the CLI's quiet TensorFlow import (no cuInit / CPU notices per worker)."""
    import importlib
    import types

    from common.runner import fanout

    calls = {}

    class Plan:
        def units(self):
            return [("s", 0)]

        store = types.SimpleNamespace(load=lambda *a: None, load_any=lambda *a: None)
        identities = {("s", 0): "x"}
        request = None

    fake = types.SimpleNamespace(
        is_initialized=lambda: False, init=lambda **kw: calls.update(kw), shutdown=lambda: None,
        cluster_resources=lambda: {"CPU": 2}, get=lambda refs: [],
        remote=lambda **kw: (lambda f: types.SimpleNamespace(remote=lambda *a: None)))
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    fanout.run_units_on_ray(Plan(), lambda request, scheme, fold: None)
    hook = calls["runtime_env"]["worker_process_setup_hook"]
    module, _, name = hook.rpartition(".")
    from common.training.tensorflow_logging import import_tensorflow_quietly
    assert getattr(importlib.import_module(module), name) is import_tensorflow_quietly


# --- collect computes nothing; shard hints; only the lock holder cleans -------------------------------------

@pytest.mark.parametrize("fanout", [{"shard": (0, 1)}, {"ray": True}])
def test_collect_with_a_shard_or_ray_is_refused_before_any_work(tmp_path, fanout):
    from tests.runner_fixtures import tiny_gtzan

    data = tiny_gtzan(tmp_path / "data")
    scheme = MajorityScheme()
    with pytest.raises(ConfigError, match="collect trains nothing"):
        run_table(toy_spec(scheme), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", progress=False,
                  collect_only=True, **fanout)
    assert scheme.calls == [] and not (tmp_path / "r" / "toy" / "table_toy").exists()
    assert not (tmp_path / "w" / "cache").exists()  # not even features were computed


def test_collect_with_a_shard_is_a_clean_cli_error(tmp_path, capsys):
    from common import cli

    status = cli.main(["collect", "mcclstm.table3_gtzan", "--data-dir", str(tmp_path / "absent"), "--shard", "0/1",
                       "--results-dir", str(tmp_path / "r"), "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert status == 2 and "collect trains nothing" in err and "Traceback" not in err


def test_the_shard_hint_repeats_the_caps_and_folders_and_following_it_gives_the_table(tmp_path, capsys):
    import shlex

    from tests.runner_fixtures import tiny_gtzan

    data = tiny_gtzan(tmp_path / "data d\u00e9j\u00e0")
    results, work = tmp_path / "my results", tmp_path / "my work"
    run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, progress=False,
              shard=(0, 1), folds=2, epochs=3, seed=5)
    out = capsys.readouterr().out
    command = next(line for line in out.splitlines() if "common.cli collect" in line)
    argv = shlex.split(command)
    assert argv[:5] == ["python", "-m", "common.cli", "collect", "toy.table_toy"]
    options = dict(zip(argv[5::2], argv[6::2]))
    assert options == {"--data-dir": str(data), "--results-dir": str(results), "--work-dir": str(work),
                       "--folds": "2", "--epochs": "3", "--seed": "5"}
    # following the hint (the toy table is not in the registry: the same options, through run_table)
    frame = run_table(toy_spec(MajorityScheme()), options["--data-dir"], results_dir=options["--results-dir"],
                      work_dir=options["--work-dir"], folds=int(options["--folds"]),
                      epochs=int(options["--epochs"]), seed=int(options["--seed"]), collect_only=True,
                      progress=False)
    assert frame.set_index("scheme").loc["majority", "status"].endswith("partial: 2/3 folds, epochs <= 3")

    run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, progress=False,
              shard=(0, 1), schemes=["majority"])
    make = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("make "))
    assert shlex.split(make) == ["make", "table-toy", "COLLECT=1", f"GTZAN_DIR={data}", f"RESULTS_DIR={results}",
                                 f"WORK_DIR={work}"]  # every scheme selected: no SCHEMES needed


def test_a_shard_never_removes_another_writers_temporary_file(tmp_path):
    from tests.runner_fixtures import tiny_gtzan

    data = tiny_gtzan(tmp_path / "data")
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
              progress=False, folds=1)
    in_flight = tmp_path / "r/toy/table_toy/folds/majority/fold_01/.abc.json.x1y2.tmp"
    in_flight.parent.mkdir(parents=True, exist_ok=True)
    in_flight.write_bytes(b"being written by another process")
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
              progress=False, shard=(0, 2))
    assert in_flight.exists()
    run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
              progress=False, folds=1)  # the lock holder does clean up
    assert not in_flight.exists()
