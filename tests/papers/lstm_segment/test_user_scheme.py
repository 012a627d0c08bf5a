"""A user's frame model under the LSTM segment tables' protocol (papers/lstm_segment/user_scheme.py,
examples/lstm_segment_frame_gru.py).

- the module is accepted and checked up front: a frame model ``(B, T, D) -> (B, T, 6)`` softmax;
  a clip model, a model that drops the time axis or fixes its length, sigmoid outputs and the
  TRAINING keys the newbob schedule has no use for are refused before the dataset is read;
- its fold: trained as the LSTM rows (stream windows, summed frame loss, newbob), posteriors
  cached and shared by Tables 2 and 4, the tables' outcomes computed from them;
- predict refuses the table's rows (module rows included) at once, before looking for a run;
- end to end: Table 2 and Table 4 rows through the real runner on the generated ISMIR 2004 tree.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common import cli
from common.datasets.base import DatasetIndex, Track
from common.errors import ConfigError
from common.inference.command import predict_files
from common.runner import FoldContext, run_table
from common.runner.scheme_module import SchemeModule, SchemeModuleRef, add_scheme_module, table_adapter
from papers.lstm_segment import tables
from papers.lstm_segment.config import SegmentConfig
from papers.lstm_segment.protocol import TrainingHoldoutSplit, posterior_cache_path
from papers.lstm_segment.user_scheme import (FramePosteriorsKey, frame_model_posteriors, frame_training,
                                             run_user_table2_fold, run_user_table4_fold, table_training)
from tests.papers.lstm_segment.conftest import tiny_settings
from tests.run_outputs import fold_record

REPOSITORY = Path(__file__).resolve().parents[3]
EXAMPLE = "examples/lstm_segment_frame_gru.py"

FRAME_MODEL = """
import keras
from keras import layers

SCHEME_NAME = "Frames"


def build_model(input_shape, n_outputs):
    x = keras.Input(shape=input_shape)
    y = layers.Dense(4, activation="tanh")(x)
    return keras.Model(x, layers.Dense(n_outputs, activation="{activation}")(y))
"""


def module_file(folder: Path, text: str, extra: str = "") -> Path:
    path = folder / "frames.py"
    path.write_text(textwrap.dedent(text) + "\n" + textwrap.dedent(extra) + "\n")
    return path


def test_both_tables_take_a_frame_model_of_the_scattering_frames():
    for factory in (tables.table2_ismir2004, tables.table4_ismir2004):
        spec = factory()
        _, table_input = table_adapter(spec)
        assert table_input.shape == (None, 545) and table_input.outputs == "frame classes"
        assert table_input.n_outputs == 6 and table_input.output_shape() == (None, 6)
        row = add_scheme_module(spec, EXAMPLE).schemes[-1]  # builds it, checks shapes and per-frame softmax
        assert row.name == "FrameGRU" and row.config["input_shape"] == [None, 545]
        schedule = row.config["training"]["schedule"]
        assert schedule["learning_rate"] == 2e-5 and schedule["momentum"] == 0.8 and schedule["max_epochs"] == 50
        assert row.config["training"]["num_streams"] == 60 and row.config["training"]["bptt_length"] == 20
        assert row.predictor is None and ("segment" in row.config) == (factory is tables.table4_ismir2004)


@pytest.mark.parametrize("text, message", [
    (FRAME_MODEL.replace("{activation}", "sigmoid"), r"do not sum to 1 per frame"),
    (FRAME_MODEL.replace("{activation}", "softmax").replace("Dense(4", "GRU(4").replace(
        'activation="tanh")', "return_sequences=False)"),
     r"the model's output is \(None, 6\); the table needs \(None, None, 6\): 6 class probabilities \(softmax\) "
     r"at every input frame"),
    (FRAME_MODEL.replace("{activation}", "softmax").replace("keras.Input(shape=input_shape)",
                                                            "keras.Input(shape=(100, 545))"),
     r"the model's input is \(None, 100, 545\), the table feeds \(None, None, 545\)"),
    (FRAME_MODEL.replace("{activation}", "softmax").replace("keras.Input(shape=input_shape)",
                                                            "keras.Input(shape=(545,))"),
     r"the model's input is \(None, 545\), the table feeds \(None, None, 545\): one track's scattering frames"),
    (FRAME_MODEL.replace("{activation}", "softmax").replace(
        "y = layers.Dense(4", "y = layers.MaxPooling1D(2)(x)\n    y = layers.Dense(4").replace(")(x)\n    return", ")(y)\n    return"),
     r"one probability vector per input frame"),
])
def test_a_model_that_is_not_a_per_frame_softmax_is_refused_before_the_dataset(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        add_scheme_module(tables.table2_ismir2004(), str(module_file(tmp_path, text)))
    assert f"scheme module {tmp_path / 'frames.py'}" in str(caught.value)


def test_training_keys_map_onto_the_lstm_schedule_and_the_others_are_refused(tmp_path):
    good = FRAME_MODEL.replace("{activation}", "softmax")
    path = module_file(tmp_path, good, 'TRAINING = {"learning_rate": 1e-4, "momentum": 0.5, "epochs": 7, '
                                       '"batch_size": 8}')
    row = add_scheme_module(tables.table4_ismir2004(), str(path)).schemes[-1]
    assert row.config["training"]["schedule"]["learning_rate"] == 1e-4
    assert row.config["training"]["schedule"]["momentum"] == 0.5
    assert row.config["training"]["schedule"]["max_epochs"] == 7 and row.config["training"]["num_streams"] == 8
    assert row.config["training"]["schedule"]["halving_factor"] == 0.9  # the rest is the LSTM rows'
    assert row.training_overrides == {"learning_rate": 1e-4, "momentum": 0.5, "epochs": 7, "batch_size": 8}
    path = module_file(tmp_path, good, 'TRAINING = {"patience": 3, "optimizer": "adam"}')
    with pytest.raises(ConfigError) as caught:
        add_scheme_module(tables.table2_ismir2004(), str(path))
    message = str(caught.value)
    assert "patience cannot be set in lstm_segment.table2_ismir2004: Kaldi's newbob schedule" in message
    assert "optimizer cannot be set in lstm_segment.table2_ismir2004: SGD with momentum" in message
    assert "settable keys: learning_rate, momentum, batch_size, epochs;" in message


def test_the_cli_stops_with_exit_2_before_indexing_for_a_clip_model(tmp_path, capsys):
    path = module_file(tmp_path, FRAME_MODEL.replace("{activation}", "softmax").replace(
        "keras.Input(shape=input_shape)", "keras.Input(shape=(545,))"))
    status = cli.main(["run", "lstm_segment.table2_ismir2004", "--data-dir", str(tmp_path / "no-dataset-here"),
                       "--scheme-module", str(path), "--results-dir", str(tmp_path / "r"),
                       "--work-dir", str(tmp_path / "w"), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "the table feeds (None, None, 545)" in err and "no-dataset-here" not in err
    assert not (tmp_path / "w").exists() and not (tmp_path / "r").exists()


def test_predict_refuses_the_tables_rows_before_looking_for_a_run(tmp_path, capsys):
    spec = add_scheme_module(tables.table2_ismir2004(), EXAMPLE)
    for scheme in ("FrameGRU", "LSTM(525-512-6)"):
        with pytest.raises(ConfigError, match=r"predict and --export are not supported for "
                                              r"lstm_segment.table2_ismir2004: .*no inference adapter"):
            predict_files(spec, scheme, ["a.wav"], results_dir=tmp_path / "nothing", work_dir=tmp_path / "w")
    status = cli.main(["predict", "lstm_segment.table4_ismir2004", "FrameGRU", "a.wav", "--scheme-module", EXAMPLE,
                       "--results-dir", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert status == 2 and "not supported for lstm_segment.table4_ismir2004" in err and "Train it first" not in err


# --- the fold, on frames in memory ----------------------------------------------------------------

def _context(tmp_path, table: str, name: str = "Frames") -> FoldContext:
    """Three classes, 4 training and 2 test tracks each, 9-15 frames of 5 values centred on the class."""
    tracks = []
    for c in range(3):
        for subset, n in (("training", 4), ("development", 2)):
            tracks += [Track(f"{subset}/c{c}/{i}", Path(f"/x/{subset}{c}{i}.mp3"), f"c{c}", subset=subset)
                       for i in range(n)]
    index = DatasetIndex("ismir2004", Path("/x"), ("c0", "c1", "c2"), tracks)
    rng = np.random.default_rng(2)
    features = {t.track_id: rng.normal(2.0 * int(t.label[1]), 1.0, (int(rng.integers(9, 15)), 5)).astype(np.float32)
                for t in index.tracks}
    (split,) = TrainingHoldoutSplit(validation_fraction=0.25, seed=0).make_splits(index)
    return FoldContext(index=index, features=features, split=split, seed=5, epochs=None,
                       work_dir=tmp_path / "lstm_segment" / table / name / "fold_00", verbose=0)


def test_the_fold_trains_as_the_lstm_rows_and_tables_2_and_4_share_its_posteriors(tmp_path, monkeypatch):
    import keras
    from keras import layers

    def build(input_shape, n_outputs):
        x = keras.Input(shape=input_shape)
        return keras.Model(x, layers.Dense(n_outputs, activation="softmax")(layers.GRU(4, return_sequences=True)(x)))

    module = SchemeModule(ref=SchemeModuleRef("x", "x.py", "code", "Frames"), build_model=build)
    monkeypatch.setattr(SchemeModuleRef, "load", lambda self: module)
    spec = tables.table2_ismir2004(tiny_settings(epochs=2))
    training = frame_training(spec, replace(table_training(spec), batch_size=3, epochs=2))
    assert training.num_streams == 3 and training.bptt_length == 8  # the tiny settings' LSTM windows
    context = _context(tmp_path, "table2_ismir2004")
    outcome = run_user_table2_fold(module.ref, 5, training, context)
    assert set(outcome.metrics) == {"frame_accuracy", "segment_accuracy"}
    assert all(0.0 <= v <= 100.0 for v in outcome.metrics.values())
    details = outcome.details
    assert details["training"]["epochs_run"] <= 2 and details["scheme_module_code"] == "code"
    assert details["minibatches_per_epoch"] > 0 and 0.0 <= details["padding_share"] < 1.0
    assert len(details["test_ids"]) == 6 and outcome.evidence["frames"].sum() == sum(
        len(context.features[i]) for i in context.split.test)

    # Table 4 with the same module, training, split and seed: the posteriors are reused, not retrained
    other = replace(context, work_dir=tmp_path / "lstm_segment" / "table4_ismir2004" / "Frames" / "fold_00")
    segment = replace(SegmentConfig(), k_grid=(0.5, 0.9))
    four = run_user_table4_fold(module.ref, 5, training, segment, other)
    assert set(four.metrics) == {"seg_accuracy", "lseg_accuracy", "fseg_accuracy"}
    assert four.details["posteriors_reused_from"] == str(posterior_cache_path(
        FramePosteriorsKey("Frames", "code", _adapter_code(), training), context))
    assert four.metrics["seg_accuracy"] == outcome.metrics["segment_accuracy"]  # the same posteriors' vote
    assert four.details["k_curve"]["k"] == [0.5, 0.9]
    # another module code is another model: not the cached posteriors
    changed = SchemeModuleRef("x", "x.py", "other code", "Frames")
    monkeypatch.setattr(SchemeModuleRef, "load", lambda self: replace(module, ref=changed))
    _, again = frame_model_posteriors(changed, 5, training, other, log=lambda *_: None)
    assert "posteriors_reused_from" not in again


def _adapter_code() -> str:
    from common.runner.identity import file_code_version

    return file_code_version(REPOSITORY / "papers" / "lstm_segment" / "user_scheme.py")


# --- end to end -----------------------------------------------------------------------------------

@pytest.mark.e2e
def test_the_example_through_the_runner_in_tables_2_and_4(ismir_tree, shared_work, tmp_path):
    results = tmp_path / "results"
    for factory in (tables.table2_ismir2004, tables.table4_ismir2004):
        spec = add_scheme_module(factory(tiny_settings(epochs=1)), EXAMPLE)
        run_table(spec, ismir_tree, results_dir=results, work_dir=shared_work, epochs=1,
                  schemes=["FrameGRU"], verbose=0, progress=False)
        out = results / "lstm_segment" / "partial" / spec.table_id / "epochs-1_scheme-module-FrameGRU"
        table = pd.read_csv(out / f"{spec.table_id}.csv", keep_default_na=False)
        ours = table[table["scheme"] == "FrameGRU"]
        assert ours["metric"].tolist() == list(spec.metrics)
        assert (ours["paper_mean"] == "").all() and ours["status"].str.startswith("own model, ").all()
        assert ours["our_mean"].astype(float).between(0, 100).all()
        manifest = json.loads((out / f"{spec.table_id}_manifest.json").read_text())
        assert manifest["caps"]["scheme_module"] == "FrameGRU"
        assert not (results / "lstm_segment" / f"{spec.table_id}.csv").exists()  # never the canonical table
    # Table 4 reused Table 2's posteriors of the module's model (trained once), and drew its Figure 3 curve
    two = fold_record(results, "lstm_segment", "table2_ismir2004", "FrameGRU")
    four = fold_record(results, "lstm_segment", "table4_ismir2004", "FrameGRU")
    assert "posteriors_reused_from" not in two["details"] and two["details"]["training"]["epochs_run"] == 1
    assert four["details"]["posteriors_reused_from"].startswith(str(shared_work / "lstm_segment" / "lstm_posteriors"))
    assert four["metrics"]["seg_accuracy"] == pytest.approx(two["metrics"]["segment_accuracy"])
    assert two["details"]["scheme_module"] == str(REPOSITORY / EXAMPLE)
    figure = pd.read_csv(results / "lstm_segment" / "partial" / "table4_ismir2004" / "epochs-1_scheme-module-FrameGRU"
                         / "table4_ismir2004_figure3.csv")
    assert set(figure["scheme"]) == {"FrameGRU"} and sorted(set(figure["k"])) == [0.5, 0.7, 0.9]
