"""CRNN-TF tables: datasets, protocols, schemes and the paper's reference numbers.

Built here: Table II (FMA medium, genre classification) and Table III (GTZAN, transfer from the
MTAT model). Not built yet: Table I (MTAT tagging) and the Fig. 5 ablation, which need the
MagnaTagATune loader and the ROC-AUC functions being added to ``common`` (see README).

The reference numbers below are the paper's (Wang et al. 2018, Tables II-III), as fractions. They
appear in outputs only in the ``paper_*`` columns.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from common.datasets import fma, gtzan
from common.features import LogMelConfig, LogMelExtractor
from common.runner import DatasetSpec, Scheme, TableSpec, reference_table
from common.splits import CrossValidation, PredefinedSplit
from common.training import TrainingConfig
from common.waveform import WaveformConfig
from papers.crnn_tf import config as cfg
from papers.crnn_tf.protocol import (load_source_model, run_clip_model_fold, run_end_to_end_fold,
                                     run_mfcc_svm_fold, run_timbre_cnn_fold, run_transfer_fold)

#: Paper Table II (FMA medium, test split): AUC, recall, F1 averaged over genres; accuracy.
TABLE2_REFERENCE = reference_table({
    "FCN": {"AUC": (0.907, None), "recall": (0.430, None), "F1": (0.403, None), "accuracy": (0.639, None)},
    "Timbre CNN": {"AUC": (0.891, None), "recall": (0.364, None), "F1": (0.350, None), "accuracy": (0.617, None)},
    "End-to-end": {"AUC": (0.891, None), "recall": (0.384, None), "F1": (0.345, None), "accuracy": (0.614, None)},
    "CRNN": {"AUC": (0.903, None), "recall": (0.407, None), "F1": (0.402, None), "accuracy": (0.634, None)},
    "CRNN-TF": {"AUC": (0.910, None), "recall": (0.435, None), "F1": (0.423, None), "accuracy": (0.647, None)},
})

#: Paper Table III (GTZAN, 10-fold cross-validation): accuracy.
TABLE3_REFERENCE = reference_table({
    "MFCC + SVM": {"accuracy": (0.660, None)},
    "CRNN-TF": {"accuracy": (0.701, None)},
    "Freeze CRNN-TF": {"accuracy": (0.592, None)},
    "Freeze CNN + Fine-tune RNN": {"accuracy": (0.711, None)},
    "Fine-tune CRNN-TF": {"accuracy": (0.724, None)},
})

NOT_BUILT = {
    "FCN": "Choi et al. 2016 FCN-4: not built yet here (waits for the shared common.fcn builder)",
}

FMA = DatasetSpec(name="fma_medium", index=fma.index, dir_variable="FMA_DIR", default_dir="data/fma",
                  how_to_get="fma_metadata.zip and fma_medium.zip from https://github.com/mdeff/fma")

GTZAN = DatasetSpec(name="gtzan", index=gtzan.index, dir_variable="GTZAN_DIR", default_dir="data/gtzan",
                    how_to_get="GTZAN genres.tar.gz (make download-gtzan, or your own copy)")

#: Environment / Make variable naming the pre-trained CRNN-TF weights of Table III.
WEIGHTS_VARIABLE = "CRNN_TF_WEIGHTS"

#: Where the Table I run keeps the CRNN-TF checkpoint (runner layout: work/<paper>/<table>/<scheme>/fold_00).
DEFAULT_WEIGHTS = "work/crnn_tf/table1_mtat/CRNN-TF/fold_00/best.weights.h5"


@dataclass(frozen=True)
class Settings:
    """Everything a CRNN-TF table needs; the defaults are the paper's (tests pass tiny ones).

    Attributes:
        features, clip_frames, min_seconds: the table's log-mel, the clip length in frames and the
            shortest usable track (see :mod:`papers.crnn_tf.config`).
        crnn_tf, crnn, timbre, timbre_features, end_to_end, end_to_end_audio, mfcc: models.
        training: optimiser and schedule of every network.
        gtzan_folds, gtzan_validation_fraction: Table III protocol (see :func:`table3_gtzan`).
        source_outputs: tag outputs of the pre-trained CRNN-TF (MTAT top-50).
        weights: pre-trained CRNN-TF weights for Table III (None: ``$CRNN_TF_WEIGHTS`` or
            :data:`DEFAULT_WEIGHTS`).
    """

    features: LogMelConfig = cfg.FEATURES
    clip_frames: int = cfg.CLIP_FRAMES
    min_seconds: float = cfg.MIN_SECONDS
    crnn_tf: cfg.CRNNTFConfig = field(default_factory=cfg.CRNNTFConfig)
    crnn: cfg.CRNNConfig = field(default_factory=cfg.CRNNConfig)
    timbre: cfg.TimbreCNNConfig = field(default_factory=cfg.TimbreCNNConfig)
    timbre_features: LogMelConfig = cfg.TIMBRE_FEATURES
    end_to_end: cfg.EndToEndConfig = field(default_factory=cfg.EndToEndConfig)
    end_to_end_audio: WaveformConfig = cfg.END_TO_END_AUDIO
    mfcc: cfg.MFCCSVMConfig = field(default_factory=cfg.MFCCSVMConfig)
    training: TrainingConfig = cfg.TRAINING
    gtzan_folds: int = 10
    gtzan_validation_fraction: float = 0.1
    source_outputs: int = 50
    weights: str | None = None

    def weights_path(self) -> Path:
        """The Table III weights file: ``weights``, else ``$CRNN_TF_WEIGHTS``, else the default."""
        return Path(self.weights or os.environ.get(WEIGHTS_VARIABLE) or DEFAULT_WEIGHTS)


def prepare_clip(spectrogram: np.ndarray, track, frames: int) -> np.ndarray:
    """Cached log-mel ``(n_mels, T)`` -> the clip the networks see, ``(n_mels, frames)`` float32.

    The first ``frames`` frames are kept (the paper's first 29 s); a shorter spectrogram is padded
    at the end with :data:`papers.crnn_tf.config.PAD_DB` (-100 dB, digital silence).
    """
    spectrogram = spectrogram[:, :frames]
    if spectrogram.shape[1] < frames:
        pad = np.full((spectrogram.shape[0], frames - spectrogram.shape[1]), cfg.PAD_DB, dtype=np.float32)
        spectrogram = np.concatenate([spectrogram, pad], axis=1)
    return np.ascontiguousarray(spectrogram, dtype=np.float32)


def _extractor(settings: Settings) -> LogMelExtractor:
    return LogMelExtractor(settings.features, min_duration=settings.min_seconds)


def _crnn_tf_config(settings: Settings, rnn: str) -> cfg.CRNNTFConfig:
    from dataclasses import replace

    return replace(settings.crnn_tf, n_mels=settings.features.n_mels, n_frames=settings.clip_frames, rnn=rnn)


def table2_schemes(settings: Settings) -> tuple:
    """Table II rows: FCN (not built), Timbre CNN, End-to-end, CRNN, CRNN-TF, and CRNN-TF (GRU)."""
    from dataclasses import replace

    train = settings.training.describe()
    crnn = replace(settings.crnn, n_mels=settings.features.n_mels, n_frames=settings.clip_frames)
    crnn_tf = _crnn_tf_config(settings, "grid_lstm")
    crnn_tf_gru = _crnn_tf_config(settings, "gru")
    return (
        Scheme("FCN", None, NOT_BUILT["FCN"]),
        Scheme("Timbre CNN", partial(run_timbre_cnn_fold, settings.timbre, settings.timbre_features, settings.training),
               "Pons et al. 2017: vertical filters on 128-band log-mel patches of 187 frames",
               config={"model": asdict(settings.timbre), "features": asdict(settings.timbre_features),
                       "training": train}),
        Scheme("End-to-end", partial(run_end_to_end_fold, settings.end_to_end, settings.end_to_end_audio,
                                     settings.training),
               "Dieleman & Schrauwen 2014: strided conv on 3 s raw-audio windows",
               config={"model": asdict(settings.end_to_end), "audio": asdict(settings.end_to_end_audio),
                       "training": train}),
        Scheme("CRNN", partial(run_clip_model_fold, "crnn", crnn, settings.training),
               "Choi et al. 2017: 4 conv layers + 2 GRU(32)", config={"model": asdict(crnn), "training": train}),
        Scheme("CRNN-TF", partial(run_clip_model_fold, "crnn_tf", crnn_tf, settings.training),
               "CRNN-TF, Grid LSTM blocks (the paper)", config={"model": asdict(crnn_tf), "training": train}),
        Scheme("CRNN-TF (GRU)", partial(run_clip_model_fold, "crnn_tf", crnn_tf_gru, settings.training),
               "CRNN-TF with GRU(32) blocks, as the authors' released code (not a row of the paper)",
               config={"model": asdict(crnn_tf_gru), "training": train}),
    )


def table2_fma(settings: Settings = Settings()) -> TableSpec:
    """Table II: genre classification on FMA medium (16 genres), the dataset's own split."""
    return TableSpec(
        paper="crnn_tf", table_id="table2_fma", title="Table II: FMA medium genre classification",
        dataset=FMA, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=PredefinedSplit(train=("training",), validation=("validation",), test=("test",)),
        metrics=("AUC", "recall", "F1", "accuracy", "precision"),
        schemes=table2_schemes(settings), reference=TABLE2_REFERENCE,
        source="Wang et al. 2018, Sec. V-F, Table II", make_name="crnn_tf-table2-fma")


def _check_weights(settings: Settings, model_config: cfg.CRNNTFConfig) -> None:
    load_source_model(settings.weights_path(), settings.source_outputs, model_config)


def table3_schemes(settings: Settings) -> tuple:
    """Table III rows: MFCC + SVM, CRNN-TF from scratch, and the three transfer modes."""
    train = settings.training.describe()
    model = _crnn_tf_config(settings, "grid_lstm")
    weights = settings.weights_path()
    rows = [Scheme("MFCC + SVM", partial(run_mfcc_svm_fold, settings.mfcc),
                   "20 MFCCs + deltas, mean and std over time; RBF SVM", config={"mfcc": asdict(settings.mfcc)})]
    for name, mode in (("CRNN-TF", "scratch"), ("Freeze CRNN-TF", "freeze_all"),
                       ("Freeze CNN + Fine-tune RNN", "freeze_cnn"), ("Fine-tune CRNN-TF", "fine_tune")):
        transfer = mode != "scratch"
        rows.append(Scheme(
            name, partial(run_transfer_fold, mode, weights if transfer else None, settings.source_outputs, model,
                          settings.training),
            f"CRNN-TF, transfer mode {mode}" + (f" from {weights}" if transfer else ""),
            config={"model": asdict(model), "training": train, "mode": mode,
                    "weights": str(weights) if transfer else None,
                    "weights_mtime_ns": weights.stat().st_mtime_ns if transfer and weights.is_file() else None},
            preflight=partial(_check_weights, settings, model) if transfer else None))
    return tuple(rows)


def table3_gtzan(settings: Settings = Settings()) -> TableSpec:
    """Table III: GTZAN accuracy, 10-fold cross-validation, transfer from the MTAT CRNN-TF.

    Protocol: 10 stratified folds; in each, 1 fold is the test set and the other 9 are for
    training, of which 1/9 (10 % of all tracks) is held out as validation for early stopping and
    for choosing the SVM's C (the paper names no validation set; without one nothing could choose
    the epoch to keep). The transfer rows need ``CRNN_TF_WEIGHTS`` (checked before any work).
    """
    return TableSpec(
        paper="crnn_tf", table_id="table3_gtzan", title="Table III: GTZAN transfer accuracy",
        dataset=GTZAN, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=CrossValidation(n_folds=settings.gtzan_folds, validation_fraction=settings.gtzan_validation_fraction,
                                 seed=cfg.SEED),
        metrics=("accuracy",), schemes=table3_schemes(settings), reference=TABLE3_REFERENCE,
        source="Wang et al. 2018, Sec. V-G, Table III", make_name="crnn_tf-table3-gtzan")


#: Tables selectable from the command line: ``crnn_tf.<name>``.
TABLES = {"table2_fma": table2_fma, "table3_gtzan": table3_gtzan}
