"""End to end: Table 1 on a tiny generated MagnaTagATune tree, through the real runner.

The tree has the release layout (folders 0-f, quoted tab-separated annotations_final.csv with 52
tag columns, clip_info_final.csv) and real 16 kHz mp3 clips of 29.5 s, so the features are the
paper's 96 x 1366 spectrograms. Only the models are scaled down for speed: both are trained with
filter counts (4, 4, 8, 8, 8) instead of FCN-5's (128, ..., 2048) -- same depth, pools and
multi-scale links -- for 2 epochs. Bad input: one empty mp3 (index problem), one undecodable and
one 5-second clip (refused at extraction and recorded as skipped).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common.models.fcn import FCNConfig
from common.runner import run_table
from tests.run_outputs import fold_record, table_folder
from common.training.trainer import gpu_count
from papers.msecnn import tables
from tests.mtat_fixtures import Clip, write_mtat_tree

TAGS = ["guitar", "classical", "slow", "techno", "strings"] + [f"tag{i:02d}" for i in range(47)]

TINY_MODEL = FCNConfig(filters=(4, 4, 8, 8, 8))


def _clips():
    plan = [("0", {"guitar", "slow"}), ("1", {"classical", "strings"}), ("2", {"guitar", "techno"}),
            ("5", {"classical"}), ("a", {"guitar"}), ("b", {"techno", "slow"}),
            ("c", {"guitar"}), ("c", {"classical", "slow"}),
            ("d", {"guitar", "slow"}), ("d", {"classical"}), ("e", {"guitar", "techno"}), ("f", {"strings"})]
    clips = [Clip(str(i + 1), folder, tags, seconds=29.5, frequency=220.0 * (1 + ("guitar" in tags)) + 50 * i)
             for i, (folder, tags) in enumerate(plan)]
    clips += [Clip("90", "3", {"guitar"}, audio="empty"), Clip("91", "4", {"guitar"}, audio="corrupt"),
              Clip("92", "d", {"slow"}, seconds=5.0)]
    return clips


@pytest.mark.e2e
def test_table1_end_to_end(tmp_path):
    root = write_mtat_tree(tmp_path / "mtat", _clips(), TAGS)
    spec = tables.table1_mtat(model_config=TINY_MODEL)
    frame = run_table(spec, root, results_dir=tmp_path / "results", work_dir=tmp_path / "work", epochs=2,
                      verbose=0, progress=False)
    out = table_folder(tmp_path / "results", "msecnn", "table1_mtat")  # epochs <= 2: a partial table
    csv = pd.read_csv(out / "table1_mtat.csv")
    assert len(csv) == len(frame) == 15     # 5 rows with ROC-AUC and PR-AUC, 5 with ROC-AUC only
    ours = csv[csv["status"] == "subset: 12/25863 tracks, partial: 1/1 folds, epochs <= 2"]  # not the release
    assert sorted(set(ours["scheme"])) == ["FCN-5", "MsE-CNN"]
    # one test split: a seeded bootstrap over its 4 test clips, recomputed from the stored per-clip scores;
    # epochs <= 2 is not the paper's training, so the interval comes without a verdict
    assert ours["test"].str.startswith("no verdict: epochs <= 2, not the paper's training (interval: bootstrap, ").all()
    assert ours["ci95_low"].notna().all() and ours["p_value"].isna().all()
    assert set(ours["metric"]) == {"roc_auc", "pr_auc"}
    assert ours["our_mean"].between(0.0, 1.0).all() and (ours["folds_run"] == 1).all()
    assert (csv.loc[csv["status"] == "paper-only", "our_mean"].isna()).all()
    assert set(csv.loc[csv["status"] == "paper-only", "scheme"]) == set(tables.PAPER_ONLY)

    manifest = json.loads((out / "table1_mtat_manifest.json").read_text())
    assert manifest["status"] == "partial"
    assert set(manifest["skipped_tracks"]) == {"91", "92"}
    assert "too short" in manifest["skipped_tracks"]["92"]
    assert any("empty" in reason for reason in manifest["dataset"]["problems"].values())
    assert manifest["dataset"]["notes"]["clips_per_subset"] == {"train": 7, "validation": 2, "test": 5}

    record = fold_record(tmp_path / "results", "msecnn", "table1_mtat", "MsE-CNN")
    assert record["evidence"]["arrays"]["scores"] == {"shape": [4, 50], "dtype": "float32"}
    assert record["details"]["n_clips"] == {"train": 6, "validation": 2, "test": 4}
    # "auto" acceleration: mixed precision with a GPU, XLA with exactly one (Keras: not under tf.distribute)
    assert record["details"]["precision_policy"] == ("mixed_float16" if gpu_count() > 0 else "float32")
    assert record["details"]["xla"] is (gpu_count() == 1)
    # guitar, slow, classical, techno and strings have positive and negative test clips; the
    # other 45 of the top 50 have no positive and are left out of the averages
    assert record["details"]["test_tags_evaluated"] == 5
    assert len(record["details"]["test_tags_left_out"]) == 45
    scores = np.load(record["details"]["test_scores_file"])
    assert scores.shape == (4, 50)
    for part in ("train", "validation", "test"):
        assert (tmp_path / "work" / "msecnn" / "table1_mtat" / "feature_store" / part / "meta.json").is_file()
