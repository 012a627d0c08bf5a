"""MCCLSTM Tables 4 (Ballroom) and 5 (Soundtracks): specs, padding, and end-to-end runs on generated data."""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from common.registry import available_tables
from common.datasets import ballroom, soundtracks
from common.datasets.base import Track
from common.training.pipeline import TrackChunks, sequence_dataset
from common.runner import run_table
from tests.run_outputs import fold_record, splits_file, table_folder
from common.evaluation.splits import CrossValidation
from papers.mcclstm import tables
from papers.mcclstm.models import build_model
from papers.mcclstm.protocol import predict_tracks
from tests.audio_fixtures import write_audio, write_corrupt
from tests.common.datasets.generated_trees import write_ballroom, write_soundtracks

ROWS4 = ["[14]", "CNNs-3", "R0", "R1", "R2", "R3", "R4", "MCCLSTM"]
ROWS5 = ["[18]", "CNNs-3", "R0", "R1", "R2", "R3", "R4", "MCCLSTM"]
REPO = Path(__file__).resolve().parents[3]


# --- specs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("factory, rows, dataset, variable, paper_only", [
    (tables.table4_ballroom, ROWS4, "ballroom", "BALLROOM_DIR", "[14]"),
    (tables.table5_soundtracks, ROWS5, "soundtracks", "SOUNDTRACKS_DIR", "[18]"),
])
def test_specs_have_every_paper_row_and_the_paper_protocol(factory, rows, dataset, variable, paper_only):
    spec = factory()
    assert [s.name for s in spec.schemes] == rows
    assert [s.name for s in spec.schemes if s.run_fold is None] == [paper_only]
    assert list(spec.reference) == rows
    assert spec.dataset.name == dataset and spec.dataset.dir_variable == variable
    assert spec.protocol == CrossValidation(n_folds=10, validation_fraction=0.1, seed=2017)
    assert spec.metrics == ("accuracy",)
    assert spec.extractor().config.sample_rate == 44100
    assert spec.paper == "mcclstm" and "Table" in spec.source


def test_reference_numbers_are_the_papers():
    t4 = {k: (v["accuracy"].mean, v["accuracy"].std) for k, v in tables.TABLE4_REFERENCE.items()}
    t5 = {k: (v["accuracy"].mean, v["accuracy"].std) for k, v in tables.TABLE5_REFERENCE.items()}
    assert t4 == {"[14]": (88.40, None), "CNNs-3": (87.00, 1.32), "R0": (81.79, 4.72), "R1": (64.00, 1.50),
                  "R2": (87.68, 4.44), "R3": (89.45, 2.18), "R4": (90.32, 1.12), "MCCLSTM": (91.90, 2.33)}
    assert t5 == {"[18]": (57.40, 5.50), "CNNs-3": (60.87, 3.76), "R0": (52.00, 2.20), "R1": (64.50, 2.00),
                  "R2": (57.28, 2.85), "R3": (63.04, 2.16), "R4": (73.70, 2.47), "MCCLSTM": (74.35, 1.63)}


def test_tables_are_listed_for_the_cli_and_all_results_and_have_make_targets():
    listed = available_tables()
    assert listed["mcclstm.table4_ballroom"] is tables.table4_ballroom
    assert listed["mcclstm.table5_soundtracks"] is tables.table5_soundtracks
    assert tables.table4_ballroom().make_target == "table4-ballroom"
    makefile = (REPO / "Makefile").read_text()
    assert "table4-ballroom: setup\n\t$(RUN) mcclstm.table4_ballroom --data-dir $(call q,$(BALLROOM_DIR))" in makefile
    assert "table5-soundtracks: setup\n\t$(RUN) mcclstm.table5_soundtracks --data-dir $(call q,$(SOUNDTRACKS_DIR))" in makefile


# --- variable chunk counts: no padding reaches a prediction ----------------------------------------

@pytest.mark.parametrize("scheme", ["R1", "MCCLSTM"])
def test_short_track_predicts_the_same_alone_or_batched_with_a_longer_one(tmp_path, scheme):
    spec = tables.table5_soundtracks()
    extractor = spec.extractor()
    chunks = []
    for name, seconds in (("short", 4.0), ("long", 8.0)):
        path = write_audio(tmp_path / f"{name}.mp3", seconds, 22050, frequency=220 if name == "short" else 330)
        chunks.append(spec.prepare(extractor(path), Track(name, path)))
    assert [len(c) for c in chunks] == [2, 4]  # 80-frame chunks at 44.1 kHz, hop 1024: 1.858 s each
    keras.utils.set_random_seed(0)
    model = build_model(scheme, len(soundtracks.CLASSES))
    alone = predict_tracks(model, TrackChunks.from_tracks(chunks[:1], np.array([0])), True, 8)
    both = TrackChunks.from_tracks(chunks, np.array([0, 1]))
    batch = next(iter(sequence_dataset(both, 8, shuffle=False, with_targets=False)))
    assert tuple(batch["chunks"].shape[:2]) == (2, 4) and list(batch["n_chunks"].numpy()) == [2, 4]
    together = predict_tracks(model, both, True, 8)
    reversed_order = predict_tracks(model, TrackChunks.from_tracks(chunks[::-1], np.array([1, 0])), True, 8)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(reversed_order[1], alone[0], atol=1e-5)
    # the check can fail: the same batch with the padding counted as real chunks changes the output
    leaked = model.predict({"chunks": batch["chunks"], "n_chunks": np.array([4, 4], dtype=np.int32)}, verbose=0)
    assert np.abs(leaked[0] - alone[0]).max() > 1e-4


# --- end to end through the real runner ------------------------------------------------------------

def _read(out: Path, table_id: str):
    table = pd.read_csv(out / f"{table_id}.csv")
    manifest = json.loads((out / f"{table_id}_manifest.json").read_text())
    return table, manifest


@pytest.mark.e2e
def test_table4_end_to_end_on_a_generated_ballroom(tmp_path):
    # 10 clips per class (the real 10-fold protocol needs one per test fold), 4-6 s: 2-3 chunks each
    per_folder = {s: 10 for s in ballroom.FOLDER_CLASSES}
    per_folder.update({"Rumba-American": 3, "Rumba-International": 4, "Rumba-Misc": 3})
    data = write_ballroom(tmp_path / "data", per_folder, seconds=(4.0, 5.0, 6.0), sample_rate=22050)
    write_audio(data / "Jive" / "Albums-Short-01.wav", 1.0, 22050)  # shorter than one chunk: skipped
    write_corrupt(data / "Tango" / "Albums-Broken-01.wav")  # unreadable: recorded, not indexed
    frame = run_table(tables.table4_ballroom(), tmp_path / "data", results_dir=tmp_path / "results",
                      work_dir=tmp_path / "work", folds=1, epochs=1, schemes=["R0", "MCCLSTM"], verbose=0,
                      progress=False)
    out = table_folder(tmp_path / "results", "mcclstm", "table4_ballroom")
    table, manifest = _read(out, "table4_ballroom")
    assert table["scheme"].tolist() == ROWS4 and frame.shape == table.shape
    status = dict(zip(table["scheme"], table["status"]))
    assert status["[14]"] == "paper-only"
    assert status["R0"] == status["MCCLSTM"] == "subset: 80/698 tracks, partial: 1/10 folds, epochs <= 1"
    assert status["R3"] == "not run"
    ran = table[table["status"].str.startswith("subset")]
    assert (ran["folds_run"] == 1).all() and ran["our_mean"].between(0, 100).all()
    assert table.loc[table["scheme"] == "MCCLSTM", "paper_mean"].item() == pytest.approx(91.90)
    assert table.loc[table["scheme"] == "[14]", "our_mean"].isna().all()
    assert manifest["status"] == "partial" and manifest["dataset"]["n_tracks"] == 80
    assert manifest["dataset"]["class_counts"]["rumba"] == 10
    assert manifest["dataset"]["count_differences_from_published"]["rumba"] == {"found": 10, "published": 98}
    assert "too short for one chunk" in manifest["skipped_tracks"]["Albums-Short-01"]
    assert any(p.endswith("Albums-Broken-01.wav") for p in manifest["dataset"]["problems"])
    record = fold_record(tmp_path / "results", "mcclstm", "table4_ballroom", "MCCLSTM")
    assert len(record["details"]["test_ids"]) == 8 and record["details"]["epochs_run"] == 1
    assert len(pd.read_csv(out / "table4_ballroom_folds.csv")) == 2


@pytest.mark.e2e
def test_table5_end_to_end_on_a_generated_soundtracks(tmp_path):
    # 10 usable excerpts per class over both sets, 4, 6 or 8 s long: 2, 3 or 4 chunks per track
    set1 = [c for c in soundtracks.CLASSES for _ in range(6)]
    set2 = [c for c in soundtracks.CLASSES for _ in range(4)] + ["tenderness"]
    made = write_soundtracks(tmp_path / "data", set1, set2, seconds=(4.0, 6.0, 8.0), sample_rate=22050, seed=5)
    (made["set2"] / "021.mp3").rename(made["set2"] / "022.mp3")  # a rating row without audio, audio without row
    frame = run_table(tables.table5_soundtracks(), tmp_path / "data", results_dir=tmp_path / "results",
                      work_dir=tmp_path / "work", folds=1, epochs=1, schemes=["R2", "MCCLSTM"], verbose=0,
                      progress=False)
    out = table_folder(tmp_path / "results", "mcclstm", "table5_soundtracks")
    table, manifest = _read(out, "table5_soundtracks")
    assert table["scheme"].tolist() == ROWS5 and frame.shape == table.shape
    status = dict(zip(table["scheme"], table["status"]))
    assert status["[18]"] == "paper-only"
    assert status["R2"] == status["MCCLSTM"] == "subset: 50/470 tracks, partial: 1/10 folds, epochs <= 1"
    assert table.loc[table["scheme"] == "MCCLSTM", "paper_mean"].item() == pytest.approx(74.35)
    assert table[table["status"].str.startswith("subset")]["our_mean"].between(0, 100).all()
    dataset = manifest["dataset"]
    assert manifest["status"] == "partial" and dataset["n_tracks"] == 50
    assert dataset["class_counts"] == {c: 10 for c in soundtracks.CLASSES}
    assert dataset["count_differences_from_published"]["fear"] == {"found": 10, "published": 116}
    assert dataset["notes"]["label_rule"] == soundtracks.LABEL_RULE
    problems = " ".join(dataset["problems"].values())
    assert "has a row for excerpt 021" in problems and "no rating row for excerpt 022" in problems
    record = fold_record(tmp_path / "results", "mcclstm", "table5_soundtracks", "MCCLSTM")
    n_train = len(json.loads(splits_file(tmp_path / "results", "mcclstm", "table5_soundtracks").read_text())
                  ["folds"][0]["train"])
    assert 2 * n_train < record["details"]["n_train_chunks"] < 4 * n_train  # varying real chunk counts
