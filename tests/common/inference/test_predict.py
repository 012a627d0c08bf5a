"""Predict (common.inference) without training: finding runs, folds and checkpoints; errors; unsupported schemes.

Runs are written here as the runner lays them out (manifest with ``records`` and ``caps``, fold
records under ``folds/``, the unit's work folder), with placeholder checkpoints where no model is
loaded.
"""

from __future__ import annotations

import json
import re
import os
import time
from pathlib import Path

import numpy as np
import pytest

from common import cli
from common.errors import ConfigError
from common.inference.command import FilePrediction, format_prediction, predict_files
from common.inference.fold_model import fold_model, fold_source
from common.inference.runs import NoTrainedRunError, find_run, select_folds
from common.runner.layout import RunCaps, RunLayout
from papers.mcclstm.tables import table3_gtzan

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


def fake_run(results: Path, work: Path, spec, schemes: dict, caps: RunCaps, *, canonical: bool = False,
             status: str | None = None, checkpoint: bool = True, classes=GENRES, details=None,
             configs: dict | None = None) -> Path:
    """Write a run's manifest, fold records and unit folders (``schemes = {name: [fold, ...]}``).

    ``configs``: ``{scheme: the scheme's config as stored in its records' identity}`` (default ``{}``).

    Returns:
        the manifest's path.
    """
    layout = RunLayout(results, work, spec.paper, spec.table_id, caps)
    extractor = spec.extractor()
    records = {}
    for scheme, folds in schemes.items():
        for fold in folds:
            identity = f"{abs(hash((scheme, fold, caps.label()))) % 16 ** 16:016x}"
            unit = layout.unit_work_dir(scheme, fold, identity)
            unit.mkdir(parents=True, exist_ok=True)
            if checkpoint:
                (unit / "best.weights.h5").write_bytes(b"placeholder")
            record = {"scheme": scheme, "fold": fold, "identity": identity, "metrics": {"accuracy": 50.0},
                      "details": details or {}, "work_dir": str(unit),
                      "identity_payload": {"features": extractor.fingerprint(),
                                           "config": (configs or {}).get(scheme, {})}}
            path = layout.records_root / "folds" / scheme / f"fold_{fold:02d}" / f"{identity}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record))
            records[f"{scheme}/fold_{fold:02d}"] = identity
    folder = layout.paper_dir if canonical else layout.partial_dir
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"paper": spec.paper, "table": spec.table_id,
                "status": status or ("complete" if canonical else "partial"),
                "caps": caps.as_dict(), "records": records,
                "dataset": {"class_counts": {c: 10 for c in classes} if classes else None}}
    path = folder / f"{spec.table_id}_manifest.json"
    path.write_text(json.dumps(manifest))
    return path


FULL = RunCaps(folds_run=10, folds_in_protocol=10)
QUICK = RunCaps(folds_run=2, folds_in_protocol=10, epochs=2)
SUBSET = RunCaps(folds_run=1, folds_in_protocol=10, schemes=("R0",))


def test_no_run_names_the_make_target(tmp_path, capsys):
    status = cli.main(["predict", "mcclstm.table3_gtzan", "MCCLSTM", "a.wav", "--results-dir", str(tmp_path / "r"),
                       "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error: no trained run of mcclstm.table3_gtzan scheme 'MCCLSTM'")
    assert "make table3-gtzan" in err and "Traceback" not in err


def test_unknown_or_paper_only_scheme_is_refused():
    spec = table3_gtzan()
    for name in ("R9", "[14]"):
        with pytest.raises(ConfigError, match="trainable: CNNs-3, R0, R1, R2, R3, R4, MCCLSTM"):
            find_run(spec, name, "results-nowhere")


def test_canonical_run_is_preferred_to_partial_ones(tmp_path):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R2": [0, 1]}, QUICK)
    canonical = fake_run(results, work, spec, {"R2": list(range(10))}, FULL, canonical=True)
    run = find_run(spec, "R2", results, work)
    assert run.canonical and run.manifest_path == canonical and list(run.folds("R2")) == list(range(10))
    assert run.describe() == "canonical run (full protocol)"


def test_newest_partial_run_with_the_scheme_is_used(tmp_path):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    older = fake_run(results, work, spec, {"R2": [0, 1]}, QUICK)
    newer = fake_run(results, work, spec, {"R0": [0]}, SUBSET)
    past = time.time() - 100
    os.utime(older, (past, past))
    assert find_run(spec, "R0", results, work).manifest_path == newer
    run = find_run(spec, "R2", results, work)          # the newest run lacks R2: the older one has it
    assert run.manifest_path == older and not run.canonical
    assert run.describe() == "partial run (2/10 folds, epochs <= 2; status partial)"
    assert run.layout.records_root == results / "mcclstm" / "partial" / "table3_gtzan"


def test_unfinished_canonical_manifest_and_older_runner_layout_are_not_used(tmp_path):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R2": [0]}, FULL, canonical=True, status="running")
    with pytest.raises(NoTrainedRunError):
        find_run(spec, "R2", results, work)
    (results / "mcclstm" / "table3_gtzan_manifest.json").write_text(json.dumps({"status": "complete"}))
    with pytest.raises(NoTrainedRunError, match="older runner and lists no fold records"):
        find_run(spec, "R2", results, work)


def test_fold_selection(tmp_path):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R2": [0, 1]}, QUICK)
    run = find_run(spec, "R2", results, work)
    assert select_folds(run, spec, "R2") == [0]
    assert select_folds(run, spec, "R2", fold=1) == [1]
    assert select_folds(run, spec, "R2", ensemble=True) == [0, 1]
    with pytest.raises(NoTrainedRunError, match="fold 5 was not trained .* trained folds: 0, 1"):
        select_folds(run, spec, "R2", fold=5)


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"MCCLSTM": [0, 1]}, QUICK, checkpoint=False)
    with pytest.raises(NoTrainedRunError, match=r"checkpoints are not under .*partial run \(2/10 folds"):
        find_run(spec, "MCCLSTM", results, work)
    status = cli.main(["predict", "mcclstm.table3_gtzan", "MCCLSTM", "a.wav", "--results-dir", str(results),
                       "--work-dir", str(work)])
    err = capsys.readouterr().err
    assert status == 2 and "checkpoints are not under" in err and "make table3-gtzan" in err
    # one fold's checkpoint present, the other's missing: the run is used, the missing fold is named
    run_dir = next((work / "mcclstm" / "table3_gtzan" / "MCCLSTM").glob("fold_00-*"))
    (run_dir / "best.weights.h5").write_bytes(b"placeholder")
    run = find_run(spec, "MCCLSTM", results, work)
    with pytest.raises(ConfigError, match=r"checkpoint of mcclstm.table3_gtzan MCCLSTM fold 1 .* not found: .*"
                                          r"fold_01-[0-9a-f]{16}/best.weights.h5"):
        fold_source(spec, run, "MCCLSTM", 1)


def test_a_canonical_run_without_checkpoints_gives_way_to_a_partial_run_with_them(tmp_path):
    """A fresh clone has the committed canonical records but not their checkpoints (work/ is not committed)."""
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"MCCLSTM": list(range(10))}, FULL, canonical=True, checkpoint=False)
    fake_run(results, work, spec, {"MCCLSTM": [0, 1]}, QUICK)
    run = find_run(spec, "MCCLSTM", results, work)
    assert not run.canonical and run.caps == QUICK


def test_moved_work_folder_falls_back_to_the_records_folder(tmp_path):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R2": [0]}, QUICK)
    run = find_run(spec, "R2", results, tmp_path / "elsewhere")
    source = fold_source(spec, run, "R2", 0)
    assert source.checkpoint.is_file() and str(source.unit_dir).startswith(str(work))
    assert source.classes == GENRES


def test_changed_features_are_refused(tmp_path):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R2": [0]}, QUICK)
    record_path = next((results / "mcclstm" / "partial" / "table3_gtzan" / "folds" / "R2").rglob("*.json"))
    record = json.loads(record_path.read_text())
    record["identity_payload"]["features"] = "0123456789abcdef"
    record_path.write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="feature settings changed"):
        fold_source(spec, find_run(spec, "R2", results, work), "R2", 0)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R2": [0]}, QUICK)
    source = fold_source(spec, find_run(spec, "R2", results, work), "R2", 0)
    np.savez(source.unit_dir / "band_standardization.npz", mean=np.zeros(40, np.float32), std=np.ones(40, np.float32))
    with pytest.raises(ConfigError, match="does not load into R2"):
        fold_model(source)


@pytest.mark.parametrize("scheme", ["MFCC + SVM", "Timbre CNN", "End-to-end"])
def test_schemes_without_support_say_so(tmp_path, scheme):
    from papers.crnn_tf.tables import table2_fma, table3_gtzan as crnn_table3

    spec = crnn_table3() if scheme == "MFCC + SVM" else table2_fma()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {scheme: [0]}, QUICK)
    source = fold_source(spec, find_run(spec, scheme, results, work), scheme, 0)
    expected = f"predict is not supported for this scheme yet: crnn_tf.* {re.escape(repr(scheme))}"
    with pytest.raises(ConfigError, match=expected):
        fold_model(source)


def test_paper_without_hook_says_so(tmp_path):
    from papers.lstm_segment.tables import TABLES

    spec = next(iter(TABLES.values()))()
    scheme = spec.trainable()[0].name
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {scheme: [0]}, QUICK)
    source = fold_source(spec, find_run(spec, scheme, results, work), scheme, 0)
    with pytest.raises(ConfigError, match="not supported for this scheme yet.*names no inference adapter"):
        fold_model(source)


def test_ensemble_takes_neither_fold_nor_export(tmp_path):
    with pytest.raises(ConfigError, match="--ensemble"):
        predict_files(table3_gtzan(), "R2", ["a.wav"], results_dir=tmp_path, ensemble=True, fold=1)
    with pytest.raises(ConfigError, match="--ensemble"):
        predict_files(table3_gtzan(), "R2", ["a.wav"], results_dir=tmp_path, ensemble=True, export_dir=tmp_path)


def test_command_needs_files_or_export(tmp_path, capsys):
    assert cli.main(["predict", "mcclstm.table3_gtzan", "R2", "--results-dir", str(tmp_path)]) == 2
    assert "give one or more audio files" in capsys.readouterr().err
    with pytest.raises(SystemExit):         # argparse: --fold and --ensemble exclude each other
        cli.main(["predict", "mcclstm.table3_gtzan", "R2", "a.wav", "--fold", "0", "--ensemble"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_format_prediction_ranks_classes():
    item = FilePrediction(Path("x.wav"), np.array([0.1, 0.5, 0.15, 0.25]), "2 chunks of 1.858 s")
    text = format_prediction(item, ["a", "b", "c", "d"], "classes", top=3)
    assert text.splitlines() == ["x.wav (2 chunks of 1.858 s): top 3 classes", "   1. b  0.5000", "   2. d  0.2500",
                                 "   3. c  0.1500"]
    assert item.top(["a", "b", "c", "d"], 10)[-1] == ("a", pytest.approx(0.1))
    failed = FilePrediction(Path("y.wav"), None, error="y.wav: too short")
    assert format_prediction(failed, ["a"], "classes") == "y.wav: not predicted: y.wav: too short"


def test_a_fold_outside_the_protocol_is_named_as_such(tmp_path):
    # before: --fold -1 / --fold 99 suggested training with FOLDS=0 / FOLDS=100
    spec = table3_gtzan()
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"R2": [0, 1]}, QUICK)
    run = find_run(spec, "R2", results, work)
    for fold in (-1, 10, 99):
        with pytest.raises(ConfigError, match=rf"--fold {fold}: mcclstm.table3_gtzan has folds 0 to 9") as error:
            select_folds(run, spec, "R2", fold)
        assert "FOLDS=" not in str(error.value)
    with pytest.raises(NoTrainedRunError, match="FOLDS=6"):
        select_folds(run, spec, "R2", 5)


def test_a_folder_given_as_a_file_is_named_as_a_folder(tmp_path):
    from common.errors import AudioError
    from common.inference.preparation import prepare_file

    with pytest.raises(AudioError, match="is a folder, not an audio file"):
        prepare_file(table3_gtzan(), tmp_path)


def test_a_variant_runs_caps_are_read_back_with_it(tmp_path):
    # a group-aware split or a user's scheme module is part of the run's caps: predict must name it
    from common.inference.runs import _caps

    caps = RunCaps(folds_run=1, folds_in_protocol=10, epochs=2, schemes=("R0",), group_duplicates=True)
    assert _caps({"caps": caps.as_dict()}) == caps
    assert "group-aware split" in _caps({"caps": caps.as_dict()}).describe()
