"""End-to-end: CRNN-TF Table III (GTZAN transfer) through the real runner on tiny generated GTZAN.

The transfer rows start from the CRNN-TF checkpoint saved by the tiny Table I run (the session
fixture ``table1_run``, conftest.py). The bad-weights tests use a tiny tagging CRNN-TF saved here.
"""


import numpy as np
import pandas as pd
import pytest

from common import cli, registry
from common.errors import ConfigError
from common.runner import run_table
from papers.crnn_tf import models
from papers.crnn_tf.tables import Settings, table3_gtzan
from tests.run_outputs import fold_record, table_folder
from tests.runner_fixtures import tiny_gtzan
from tests.papers.crnn_tf.tiny_settings import CLIP_FRAMES, FEATURES, tiny_settings

N_TAGS = 5


def pretrained_weights(path, settings: Settings):
    """Train a tiny tagging CRNN-TF one step on random spectrograms and save its weights."""
    from dataclasses import replace

    config = replace(settings.crnn_tf, n_mels=FEATURES.n_mels, n_frames=CLIP_FRAMES)
    model = models.build_crnn_tf(N_TAGS, "tags", config)
    model.compile("adam", "binary_crossentropy")
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.standard_normal((4, FEATURES.n_mels, CLIP_FRAMES)).astype("float32") * 10 - 50,
                         (rng.random((4, N_TAGS)) > 0.5).astype("float32"))
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(path))
    return path, model


@pytest.mark.e2e
def test_table3_transfer_on_tiny_gtzan(tmp_path, table1_run):
    data = tiny_gtzan(tmp_path / "gtzan", per_genre=6, seconds=1.0)
    weights = table1_run.crnn_tf_weights                      # saved by the Table I run
    settings = tiny_settings(weights=str(weights), source_outputs=50, gtzan_folds=3,
                             gtzan_validation_fraction=1 / 6)
    frame = run_table(table3_gtzan(settings), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work",
                      folds=1, epochs=1, verbose=0, progress=False)
    out = table_folder(tmp_path / "results", "crnn_tf", "table3_gtzan")
    table = pd.read_csv(out / "table3_gtzan.csv")
    assert frame.shape == table.shape
    assert table["scheme"].tolist() == ["MFCC + SVM", "CRNN-TF", "Freeze CRNN-TF", "Freeze CNN + Fine-tune RNN",
                                        "Fine-tune CRNN-TF"]
    assert table["status"].str.endswith("partial: 1/3 folds, epochs <= 1").all() and (table["metric"] == "accuracy").all()
    assert table["our_mean"].between(0, 1).all() and (table["n_tracks"] == 60).all()
    assert table.loc[table["scheme"] == "Fine-tune CRNN-TF", "paper_mean"].item() == pytest.approx(0.724)

    def details(scheme):
        return fold_record(tmp_path / "results", "crnn_tf", "table3_gtzan", scheme)["details"]

    svm = details("MFCC + SVM")
    assert svm["n_train_tracks"] == 30 and svm["n_validation_tracks"] == 10 and svm["n_test_tracks"] == 20
    assert set(svm["validation_accuracy_per_C"]) == {"0.1", "1.0", "10.0", "100.0"}
    scratch = details("CRNN-TF")
    assert scratch["layers_copied"] == [] and scratch["weights"] is None
    frozen = details("Freeze CRNN-TF")
    assert "rnn_grid_lstm" in frozen["layers_frozen"] and "cnn_block1_conv" in frozen["layers_frozen"]
    assert frozen["trainable_parameters"] == (8 * 4 + 1) * 10  # only the output layer learns
    cnn_only = details("Freeze CNN + Fine-tune RNN")
    assert "rnn_grid_lstm" not in cnn_only["layers_frozen"] and "cnn_block1_bn" in cnn_only["layers_frozen"]
    tuned = details("Fine-tune CRNN-TF")
    assert tuned["layers_frozen"] == [] and "rnn_grid_lstm" in tuned["layers_copied"]
    assert tuned["weights"] == str(weights)
    assert tuned["trainable_parameters"] == scratch["trainable_parameters"]


def test_missing_weights_stop_the_run_before_any_work(tmp_path, monkeypatch, capsys):
    settings = tiny_settings(weights=str(tmp_path / "absent.weights.h5"))
    with pytest.raises(ConfigError, match="absent.weights.h5"):
        run_table(table3_gtzan(settings), tmp_path / "no-dataset-needed", results_dir=tmp_path / "r",
                  work_dir=tmp_path / "w", progress=False)
    assert not (tmp_path / "r").exists()  # nothing indexed, extracted or written
    # the runs that need no weights go ahead (and reach the dataset check)
    with pytest.raises(Exception, match="GTZAN not found"):
        run_table(table3_gtzan(settings), tmp_path / "absent", schemes=["MFCC + SVM", "CRNN-TF"],
                  results_dir=tmp_path / "r", work_dir=tmp_path / "w", progress=False)
    # through the command line: the variable named in the message, exit status 2, no traceback
    monkeypatch.setenv("CRNN_TF_WEIGHTS", str(tmp_path / "absent.weights.h5"))
    monkeypatch.setattr(registry, "PAPERS", ("crnn_tf",))  # only this paper's tables need importing here
    code = cli.main(["run", "crnn_tf.table3_gtzan", "--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "r"),
                     "--work-dir", str(tmp_path / "w"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "CRNN_TF_WEIGHTS" in err and "Traceback" not in err


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_of_another_architecture_are_refused(tmp_path):
    path, _ = pretrained_weights(tmp_path / "w.weights.h5", tiny_settings())
    settings = tiny_settings(weights=str(path), source_outputs=N_TAGS + 1)  # wrong head size
    with pytest.raises(ConfigError, match="not weights of a CRNN-TF"):
        run_table(table3_gtzan(settings), tmp_path, results_dir=tmp_path / "r", work_dir=tmp_path / "w",
                  progress=False)
