"""Fold records read back from disk: metric values and stored test decisions are checked before use.

A hand-edited or bit-rotted record must never reach a table: it is reported (a warning naming the
file and the problem) and its unit is recomputed. Uses the toy table (no training).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from common.runner import run_table
from common.runner.records import decision_problem, metric_value_problem
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec


def run(spec, data, tmp_path, **kwargs):
    return run_table(spec, data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", progress=False, **kwargs)


def fold0_record(tmp_path):
    [path] = (tmp_path / "r/toy/table_toy/folds/majority/fold_00").glob("*.json")
    return path


@pytest.mark.parametrize("raw, problem", [
    ("99.0", "stored test predictions give"),   # hand-edited: the predictions give another accuracy
    ("\"abc\"", "not a number"),
    ("null", "not a number"),
    ("1e309", "not a finite number"),          # JSON's 1e309 reads back as inf
    ("NaN", "not a finite number"),
    ("-5", "below 0"),
    ("150.0", "above its largest possible value 100"),
])
def test_an_inconsistent_record_is_reported_and_recomputed(tmp_path, raw, problem):
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme()), data, tmp_path)
    path = fold0_record(tmp_path)
    original = json.loads(path.read_text())
    trained_manifest = json.loads((tmp_path / "r/toy/table_toy_manifest.json").read_text())
    text = path.read_text()
    value = json.dumps(original["metrics"]["accuracy"])
    assert text.count(f'"accuracy": {value}') == 1
    path.write_text(text.replace(f'"accuracy": {value}', f'"accuracy": {raw}'))

    again = MajorityScheme()
    with pytest.warns(UserWarning, match=rf"fold record {path}.*{problem}.*the fold runs again"):
        frame = run(toy_spec(again), data, tmp_path)
    assert again.calls == [0]  # only the bad unit is recomputed
    assert json.loads(path.read_text())["metrics"] == original["metrics"]
    table = pd.read_csv(tmp_path / "r/toy/table_toy.csv").set_index("scheme")
    folds = pd.read_csv(tmp_path / "r/toy/table_toy_folds.csv")
    assert table.loc["majority", "folds_run"] == 3 and table.loc["majority", "status"] != "not run"
    assert table.loc["majority", "our_mean"] == pytest.approx(folds["accuracy"].mean(), abs=1e-3)
    assert frame.set_index("scheme").loc["majority", "our_mean"] == pytest.approx(folds["accuracy"].mean(), abs=1e-3)
    # the recomputing run wrote its own manifest: the old one no longer vouches for the records
    manifest = json.loads((tmp_path / "r/toy/table_toy_manifest.json").read_text())
    assert manifest["started"] != trained_manifest["started"] and manifest["status"] == "complete"


def test_a_consistent_record_is_reused_without_a_warning(tmp_path, recwarn):
    data = tiny_gtzan(tmp_path / "data")
    run(toy_spec(MajorityScheme()), data, tmp_path, folds=1)
    again = MajorityScheme()
    run(toy_spec(again), data, tmp_path, folds=1)
    assert again.calls == [] and not [w for w in recwarn if "fold record" in str(w.message)]


@pytest.mark.parametrize("name, value, problem", [
    ("accuracy", 88.5, None), ("accuracy", 0.64, None), ("accuracy", 0, None), ("roc_auc", 0.9, None),
    ("AUC", 1.2, "above its largest possible value 1"), ("pr_auc", -0.1, "below 0"),
    ("F1", 1.5, "above"), ("Recall@10", 1.01, "above"), ("NDCG@50", 2.0, "above"),
    ("accuracy", True, "not a number"), ("accuracy", [40.0], "not a number"), ("accuracy", math.inf, "finite"),
])
def test_metric_values_must_be_finite_numbers_in_range(name, value, problem):
    found = metric_value_problem(name, value)
    assert (found is None) if problem is None else (problem in found)


def test_decisions_are_checked_in_either_unit_and_per_metric():
    details = {"test_labels": [0, 1, 2, 3], "test_predictions": [0, 1, 0, 0]}
    assert decision_problem({"metrics": {"accuracy": 50.0}, "details": details}) is None       # percent
    assert decision_problem({"metrics": {"accuracy": 0.5, "AUC": 0.7}, "details": details}) is None  # fraction
    assert "give 50 %" in decision_problem({"metrics": {"accuracy": 75.0}, "details": details})
    by_metric = {"test_labels": [0, 1], "test_predictions_by_metric": {"seg_accuracy": [0, 1], "lseg_accuracy": [1, 1]}}
    assert decision_problem({"metrics": {"seg_accuracy": 100.0, "lseg_accuracy": 50.0}, "details": by_metric}) is None
    assert "'lseg_accuracy'" in decision_problem({"metrics": {"seg_accuracy": 100.0, "lseg_accuracy": 100.0},
                                                  "details": by_metric})
    short = {"test_labels": [0, 1], "test_predictions": [0]}
    assert "do not pair up" in decision_problem({"metrics": {"accuracy": 100.0}, "details": short})
    assert decision_problem({"metrics": {"roc_auc": 0.9}, "details": {"test_ids": ["a"]}}) is None  # tags: no decisions
