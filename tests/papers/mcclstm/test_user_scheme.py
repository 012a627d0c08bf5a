"""A user's chunk model under the MCCLSTM tables' protocol (papers/mcclstm/user_scheme.py).

- the adapter's fold is the chunk schemes' fold: a module returning CNNs-3 gives the CNNs-3 row's result;
- end to end: ``make table3-gtzan GTZAN_DIR=../shared/data/gtzan-mini SCHEME_MODULE=examples/table3_small_cnn.py
  FOLDS=2 EPOCHS=2`` through the real CLI: the row in the CSV, REPORT.md and the confusion matrices,
  never the canonical table; editing the module's code re-runs its units, editing its docstring does not;
  the trained fold is rebuilt for predict by the row's predictor.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.cli import main
from common.datasets.base import DatasetIndex, Track
from common.evaluation.splits import Split
from common.runner.scheme_module import SchemeModule, SchemeModuleRef
from common.runner.spec import FoldContext
from papers.mcclstm import config as cfg
from papers.mcclstm.models import build_model
from papers.mcclstm.protocol import run_scheme_fold
from papers.mcclstm.user_scheme import run_user_fold

REPOSITORY = Path(__file__).resolve().parents[3]
EXAMPLE = REPOSITORY / "examples" / "table3_small_cnn.py"
TINY = replace(cfg.MCCLSTMConfig(), cnn3_filters=(2, 2), cnn3_fc_units=4)


def _context(tmp_path, name):
    rng = np.random.default_rng(0)
    classes = ("a", "b", "c")
    tracks = [Track(f"t{i:02d}", tmp_path / f"t{i:02d}.wav", classes[i % 3]) for i in range(18)]
    features = {t.track_id: (rng.normal(0, 3, (int(rng.integers(2, 4)), 40, 80)) + 5.0 * classes.index(t.label)
                             ).astype(np.float32) for t in tracks}
    ids = [t.track_id for t in tracks]
    split = Split(0, train=tuple(ids[:12]), validation=tuple(ids[12:15]), test=tuple(ids[15:]))
    index = DatasetIndex(name="toy", root=tmp_path, classes=classes, tracks=tracks)
    return FoldContext(index=index, features=features, split=split, seed=7, epochs=None,
                       work_dir=tmp_path / name, verbose=0)


def test_a_module_returning_cnns3_gives_the_cnns3_rows_fold_result(tmp_path, monkeypatch):
    scheme = next(s for s in cfg.SCHEMES if s.name == "CNNs-3")
    training = replace(cfg.CHUNK_TRAINING, epochs=2, batch_size=8)
    paper = run_scheme_fold(scheme, TINY, training, _context(tmp_path, "paper"))
    module = SchemeModule(ref=SchemeModuleRef("x", "x.py", "code", "Mine"),
                          build_model=lambda shape, n: build_model(scheme, n, TINY))
    monkeypatch.setattr(SchemeModuleRef, "load", lambda self: module)
    ours = run_user_fold(module.ref, (40, 80), training, _context(tmp_path, "user"))
    assert ours.metrics == paper.metrics
    for key in ("test_predictions", "test_labels", "test_ids", "epochs_run", "best_epoch", "n_train_chunks",
                "validation_accuracy", "model_parameters"):
        assert ours.details[key] == paper.details[key], key
    for name in ("band_standardization.npz", "best.weights.h5"):
        assert (tmp_path / "user" / name).is_file()


def _cli(*args) -> int:
    return main([*args, "--no-progress", "--keras-verbose", "0"])


@pytest.mark.e2e
@pytest.mark.needs_gtzan_mini
def test_example_model_through_the_cli_on_gtzan_mini(gtzan_mini, tmp_path, capsys):
    results, work = tmp_path / "results", tmp_path / "work"
    module = tmp_path / "table3_small_cnn.py"
    shutil.copyfile(EXAMPLE, module)
    run = ["run", "mcclstm.table3_gtzan", "--data-dir", str(gtzan_mini), "--folds", "2", "--epochs", "2",
           "--results-dir", str(results), "--work-dir", str(work), "--scheme-module", str(module)]
    assert _cli(*run) == 0
    out = results / "mcclstm" / "partial" / "table3_gtzan" / "folds-2of10_epochs-2_scheme-module-SmallCNN"
    assert not (results / "mcclstm" / "table3_gtzan.csv").exists()  # never the canonical table
    table = pd.read_csv(out / "table3_gtzan.csv")
    row = table[table["scheme"] == "SmallCNN"].iloc[0]
    assert row["folds_run"] == 2 and 0 <= row["our_mean"] <= 100 and row["n_tracks"] == 100
    assert pd.isna(row["paper_mean"]) and pd.isna(row["paper_std"]) and pd.isna(row["difference"])
    assert row["status"].startswith("own model, ") and "2/10 folds, epochs <= 2" in row["status"]
    if "verdict" in table.columns:  # pandas reads "n/a" as missing unless told otherwise
        raw = pd.read_csv(out / "table3_gtzan.csv", keep_default_na=False).set_index("scheme")
        assert raw.loc["SmallCNN", "verdict"] == "n/a"
    assert (table.loc[table["scheme"] != "SmallCNN", "folds_run"] == 0).all()  # only the module's row was trained
    folds = pd.read_csv(out / "table3_gtzan_folds.csv")
    assert folds["scheme"].tolist() == ["SmallCNN", "SmallCNN"]
    manifest = json.loads((out / "table3_gtzan_manifest.json").read_text())
    assert manifest["status"] == "partial" and manifest["caps"]["scheme_module"] == "SmallCNN"
    assert manifest["schemes"]["SmallCNN"]["scheme_module"] == str(module)
    # confusion matrices: 2 folds x 10 test tracks
    confusion = pd.read_csv(out / "table3_gtzan_confusion.csv")
    assert set(confusion["scheme"]) == {"SmallCNN"} and confusion["count"].sum() == 20
    assert (out / "table3_gtzan_confusion_SmallCNN.png").is_file()
    # the report shows the row
    assert main(["report", "--results-dir", str(results)]) == 0
    report = (results / "REPORT.md").read_text()
    assert "SmallCNN" in report and "scheme module SmallCNN" in report

    # editing the module's docstring keeps its records; editing its code re-runs its units
    capsys.readouterr()
    module.write_text(module.read_text().replace('"""A small two-layer CNN', '"""A small two-layer CNN (edited)'))
    assert _cli("collect", *run[1:]) == 0
    assert pd.read_csv(out / "table3_gtzan.csv").set_index("scheme").loc["SmallCNN", "folds_run"] == 2
    module.write_text(module.read_text().replace("for filters in (16, 32):", "for filters in (8, 32):"))
    assert _cli("collect", *run[1:]) == 0
    assert pd.read_csv(out / "table3_gtzan.csv").set_index("scheme").loc["SmallCNN", "status"] == "not run"

    # predict: the row's predictor rebuilds a trained fold of the (original) module
    from common.inference.fold_model import fold_source
    from common.inference.preparation import prepare_file
    from common.inference.runs import find_run
    from common.runner.scheme_module import add_scheme_module
    from papers.mcclstm.tables import table3_gtzan

    module.write_text(EXAMPLE.read_text())  # the trained code again: its records are found again
    assert _cli("collect", *run[1:]) == 0
    assert pd.read_csv(out / "table3_gtzan.csv").set_index("scheme").loc["SmallCNN", "folds_run"] == 2
    spec = add_scheme_module(table3_gtzan(), str(module))
    trained = find_run(spec, "SmallCNN", results, work)
    source = fold_source(spec, trained, "SmallCNN", 0)
    fold = spec.schemes[-1].predictor(source)
    clip = next(iter(sorted((Path(gtzan_mini) / "genres" / "blues").iterdir())))
    probabilities = fold.probabilities(prepare_file(spec, clip))
    assert probabilities.shape == (10,) and probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    # ... and the predict command applies the row like any scheme of the table
    capsys.readouterr()
    assert main(["predict", "mcclstm.table3_gtzan", "SmallCNN", str(clip), "--results-dir", str(results),
                 "--work-dir", str(work), "--scheme-module", str(module), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"{clip} (" in printed and "top 2 classes" in printed
