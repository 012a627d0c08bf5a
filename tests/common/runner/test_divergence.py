"""A unit whose training diverges is recorded as diverged, never as a result.

Through the runner (and the real CLI, on the toy table of tests/runner_fixtures.py): the run goes
on with the other units, prints one ``diverged: ...`` line per unit, writes the table with no
number in that row and a status ``diverged in fold k (epoch e)``, exits with status 3, keeps the
verdict for an unchanged identity (no retraining), and never publishes the unit's checkpoint.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import common.cli
from common.cli import DIVERGED_EXIT_STATUS, main
from common.runner import Scheme, run_table
from common.runner.records import RecordStore
from tests.runner_fixtures import KerasScheme, MajorityScheme, tiny_gtzan, toy_spec


def _toy(spec, monkeypatch):
    monkeypatch.setattr(common.cli, "available_tables", lambda: {"toy.table_toy": lambda: spec})


def _run(tmp_path, data, command="run"):
    return main([command, "toy.table_toy", "--data-dir", str(data), "--folds", "2", "--results-dir",
                 str(tmp_path / "results"), "--work-dir", str(tmp_path / "work"), "--no-progress",
                 "--keras-verbose", "0"])


def test_learning_rate_1e30_through_the_cli_gives_a_diverged_row_and_exit_status_3(tmp_path, monkeypatch, capsys):
    data = tiny_gtzan(tmp_path / "data")
    diverging, majority = KerasScheme(learning_rate=1e30), MajorityScheme()
    _toy(toy_spec(majority, extra_schemes=(Scheme("keras", diverging, "softmax, lr 1e30"),)), monkeypatch)
    assert _run(tmp_path, data) == DIVERGED_EXIT_STATUS
    out, err = capsys.readouterr()
    assert diverging.calls == [0, 1] and majority.calls == [0, 1]  # the run went on with the other units
    lines = [line for line in out.splitlines() if line.startswith("diverged: ")]
    assert lines == ["diverged: keras fold 1 at epoch 1: training loss nan",
                     "diverged: keras fold 2 at epoch 1: training loss nan"]
    assert err.strip().splitlines()[-1].startswith("diverged: 2 of 4 units of toy.table_toy (keras fold 1, keras fold 2) "
                                                   "have no result")

    folder = tmp_path / "results/toy/partial/table_toy/folds-2of3"
    table = pd.read_csv(folder / "table_toy.csv", keep_default_na=False).set_index("scheme")
    row = table.loc["keras"]
    assert row["our_mean"] == "" and row["our_std"] == "" and row["difference"] == ""  # no number
    assert row["status"] == "diverged in folds 1 (epoch 1), 2 (epoch 1); subset: 40/1000 tracks, partial: 2/3 folds"
    assert row["verdict"] == "n/a" and "diverged" in row["test"]
    assert table.loc["majority", "our_mean"] != ""  # the other row is a result as before
    folds = pd.read_csv(folder / "table_toy_folds.csv")
    keras_folds = folds[folds["scheme"] == "keras"]
    assert keras_folds["accuracy"].isna().all() and keras_folds["diverged"].tolist() == [
        "at epoch 1: training loss nan"] * 2
    assert folds.loc[folds["scheme"] == "majority", "accuracy"].notna().all()
    manifest = json.loads((folder / "table_toy_manifest.json").read_text())
    assert manifest["diverged"] == {"keras/fold_00": "at epoch 1: training loss nan",
                                    "keras/fold_01": "at epoch 1: training loss nan"}
    assert not any(key.startswith("keras/") for key in manifest["records"])  # predict never finds it

    # the checkpoint of a diverged unit is neither published nor left as a unit's best weights
    work = tmp_path / "work/toy/table_toy/keras"
    assert not (work / "fold_00" / "best.weights.h5").exists()
    unit = next(work.glob("fold_00-*"))
    assert not (unit / "best.weights.h5").exists() and (unit / "diverged.weights.h5").is_file()
    assert main(["report", "--results-dir", str(tmp_path / "results")]) == 0
    report = (tmp_path / "results" / "REPORT.md").read_text()
    assert "2 units diverged (keras/fold_00 at epoch 1: training loss nan; keras/fold_01" in report

    # an unchanged identity reuses the verdict: nothing is trained again, same table, same status
    assert _run(tmp_path, data) == DIVERGED_EXIT_STATUS
    assert diverging.calls == [0, 1]
    assert "diverged earlier with the same identity" in capsys.readouterr().out
    assert _run(tmp_path, data, "collect") == DIVERGED_EXIT_STATUS
    again = pd.read_csv(folder / "table_toy.csv", keep_default_na=False).set_index("scheme")
    assert again.loc["keras", "status"] == row["status"] and again.loc["keras", "our_mean"] == ""


def test_a_model_that_outputs_nan_only_on_the_test_inputs_is_caught(tmp_path):
    data = tiny_gtzan(tmp_path / "data")
    nan_on_large = KerasScheme(learning_rate=0.1, test_scale=100.0, nan_above=10.0)
    spec = toy_spec(MajorityScheme(), extra_schemes=(Scheme("keras", nan_on_large, "NaN on large inputs"),))
    table = run_table(spec, data, results_dir=tmp_path / "results", work_dir=tmp_path / "work", folds=1,
                      progress=False, verbose=0)
    row = table.set_index("scheme").loc["keras"]
    assert np.isnan(row["our_mean"]) and row["status"].startswith("diverged in fold 1 (after epoch 2); ")
    assert len(table.attrs["diverged"]) == 1
    assert table.attrs["diverged"][0].startswith("diverged: keras fold 1 after epoch 2: model outputs nan for ")
    assert table.attrs["diverged"][0].endswith(" inputs (model.predict)")


def test_the_same_model_with_test_inputs_in_range_is_a_result(tmp_path):
    """The check is no false alarm: the NaN layer never fires on inputs within its limit."""
    data = tiny_gtzan(tmp_path / "data")
    spec = toy_spec(MajorityScheme(), extra_schemes=(
        Scheme("keras", KerasScheme(learning_rate=0.1, test_scale=1.0, nan_above=10.0), "in range"),))
    table = run_table(spec, data, results_dir=tmp_path / "results", work_dir=tmp_path / "work", folds=1,
                      progress=False, verbose=0)
    row = table.set_index("scheme").loc["keras"]
    assert np.isfinite(row["our_mean"]) and "diverged" not in row["status"] and table.attrs["diverged"] == []


def _diverged_record(identity="abc"):
    return {"scheme": "s", "fold": 0, "identity": identity, "identity_payload": {}, "status": "diverged",
            "divergence": {"what": "training loss nan", "epoch": 3, "during_training": True},
            "seconds": 1.0, "finished": "now", "work_dir": "w"}


def test_a_diverged_record_is_never_served_as_a_result(tmp_path):
    store = RecordStore(tmp_path)
    store.save(_diverged_record())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid diverged record is no problem: no warning
        assert store.load("s", 0, "abc") is None
        assert store.load_divergence("s", 0, "abc")["divergence"]["epoch"] == 3
        assert store.load_any("s", 0, "abc")["status"] == "diverged"


@pytest.mark.parametrize("change, problem", [
    (lambda r: r.update(metrics={"accuracy": 10.0}), "is marked diverged but holds metrics"),
    (lambda r: r.pop("divergence"), "says nothing of how"),
    (lambda r: r["divergence"].update(what=""), "does not say what was non-finite"),
    (lambda r: r["divergence"].update(epoch=-1), "not a whole number >= 0"),
    (lambda r: r["divergence"].update(epoch=True), "not a whole number >= 0"),
    (lambda r: r["divergence"].pop("during_training"), "during or after training"),
    (lambda r: r.update(status="crashed"), "has status 'crashed'"),
])
def test_a_malformed_diverged_record_is_refused_with_a_warning_and_the_unit_runs_again(tmp_path, change, problem):
    store = RecordStore(tmp_path)
    record = _diverged_record()
    change(record)
    store.save(record)
    with pytest.warns(UserWarning, match=problem):
        assert store.load("s", 0, "abc") is None
    with pytest.warns(UserWarning, match=problem):
        assert store.load_divergence("s", 0, "abc") is None


def test_a_tampered_diverged_record_is_recomputed(tmp_path):
    """A diverged record edited to carry metrics is refused, and the unit trains again (and diverges again)."""
    data = tiny_gtzan(tmp_path / "data")
    diverging = KerasScheme(learning_rate=1e30)
    spec = toy_spec(MajorityScheme(), extra_schemes=(Scheme("keras", diverging, "lr 1e30"),))
    kwargs = dict(results_dir=tmp_path / "results", work_dir=tmp_path / "work", folds=1, schemes=["keras"],
                  progress=False, verbose=0)
    run_table(spec, data, **kwargs)
    path = next((tmp_path / "results/toy/table_toy/folds/keras/fold_00").glob("*.json"))
    record = json.loads(path.read_text())
    record["metrics"] = {"accuracy": 90.0}
    path.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="is marked diverged but holds metrics"):
        table = run_table(spec, data, **kwargs)
    assert diverging.calls == [0, 0]
    assert np.isnan(table.set_index("scheme").loc["keras", "our_mean"])
    assert "metrics" not in json.loads(path.read_text())
