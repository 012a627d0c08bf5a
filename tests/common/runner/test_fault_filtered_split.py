"""``--split fault-filtered`` / ``SPLIT=fault-filtered``: GTZAN's fault-filtered split as a variant of a table.

The caps, layout and status of such a run; the refusals (unknown split, a table not on GTZAN, with
``--group-duplicates``, ``all-results``); the comparison columns (an interval, no verdict); a run of the
toy table through the real runner on gtzan-mini's ids; and, end to end, on a generated 1000-track GTZAN.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from common import cli
from common.datasets import gtzan
from common.errors import ConfigError
from common.evaluation import gtzan_fault_filtered as ff
from common.outputs.report import build_report
from common.outputs.result_tables import scheme_status
from common.runner import DatasetSpec, run_table
from common.runner.execution import Request, collect_hint, with_split
from common.runner.layout import RunCaps, RunLayout
from common.runner.split_variant import split_variant_comparisons
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

REPO = Path(__file__).resolve().parents[3]
GTZAN_TABLES = ("mcclstm.table3_gtzan", "mcclstm.table3_gtzan_paper_init", "mcclstm.table3_gtzan_bass_time_wide",
                "crnn_tf.table3_gtzan")


def test_caps_layout_and_status_of_a_fault_filtered_run():
    caps = RunCaps(folds_run=1, folds_in_protocol=1, split="fault-filtered")
    assert caps.capped and caps.variant == "fault-filtered split" and caps.label() == "fault-filtered-split"
    assert caps.describe() == "fault-filtered split" and caps.as_dict()["split"] == "fault-filtered"
    layout = RunLayout(Path("r"), Path("w"), "p", "t", caps)
    assert layout.records_root == Path("r/p/partial/t")  # never the canonical records
    assert layout.partial_dir == Path("r/p/partial/t/fault-filtered-split")
    quick = RunCaps(folds_run=1, folds_in_protocol=1, epochs=1, schemes=("R0",), split="fault-filtered")
    assert quick.label() == "epochs-1_schemes-R0_fault-filtered-split"
    assert scheme_status(1, 1, None, caps.variant) == "variant: fault-filtered split"
    assert "split" not in RunCaps(folds_run=10, folds_in_protocol=10).as_dict()


def test_with_split_replaces_the_protocol_of_a_gtzan_table_only():
    spec = toy_spec(MajorityScheme())
    assert with_split(spec, None) == (spec, None) and with_split(spec, "paper") == (spec, None)
    changed, name = with_split(spec, "fault-filtered")
    assert name == "fault-filtered" and isinstance(changed.protocol, ff.FaultFilteredSplit)
    assert changed.protocol.n_folds == 1 and changed.schemes == spec.schemes
    with pytest.raises(ConfigError, match="unknown split 'random'.*'fault-filtered'.*'paper'"):
        with_split(spec, "random")
    with pytest.raises(ConfigError, match="--split fault-filtered and --group-duplicates are two variants"):
        with_split(spec, "fault-filtered", group_duplicates=True)
    ballroom = replace(spec, dataset=DatasetSpec("ballroom", gtzan.index, "BALLROOM_DIR", "data/ballroom"))
    with pytest.raises(ConfigError, match="this table is on ballroom") as refused:
        with_split(ballroom, "fault-filtered")
    assert all(name in str(refused.value) for name in GTZAN_TABLES)


def test_the_command_line_refuses_a_bad_split_before_any_work(tmp_path, capsys):
    common = ["--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "results"),
              "--work-dir", str(tmp_path / "work")]
    assert cli.main(["run", "mcclstm.table4_ballroom", "--split", "fault-filtered", *common]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: mcclstm.table4_ballroom: --split fault-filtered") and "Traceback" not in err
    assert all(name in err for name in GTZAN_TABLES)
    assert cli.main(["run", "mcclstm.table3_gtzan", "--split", "artist", *common]) == 2
    assert "unknown split 'artist'" in capsys.readouterr().err
    assert cli.main(["all-results", "--split", "fault-filtered", *common[2:]]) == 2
    assert "not to all-results" in capsys.readouterr().err
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()


def test_make_passes_split():
    def dry(*variables):
        return subprocess.run(["make", "-n", "-s", "table3-gtzan", "VENV=.venv", *variables], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout
    assert "--split 'fault-filtered'" in dry("SPLIT=fault-filtered")
    assert "--split" not in dry()


def _record(labels, predictions, accuracy, scheme="R0"):
    return {"scheme": scheme, "fold": 0, "identity": "x", "metrics": {"accuracy": accuracy},
            "details": {"test_labels": labels, "test_predictions": predictions}}


def test_a_split_variant_cell_gets_a_test_set_interval_and_no_verdict():
    spec = toy_spec(MajorityScheme())
    labels, predictions = [0, 1, 2, 3] * 10, [0, 1, 2, 0] * 10  # 75 % right
    cells = split_variant_comparisons(spec, {"R0": [_record(labels, predictions, 75.0)],
                                             "CRNN": [_record(labels, predictions, 0.75, "CRNN")],
                                             "bad": [_record(labels, predictions, 60.0, "bad")],
                                             "none": [{"scheme": "none", "fold": 0, "metrics": {"accuracy": 50.0},
                                                       "details": {}}]}, "fault-filtered split")
    for scheme, top in (("R0", 100.0), ("CRNN", 1.0)):
        cell = cells[scheme, "accuracy"]
        assert cell.verdict == "n/a" and math.isnan(cell.p_value)
        assert 0 <= cell.ci95_low < 0.75 * top < cell.ci95_high <= top
        assert cell.test.startswith("no verdict: another protocol (fault-filtered split")
        assert cell.test.endswith("(interval: bootstrap, 1000 resamples of 40 test items)")
    assert "do not give the record's accuracy 60" in cells["bad", "accuracy"].test
    assert math.isnan(cells["bad", "accuracy"].ci95_low) and cells["bad", "accuracy"].verdict == "n/a"
    assert cells["none", "accuracy"].test.endswith("no interval: no per-track test decisions in the fold record")


def _saved_splits(folder: Path) -> list[dict]:
    [path] = sorted(folder.glob("*.json"))
    return json.loads(path.read_text())["folds"]


def test_a_run_on_gtzan_mini_ids_uses_the_listed_ids_present_as_a_variant(tmp_path, capsys):
    data = tiny_gtzan(tmp_path / "data", per_genre=10, seconds=0.17)  # ids 00000-00009 of each genre, as gtzan-mini
    results, work = tmp_path / "results", tmp_path / "work"
    run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, progress=False)  # paper's split
    canonical = {p: p.read_bytes() for p in (results / "toy").glob("table_toy*") if p.is_file()}
    capsys.readouterr()

    scheme = MajorityScheme()
    table = run_table(toy_spec(scheme), data, results_dir=results, work_dir=work, progress=False,
                      split="fault-filtered").set_index("scheme")
    out = capsys.readouterr().out
    assert scheme.calls == [0]
    assert {p: p.read_bytes() for p in (results / "toy").glob("table_toy*") if p.is_file()} == canonical
    lists = ff.read_lists()
    [fold] = _saved_splits(results / "toy/partial/table_toy/splits")
    for part in ff.PARTS:  # exactly the listed ids present
        assert fold[part] == sorted(i for i in lists[part] if int(i.split(".")[1]) < 10)
    counts = {part: len(fold[part]) for part in ff.PARTS}
    assert f"listed ids present: train {counts['train']}/443, validation {counts['validation']}/197, " \
           f"test {counts['test']}/290" in out
    assert "blues, classical, country have validation tracks but no training track" in out
    row = table.loc["majority"]
    assert row["status"] == "subset: 100/1000 tracks, variant: fault-filtered split"
    assert row["verdict"] == "n/a" and row["test"].startswith("no verdict: another protocol (fault-filtered split")
    assert math.isnan(row["p_value"]) and row["ci95_low"] <= row["our_mean"] <= row["ci95_high"]
    assert math.isnan(row["difference"])  # no ours-minus-paper against another protocol's number
    variant = results / "toy/partial/table_toy/fault-filtered-split"
    manifest = json.loads((variant / "table_toy_manifest.json").read_text())
    assert manifest["caps"]["split"] == "fault-filtered" and manifest["caps"]["description"] == "fault-filtered split"
    assert manifest["protocol"]["protocol"] == "gtzan_fault_filtered_split"
    removed = sorted(f"{g}.{n:05d}" for g in gtzan.GENRES for n in range(10)
                     if f"{g}.{n:05d}" not in {i for ids in lists.values() for i in ids})
    assert manifest["split_filter"]["removed_by_filter"] == removed and len(removed) == 100 - sum(counts.values())
    assert manifest["comparison"]["verdict"]["cells_compared"] == 0  # nothing tested against the paper

    report = build_report(results, known_tables=[])
    section = report.split("## Other splits")[1].split("## Tables not run")[0]
    [line] = [ln for ln in section.splitlines() if ln.startswith("| toy.table_toy | majority |")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3].endswith("(3 folds, 100 tracks)") and cells[4].endswith("(1 fold, 100 tracks)")
    assert cells[6] == str(counts["test"]) and "canonical" in cells[7] and "fault-filtered-split" in cells[8]

    again = MajorityScheme()
    run_table(toy_spec(again), data, results_dir=results, work_dir=work, progress=False, split="fault-filtered")
    assert again.calls == []  # the variant's record is reused by the same variant
    capped = run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, epochs=1, progress=False,
                       split="fault-filtered").set_index("scheme").loc["majority"]
    assert capped["status"] == "subset: 100/1000 tracks, partial: 1/1 folds, epochs <= 1, fault-filtered split"
    assert capped["verdict"] == "n/a" and capped["test"].count("(interval: ") == 1  # the reason stands as written
    assert capped["test"].startswith("no verdict: another protocol (fault-filtered split")
    with pytest.raises(ConfigError, match="FOLDS=2 but the protocol has 1 fold"):
        run_table(toy_spec(MajorityScheme()), data, results_dir=results, work_dir=work, folds=2, progress=False,
                  split="fault-filtered")
    request = Request(toy_spec(scheme), data, results, work, None, None, ("majority",), None, 0, 0, False, 0.0,
                      split="fault-filtered")
    hint = collect_hint(request)
    assert "--split fault-filtered" in hint and "SPLIT=fault-filtered" in hint


@pytest.mark.e2e
def test_a_full_size_generated_gtzan_uses_all_443_197_290(tmp_path):
    """1000 generated clips of 0.17 s (about 30 s on 2 cores): every listed id is used, the 70 others are removed."""
    data = tiny_gtzan(tmp_path / "data", per_genre=100, seconds=0.17)
    table = run_table(toy_spec(MajorityScheme()), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
                      progress=False, split="fault-filtered").set_index("scheme")
    [fold] = _saved_splits(tmp_path / "r/toy/partial/table_toy/splits")
    lists = ff.read_lists()
    assert {part: fold[part] for part in ff.PARTS} == {part: sorted(ids) for part, ids in lists.items()}
    assert [len(fold[part]) for part in ff.PARTS] == [443, 197, 290]
    manifest = json.loads((tmp_path / "r/toy/partial/table_toy/fault-filtered-split/table_toy_manifest.json").read_text())
    assert manifest["split_filter"]["n_removed_by_filter"] == 70
    assert table.loc["majority", "status"] == "variant: fault-filtered split"
    assert table.loc["majority", "test"].endswith("resamples of 290 test items)")
    frame = pd.read_csv(tmp_path / "r/toy/partial/table_toy/fault-filtered-split/table_toy.csv", keep_default_na=False)
    assert set(frame["verdict"]) == {"n/a"}


def test_predict_reads_the_split_of_a_run_and_names_it_in_its_training_command():
    from common.inference.runs import TrainedRun, _caps, retrain_command

    manifest = {"caps": RunCaps(folds_run=1, folds_in_protocol=1, epochs=1, schemes=("R0",),
                                split="fault-filtered").as_dict()}
    caps = _caps(manifest)
    assert caps.split == "fault-filtered" and caps.label() == "epochs-1_schemes-R0_fault-filtered-split"
    run = TrainedRun(Path("m.json"), manifest, False, caps, RunLayout(Path("r"), Path("w"), "toy", "table_toy", caps))
    command, _ = retrain_command(toy_spec(MajorityScheme()), "majority", run, Path("work"), None)
    assert "SPLIT=fault-filtered" in command.replace("'", "")
