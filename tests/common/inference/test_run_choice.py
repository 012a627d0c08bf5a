"""predict and --export use the run meant: scheme-module rows by code, --run DIR, fresh clones, unreadable manifests.

Runs are laid out as the runner writes them (:func:`tests.common.inference.test_predict.fake_run`);
the fresh-clone case runs a toy table through the real runner (:mod:`tests.runner_fixtures`).
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

import pytest

from common import cli
from common.errors import ConfigError
from common.inference.fold_model import fold_source
from common.inference.runs import NoTrainedRunError, find_run, named_run
from common.runner.layout import RunCaps
from common.runner.scheme_module import add_scheme_module
from papers.mcclstm.tables import table3_gtzan
from tests.common.inference.test_predict import FULL, QUICK, fake_run

#: A scheme module whose row is named "Mine"; ``VARIANT`` is edited to make another code version.
MODULE = '''"""A test model."""
import keras
from keras import layers

SCHEME_NAME = "Mine"
VARIANT = {variant}


def build_model(input_shape, n_outputs):
    x = keras.Input(shape=input_shape)
    return keras.Model(x, layers.Dense(n_outputs, activation="softmax")(layers.Flatten()(x)))
'''


def _module(path: Path, variant: int) -> Path:
    path.write_text(MODULE.format(variant=variant))
    return path


def _module_run(results, work, spec, caps, folds=(0,)) -> Path:
    """A run of the spec's scheme-module row, its records made with the row's current code."""
    row = spec.scheme_module_rows()[0]
    return fake_run(results, work, spec, {row.name: list(folds)}, caps, configs={row.name: row.config},
                    details={"scheme_module": row.scheme_module})


def _age(path: Path, seconds: float = 100) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_a_scheme_module_row_uses_the_run_made_with_its_own_code(tmp_path):
    # before: the newest run with the row's name was used (B's checkpoint for module A), with a warning only
    results, work = tmp_path / "results", tmp_path / "work"
    spec_a = add_scheme_module(table3_gtzan(), str(_module(tmp_path / "a.py", 0)))
    spec_b = add_scheme_module(table3_gtzan(), str(_module(tmp_path / "b.py", 1)))
    run_a = _module_run(results, work, spec_a, RunCaps(2, 10, epochs=2, scheme_module="Mine"), folds=(0, 1))
    run_b = _module_run(results, work, spec_b, RunCaps(1, 10, epochs=2, scheme_module="Mine"))
    _age(run_a)                                            # B's run is the newest
    assert find_run(spec_a, "Mine", results, work).manifest_path == run_a
    assert find_run(spec_b, "Mine", results, work).manifest_path == run_b
    # A edited since its run: no run has its code; both runs are listed with their caps and modules
    spec_edited = add_scheme_module(table3_gtzan(), str(_module(tmp_path / "a.py", 2)))
    with pytest.raises(NoTrainedRunError) as refused:
        find_run(spec_edited, "Mine", results, work)
    message = str(refused.value)
    assert "no run of mcclstm.table3_gtzan scheme 'Mine' was made with the current code" in message
    assert "2/10 folds, epochs <= 2, scheme module Mine" in message and str(run_a) in message
    assert "1/10 folds, epochs <= 2, scheme module Mine" in message and str(run_b) in message
    assert str(tmp_path / "a.py") in message and str(tmp_path / "b.py") in message
    assert f"SCHEME_MODULE={tmp_path / 'a.py'}" in message
    # ... and naming B's run for A is refused too
    with pytest.raises(NoTrainedRunError, match="made with the current code"):
        find_run(spec_a, "Mine", results, work, run_dir=run_b.parent)


def test_predict_names_a_run_folder_with_run(tmp_path, capsys):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    quick = fake_run(results, work, spec, {"R2": [0, 1]}, QUICK)
    newer = fake_run(results, work, spec, {"R2": [0]}, RunCaps(1, 10, epochs=3))
    _age(quick)
    assert find_run(spec, "R2", results, work).manifest_path == newer
    for given in (quick.parent, quick):                    # the folder, or its manifest
        run = find_run(spec, "R2", "results-not-used", work, run_dir=given)
        assert run.manifest_path == quick and not run.canonical and run.caps == QUICK
        assert fold_source(spec, run, "R2", 1).checkpoint.is_file()
    canonical = fake_run(results, work, spec, {"R2": list(range(10))}, FULL, canonical=True)
    run = named_run(spec, "R2", canonical.parent, work)
    assert run.canonical and run.layout.records_root == results / "mcclstm" / "table3_gtzan"
    with pytest.raises(NoTrainedRunError, match=r"has no fold records of 'R0'; it has 'R2'"):
        named_run(spec, "R0", quick.parent, work)
    with pytest.raises(ConfigError, match="no table3_gtzan_manifest.json there"):
        named_run(spec, "R2", tmp_path, work)
    # through the command line (before: --run was an unknown option)
    status = cli.main(["predict", "mcclstm.table3_gtzan", "R2", "a.wav", "--run", str(tmp_path / "nowhere"),
                       "--work-dir", str(work)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: --run {tmp_path / 'nowhere'}: no table3_gtzan_manifest.json")


def test_make_predict_passes_run_dir_as_one_argument(tmp_path):
    from tests.common.test_makefile_targets import _cli_line, _make

    folder = str(tmp_path / "my runs" / "folds-1of10")
    done = _make("-n", "predict", "TABLE=mcclstm.table3_gtzan", "SCHEME=R0", "FILE=a.wav", f"RUN_DIR={folder}")
    assert done.returncode == 0, done.stderr
    argv = _cli_line(done.stdout)
    assert argv[argv.index("--run") + 1] == folder
    assert "--run" not in _cli_line(_make("-n", "predict", "TABLE=t", "SCHEME=R0", "FILE=a.wav").stdout)


def test_an_unreadable_manifest_is_named_as_such(tmp_path, capsys):
    # before: "no trained run ... Train it first", as if nothing had been trained
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    manifest = results / "mcclstm" / "table3_gtzan_manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"status": "complete", "records": {')
    status = cli.main(["predict", "mcclstm.table3_gtzan", "R2", "a.wav", "--results-dir", str(results),
                       "--work-dir", str(work)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: unreadable manifest of mcclstm.table3_gtzan: ")
    assert f"{manifest} is not valid JSON" in err and "Train it first" not in err
    with pytest.raises(ConfigError, match=rf"the manifest {manifest} is not valid JSON"):
        named_run(spec, "R2", manifest.parent, work)
    # another run that has the scheme is used, with a warning naming the unreadable manifest
    quick = fake_run(results, work, spec, {"R2": [0]}, QUICK)
    run = find_run(spec, "R2", results, work)
    assert run.manifest_path == quick
    [note] = run.notes
    assert note.startswith(f"warning: the manifest {manifest} is not valid JSON (") and note.endswith(
        "so its run was not considered")


def _train_command(message: str) -> list[str]:
    """The indented ``make`` line of a message, split as the shell splits it."""
    [line] = [line for line in message.splitlines() if line.startswith("  make ")]
    return shlex.split(line)


def _results_to_predict_with(message: str) -> str:
    [after] = [line for line in message.splitlines() if line.startswith("then predict with RESULTS_DIR=")]
    return shlex.split(after[len("then predict with RESULTS_DIR="):].split(" (--results-dir")[0])[0]


class CheckpointScheme:
    """The toy table's majority scheme, also writing a checkpoint file in its unit's work folder."""

    def __init__(self):
        from tests.runner_fixtures import MajorityScheme

        self.majority = MajorityScheme()

    def __call__(self, context):
        context.work_dir.mkdir(parents=True, exist_ok=True)
        (context.work_dir / "best.weights.h5").write_bytes(b"weights of fold %d" % context.split.fold)
        return self.majority(context)


def test_on_a_fresh_clone_the_printed_command_trains_the_checkpoint_predict_then_uses(tmp_path, monkeypatch):
    """The canonical records exist, their checkpoints do not (work/ is not committed)."""
    from common.runner import Scheme, run_table
    from tests.runner_fixtures import tiny_gtzan, toy_spec

    data = tiny_gtzan(tmp_path / "data")
    spec = toy_spec(CheckpointScheme(), extra_schemes=(Scheme("other", CheckpointScheme(), "majority again"),))
    results, work = tmp_path / "results", tmp_path / "work"
    run_table(spec, data, results_dir=results, work_dir=work, progress=False)
    canonical = results / "toy" / "table_toy_manifest.json"
    assert json.loads(canonical.read_text())["status"] == "complete"
    committed = {p: p.read_bytes() for p in (results / "toy").rglob("*") if p.is_file()}
    import shutil

    shutil.rmtree(work)                                    # the fresh clone
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GTZAN_DIR", str(data))
    with pytest.raises(NoTrainedRunError) as missing:
        find_run(spec, "majority", "results", "work", folds_needed=2)
    message = str(missing.value)
    assert "Running that run's make target again would reuse its records and train nothing" in message
    command = _train_command(message)                     # before: no such command (only `make table-toy`)
    assert command[:2] == ["make", spec.make_target]
    # what the Makefile's RUN_OPTS pass to common.cli run (tests/common/test_makefile_targets.py)
    options = {"GTZAN_DIR": "data_dir", "SCHEMES": "schemes", "FOLDS": "folds", "EPOCHS": "epochs",
               "RESULTS_DIR": "results_dir", "WORK_DIR": "work_dir"}
    arguments = {}
    for assignment in command[2:]:
        name, _, value = assignment.partition("=")
        assert name in options, assignment
        arguments[options[name]] = value
    assert arguments["schemes"] == "majority" and arguments["folds"] == "2" and "epochs" not in arguments
    arguments["schemes"] = arguments["schemes"].split(",")
    arguments["folds"] = int(arguments["folds"])
    data_dir = arguments.pop("data_dir")
    run_table(spec, data_dir, **{"work_dir": "work", **arguments}, progress=False)
    # the canonical results are untouched; predict finds the checkpoints where the message says
    assert {p: p.read_bytes() for p in (results / "toy").rglob("*") if p.is_file()} == committed
    trained = find_run(spec, "majority", _results_to_predict_with(message), "work")
    for fold in (0, 1):
        assert fold_source(spec, trained, "majority", fold).checkpoint.read_bytes() == b"weights of fold %d" % fold
    # the same units as the canonical run's (same identities), so the canonical run finds them too
    run = find_run(spec, "majority", "results", "work")
    assert run.canonical and fold_source(spec, run, "majority", 1).checkpoint.is_file()


def test_the_printed_command_reaches_the_cli_as_a_subset_run_into_a_fresh_folder(tmp_path, monkeypatch):
    from tests.common.test_makefile_targets import _cli_line, _make

    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R0": list(range(10))}, FULL, canonical=True, checkpoint=False)
    monkeypatch.setenv("GTZAN_DIR", str(tmp_path / "my gtzan"))
    with pytest.raises(NoTrainedRunError) as missing:
        find_run(spec, "R0", results, work)
    command = _train_command(str(missing.value))
    assert command[:2] == ["make", "table3-gtzan"]
    argv = _cli_line(_make("-n", *command[1:]).stdout)
    options = dict(zip(argv[5::2], argv[6::2]))
    assert argv[3:5] == ["run", "mcclstm.table3_gtzan"] and options["--data-dir"] == str(tmp_path / "my gtzan")
    assert options["--schemes"] == "R0" and options["--folds"] == "1" and "--epochs" not in argv
    assert options["--results-dir"] == str(work / "predict-runs") and options["--work-dir"] == str(work)


def test_a_fold_whose_training_diverged_is_named_as_such(tmp_path):
    # the runner lists a diverged unit under the manifest's "diverged", never under "records"
    from common.inference.runs import select_folds

    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    path = fake_run(results, work, spec, {"R2": [0]}, QUICK)
    manifest = json.loads(path.read_text())
    manifest["diverged"] = {"R2/fold_01": "at epoch 2: training loss nan", "R4/fold_00": "at epoch 1: weights nan"}
    path.write_text(json.dumps(manifest))
    run = find_run(spec, "R2", results, work)
    with pytest.raises(NoTrainedRunError, match=r"the training of fold 1 diverged .*at epoch 2: training loss nan\), "
                                                r"so it has no model; trained folds: 0"):
        select_folds(run, spec, "R2", 1)
    with pytest.raises(NoTrainedRunError, match=r"scheme 'R4' .*its training diverged, so it has no model: .*"
                                                r"R4/fold_00 at epoch 1: weights nan"):
        find_run(spec, "R4", results, work)
    with pytest.raises(NoTrainedRunError) as refused:  # not a bare "train it first": the same settings diverge again
        find_run(spec, "R4", results, work)
    assert "change the model or its TRAINING" in str(refused.value)
