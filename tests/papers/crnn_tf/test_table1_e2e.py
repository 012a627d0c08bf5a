"""End to end: CRNN-TF Table I (MTAT tagging) and the Fig. 5 ablation through the real runner on a tiny
generated MagnaTagATune tree (real mp3s, the release's annotation format; tiny models, 1 epoch)."""

import json

import numpy as np
import pandas as pd
import pytest

from common.runner import run_table
from papers.crnn_tf.config import DIRECTIONS
from common.training.epoch_test_evaluation import selected_on_test_name
from papers.crnn_tf.tables import TABLE1_METRICS, fig5_mtat, with_test_selected
from tests.papers.crnn_tf.tiny_settings import tiny_settings
from tests.run_outputs import fold_record, table_folder

SCHEMES = ["FCN", "Timbre CNN", "End-to-end", "CRNN", "CRNN-TF", "CRNN-TF (GRU)"]


@pytest.mark.e2e
def test_table1_on_tiny_mtat(table1_run):
    out = table_folder(table1_run.results, "crnn_tf", "table1_mtat")  # epochs <= 1: a partial table
    table = pd.read_csv(out / "table1_mtat.csv")
    assert table.shape == table1_run.frame.shape
    assert list(dict.fromkeys(table["scheme"])) == SCHEMES
    assert set(table["metric"]) == set(with_test_selected(TABLE1_METRICS))
    assert table["status"].str.endswith("partial: 1/1 folds, epochs <= 1").all() and (table["folds_run"] == 1).all()
    assert table["our_mean"].between(0, 1).all()
    paper = table.set_index(["scheme", "metric"])["paper_mean"]
    assert paper[("CRNN-TF", "AUC")] == pytest.approx(0.9078) and paper[("FCN", "JSC")] == pytest.approx(0.3501)
    assert np.isnan(paper[("CRNN-TF (GRU)", "AUC")])  # not a row of the paper
    # the paper's number is compared with the validation-selected result and with the labelled test-selected one
    labelled = selected_on_test_name("AUC")
    assert labelled == "AUC (best epoch on test, as the authors selected)"
    assert paper[("CRNN-TF", labelled)] == pytest.approx(0.9078)

    manifest = json.loads((out / "table1_mtat_manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["caps"]["epochs"] == 1
    assert "91" in manifest["skipped_tracks"]                        # undecodable mp3
    assert any("empty" in r for r in manifest["dataset"]["problems"].values())

    fold = fold_record(table1_run.results, "crnn_tf", "table1_mtat", "CRNN-TF")
    record = fold["details"]
    assert record["n_train_tracks"] == 8 and record["n_validation_tracks"] == 2 and record["n_test_tracks"] == 4
    per_tag = record["per_tag_auc"]
    assert len(per_tag) == 50 and set(record["test_tags_left_out"]) == {t for t, a in per_tag.items() if a is None}
    evaluated = [a for a in per_tag.values() if a is not None]
    assert len(evaluated) == 50 - len(record["test_tags_left_out"]) >= 3
    assert np.mean(evaluated) == pytest.approx(fold["metrics"]["AUC"])  # macro AUC = mean of per-tag AUCs
    assert table.set_index(["scheme", "metric"])["our_mean"][("CRNN-TF", "AUC")] == pytest.approx(
        fold["metrics"]["AUC"], abs=1e-4)
    assert np.load(record["test_scores_file"]).shape == (4, 50)
    # per-epoch test scores: one per epoch run; each test-selected value is the best of its epochs, so it is
    # at least the validation-selected checkpoint's (which is one of those epochs)
    epochs = record["epoch_test_metrics"]
    assert [e["epoch"] for e in epochs] == list(range(1, record["epochs_run"] + 1))
    for metric in TABLE1_METRICS:
        chosen = fold["metrics"][selected_on_test_name(metric)]
        assert chosen == pytest.approx(max(e[metric] for e in epochs))
        assert chosen >= fold["metrics"][metric] - 1e-5
    assert record["epoch_test_best"]["AUC"]["epoch"] in range(1, record["epochs_run"] + 1)
    fcn = fold_record(table1_run.results, "crnn_tf", "table1_mtat", "FCN")["details"]
    assert fcn["model_config"]["block_dropout"] == 0.5

    per_tag_csv = pd.read_csv(out / "table1_mtat_per_tag_auc.csv")
    assert list(per_tag_csv.columns[:2]) == ["tag", "popularity_rank"] and set(SCHEMES) <= set(per_tag_csv.columns)
    assert len(per_tag_csv) == 50 and (out / "table1_mtat_per_tag_auc.png").stat().st_size > 0
    # the clip models share one set of feature stores; the checkpoint Table III starts from is kept
    assert (table1_run.work / "crnn_tf" / "feature_store" / "magnatagatune" / "train" / "meta.json").is_file()
    assert table1_run.crnn_tf_weights.is_file()


@pytest.mark.e2e
def test_fig5_on_tiny_mtat(table1_run):
    subsets = {"Ar": ("Ar",), "Arc": ("Ar", "Ac"), "ABCDrc": DIRECTIONS}
    store = table1_run.work / "crnn_tf" / "feature_store" / "magnatagatune" / "train" / "features.npy"
    built = store.stat().st_mtime_ns
    frame = run_table(fig5_mtat(tiny_settings(fig5_subsets=subsets)), table1_run.data, results_dir=table1_run.results,
                      work_dir=table1_run.work, epochs=1, verbose=0, progress=False)
    out = table_folder(table1_run.results, "crnn_tf", "fig5_mtat")
    table = pd.read_csv(out / "fig5_mtat.csv")
    assert table.shape == frame.shape and list(dict.fromkeys(table["scheme"])) == list(subsets)
    assert table["our_mean"].between(0, 1).all() and table["paper_mean"].isna().all()
    assert (out / "fig5_mtat_auc.png").stat().st_size > 0
    record = fold_record(table1_run.results, "crnn_tf", "fig5_mtat", "Arc")["details"]
    assert record["model_config"]["directions"] == ["Ar", "Ac"]
    assert store.stat().st_mtime_ns == built  # Table I's feature stores were reused, not rewritten
