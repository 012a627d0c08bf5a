"""End-to-end: CRNN-TF Table II through the real runner on a tiny FMA medium written here."""

import json

import pandas as pd
import pytest

from common.runner import run_table
from tests.run_outputs import fold_record, table_folder
from papers.crnn_tf.tables import table2_fma
from tests.audio_fixtures import write_audio, write_corrupt
from tests.fma_fixtures import tiny_fma
from tests.papers.crnn_tf.tiny_settings import tiny_settings


@pytest.mark.e2e
def test_table2_on_tiny_fma(tmp_path):
    data = tiny_fma(tmp_path / "fma", genres=("Electronic", "Folk", "Rock"), per_split=(4, 2, 2), seconds=1.0,
                    sample_rate=16000)
    # a clip that passes the header check but is shorter than the minimum: skipped and recorded
    short = data / "fma_medium" / "000" / "000003.mp3"
    write_audio(short, 0.1, 16000)
    write_corrupt(data / "fma_medium" / "000" / "000004.mp3")  # header unreadable: a dataset problem
    spec = table2_fma(tiny_settings())
    # the GRU variant of CRNN-TF shares every code path with CRNN-TF but its 8 recurrent loops cost
    # ~30 s of graph tracing on 2 cores: it is covered by the model tests, not run here
    frame = run_table(spec, data, results_dir=tmp_path / "results", work_dir=tmp_path / "work", epochs=2,
                      schemes=["FCN", "Timbre CNN", "End-to-end", "CRNN", "CRNN-TF"], verbose=0, progress=False)
    out = table_folder(tmp_path / "results", "crnn_tf", "table2_fma")
    table = pd.read_csv(out / "table2_fma.csv")
    assert frame.shape == table.shape
    assert list(dict.fromkeys(table["scheme"])) == ["FCN", "Timbre CNN", "End-to-end", "CRNN", "CRNN-TF",
                                                    "CRNN-TF (GRU)"]
    trained = table[table["status"].str.endswith("partial: 1/1 folds, epochs <= 2")]
    assert set(trained["scheme"]) == {"FCN", "Timbre CNN", "End-to-end", "CRNN", "CRNN-TF"}
    assert (table.loc[table["scheme"] == "CRNN-TF (GRU)", "status"] == "not run").all()
    honest = {"AUC", "recall", "F1", "accuracy", "precision", "AUC (weighted)"}
    assert set(trained["metric"]) == honest | {f"{m} (best epoch on test, as the authors selected)" for m in honest}
    # the paper's AUC is the authors' support-weighted one; the macro AUC has no paper number
    crnn_tf = table[table["scheme"] == "CRNN-TF"].set_index("metric")["paper_mean"]
    assert crnn_tf["AUC (weighted)"] == pytest.approx(0.910) and pd.isna(crnn_tf["AUC"])
    assert crnn_tf["AUC (weighted) (best epoch on test, as the authors selected)"] == pytest.approx(0.910)
    assert list(dict.fromkeys(table["metric"]))[0] == "AUC (weighted)"
    assert trained["our_mean"].between(0, 1).all() and (trained["folds_run"] == 1).all()
    assert (trained["n_tracks"] == 22).all()  # 24 clips, one unreadable, one too short
    paper = table[(table["scheme"] == "CRNN-TF") & (table["metric"] == "accuracy")]
    assert paper["paper_mean"].item() == pytest.approx(0.647)
    manifest = json.loads((out / "table2_fma_manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["caps"]["schemes"] == ["FCN", "Timbre CNN", "End-to-end",
                                                                              "CRNN", "CRNN-TF"]
    assert "too short" in manifest["skipped_tracks"]["000003"]
    assert any(p.endswith("000004.mp3") for p in manifest["dataset"]["problems"])
    assert manifest["features"]["sample_rate"] == 8000 and manifest["protocol"]["protocol"] == "predefined_split"
    record = fold_record(tmp_path / "results", "crnn_tf", "table2_fma", "CRNN-TF")
    assert record["details"]["n_train_tracks"] == 10 and record["details"]["n_test_tracks"] == 6
    assert record["details"]["epochs_run"] <= 2
    fcn = fold_record(tmp_path / "results", "crnn_tf", "table2_fma", "FCN")["details"]
    assert len(set(fcn["test_labels"])) == 3 and len(fcn["test_predictions"]) == 6  # 3 of the 16 genres
    e2e = fold_record(tmp_path / "results", "crnn_tf", "table2_fma", "End-to-end")
    assert e2e["details"]["n_train_examples"] == 10 * 3   # 1 s at 8 kHz -> 3 windows of 2048 samples
    assert e2e["details"]["features"]["kind"] == "waveform"
    assert any(p.name.startswith("waveform-") for p in (tmp_path / "work" / "cache").iterdir())
