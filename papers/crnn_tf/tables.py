"""CRNN-TF tables: datasets, protocols, schemes and the paper's reference numbers.

- Table I: MagnaTagATune tagging (top-50 tags, folders 0-b / c / d-f), AUC, Recall@k, NDCG@50,
  JSC, and the AUC of every tag (Fig. 6); its CRNN-TF checkpoint is Table III's starting point.
- Fig. 5: CRNN-TF on MagnaTagATune fed with subsets of the eight scanners (AUC).
- Table II: FMA medium genre classification (16 genres, official split).
- Table III: GTZAN, 10-fold cross-validation, transfer from the Table I model.

The reference numbers below are the paper's (Wang et al. 2018, Tables I-III), as fractions. They
appear in outputs only in the ``paper_*`` columns. Fig. 5's and Fig. 6's values are only drawn in
the paper, so those outputs have no paper column.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from common.atomic_files import atomic_write_bytes
from common.datasets import fma, gtzan, magnatagatune
from common.features.logmel import LogMelConfig, LogMelExtractor
from common.models.fcn import FCNConfig
from common.outputs.result_tables import write_csv
from common.runner import DatasetSpec, Scheme, TableSpec, reference_table
from common.evaluation.splits import CrossValidation, PredefinedSplit
from common.training.trainer import TrainingConfig
from common.audio.waveform import WaveformConfig
from papers.crnn_tf import config as cfg
from papers.crnn_tf.protocol import (load_source_model, run_clip_model_fold, run_end_to_end_fold,
                                     run_mfcc_svm_fold, run_timbre_cnn_fold, run_transfer_fold)

#: Table I's metrics, in the paper's column order.
TABLE1_METRICS = ("AUC", "Recall@1", "Recall@3", "Recall@5", "Recall@10", "NDCG@50", "JSC")


def _table1_row(*values):
    return {metric: (value, None) for metric, value in zip(TABLE1_METRICS, values)}


#: Paper Table I (MTAT, test split).
TABLE1_REFERENCE = reference_table({
    "FCN": _table1_row(0.8940, 0.3168, 0.5811, 0.7121, 0.8713, 0.8187, 0.3501),
    "Timbre CNN": _table1_row(0.8930, 0.2849, 0.5338, 0.6645, 0.8290, 0.7815, 0.3242),
    "End-to-end": _table1_row(0.8815, 0.2905, 0.5345, 0.6669, 0.8360, 0.7842, 0.3256),
    "CRNN": _table1_row(0.8926, 0.3040, 0.5605, 0.6919, 0.8537, 0.8014, 0.3335),
    "CRNN-TF": _table1_row(0.9078, 0.3200, 0.5786, 0.7151, 0.8727, 0.8201, 0.3607),
})

#: Table II's metrics: the paper's columns (``AUC`` = macro one-vs-rest ROC-AUC over genres, the
#: paper's "average performance over all genres"; recall, F1, accuracy), then precision (named in the
#: paper's text, not in its table) and ``AUC (weighted)`` (genres weighted by their test tracks, the
#: average the issue-10 audit reports from the authors' FMA notebook); the last two have no paper number.
TABLE2_METRICS = ("AUC", "recall", "F1", "accuracy", "precision", "AUC (weighted)")

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

MTAT = DatasetSpec(name=magnatagatune.NAME, index=magnatagatune.index, dir_variable="MTAT_DIR",
                   default_dir="data/magnatagatune", how_to_get=magnatagatune.HOW_TO_GET)

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
        crnn_tf, fcn, crnn, timbre, timbre_features, end_to_end, end_to_end_audio, mfcc: models.
        training: optimiser and schedule of every network.
        gtzan_folds, gtzan_validation_fraction: Table III protocol (see :func:`table3_gtzan`).
        source_outputs: tag outputs of the pre-trained CRNN-TF (MTAT top-50).
        fig5_subsets: Fig. 5's scanner subsets ``{name: directions}``.
        weights: pre-trained CRNN-TF weights for Table III (None: ``$CRNN_TF_WEIGHTS`` or
            :data:`DEFAULT_WEIGHTS`).
    """

    features: LogMelConfig = cfg.FEATURES
    clip_frames: int = cfg.CLIP_FRAMES
    min_seconds: float = cfg.MIN_SECONDS
    crnn_tf: cfg.CRNNTFConfig = field(default_factory=cfg.CRNNTFConfig)
    fcn: FCNConfig = cfg.FCN
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
    fig5_subsets: dict = field(default_factory=lambda: dict(cfg.FIG5_SUBSETS))
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


def _crnn_tf_config(settings: Settings, **changes) -> cfg.CRNNTFConfig:
    from dataclasses import replace

    return replace(settings.crnn_tf, n_mels=settings.features.n_mels, n_frames=settings.clip_frames, **changes)


def network_schemes(settings: Settings, task: str) -> tuple:
    """The networks of Tables I and II in the paper's row order: FCN, Timbre CNN, End-to-end, CRNN,
    CRNN-TF, then CRNN-TF (GRU) (not a row of the paper: GRU blocks reading whole rows / columns,
    a Dense(64, ELU) layer, L2 1e-7 on kernels; the variant the issue-10 audit reports from the
    authors' notebooks, not compared line by line here: :data:`papers.crnn_tf.config.GRU_ROW_CHANGES`).

    Args:
        settings: models, features, training.
        task: ``"tags"`` (Table I) or ``"genres"`` (Table II).
    """
    from dataclasses import replace

    train = settings.training.describe()
    fcn = replace(settings.fcn, n_mels=settings.features.n_mels, n_frames=settings.clip_frames)
    crnn = replace(settings.crnn, n_mels=settings.features.n_mels, n_frames=settings.clip_frames)
    crnn_tf = _crnn_tf_config(settings, rnn="grid_lstm")
    crnn_tf_gru = _crnn_tf_config(settings, **cfg.GRU_ROW_CHANGES)
    return (
        Scheme("FCN", partial(run_clip_model_fold, "fcn", fcn, settings.training, task),
               "Choi et al. 2016: FCN-4, four conv/BN/ELU/max-pool blocks, dropout 0.5 after every pool",
               config={"model": asdict(fcn), "training": train, "task": task}),
        Scheme("Timbre CNN", partial(run_timbre_cnn_fold, settings.timbre, settings.timbre_features, settings.training,
                                     task),
               "Pons et al. 2017: vertical filters on 128-band log-mel patches of 187 frames",
               config={"model": asdict(settings.timbre), "features": asdict(settings.timbre_features),
                       "training": train, "task": task}),
        Scheme("End-to-end", partial(run_end_to_end_fold, settings.end_to_end, settings.end_to_end_audio,
                                     settings.training, task),
               "Dieleman & Schrauwen 2014: strided conv on 3 s raw-audio windows",
               config={"model": asdict(settings.end_to_end), "audio": asdict(settings.end_to_end_audio),
                       "training": train, "task": task}),
        Scheme("CRNN", partial(run_clip_model_fold, "crnn", crnn, settings.training, task),
               "Choi et al. 2017: 4 conv layers + 2 GRU(32)", config={"model": asdict(crnn), "training": train,
                                                                     "task": task}),
        Scheme("CRNN-TF", partial(run_clip_model_fold, "crnn_tf", crnn_tf, settings.training, task),
               "CRNN-TF, Grid LSTM blocks (the paper)", config={"model": asdict(crnn_tf), "training": train,
                                                               "task": task}),
        Scheme("CRNN-TF (GRU)", partial(run_clip_model_fold, "crnn_tf", crnn_tf_gru, settings.training, task),
               "CRNN-TF with GRU(32) blocks over whole rows / columns, Dense(64, ELU), L2 1e-7 on kernels "
               "(as the issue-10 audit reports the authors' notebooks; not a row of the paper)",
               config={"model": asdict(crnn_tf_gru), "training": train, "task": task}),
    )


def table1_mtat(settings: Settings = Settings()) -> TableSpec:
    """Table I: music tagging on MagnaTagATune (top-50 tags), the 12 / 1 / 3 folder split (Sec. V-A, V-E).

    Metrics: macro ROC-AUC over tags, Recall@1/3/5/10, NDCG@50, JSC (Sec. V-D1); the fold records
    also hold the AUC of every tag, written by :func:`write_per_tag_auc` (Fig. 6). The CRNN-TF
    checkpoint this run keeps (``<work>/crnn_tf/table1_mtat/CRNN-TF/fold_00/best.weights.h5``) is
    the starting point of Table III's transfer rows (:data:`DEFAULT_WEIGHTS`).
    """
    return TableSpec(
        paper="crnn_tf", inference="papers.crnn_tf.inference", table_id="table1_mtat", title="Table I: MagnaTagATune tagging (50 tags)",
        dataset=MTAT, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=PredefinedSplit(train=("train",), validation=("validation",), test=("test",)),
        metrics=TABLE1_METRICS, schemes=network_schemes(settings, "tags"), reference=TABLE1_REFERENCE,
        source="Wang et al. 2018, Sec. V-E, Table I, Fig. 6", make_name="crnn_tf-table1-mtat",
        post_run=write_per_tag_auc)


def fig5_schemes(settings: Settings) -> tuple:
    """Fig. 5's bars: CRNN-TF (Grid LSTM) fed with each subset of scanners in ``settings.fig5_subsets``."""
    train = settings.training.describe()
    rows = []
    for name, directions in settings.fig5_subsets.items():
        model = _crnn_tf_config(settings, rnn="grid_lstm", directions=tuple(directions))
        rows.append(Scheme(name, partial(run_clip_model_fold, "crnn_tf", model, settings.training, "tags"),
                           f"CRNN-TF fed with the sequences {', '.join(directions)}",
                           config={"model": asdict(model), "training": train, "task": "tags"}))
    return tuple(rows)


def fig5_mtat(settings: Settings = Settings()) -> TableSpec:
    """Fig. 5: test AUC on MagnaTagATune of CRNN-TF fed with subsets of the eight scanned sequences.

    Rows ``X_r``, ``X_c`` (one sequence), ``X_rc`` (two), ``ABCD_r``, ``ABCD_c`` (four) and
    ``ABCDrc`` (all eight: the Table I model, trained again here under this table's name). The
    paper draws the values only, so there is no paper column; :func:`write_fig5` draws ours.
    """
    return TableSpec(
        paper="crnn_tf", inference="papers.crnn_tf.inference", table_id="fig5_mtat", title="Fig. 5: CRNN-TF with subsets of scanners, MTAT AUC",
        dataset=MTAT, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=PredefinedSplit(train=("train",), validation=("validation",), test=("test",)),
        metrics=TABLE1_METRICS, schemes=fig5_schemes(settings), reference={},
        source="Wang et al. 2018, Sec. V-E, Fig. 5", make_name="crnn_tf-fig5-mtat", post_run=write_fig5)


def table2_schemes(settings: Settings) -> tuple:
    """Table II rows: FCN, Timbre CNN, End-to-end, CRNN, CRNN-TF, and CRNN-TF (GRU)."""
    return network_schemes(settings, "genres")


def table2_fma(settings: Settings = Settings()) -> TableSpec:
    """Table II: genre classification on FMA medium (16 genres), the dataset's own split.

    Metrics :data:`TABLE2_METRICS`: both the macro ROC-AUC (``AUC``, compared with the paper) and
    the support-weighted one (``AUC (weighted)``), see :func:`common.evaluation.multiclass.genre_metrics`.
    """
    return TableSpec(
        paper="crnn_tf", inference="papers.crnn_tf.inference", table_id="table2_fma", title="Table II: FMA medium genre classification",
        dataset=FMA, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=PredefinedSplit(train=("training",), validation=("validation",), test=("test",)),
        metrics=TABLE2_METRICS,
        schemes=table2_schemes(settings), reference=TABLE2_REFERENCE,
        source="Wang et al. 2018, Sec. V-F, Table II", make_name="crnn_tf-table2-fma")


def _check_weights(settings: Settings, model_config: cfg.CRNNTFConfig) -> None:
    load_source_model(settings.weights_path(), settings.source_outputs, model_config)


def table3_schemes(settings: Settings) -> tuple:
    """Table III rows: MFCC + SVM, CRNN-TF from scratch, and the three transfer modes."""
    train = settings.training.describe()
    model = _crnn_tf_config(settings, rnn="grid_lstm")
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
        paper="crnn_tf", inference="papers.crnn_tf.inference", table_id="table3_gtzan", title="Table III: GTZAN transfer accuracy",
        dataset=GTZAN, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=CrossValidation(n_folds=settings.gtzan_folds, validation_fraction=settings.gtzan_validation_fraction,
                                 seed=cfg.SEED),
        metrics=("accuracy",), schemes=table3_schemes(settings), reference=TABLE3_REFERENCE,
        source="Wang et al. 2018, Sec. V-G, Table III", make_name="crnn_tf-table3-gtzan")


def _fold_values(fold_records: dict, value) -> dict:
    """``{scheme: [value(record) for each of its folds]}`` for schemes with records."""
    out = {}
    for scheme, records in fold_records.items():
        values = [value(r) for r in records]
        if values:
            out[scheme] = values
    return out


def per_tag_auc_frame(fold_records: dict):
    """Per-tag test AUC of every scheme (mean over its folds; Table I has one): a DataFrame with
    columns ``tag``, ``popularity_rank`` (1 = most frequent of the top 50) and one per scheme."""
    import pandas as pd

    columns = {}
    tags = None
    for scheme, records in fold_records.items():
        for record in records:
            per_tag = record.get("details", {}).get("per_tag_auc")
            if per_tag is None:
                continue
            tags = tags or list(per_tag)
            columns.setdefault(scheme, []).append([np.nan if per_tag[t] is None else per_tag[t] for t in tags])
    frame = pd.DataFrame({"tag": tags or [], "popularity_rank": range(1, len(tags or []) + 1)})
    for scheme, rows in columns.items():
        frame[scheme] = np.nanmean(np.array(rows, dtype=float), axis=0) if len(rows) > 1 else rows[0]
    return frame


def _save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    atomic_write_bytes(path, lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)


def write_per_tag_auc(out_dir: Path, fold_records: dict) -> None:
    """Fig. 6 from this run: ``table1_mtat_per_tag_auc.csv`` and ``.png`` (AUC of each of the 50 tags).

    The paper's Fig. 6 draws 24 of the tags (genre, instrument, mood) without listing them in the
    text; we give all 50, in popularity order, so any selection can be read off the CSV.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = per_tag_auc_frame(fold_records)
    write_csv(frame, Path(out_dir) / "table1_mtat_per_tag_auc.csv")
    schemes = [c for c in frame.columns if c not in ("tag", "popularity_rank")]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.3 * len(frame)), 4.5))
    for i, scheme in enumerate(schemes):
        ax.plot(np.arange(len(frame)), frame[scheme], marker="o", markersize=3, linewidth=1, label=scheme,
                color=f"C{i}")
    ax.set_xticks(np.arange(len(frame)))
    ax.set_xticklabels([f"{t} ({r})" for t, r in zip(frame["tag"], frame["popularity_rank"])], rotation=90,
                       fontsize=6)
    ax.set_ylabel("test ROC-AUC")
    ax.set_title("Fig. 6 (this run): AUC of each tag, MagnaTagATune (popularity rank in parentheses)", fontsize=10)
    ax.grid(alpha=0.3)
    if schemes:
        ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    _save_figure(fig, Path(out_dir) / "table1_mtat_per_tag_auc.png")


def write_fig5(out_dir: Path, fold_records: dict) -> None:
    """Fig. 5 from this run: ``fig5_mtat_auc.png``, the test AUC of each scanner subset (bars).

    The numbers are those of ``fig5_mtat.csv`` (metric ``AUC``); the paper's values are drawn
    only, so none are shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = {scheme: float(np.mean(values))
             for scheme, values in _fold_values(fold_records, lambda r: r["metrics"]["AUC"]).items()}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(means)), 4.0))
    ax.bar(np.arange(len(means)), list(means.values()), color="C0")
    ax.set_xticks(np.arange(len(means)))
    ax.set_xticklabels(list(means), rotation=45, fontsize=8)
    if means:
        low = min(means.values())
        ax.set_ylim(max(0.0, low - 0.05), min(1.0, max(means.values()) + 0.02))
    ax.set_ylabel("test ROC-AUC (this run)")
    ax.set_title("Fig. 5 (this run): CRNN-TF fed with subsets of the scanned sequences, MTAT", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, Path(out_dir) / "fig5_mtat_auc.png")


#: Tables selectable from the command line: ``crnn_tf.<name>``.
TABLES = {"table1_mtat": table1_mtat, "fig5_mtat": fig5_mtat, "table2_fma": table2_fma,
          "table3_gtzan": table3_gtzan}
