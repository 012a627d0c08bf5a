"""A user's clip model under the CRNN-TF tables' protocol (papers/crnn_tf/user_scheme.py,
examples/crnn_tf_tagging_cnn.py, examples/crnn_tf_genre_cnn.py).

- every CRNN-TF table (I, Fig. 5, II, III) takes a module: its input is the table's clip
  ``(96, 1360)``, its outputs 50 sigmoid tags or the genres' softmax; wrong shapes and the wrong
  kind of probabilities are refused before the dataset is read;
- the module's fold is the table's: a module returning the table's own clip model gives the
  fold result of :func:`papers.crnn_tf.protocol.run_clip_model_fold` (tags with the per-epoch
  test scoring of Tables I, II and Fig. 5; genres without it, as Table III);
- end to end: Table III (from scratch, cross-validated) and Table I rows through the real runner
  on stand-ins, predict and export of the Table III row.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.datasets.base import DatasetIndex, Track
from common.errors import ConfigError
from common.evaluation.splits import Split
from common.runner import FoldContext, run_table
from common.runner.scheme_module import SchemeModule, SchemeModuleRef, add_scheme_module, table_adapter
from papers.crnn_tf import models
from papers.crnn_tf.protocol import run_clip_model_fold
from papers.crnn_tf.tables import fig5_mtat, table1_mtat, table2_fma, table3_gtzan
from papers.crnn_tf.user_scheme import run_user_fold
from tests.papers.crnn_tf.tiny_settings import tiny_settings

TAGGING = "examples/crnn_tf_tagging_cnn.py"
GENRES = "examples/crnn_tf_genre_cnn.py"

SELECTED = " (best epoch on test, as the authors selected)"

#: A clip model of any input size, small enough for the stand-ins.
TINY = """
\"\"\"A tiny clip model.\"\"\"
import keras
from keras import layers

SCHEME_NAME = "Tiny"


def build_model(input_shape, n_outputs):
    x = keras.Input(shape=input_shape)
    y = layers.Reshape((*input_shape, 1))(x)
    y = layers.BatchNormalization(axis=1)(y)
    y = layers.Conv2D(4, (3, 3), padding="same", activation="relu")(y)
    y = layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, layers.Dense(n_outputs, activation="{activation}")(y))
"""


def module_file(folder: Path, activation: str, text: str = TINY, extra: str = "") -> Path:
    path = folder / f"tiny_{activation}.py"
    path.write_text(textwrap.dedent(text.replace("{activation}", activation)) + "\n" + textwrap.dedent(extra))
    return path


@pytest.mark.parametrize("factory, example, outputs, n_outputs, epoch_test", [
    (table1_mtat, TAGGING, "tags", 50, True),
    (fig5_mtat, TAGGING, "tags", 50, True),
    (table2_fma, GENRES, "classes", 16, True),
    (table3_gtzan, GENRES, "classes", 10, False),
])
def test_every_crnn_tf_table_takes_a_clip_model_trained_as_its_crnn_tf_row(factory, example, outputs, n_outputs,
                                                                          epoch_test):
    spec = factory()
    _, table_input = table_adapter(spec)
    assert table_input.shape == (96, 1360) and table_input.outputs == outputs and table_input.n_outputs == n_outputs
    assert "dB" in table_input.meaning and "no scaling" in table_input.meaning
    row = add_scheme_module(spec, example).schemes[-1]  # builds it and checks shapes and probabilities
    assert row.config["input_shape"] == [96, 1360] and row.config["epoch_test"] is epoch_test
    assert row.config["task"] == ("tags" if outputs == "tags" else "genres")
    training = row.config["training"]
    assert training["optimizer"] == "adam" and training["learning_rate"] == 0.001
    assert training["lr_decay_per_epoch"] == 0.9 and training["batch_size"] == 32
    assert row.predictor is not None and row.preflight is None  # Table III's row needs no pre-trained weights
    assert row.run_fold.func is run_user_fold


@pytest.mark.parametrize("factory, activation, message", [
    (table3_gtzan, "sigmoid", r"do not sum to 1 per example"),
    (table1_mtat, "linear", r"not probabilities .*end it with a sigmoid"),
])
def test_the_wrong_kind_of_probabilities_is_refused(tmp_path, factory, activation, message):
    with pytest.raises(ConfigError, match=message):
        add_scheme_module(factory(), str(module_file(tmp_path, activation)))


def test_a_wrong_clip_shape_or_output_count_is_refused_naming_the_tables_input(tmp_path):
    path = module_file(tmp_path, "softmax", TINY.replace("shape=input_shape", "shape=(96, 1366)").replace(
        "(*input_shape, 1)", "(96, 1366, 1)"))
    with pytest.raises(ConfigError, match=r"the model's input is \(None, 96, 1366\), the table feeds "
                                          r"\(None, 96, 1360\): one clip's log-mel spectrogram"):
        add_scheme_module(table3_gtzan(), str(path))
    path = module_file(tmp_path, "sigmoid", TINY.replace("Dense(n_outputs", "Dense(10"))
    with pytest.raises(ConfigError, match=r"the model's output is \(None, 10\); the table needs \(None, 50\): "
                                          r"50 tag probabilities \(sigmoid\)"):
        add_scheme_module(table1_mtat(), str(path))


def test_editing_the_modules_code_changes_its_units_identity_and_its_docstring_does_not(tmp_path):
    from common.runner.identity import unit_identity

    def identity(path):
        row = add_scheme_module(table3_gtzan(), str(path)).schemes[-1]
        return unit_identity(scheme=row.name, config=row.config, features="f", split="s", epochs=1, seed=0, code="c",
                             audio="a")[0]

    path = module_file(tmp_path, "softmax")
    before = identity(path)
    path.write_text(path.read_text().replace('"""A tiny clip model."""', '"""A tiny clip model, edited."""'))
    assert identity(path) == before
    path.write_text(path.read_text().replace("Conv2D(4,", "Conv2D(5,"))
    assert identity(path) != before


def test_training_overrides_apply_to_the_crnn_tf_rows_configuration(tmp_path):
    path = module_file(tmp_path, "softmax", extra='TRAINING = {"batch_size": 8, "lr_decay_per_epoch": 1.0}\n')
    row = add_scheme_module(table2_fma(), str(path)).schemes[-1]
    assert row.config["training"]["batch_size"] == 8 and row.config["training"]["lr_decay_per_epoch"] == 1.0
    path = module_file(tmp_path, "softmax", extra='TRAINING = {"momentum": 0.5}\n')
    with pytest.raises(ConfigError, match=r"momentum applies to SGD only and this row's optimizer is 'adam'"):
        add_scheme_module(table3_gtzan(), str(path))


# --- the fold is the table's fold -----------------------------------------------------------------

def _context(tmp_path, name: str, task: str) -> FoldContext:
    """12 tracks of (16, 48) spectrograms in dB: 3 genres, or 50 tags of which 3 are used (one or two per
    track), as MagnaTagATune's top 50 on a stand-in."""
    rng = np.random.default_rng(0)
    used = ("a", "b", "c")
    classes = used if task == "genres" else used + tuple(f"tag{k:02d}" for k in range(47))
    tracks = []
    for i in range(12):
        label = used[i % 3]
        tags = (label,) + ((used[(i + 1) % 3],) if i % 4 == 0 else ())
        tracks.append(Track(f"t{i:02d}", tmp_path / f"t{i:02d}.wav", label if task == "genres" else None,
                            tags if task == "tags" else ()))
    features = {t.track_id: (rng.normal(-40, 10, (16, 48)) + 8.0 * (i % 3)).astype(np.float32)
                for i, t in enumerate(tracks)}
    ids = [t.track_id for t in tracks]
    split = Split(0, train=tuple(ids[:6]), validation=tuple(ids[6:9]), test=tuple(ids[9:]))
    index = DatasetIndex(name="toy", root=tmp_path, classes=classes, tracks=tracks)
    return FoldContext(index=index, features=features, split=split, seed=3, epochs=None,
                       work_dir=tmp_path / name / "crnn_tf" / "table" / "scheme" / "fold_00", verbose=0)


@pytest.mark.parametrize("task, epoch_test", [("tags", True), ("genres", False)])
def test_a_module_returning_the_tables_clip_model_gives_that_rows_fold_result(tmp_path, monkeypatch, task,
                                                                              epoch_test):
    settings = tiny_settings()
    fcn = replace(settings.fcn, n_mels=16, n_frames=48)
    training = replace(settings.training, epochs=2)
    paper = run_clip_model_fold("fcn", fcn, training, task, _context(tmp_path, "paper", task), epoch_test=epoch_test)
    module = SchemeModule(ref=SchemeModuleRef("x", "x.py", "code", "Mine"),
                          build_model=lambda shape, n: models.build_fcn_baseline(n, task, fcn))
    monkeypatch.setattr(SchemeModuleRef, "load", lambda self: module)
    ours = run_user_fold(module.ref, (16, 48), training, task, _context(tmp_path, "user", task), epoch_test=epoch_test)
    assert ours.metrics == paper.metrics
    assert any(name.endswith(SELECTED) for name in ours.metrics) is epoch_test
    for key in ("epochs_run", "best_epoch", "test_ids", "model_parameters", "n_train_tracks"):
        assert ours.details[key] == paper.details[key], key
    for name, array in paper.evidence.items():
        np.testing.assert_array_equal(ours.evidence[name], array)
    assert ours.details["scheme_module_code"] == "code"
    assert (tmp_path / "user" / "crnn_tf" / "table" / "scheme" / "fold_00" / "best.weights.h5").is_file()


# --- end to end -----------------------------------------------------------------------------------

@pytest.mark.e2e
def test_a_module_row_in_table3_from_scratch_with_predict_and_export(tmp_path):
    from common.inference.command import predict_files
    from tests.runner_fixtures import tiny_gtzan

    data = tiny_gtzan(tmp_path / "gtzan", per_genre=6, seconds=1.0)
    settings = tiny_settings(weights=str(tmp_path / "absent.weights.h5"), gtzan_folds=3,
                             gtzan_validation_fraction=1 / 6)
    spec = add_scheme_module(table3_gtzan(settings), str(module_file(tmp_path, "softmax")))
    results, work = tmp_path / "results", tmp_path / "work"
    run_table(spec, data, results_dir=results, work_dir=work, folds=2, epochs=1, schemes=["Tiny"], verbose=0,
              progress=False)  # the transfer rows' missing weights are not needed
    out = results / "crnn_tf" / "partial" / "table3_gtzan" / "folds-2of3_epochs-1_scheme-module-Tiny"
    table = pd.read_csv(out / "table3_gtzan.csv", keep_default_na=False)
    ours = table[table["scheme"] == "Tiny"].iloc[0]
    assert ours["metric"] == "accuracy" and 0.0 <= float(ours["our_mean"]) <= 1.0 and ours["folds_run"] == 2
    assert ours["paper_mean"] == "" and ours["status"].startswith("own model, ") and ours["verdict"] == "n/a"
    assert (table.loc[table["scheme"] != "Tiny", "folds_run"] == 0).all()
    assert not (results / "crnn_tf" / "table3_gtzan.csv").exists()  # never the canonical table
    manifest = json.loads((out / "table3_gtzan_manifest.json").read_text())
    assert manifest["caps"]["scheme_module"] == "Tiny" and manifest["status"] == "partial"
    confusion = pd.read_csv(out / "table3_gtzan_confusion.csv")
    assert set(confusion["scheme"]) == {"Tiny"} and confusion["count"].sum() == 40  # 2 folds x 20 test tracks

    clip = data / "genres" / "blues" / "blues.00000.wav"
    prediction = predict_files(spec, "Tiny", [clip], results_dir=results, work_dir=work, export_dir=tmp_path / "x",
                               log=lambda *_: None)
    probabilities = prediction.files[0].probabilities
    assert prediction.outputs == "classes" and probabilities.shape == (10,)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert [p.name for p in prediction.exported][:2] == ["model.keras", "preprocessing.json"]
    exported = json.loads((tmp_path / "x" / "preprocessing.json").read_text())
    assert exported["scheme"] == "Tiny"


@pytest.mark.e2e
def test_a_module_row_in_table1_gets_the_tagging_metrics_and_the_authors_selection(tmp_path):
    from tests.mtat_fixtures import write_mtat_tree
    from tests.papers.crnn_tf.conftest import TAGS, tiny_mtat_clips

    data = write_mtat_tree(tmp_path / "mtat", tiny_mtat_clips(), TAGS, sample_rate=8000)
    spec = add_scheme_module(table1_mtat(tiny_settings()), str(module_file(tmp_path, "sigmoid")))
    results = tmp_path / "results"
    run_table(spec, data, results_dir=results, work_dir=tmp_path / "work", epochs=1, schemes=["Tiny"], verbose=0,
              progress=False)
    out = results / "crnn_tf" / "partial" / "table1_mtat" / "epochs-1_scheme-module-Tiny"
    table = pd.read_csv(out / "table1_mtat.csv", keep_default_na=False)
    ours = table[table["scheme"] == "Tiny"]
    assert ours["metric"].tolist() == list(spec.metrics)  # AUC ... JSC, then the authors' test-selected cells
    assert any(metric.endswith(SELECTED) for metric in ours["metric"])
    assert ours["our_mean"].astype(float).between(0, 1).all() and (ours["paper_mean"] == "").all()
    per_tag = pd.read_csv(out / "table1_mtat_per_tag_auc.csv")
    assert "Tiny" in per_tag.columns and len(per_tag) == 50
