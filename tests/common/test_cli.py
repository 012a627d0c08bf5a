"""The command line's handling of Ctrl-C and SIGTERM: one line, exit status 130 / 143, no traceback; the run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common import cli
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

REPO = Path(__file__).resolve().parents[2]


def test_guarded_turns_ctrl_c_into_one_line_and_exit_status_130(capsys):
    def interrupted():
        raise KeyboardInterrupt

    assert cli.guarded(interrupted) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("interrupted: ")
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err


def test_main_turns_ctrl_c_into_exit_status_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_command", interrupted)
    assert cli.main(["list"]) == 130
    assert capsys.readouterr().err.startswith("interrupted: ")


@pytest.mark.parametrize("signal_number, status, line", [
    (signal.SIGINT, 130, "interrupted: "),                    # Ctrl-C
    (signal.SIGTERM, 143, "interrupted: stopped by SIGTERM"),  # kill, a scheduler's stop: like Ctrl-C
])
def test_a_signal_during_a_run_ends_with_one_line_a_released_lock_and_a_resumable_run(tmp_path, signal_number,
                                                                                     status, line):
    from common.runner import run_table

    data = tiny_gtzan(tmp_path / "data")
    results, work = tmp_path / "r", tmp_path / "w"
    work.mkdir()
    run = subprocess.Popen([sys.executable, "-m", "tests.runner_fixtures", str(data), str(results), str(work),
                            "--hold-fold", "1"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        start = time.time()
        while not (work / "holding-1").exists():
            assert run.poll() is None, run.communicate()
            assert time.time() - start < 120, "the run did not reach fold 1"
            time.sleep(0.1)
        os.kill(run.pid, signal_number)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == status, err
    assert "Traceback" not in err and "Terminated" not in err, err
    lines = [text for text in err.splitlines() if text.startswith(("interrupted", "error"))]
    assert len(lines) == 1 and lines[0].startswith(line), err
    manifest = results / "toy/partial/table_toy/full-protocol-unfinished/table_toy_manifest.json"
    assert json.loads(manifest.read_text())["status"] == "interrupted"
    resumed = MajorityScheme()  # the lock was released: a new run starts and resumes
    run_table(toy_spec(resumed), data, results_dir=results, work_dir=work, progress=False)
    assert resumed.calls == [1, 2]


def test_guarded_restores_the_sigterm_handler_it_installed():
    before = signal.getsignal(signal.SIGTERM)
    assert cli.guarded(lambda: signal.getsignal(signal.SIGTERM) is cli._raise_terminated and 7) == 7
    assert signal.getsignal(signal.SIGTERM) == before
