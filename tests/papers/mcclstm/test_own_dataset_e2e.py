"""End-to-end: MCCLSTM Table 3's protocol on a tiny generated own collection, through the command line."""

import json

import pandas as pd
import pytest

from common.datasets.own_collection import folder_label
from common.runner.own_dataset import OWN_COLUMNS
from tests.audio_fixtures import write_audio

EXAMPLE = "examples/table3_small_cnn.py"


def collection(root):
    """3 classes x 10 tracks of 2.5 s (one chunk each): wav, flac and mp3, an album sub-folder, a space."""
    for c, name in enumerate(("blues", "hip hop", "jazz")):
        for i in range(10):
            ext = ("wav", "flac", "mp3")[(i + c) % 3]
            folder = root / name / ("Live At Home (1999)" if name == "blues" and i >= 5 else "")
            write_audio(folder / f"{name} {i:02d}.{ext}", seconds=2.5, sample_rate=22050,
                        frequency=220.0 * (c + 1) + 7 * i, seed=10 * c + i)
    return root


@pytest.mark.e2e
def test_own_dataset_through_the_cli_then_predict_collect_and_report(tmp_path, capsys):
    from common.cli import main

    data = collection(tmp_path / "my music")
    results, work = tmp_path / "results", tmp_path / "work"
    folders = ["--results-dir", str(results), "--work-dir", str(work)]
    status = main(["run", "mcclstm.table3_gtzan", "--own-dataset", str(data), "--folds", "2", "--epochs", "1",
                   "--schemes", "R0", "--scheme-module", EXAMPLE, "--keras-verbose", "0", "--no-progress", *folders])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "own dataset: 3 classes, 30 tracks: blues 10, hip hop 10, jazz 10" in printed
    out = (results / "mcclstm" / "own" / "table3_gtzan" / folder_label(data)
           / "folds-2of10_epochs-1_schemes-R0_scheme-module-SmallCNN")
    table = pd.read_csv(out / "table3_gtzan.csv")
    assert list(table.columns) == OWN_COLUMNS
    rows = table.set_index("scheme")
    assert rows.loc["R0", "status"] == "own dataset: 3 classes, 30 tracks, partial: 2/10 folds, epochs <= 1"
    assert rows.loc["SmallCNN", "status"].startswith("own model, ")
    assert "own dataset: 3 classes, 30 tracks, partial: 2/10 folds, epochs <= 1" in rows.loc["SmallCNN", "status"]
    assert rows.loc[["R0", "SmallCNN"], "folds_run"].tolist() == [2, 2]
    assert rows.loc[["R0", "SmallCNN"], "our_mean"].between(0, 100).all()
    assert not (results / "mcclstm" / "table3_gtzan.csv").exists() and not (results / "mcclstm" / "partial").exists()
    confusion = pd.read_csv(out / "table3_gtzan_confusion.csv")
    assert set(confusion["true"]) == set(confusion["predicted"]) == {"blues", "hip hop", "jazz"}
    manifest = json.loads((out / "table3_gtzan_manifest.json").read_text())
    assert manifest["dataset"]["class_counts"] == {"blues": 10, "hip hop": 10, "jazz": 10}
    record = json.loads(next((out.parent / "folds" / "R0" / "fold_00").glob("*.json")).read_text())
    assert len(record["details"]["test_ids"]) == 3  # one track of each class per test fold
    [splits] = (out.parent / "splits").glob("*.json")
    fold = json.loads(splits.read_text())["folds"][0]
    ids = {*fold["train"], *fold["validation"], *fold["test"]}
    assert len(ids) == 30 and {"blues/Live At Home (1999)/blues 05.mp3", "hip hop/hip hop 00.flac"} <= ids

    song = data / "hip hop" / "hip hop 03.flac"
    assert main(["predict", "mcclstm.table3_gtzan", "R0", str(song), "--own-dataset", str(data), *folders]) == 0
    printed = capsys.readouterr().out
    assert "its classes: blues, hip hop, jazz" in printed and "top 3 classes" in printed
    assert main(["predict", "mcclstm.table3_gtzan", "SmallCNN", str(song), "--own-dataset", str(data),
                 "--scheme-module", EXAMPLE, *folders]) == 0
    assert "its classes: blues, hip hop, jazz" in capsys.readouterr().out

    assert main(["collect", "mcclstm.table3_gtzan", "--own-dataset", str(data), "--folds", "2", "--epochs", "1",
                 "--schemes", "R0", *folders]) == 0
    assert "own dataset: 3 classes, 30 tracks, partial: 2/10 folds, epochs <= 1" in capsys.readouterr().out
    assert main(["report", "--results-dir", str(results)]) == 0
    report = (results / "REPORT.md").read_text()
    assert "## Own collections" in report and "| SmallCNN | accuracy |" in report
