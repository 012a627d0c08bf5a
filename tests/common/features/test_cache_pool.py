"""The feature cache's process pool under stress: a killed parent, a killed worker, Ctrl-C, SIGTERM, thread counts.

The run-level tests drive a real run of the toy table in a subprocess (``python -m tests.pool_fixtures``)
whose two extraction workers wait in their first file, so that every signal lands during extraction.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from common.features.cache import FeatureCache, available_cores
from common.features.logmel import LogMelConfig, LogMelExtractor
from tests.audio_fixtures import write_audio
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

REPO = Path(__file__).resolve().parents[3]
MANIFEST = "toy/partial/table_toy/full-protocol-unfinished/table_toy_manifest.json"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _start_run(tmp_path, **popen) -> tuple[subprocess.Popen, Path, Path, Path, Path]:
    """A toy run whose two extraction workers hold; returns ``(process, data, results, work, hold)``
    once both workers wait in their first file."""
    data = tiny_gtzan(tmp_path / "data")
    results, work, hold = tmp_path / "r", tmp_path / "w", tmp_path / "hold"
    work.mkdir()
    hold.mkdir()
    run = subprocess.Popen([sys.executable, "-m", "tests.pool_fixtures", str(data), str(results), str(work),
                            str(hold)], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)}, **popen)
    start = time.time()
    while len(_workers(hold)) < 2:
        assert run.poll() is None, run.communicate()
        assert time.time() - start < 120, "the workers did not start"
        time.sleep(0.1)
    return run, data, results, work, hold


def _workers(hold: Path) -> dict[int, str]:
    """``{worker pid: the file it holds}`` from the markers of :class:`tests.pool_fixtures.HoldingExtractor`."""
    return {int(p.name): p.read_text() for p in hold.iterdir() if p.name.isdigit() and p.read_text()}


def _gone_within(pids, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _finish(run: subprocess.Popen, pids=()) -> tuple[str, str]:
    """The run's output once it ends; anything this test started that is still running is killed."""
    try:
        return run.communicate(timeout=60)
    finally:
        for pid in [run.pid, *pids]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _resume(data, results, work):
    """The same table again, with nothing held: it completes from the cache entries and records present."""
    from common.runner import run_table

    scheme = MajorityScheme()
    run_table(toy_spec(scheme), data, results_dir=results, work_dir=work, progress=False)
    assert scheme.calls == [0, 1, 2]
    assert json.loads((results / "toy/table_toy_manifest.json").read_text())["status"] == "complete"


def test_the_workers_end_within_seconds_when_their_parent_is_killed(tmp_path):
    run, *_, hold = _start_run(tmp_path)
    workers = _workers(hold)
    try:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        assert _gone_within(workers, 5.0), f"workers {sorted(workers)} still alive 5 s after their parent's kill -9"
    finally:
        _finish(run, workers)


def test_a_killed_worker_is_one_line_and_the_same_command_resumes(tmp_path):
    run, data, results, work, hold = _start_run(tmp_path)
    workers = _workers(hold)
    victim, held = sorted(workers.items())[0]
    os.kill(victim, signal.SIGKILL)
    out, err = _finish(run, workers)
    assert run.returncode == 2, err
    assert "Traceback" not in err and "TerminatedWorkerError" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(("interrupted", "error"))]
    assert len(lines) == 1 and lines[0].startswith("error: a feature-extraction worker died (SIGKILL(-9))"), err
    assert held in lines[0] and "run the same command to resume" in lines[0]
    assert _gone_within(workers, 5.0)  # the other worker is ended too
    manifest = json.loads((results / MANIFEST).read_text())
    assert (manifest["status"], manifest["stage"]) == ("failed", "features")
    _resume(data, results, work)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupt_during_extraction_is_one_line_and_leaves_an_interrupted_manifest(tmp_path, how):
    # Ctrl-C in a terminal reaches the whole process group (the workers too); SIGTERM comes to the main process
    run, data, results, work, hold = _start_run(tmp_path, start_new_session=True)
    workers = _workers(hold)
    if how == "ctrl-c":
        os.killpg(run.pid, signal.SIGINT)
    else:
        os.kill(run.pid, signal.SIGTERM)
    out, err = _finish(run, workers)
    assert run.returncode == (130 if how == "ctrl-c" else 143), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Terminated" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(("interrupted", "error"))]
    expected = "interrupted: stopped by " + ("Ctrl-C" if how == "ctrl-c" else "SIGTERM")
    assert len(lines) == 1 and lines[0].startswith(expected), err
    assert _gone_within(workers, 5.0)
    manifest = json.loads((results / MANIFEST).read_text())
    assert (manifest["status"], manifest["stage"]) == ("interrupted", "features")
    _resume(data, results, work)


def test_the_workers_leave_ctrl_c_to_their_parent():
    from common.features.cache import extraction_pool

    pool = extraction_pool(2)
    pids = {pool.submit(os.getpid).result() for _ in range(4)}
    assert pool.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN
    for pid in pids:  # idle workers: before, each raised KeyboardInterrupt and the pool broke
        os.kill(pid, signal.SIGINT)
    time.sleep(1.0)
    assert all(_alive(pid) for pid in pids)
    assert pool.submit(os.getpid).result() in pids  # the same pool, still working


def test_an_entry_has_the_same_bytes_whichever_process_computed_it(tmp_path, monkeypatch):
    """A 4-minute file: a matrix product summed over another number of BLAS threads rounds differently."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr("common.features.cache.POOL_AFTER_SECONDS", 0.0)
    config = LogMelConfig(sample_rate=22050, n_fft=2048, hop_length=1024, window="blackmanharris", n_mels=128)
    long = write_audio(tmp_path / "long.wav", seconds=240.0, seed=9)
    copy = shutil.copy(long, tmp_path / "copy.wav")
    # this process with more BLAS threads than a worker of a 2-process pool has (cores // 2 before the fix)
    with threadpool_limits(limits=available_cores() // 2 + 1):
        here = FeatureCache(tmp_path / "here", LogMelExtractor(config)).get(long)
    pooled = FeatureCache(tmp_path / "pool", LogMelExtractor(config))
    in_worker = dict(pooled.get_many([long, copy], workers=2))
    assert pooled.stats.computed == 2
    assert here.dtype == in_worker[str(long)].dtype == np.float32
    difference = float(np.max(np.abs(here - in_worker[str(long)])))
    assert here.tobytes() == in_worker[str(long)].tobytes(), f"differ by up to {difference} dB"
