"""MsE-CNN Table 1: tagging ROC-AUC and PR-AUC on MagnaTagATune (50 tags).

Two rows are trained here (MsE-CNN and FCN-5); the other eight are the paper's quotations of
earlier work and appear as ``paper-only`` rows. The reference numbers are the paper's (Table 1);
they appear in outputs only in the ``paper_*`` columns.

PR-AUC: the paper's Table 1, as extracted from the PDF, lists five PR-AUC values followed by a
single "-"; we read them as the first five rows in order and the remaining rows as having none
(see README, "Table 1").
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

import numpy as np

from common.datasets import magnatagatune
from common.errors import AudioError
from common.models.fcn import FCNConfig
from common.features.clip_melgram import ClipMelgramConfig, ClipMelgramExtractor
from common.runner import DatasetSpec, Scheme, TableSpec, reference_table
from common.evaluation.splits import PredefinedSplit
from common.training.trainer import TrainingConfig, acceleration_from_environment
from papers.msecnn import config as cfg
from papers.msecnn.protocol import run_model_fold, test_metrics

#: Paper Table 1 (ROC-AUC, PR-AUC), in the paper's row order.
TABLE1_REFERENCE = reference_table({
    "MsE-CNN": {"roc_auc": (0.914, None), "pr_auc": (0.423, None)},
    "FCN-5": {"roc_auc": (0.897, None), "pr_auc": (0.404, None)},
    "FCN-4": {"roc_auc": (0.894, None), "pr_auc": (0.376, None)},
    "End to end learning": {"roc_auc": (0.904, None), "pr_auc": (0.381, None)},
    "Timbre CNN": {"roc_auc": (0.893, None), "pr_auc": (0.349, None)},
    "Bag of features and RBM": {"roc_auc": (0.888, None)},
    "1D convolutions": {"roc_auc": (0.882, None)},
    "Transferred learning": {"roc_auc": (0.880, None)},
    "Multi-scale approach": {"roc_auc": (0.898, None)},
    "Pooling MFCC": {"roc_auc": (0.861, None)},
})

#: The rows the paper quotes from earlier work (not re-implemented here).
PAPER_ONLY = {
    "FCN-4": "Choi et al. 2016, 4-layer FCN (quoted by the paper; not re-implemented)",
    "End to end learning": "quoted by the paper (footnote 2); not re-implemented",
    "Timbre CNN": "quoted by the paper (footnotes 2, 3); not re-implemented",
    "Bag of features and RBM": "quoted by the paper (footnote 2); not re-implemented",
    "1D convolutions": "quoted by the paper (footnote 2); not re-implemented",
    "Transferred learning": "quoted by the paper (footnote 2); not re-implemented",
    "Multi-scale approach": "quoted by the paper (footnote 2); not re-implemented",
    "Pooling MFCC": "quoted by the paper (footnote 2); not re-implemented",
}

DESCRIPTIONS = {
    "MsE-CNN": "MsE-CNN (ours in the paper): FCN-5 plus a side path that max-pools and concatenates the input "
               "and every block's output, joined before the sigmoid layer (Sec. 2.2, Fig. 2; authors' "
               "MsE_CNN_model.py)",
    "FCN-5": "FCN-5 (reproduced in the paper): Choi et al. 2016, five conv/BN/ELU/max-pool blocks (Sec. 2.1)",
}

MTAT = DatasetSpec(name="magnatagatune", index=magnatagatune.index, dir_variable="MTAT_DIR",
                   default_dir="data/magnatagatune",
                   how_to_get=magnatagatune.HOW_TO_GET, published_size=magnatagatune.task_size)


def prepare_clip(spectrogram: np.ndarray, track, *, shape: tuple[int, int], dtype: str) -> np.ndarray:
    """Cached spectrogram -> the array a scheme trains on (checked shape, store dtype).

    Casting to the store dtype (float16 by default) here halves the memory the runner holds
    for the whole dataset (19 000 clips x 96 x 1366).

    Raises:
        AudioError: the cached spectrogram does not have ``shape``.
    """
    if spectrogram.shape != tuple(shape):
        raise AudioError(track.path, f"spectrogram shape {spectrogram.shape}, expected {tuple(shape)}")
    return spectrogram.astype(dtype)


def make_schemes(model_config: FCNConfig, training: TrainingConfig, store_dtype: str) -> tuple[Scheme, ...]:
    """Table 1's rows in the paper's order: the two trained models, then the eight quoted ones."""
    rows = []
    for name in TABLE1_REFERENCE:
        if name in cfg.MODEL_NAMES:
            rows.append(Scheme(name, partial(run_model_fold, name, model_config, training, store_dtype),
                               DESCRIPTIONS[name],
                               config={"model": asdict(model_config), "training": training.describe(),
                                       "store_dtype": store_dtype}))
        else:
            rows.append(Scheme(name, None, PAPER_ONLY[name]))
    return tuple(rows)


def table1_mtat(model_config: FCNConfig = cfg.MODEL, features: ClipMelgramConfig = cfg.FEATURES,
                training: TrainingConfig | None = None, store_dtype: str = cfg.STORE_DTYPE) -> TableSpec:
    """Table 1: macro ROC-AUC and PR-AUC over the top-50 MagnaTagATune tags, standard split.

    Args:
        model_config: FCN shape of both trained models (tests pass small filter counts).
        features: spectrogram parameters.
        training: training settings (default :data:`papers.msecnn.config.TRAINING`); the
            ``--mixed-precision`` / ``--xla`` command-line options override its acceleration.
        store_dtype: dtype of the feature stores.
    """
    training = acceleration_from_environment(training or cfg.TRAINING)
    return TableSpec(
        paper="msecnn", table_id="table1_mtat", inference="papers.msecnn.inference",
        title="Table 1: MagnaTagATune tagging, ROC-AUC and PR-AUC (50 tags)",
        dataset=MTAT,
        extractor=partial(ClipMelgramExtractor, features),
        prepare=partial(prepare_clip, shape=features.shape, dtype=store_dtype),
        protocol=PredefinedSplit(train=("train",), validation=("validation",), test=("test",)),
        metrics=("roc_auc", "pr_auc"), evidence_metrics=test_metrics,
        schemes=make_schemes(model_config, training, store_dtype),
        reference=TABLE1_REFERENCE,
        source="MsE-CNN paper, Sec. 2-3, Table 1",
        make_name="msecnn-table1-mtat")


#: Tables selectable from the command line: ``msecnn.<name>``.
TABLES = {"table1_mtat": table1_mtat}
