"""End-to-end: MCCLSTM Table 3 through the real runner on real GTZAN clips (the shared mini set)."""

import json

import pandas as pd
import pytest

from common.runner import run_table
from papers.mcclstm.tables import table3_gtzan
from tests.run_outputs import fold_record


@pytest.mark.e2e
def test_quick_table3_on_gtzan_mini(gtzan_mini, tmp_path):
    # the quick variant of `make table3-gtzan GTZAN_DIR=../shared/data/gtzan-mini FOLDS=2 EPOCHS=2`
    frame = run_table(table3_gtzan(), gtzan_mini, results_dir=tmp_path / "results", work_dir=tmp_path / "work",
                      folds=2, epochs=2, verbose=0, progress=False)
    out = tmp_path / "results" / "mcclstm" / "partial" / "table3_gtzan" / "folds-2of10_epochs-2"
    assert not (tmp_path / "results" / "mcclstm" / "table3_gtzan.csv").exists()  # never the canonical table
    table = pd.read_csv(out / "table3_gtzan.csv")
    assert table["scheme"].tolist() == ["[14]", "[21] (3 layers)", "CNNs-3", "R0", "R1", "R2", "R3", "R4",
                                        "MCCLSTM"]
    trained = table[table["status"] == "subset: 100/1000 tracks, partial: 2/10 folds, epochs <= 2"]
    assert len(trained) == 7 and (trained["folds_run"] == 2).all() and (trained["n_tracks"] == 100).all()
    assert trained["our_mean"].between(0, 100).all()
    assert table.loc[table["scheme"] == "MCCLSTM", "paper_mean"].item() == pytest.approx(84.69)
    assert (table[table["status"] == "paper-only"]["our_mean"].isna()).all()
    assert frame.shape == table.shape
    folds = pd.read_csv(out / "table3_gtzan_folds.csv")
    assert len(folds) == 14
    manifest = json.loads((out / "table3_gtzan_manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["dataset"]["n_tracks"] == 100
    assert manifest["caps"]["description"] == "2/10 folds, epochs <= 2"
    assert manifest["features"]["sample_rate"] == 44100 and manifest["features"]["window"] == "blackmanharris"
    record = fold_record(tmp_path / "results", "mcclstm", "table3_gtzan", "MCCLSTM")
    assert record["details"]["epochs_run"] <= 2 and len(record["details"]["test_ids"]) == 10
    assert (out / "table3_gtzan.png").exists()
    # chunking of the mini set's 15-20 s clips at 1.858 s per chunk
    assert 8 * 80 <= record["details"]["n_train_chunks"] // 80 * 80
