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

        store = types.SimpleNamespace(load=lambda *a: None)
        identities = {("s", 0): "x"}
        request = None

    fake = types.SimpleNamespace(
        is_initialized=lambda: False, init=lambda **kw: calls.update(kw), shutdown=lambda: None,
        cluster_resources=lambda: {"CPU": 2}, get=lambda refs: [],
        remote=lambda **kw: (lambda f: types.SimpleNamespace(remote=lambda *a: None)))
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    fanout.run_units_on_ray(Plan())
    hook = calls["runtime_env"]["worker_process_setup_hook"]
    module, _, name = hook.rpartition(".")
    from common.training.tensorflow_logging import import_tensorflow_quietly
    assert getattr(importlib.import_module(module), name) is import_tensorflow_quietly
