"""Table 1 spec: rows, reference numbers, protocol, Makefile target."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import AudioError
from common.evaluation.splits import PredefinedSplit
from papers.msecnn import tables


def test_table1_has_the_papers_ten_rows_in_order():
    spec = tables.table1_mtat()
    names = [s.name for s in spec.schemes]
    assert names == ["MsE-CNN", "FCN-5", "FCN-4", "End to end learning", "Timbre CNN", "Bag of features and RBM",
                     "1D convolutions", "Transferred learning", "Multi-scale approach", "Pooling MFCC"]
    assert [s.name for s in spec.trainable()] == ["MsE-CNN", "FCN-5"]
    assert spec.metrics == ("roc_auc", "pr_auc")
    assert spec.reference["MsE-CNN"]["roc_auc"].mean == 0.914
    assert spec.reference["FCN-5"]["pr_auc"].mean == 0.404
    assert "pr_auc" not in spec.reference["Pooling MFCC"]
    assert isinstance(spec.protocol, PredefinedSplit)
    assert spec.dataset.dir_variable == "MTAT_DIR"
    assert spec.make_target == "msecnn-table1-mtat"
    assert spec.extractor().config.shape == (96, 1366)


def test_acceleration_options_enter_the_scheme_configuration(monkeypatch):
    monkeypatch.setenv("REPRO_MIXED_PRECISION", "off")
    monkeypatch.setenv("REPRO_XLA", "on")
    spec = tables.table1_mtat()
    training = spec.schemes[0].config["training"]
    assert (training["mixed_precision"], training["jit_compile"]) == ("off", "on")


def test_prepare_clip_checks_the_shape_and_casts_to_the_store_dtype(tmp_path):
    from common.datasets.base import Track

    track = Track("1", tmp_path / "a.mp3")
    out = tables.prepare_clip(np.zeros((96, 1366), np.float32), track, shape=(96, 1366), dtype="float16")
    assert out.dtype == np.float16
    with pytest.raises(AudioError, match="expected"):
        tables.prepare_clip(np.zeros((96, 10), np.float32), track, shape=(96, 1366), dtype="float16")
