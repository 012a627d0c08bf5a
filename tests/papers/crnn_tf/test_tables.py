"""Which configuration each CRNN-TF table row runs (no training here)."""

import pytest

from common.training.epoch_test_evaluation import selected_on_test_name
from papers.crnn_tf import config as cfg
from papers.crnn_tf.tables import (TABLE1_METRICS, TABLE2_METRICS, TABLE2_REFERENCE, Settings, fig5_mtat, table1_mtat,
                                   table2_fma, table3_gtzan)


def _row(spec, name):
    return next(s for s in spec.schemes if s.name == name)


def test_gru_row_follows_the_authors_notebook():
    table1, table2 = table1_mtat(Settings()), table2_fma(Settings())
    mtat, fma = _row(table1, "CRNN-TF (GRU)").config, _row(table2, "CRNN-TF (GRU)").config
    # 1.ipynb cell 11: Keras 2 GRU, no L2 on the output, L2 1e-7; plain Adam() for 50 epochs, batch 32
    assert mtat["model"]["gru_reset_after"] is False and mtat["model"]["output_l2"] is False
    assert mtat["model"]["l2"] == 1e-7 and mtat["model"]["hidden_units"] == 64
    assert mtat["training"]["lr_decay_per_epoch"] == 1.0 and mtat["training"]["epochs"] == 50
    assert mtat["training"]["learning_rate"] == 0.001 and mtat["training"]["batch_size"] == 32
    assert mtat["training"]["patience"] == 0
    # 1.ipynb cell 16 (FMA): no L2, 40 epochs
    assert fma["model"]["l2"] == 0.0 and fma["training"]["epochs"] == 40
    # the paper's row keeps the paper's settings
    paper = _row(table1, "CRNN-TF").config
    assert paper["model"]["rnn"] == "grid_lstm" and paper["training"]["lr_decay_per_epoch"] == 0.9


def test_per_epoch_test_evaluation_is_on_for_tables_1_2_and_fig5_only():
    for spec, metrics in ((table1_mtat(Settings()), TABLE1_METRICS), (table2_fma(Settings()), TABLE2_METRICS),
                          (fig5_mtat(Settings()), TABLE1_METRICS)):
        assert all(s.config["epoch_test"] is True for s in spec.schemes)
        assert tuple(spec.metrics) == tuple(metrics) + tuple(selected_on_test_name(m) for m in metrics)
    table3 = table3_gtzan(Settings(weights="/nonexistent.weights.h5"))
    assert all("epoch_test" not in s.config for s in table3.schemes) and tuple(table3.metrics) == ("accuracy",)
    off = table1_mtat(Settings(epoch_test=False))
    assert tuple(off.metrics) == TABLE1_METRICS and all(s.config["epoch_test"] is False for s in off.schemes)


def test_table2_compares_the_papers_auc_with_the_weighted_auc():
    assert TABLE2_METRICS[0] == "AUC (weighted)" and "AUC" in TABLE2_METRICS
    for scheme, row in TABLE2_REFERENCE.items():
        assert "AUC" not in row and row["AUC (weighted)"].mean == row[selected_on_test_name("AUC (weighted)")].mean
    assert TABLE2_REFERENCE["Timbre CNN"]["AUC (weighted)"].mean == pytest.approx(0.891)


def test_fig5_authors_variant():
    spec = fig5_mtat(Settings(fig5_variant="authors"))
    assert spec.table_id == "fig5_mtat_authors"
    rows = {s.name: s.config for s in spec.schemes}
    for name, directions in cfg.FIG5_SUBSETS.items():
        model, training = rows[name]["model"], rows[name]["training"]
        assert model["rnn"] == "gru" and model["l2"] == 0.0 and model["hidden_units"] == 64
        assert model["dropout"] == cfg.FIG5_AUTHORS_DROPOUT[len(directions)]
        assert training["epochs"] == (50 if len(directions) == 8 else 35)
        assert training["lr_decay_per_epoch"] == 1.0
    assert fig5_mtat(Settings()).table_id == "fig5_mtat"
    with pytest.raises(ValueError, match="fig5_variant"):
        fig5_mtat(Settings(fig5_variant="other"))


def test_authors_baselines_are_a_separate_table():
    spec = table1_mtat(Settings(baselines="authors"))
    assert spec.table_id == "table1_mtat_authors_baselines"
    builders = {s.name: s.config.get("builder") for s in spec.schemes}
    assert builders["FCN"] == "fcn_authors" and builders["Timbre CNN"] == "timbre_cnn_authors"
    assert builders["End-to-end"] == "end_to_end_authors" and builders["CRNN"] == "crnn"
    assert _row(spec, "CRNN").config["model"]["activation"] == "relu"
    assert table1_mtat(Settings()).table_id == "table1_mtat"
    with pytest.raises(ValueError, match="baselines"):
        table1_mtat(Settings(baselines="other"))
