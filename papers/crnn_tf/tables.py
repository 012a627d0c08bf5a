"""CRNN-TF tables: datasets, protocols, schemes and the paper's reference numbers.

- Table I: MagnaTagATune tagging (top-50 tags, folders 0-b / c / d-f), AUC, Recall@k, NDCG@50,
  JSC, and the AUC of every tag (Fig. 6); its CRNN-TF checkpoint is Table III's starting point.
- Fig. 5: CRNN-TF on MagnaTagATune fed with subsets of the eight scanners (AUC).
- Table II: FMA medium genre classification (16 genres, official split).
- Table III: GTZAN, 10-fold cross-validation, transfer from the Table I model.

The reference numbers below are the paper's (Wang et al. 2018, Tables I-III), as fractions. They
appear in outputs only in the ``paper_*`` columns. Fig. 5's and Fig. 6's values are only drawn in
the paper, so those outputs have no paper column.

Tables I, II and Fig. 5 score the test split after every epoch by default (``Settings.epoch_test``):
beside each metric (the reproduction: the checkpoint chosen on the validation split, test predicted
once) they report ``"<metric> (best epoch on test, as the authors selected)"``, each metric's best
value over the epochs, which is how the authors' notebooks chose their published numbers
(``FishInMedi/CRNN-TF`` ``1.ipynb`` cell 3 L73-97, ``Reseach_1_plot.ipynb`` cell 10 L19-21). The paper's
number is compared with both; the second only measures how much of a gap is that selection.
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
from common.training.epoch_test_evaluation import selected_on_test_name
from common.training.trainer import TrainingConfig
from common.audio.waveform import WaveformConfig
from papers.crnn_tf import config as cfg
from papers.crnn_tf.protocol import (genre_evidence_metrics, load_source_model, run_clip_model_fold,
                                     run_end_to_end_fold, run_mfcc_svm_fold, run_timbre_cnn_fold, run_transfer_fold,
                                     tag_evidence_metrics)

#: Table I's metrics, in the paper's column order.
TABLE1_METRICS = ("AUC", "Recall@1", "Recall@3", "Recall@5", "Recall@10", "NDCG@50", "JSC")


def with_test_selected(metrics) -> tuple:
    """``metrics`` followed by their labelled test-selected names (:func:`selected_on_test_name`)."""
    return tuple(metrics) + tuple(selected_on_test_name(m) for m in metrics)


def _paper_row(metrics, *values):
    """The paper's numbers, given for both the metric and its test-selected label (both are compared)."""
    return {name: (value, None) for metric, value in zip(metrics, values)
            for name in (metric, selected_on_test_name(metric))}


def _table1_row(*values):
    return _paper_row(TABLE1_METRICS, *values)


#: Paper Table I (MTAT, test split).
TABLE1_REFERENCE = reference_table({
    "FCN": _table1_row(0.8940, 0.3168, 0.5811, 0.7121, 0.8713, 0.8187, 0.3501),
    "Timbre CNN": _table1_row(0.8930, 0.2849, 0.5338, 0.6645, 0.8290, 0.7815, 0.3242),
    "End-to-end": _table1_row(0.8815, 0.2905, 0.5345, 0.6669, 0.8360, 0.7842, 0.3256),
    "CRNN": _table1_row(0.8926, 0.3040, 0.5605, 0.6919, 0.8537, 0.8014, 0.3335),
    "CRNN-TF": _table1_row(0.9078, 0.3200, 0.5786, 0.7151, 0.8727, 0.8201, 0.3607),
})

#: Table II's metrics: the paper's columns, then precision (named in the paper's text, not in its
#: table) and ``AUC`` (macro one-vs-rest ROC-AUC over genres; no paper number). The paper's AUC column
#: is compared with ``AUC (weighted)``: each genre's one-vs-rest AUC weighted by its test tracks, what
#: the authors' FMA cells compute (``roc_auc_score(y_test, y_pred_test, 'weighted')``, ``1.ipynb`` cell 13
#: L86, cell 15 L124, cell 16 L117; the third positional argument of scikit-learn's function is
#: ``average``). Recall and F1 are macro averages, as the authors' maxima that the paper prints
#: (``Recall_macro_max``, ``F1_score_macro_max``; cell 15 output 0.3637 and 0.3496 = the paper's
#: Timbre CNN 0.364 and 0.350).
TABLE2_METRICS = ("AUC (weighted)", "recall", "F1", "accuracy", "precision", "AUC")

#: The columns the paper prints, in its order (``AUC`` of the paper = our ``AUC (weighted)``).
_TABLE2_PAPER_COLUMNS = ("AUC (weighted)", "recall", "F1", "accuracy")

#: Paper Table II (FMA medium, test split): AUC (support-weighted), recall and F1 (macro), accuracy.
TABLE2_REFERENCE = reference_table({
    "FCN": _paper_row(_TABLE2_PAPER_COLUMNS, 0.907, 0.430, 0.403, 0.639),
    "Timbre CNN": _paper_row(_TABLE2_PAPER_COLUMNS, 0.891, 0.364, 0.350, 0.617),
    "End-to-end": _paper_row(_TABLE2_PAPER_COLUMNS, 0.891, 0.384, 0.345, 0.614),
    "CRNN": _paper_row(_TABLE2_PAPER_COLUMNS, 0.903, 0.407, 0.402, 0.634),
    "CRNN-TF": _paper_row(_TABLE2_PAPER_COLUMNS, 0.910, 0.435, 0.423, 0.647),
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
                   default_dir="data/magnatagatune", how_to_get=magnatagatune.HOW_TO_GET,
                   published_size=magnatagatune.task_size)

FMA = DatasetSpec(name="fma_medium", index=fma.index, dir_variable="FMA_DIR", default_dir="data/fma",
                  how_to_get="fma_metadata.zip and fma_medium.zip from https://github.com/mdeff/fma",
                  published_size=sum(fma.PAPER_SPLIT_SIZES.values()))  # 25,000 clips: the whole medium subset

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
        gru_training, gru_fma_training: the ``CRNN-TF (GRU)`` row's training on MTAT / FMA (the
            authors' notebook: :data:`~papers.crnn_tf.config.GRU_ROW_TRAINING`,
            :data:`~papers.crnn_tf.config.GRU_ROW_FMA_TRAINING`).
        epoch_test: score the test split after every epoch in Tables I, II and Fig. 5 and report the
            labelled test-selected metrics beside the validation-selected ones (Table III never does).
        baselines: ``"references"`` (the cited papers' code: the rows of Tables I and II) or
            ``"authors"`` (the networks of the authors' notebook under the same row names, tables
            ``<table>_authors_baselines``; see :data:`BASELINE_VARIANTS`).
        fig5_variant: ``"paper"`` (Grid LSTM, the paper's settings) or ``"authors"`` (the notebook's GRU
            settings, :data:`papers.crnn_tf.config.FIG5_AUTHORS_CHANGES`; table ``fig5_mtat_authors``).
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
    gru_training: TrainingConfig = cfg.GRU_ROW_TRAINING
    gru_fma_training: TrainingConfig = cfg.GRU_ROW_FMA_TRAINING
    epoch_test: bool = True
    baselines: str = "references"
    fig5_variant: str = "paper"

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


#: Values of ``Settings.baselines``: which networks the FCN, Timbre CNN, End-to-end and CRNN rows run.
BASELINE_VARIANTS = ("references", "authors")


def _baseline_schemes(settings: Settings, task: str, train: dict, epoch_test: bool) -> list:
    from dataclasses import replace

    n_mels, n_frames = settings.features.n_mels, settings.clip_frames
    if settings.baselines == "authors":
        rows = []
        for name, builder, model, text in (
                ("FCN", "fcn_authors", cfg.AuthorsFCNConfig(n_mels=n_mels, n_frames=n_frames),
                 "the authors' notebook FCN (1.ipynb cell 3): ReLU, strided pools, no input BN"),
                ("Timbre CNN", "timbre_cnn_authors", cfg.AuthorsTimbreCNNConfig(n_mels=n_mels, n_frames=n_frames),
                 "the authors' notebook Timbre CNN (1.ipynb cell 5): 12 vertical branches on the whole clip"),
                ("End-to-end", "end_to_end_authors", cfg.AuthorsEndToEndConfig(n_mels=n_mels, n_frames=n_frames),
                 "the authors' notebook End-to-end (1.ipynb cell 7): two 8 x 8 conv blocks on the mel-spectrogram"),
                ("CRNN", "crnn", replace(settings.crnn, n_mels=n_mels, n_frames=n_frames, **cfg.CRNN_AUTHORS_CHANGES),
                 "the authors' notebook CRNN (1.ipynb cell 9): ReLU, 'same' pools, no padding, no input BN")):
            rows.append(Scheme(name, partial(run_clip_model_fold, builder, model, settings.training, task,
                                             epoch_test=epoch_test),
                               text, config={"model": asdict(model), "builder": builder, "training": train,
                                             "task": task, "epoch_test": epoch_test}))
        return rows
    fcn = replace(settings.fcn, n_mels=n_mels, n_frames=n_frames)
    crnn = replace(settings.crnn, n_mels=n_mels, n_frames=n_frames)
    return [
        Scheme("FCN", partial(run_clip_model_fold, "fcn", fcn, settings.training, task, epoch_test=epoch_test),
               "Choi et al. 2016: FCN-4, four conv/BN/ELU/max-pool blocks, dropout 0.5 after every pool",
               config={"model": asdict(fcn), "training": train, "task": task, "epoch_test": epoch_test}),
        Scheme("Timbre CNN", partial(run_timbre_cnn_fold, settings.timbre, settings.timbre_features, settings.training,
                                     task, epoch_test=epoch_test),
               "Pons et al. 2017: vertical filters on 128-band log-mel patches of 187 frames",
               config={"model": asdict(settings.timbre), "features": asdict(settings.timbre_features),
                       "training": train, "task": task, "epoch_test": epoch_test}),
        Scheme("End-to-end", partial(run_end_to_end_fold, settings.end_to_end, settings.end_to_end_audio,
                                     settings.training, task, epoch_test=epoch_test),
               "Dieleman & Schrauwen 2014: strided conv on 3 s raw-audio windows",
               config={"model": asdict(settings.end_to_end), "audio": asdict(settings.end_to_end_audio),
                       "training": train, "task": task, "epoch_test": epoch_test}),
        Scheme("CRNN", partial(run_clip_model_fold, "crnn", crnn, settings.training, task, epoch_test=epoch_test),
               "Choi et al. 2017: 4 conv layers + 2 GRU(32)",
               config={"model": asdict(crnn), "training": train, "task": task, "epoch_test": epoch_test}),
    ]


def network_schemes(settings: Settings, task: str) -> tuple:
    """The networks of Tables I and II in the paper's row order: FCN, Timbre CNN, End-to-end, CRNN,
    CRNN-TF, then CRNN-TF (GRU) (not a row of the paper: the model of the authors' notebook,
    :data:`papers.crnn_tf.config.GRU_ROW_CHANGES`, with their training, ``settings.gru_training``;
    on FMA (``task="genres"``) also :data:`~papers.crnn_tf.config.GRU_ROW_FMA_CHANGES` and
    ``settings.gru_fma_training``, as their FMA cell).

    Args:
        settings: models, features, training, ``epoch_test``, ``baselines``.
        task: ``"tags"`` (Table I) or ``"genres"`` (Table II).

    Raises:
        ValueError: unknown ``settings.baselines``.
    """
    if settings.baselines not in BASELINE_VARIANTS:
        raise ValueError(f"Settings.baselines must be one of {BASELINE_VARIANTS}, not {settings.baselines!r}")
    epoch_test = settings.epoch_test
    train = settings.training.describe()
    crnn_tf = _crnn_tf_config(settings, rnn="grid_lstm")
    gru_changes = {**cfg.GRU_ROW_CHANGES, **(cfg.GRU_ROW_FMA_CHANGES if task == "genres" else {})}
    crnn_tf_gru = _crnn_tf_config(settings, **gru_changes)
    gru_training = settings.gru_fma_training if task == "genres" else settings.gru_training
    return (
        *_baseline_schemes(settings, task, train, epoch_test),
        Scheme("CRNN-TF", partial(run_clip_model_fold, "crnn_tf", crnn_tf, settings.training, task,
                                  epoch_test=epoch_test),
               "CRNN-TF, Grid LSTM blocks (the paper)",
               config={"model": asdict(crnn_tf), "training": train, "task": task, "epoch_test": epoch_test}),
        Scheme("CRNN-TF (GRU)", partial(run_clip_model_fold, "crnn_tf", crnn_tf_gru, gru_training, task,
                                        epoch_test=epoch_test),
               "CRNN-TF as the authors' notebook builds and trains it (1.ipynb cells 11 and 16): GRU(32) blocks "
               "over whole rows / columns, Dense(64, ELU), Adam without decay; not a row of the paper",
               config={"model": asdict(crnn_tf_gru), "training": gru_training.describe(), "task": task,
                       "epoch_test": epoch_test}),
    )


def _suffix(settings: Settings) -> str:
    return "_authors_baselines" if settings.baselines == "authors" else ""


def table1_mtat(settings: Settings = Settings()) -> TableSpec:
    """Table I: music tagging on MagnaTagATune (top-50 tags), the 12 / 1 / 3 folder split (Sec. V-A, V-E).

    Metrics: macro ROC-AUC over tags, Recall@1/3/5/10, NDCG@50, JSC (Sec. V-D1); the fold records
    also hold the AUC of every tag, written by :func:`write_per_tag_auc` (Fig. 6). The CRNN-TF
    checkpoint this run keeps (``<work>/crnn_tf/table1_mtat/CRNN-TF/fold_00/best.weights.h5``) is
    the starting point of Table III's transfer rows (:data:`DEFAULT_WEIGHTS`). With
    ``settings.epoch_test`` every metric also has its labelled test-selected row (see the module
    docstring); the paper's number is given for both.
    """
    return TableSpec(
        paper="crnn_tf", inference="papers.crnn_tf.inference", table_id="table1_mtat" + _suffix(settings),
        title="Table I: MagnaTagATune tagging (50 tags)",
        dataset=MTAT, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=PredefinedSplit(train=("train",), validation=("validation",), test=("test",)),
        metrics=_metrics(settings, TABLE1_METRICS), schemes=network_schemes(settings, "tags"),
        reference=TABLE1_REFERENCE, evidence_metrics=tag_evidence_metrics,
        source="Wang et al. 2018, Sec. V-E, Table I, Fig. 6", make_name="crnn_tf-table1-mtat",
        post_run=write_per_tag_auc)


def _metrics(settings: Settings, metrics) -> tuple:
    return with_test_selected(metrics) if settings.epoch_test else tuple(metrics)


#: Values of ``Settings.fig5_variant``.
FIG5_VARIANTS = ("paper", "authors")


def fig5_schemes(settings: Settings) -> tuple:
    """Fig. 5's bars: CRNN-TF fed with each subset of scanners in ``settings.fig5_subsets``.

    ``settings.fig5_variant == "paper"``: the Grid LSTM model with Table I's settings.
    ``"authors"``: the notebook's runs (``2.ipynb`` cells 1-15): the GRU model without L2, dropout
    0.1 / 0.2 / 0.3 / 0.5 for 1 / 2 / 4 / 8 scanners, Adam without decay, 35 epochs (50 for all
    eight) (:data:`papers.crnn_tf.config.FIG5_AUTHORS_CHANGES`, ``FIG5_AUTHORS_DROPOUT``,
    ``FIG5_AUTHORS_EPOCHS``).

    Raises:
        ValueError: unknown variant, or (authors) a subset size the notebook has no dropout for.
    """
    from dataclasses import replace

    if settings.fig5_variant not in FIG5_VARIANTS:
        raise ValueError(f"Settings.fig5_variant must be one of {FIG5_VARIANTS}, not {settings.fig5_variant!r}")
    rows = []
    for name, directions in settings.fig5_subsets.items():
        directions = tuple(directions)
        if settings.fig5_variant == "authors":
            if len(directions) not in cfg.FIG5_AUTHORS_DROPOUT:
                raise ValueError(f"Fig. 5 (authors): no dropout for {len(directions)} scanners")
            model = _crnn_tf_config(settings, **cfg.FIG5_AUTHORS_CHANGES, directions=directions,
                                    dropout=cfg.FIG5_AUTHORS_DROPOUT[len(directions)])
            training = replace(settings.gru_training, epochs=min(settings.gru_training.epochs,
                                                                  cfg.FIG5_AUTHORS_EPOCHS[len(directions)]))
            text = f"CRNN-TF (GRU, the authors' Fig. 5 settings) fed with {', '.join(directions)}"
        else:
            model = _crnn_tf_config(settings, rnn="grid_lstm", directions=directions)
            training = settings.training
            text = f"CRNN-TF fed with the sequences {', '.join(directions)}"
        rows.append(Scheme(name, partial(run_clip_model_fold, "crnn_tf", model, training, "tags",
                                         epoch_test=settings.epoch_test),
                           text, config={"model": asdict(model), "training": training.describe(), "task": "tags",
                                         "epoch_test": settings.epoch_test}))
    return tuple(rows)


def fig5_mtat(settings: Settings = Settings()) -> TableSpec:
    """Fig. 5: test AUC on MagnaTagATune of CRNN-TF fed with subsets of the eight scanned sequences.

    Rows ``X_r``, ``X_c`` (one sequence), ``X_rc`` (two), ``ABCD_r``, ``ABCD_c`` (four) and
    ``ABCDrc`` (all eight: the Table I model, trained again here under this table's name). The
    paper draws the values only, so there is no paper column; :func:`write_fig5` draws ours. With
    ``settings.fig5_variant == "authors"`` the table is ``fig5_mtat_authors`` (:func:`fig5_schemes`).
    """
    authors = settings.fig5_variant == "authors"
    return TableSpec(
        paper="crnn_tf", inference="papers.crnn_tf.inference", table_id="fig5_mtat_authors" if authors else "fig5_mtat",
        title="Fig. 5: CRNN-TF with subsets of scanners, MTAT AUC" + (" (the authors' GRU settings)" if authors else ""),
        dataset=MTAT, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=PredefinedSplit(train=("train",), validation=("validation",), test=("test",)),
        metrics=_metrics(settings, TABLE1_METRICS), schemes=fig5_schemes(settings), reference={},
        source="Wang et al. 2018, Sec. V-E, Fig. 5", make_name="crnn_tf-fig5-mtat", post_run=write_fig5)


def table2_schemes(settings: Settings) -> tuple:
    """Table II rows: FCN, Timbre CNN, End-to-end, CRNN, CRNN-TF, and CRNN-TF (GRU)."""
    return network_schemes(settings, "genres")


def table2_fma(settings: Settings = Settings()) -> TableSpec:
    """Table II: genre classification on FMA medium (16 genres), the dataset's own split.

    Metrics :data:`TABLE2_METRICS`: the support-weighted ROC-AUC (``AUC (weighted)``, compared with
    the paper's AUC, as the authors computed it) and the macro one (``AUC``, no paper number), see
    :func:`common.evaluation.multiclass.genre_metrics`; with ``settings.epoch_test`` also every
    metric's labelled test-selected row.
    """
    return TableSpec(
        paper="crnn_tf", inference="papers.crnn_tf.inference", table_id="table2_fma" + _suffix(settings),
        title="Table II: FMA medium genre classification",
        dataset=FMA, extractor=partial(_extractor, settings),
        prepare=partial(prepare_clip, frames=settings.clip_frames),
        protocol=PredefinedSplit(train=("training",), validation=("validation",), test=("test",)),
        metrics=_metrics(settings, TABLE2_METRICS), evidence_metrics=genre_evidence_metrics,
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
