"""A user's tagging model under MsE-CNN Table 1's protocol (papers/msecnn/user_scheme.py, examples/msecnn_tagging_cnn.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common.runner import run_table
from common.runner.scheme_module import add_scheme_module, table_adapter
from papers.msecnn import tables
from tests.papers.msecnn.test_e2e import TAGS, TINY_MODEL, _clips
from tests.mtat_fixtures import write_mtat_tree

EXAMPLE = "examples/msecnn_tagging_cnn.py"


def test_the_example_builds_for_the_tables_clip_input_and_50_sigmoid_tags():
    spec = tables.table1_mtat()
    _, table_input = table_adapter(spec)
    assert table_input.shape == (96, 1366) and table_input.n_outputs == 50 and table_input.outputs == "tags"
    row = add_scheme_module(spec, EXAMPLE).schemes[-1]  # builds it and checks shapes and probabilities
    assert row.name == "TaggingCNN" and row.config["input_shape"] == [96, 1366]
    assert row.config["training"]["optimizer"] == "adam" and row.config["training"]["patience"] == 10
    assert row.config["store_dtype"] == "float16"


@pytest.mark.e2e
def test_the_example_on_a_toy_magnatagatune_tree(tmp_path):
    root = write_mtat_tree(tmp_path / "mtat", _clips(), TAGS)
    spec = add_scheme_module(tables.table1_mtat(model_config=TINY_MODEL), EXAMPLE)
    results, work = tmp_path / "results", tmp_path / "work"
    run_table(spec, root, results_dir=results, work_dir=work, epochs=1, schemes=["TaggingCNN"], verbose=0,
              progress=False)
    out = results / "msecnn" / "partial" / "table1_mtat" / "epochs-1_scheme-module-TaggingCNN"
    table = pd.read_csv(out / "table1_mtat.csv", keep_default_na=False)
    ours = table[table["scheme"] == "TaggingCNN"]
    assert ours["metric"].tolist() == ["roc_auc", "pr_auc"]
    assert (ours["paper_mean"] == "").all() and ours["status"].str.startswith("own model, ").all()
    assert ours["our_mean"].astype(float).between(0, 1).all()
    manifest = json.loads((out / "table1_mtat_manifest.json").read_text())
    assert manifest["caps"]["scheme_module"] == "TaggingCNN" and not (results / "msecnn" / "table1_mtat.csv").exists()

    from common.inference.fold_model import fold_source
    from common.inference.preparation import prepare_file
    from common.inference.runs import find_run

    source = fold_source(spec, find_run(spec, "TaggingCNN", results, work), "TaggingCNN", 0)
    clip = next(p for p in sorted(root.rglob("*.mp3")) if p.stat().st_size > 10_000)
    probabilities = spec.schemes[-1].predictor(source).probabilities(prepare_file(spec, clip))
    assert probabilities.shape == (50,) and np.all((probabilities >= 0) & (probabilities <= 1))
