"""Per-clip test results beside a fold record: a record they do not reproduce is never served."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from common.evaluation.metrics import macro_roc_auc
from common.runner import FoldOutcome, run_table
from common.runner.evidence import bootstrap_comparisons, save_evidence
from common.runner.records import RecordStore
from common.runner.spec import reference_table
from tests.runner_fixtures import tiny_gtzan, toy_spec

TEST_SELECTED = "roc_auc (best epoch on test, as the authors selected)"


def tag_metrics(evidence: dict) -> dict:
    """The toy tagging table's metric, from its evidence (as MagnaTagATune's tables compute it)."""
    return {"roc_auc": macro_roc_auc(evidence["y_true"], evidence["scores"])}


def _evidence(n=40, tags=5, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    y_true = np.zeros((n, tags), dtype=np.uint8)
    y_true[np.arange(n), np.arange(n) % tags] = 1
    return {"y_true": y_true, "scores": rng.random((n, tags)).astype(np.float32)}


def _stored_record(store: RecordStore, metrics: dict | None = None) -> dict:
    evidence = _evidence()
    record = {"scheme": "A", "fold": 0, "identity": "id0", "metrics": metrics or tag_metrics(evidence),
              "details": {}}
    record["evidence"] = save_evidence(store, "A", 0, "id0", evidence)
    store.save(record)
    return record


def test_an_edited_tagging_metric_is_refused_when_the_record_is_read(tmp_path):
    """Changing a record's roc_auc (0.49 -> 0.95) used to give a warning and a table showing 0.95."""
    store = RecordStore(tmp_path, evidence_metrics=tag_metrics)
    record = _stored_record(store)
    assert store.load("A", 0, "id0") == json.loads(store.path("A", 0, "id0").read_text())
    path = store.path("A", 0, "id0")
    edited = {**record, "metrics": {"roc_auc": 0.95}}
    path.write_text(json.dumps(edited))
    with pytest.warns(UserWarning, match=r"do not reproduce .*roc_auc 0\.95 vs .*the fold runs again"):
        assert store.load("A", 0, "id0") is None


def test_a_record_whose_evidence_file_is_gone_or_changed_is_refused(tmp_path):
    store = RecordStore(tmp_path, evidence_metrics=tag_metrics)
    record = _stored_record(store)
    evidence = store.path("A", 0, "id0").with_name("id0.evidence.npz")
    evidence.write_bytes(evidence.read_bytes() + b"x")
    with pytest.warns(UserWarning, match="checksum.*the fold runs again"):
        assert store.load("A", 0, "id0") is None
    evidence.unlink()
    with pytest.warns(UserWarning, match="unreadable.*the fold runs again"):
        assert store.load("A", 0, "id0") is None
    # a record that names no evidence is judged as before (nothing to check it against)
    store.save({key: value for key, value in record.items() if key != "evidence"})
    assert store.load("A", 0, "id0") is not None


class TagScheme:
    """Scores every genre as a tag at random (seeded by fold); returns its evidence like MTAT's schemes."""

    def __init__(self):
        self.calls = []

    def __call__(self, context):
        self.calls.append(context.split.fold)
        labels = context.labels(context.split.test)
        y_true = np.zeros((len(labels), len(context.index.classes)), dtype=np.uint8)
        y_true[np.arange(len(labels)), labels] = 1
        scores = np.random.default_rng(context.split.fold).random(y_true.shape).astype(np.float32)
        evidence = {"y_true": y_true, "scores": scores}
        return FoldOutcome(tag_metrics(evidence), {"n_test": len(labels)}, evidence=evidence)


class SingleSplit:
    """One predefined test set, like MagnaTagATune's: every fourth track (one per genre of the toy tree)."""

    n_folds = 1

    def make_splits(self, index):
        from common.evaluation.splits import Split

        ids = sorted(t.track_id for t in index.tracks)
        return [Split(fold=0, train=tuple(i for k, i in enumerate(ids) if k % 4),
                      validation=(), test=tuple(ids[::4]))]

    def describe(self) -> dict:
        return {"protocol": "toy single split"}


def tag_spec(scheme):
    spec = toy_spec(scheme, protocol=SingleSplit())
    return dataclasses.replace(spec, metrics=("roc_auc",), evidence_metrics=tag_metrics,
                               reference=reference_table({"[ref]": {"roc_auc": (0.9, None)},
                                                          "majority": {"roc_auc": (0.9, None)}}))


def test_an_edited_tagging_record_is_recomputed_and_never_published(tmp_path):
    """The issue's reproduction: an MTAT record's roc_auc edited to 0.95 was shown, with a warning."""
    data = tiny_gtzan(tmp_path / "data")

    def run(scheme, **kwargs):
        return run_table(tag_spec(scheme), data, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
                         progress=False, **kwargs)

    run(TagScheme())
    [path] = (tmp_path / "r/toy/table_toy/folds/majority/fold_00").glob("*.json")
    record = json.loads(path.read_text())
    true_auc = record["metrics"]["roc_auc"]
    record["metrics"]["roc_auc"] = 0.95
    path.write_text(json.dumps(record))
    table = tmp_path / "r/toy/table_toy.csv"

    # collect trains nothing: the edited record is refused, its row has no number (an unfinished
    # run's table, beside the canonical one, which keeps the number the scheme computed)
    with pytest.warns(UserWarning, match="do not reproduce"):
        run(TagScheme(), collect_only=True)
    assert pd.read_csv(table).set_index("scheme").loc["majority", "our_mean"] == pytest.approx(true_auc, abs=1e-4)
    row = pd.read_csv(tmp_path / "r/toy/partial/table_toy/full-protocol-unfinished/table_toy.csv").set_index(
        "scheme").loc["majority"]
    assert row["folds_run"] == 0 and pd.isna(row["our_mean"]) and row["status"] == "not run"

    # a run recomputes it
    again = TagScheme()
    with pytest.warns(UserWarning, match="the fold runs again"):
        run(again)
    assert again.calls == [0]
    assert json.loads(path.read_text())["metrics"]["roc_auc"] == pytest.approx(true_auc)
    row = pd.read_csv(table).set_index("scheme").loc["majority"]
    assert row["our_mean"] == pytest.approx(true_auc, abs=1e-4) and row["test"].startswith("bootstrap, 1000 ")


def test_a_test_selected_cell_says_it_was_selected_on_the_test_set(tmp_path):
    """Its bootstrap reason said "not computable from the per-clip test results"."""
    store = RecordStore(tmp_path)
    evidence = _evidence()
    metrics = {**tag_metrics(evidence), TEST_SELECTED: 0.7}
    record = _stored_record(store, metrics)
    spec = SimpleNamespace(paper="toy", table_id="t", metrics=("roc_auc", TEST_SELECTED), evidence_metrics=tag_metrics,
                           reference=reference_table({"A": {"roc_auc": (0.5, None), TEST_SELECTED: (0.5, None)}}))
    out = bootstrap_comparisons(spec, store, {"A": [record]}, n_resamples=50)
    assert out["A", "roc_auc"].test.startswith("bootstrap, ")
    selected = out["A", TEST_SELECTED]
    assert selected.verdict == "n/a" and "selected on the test set" in selected.test
    assert "not computable" not in selected.test
