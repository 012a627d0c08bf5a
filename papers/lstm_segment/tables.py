"""LSTM segment feature tables (ISMIR 2004 genres): dataset, protocol, schemes, paper numbers, Figure 3.

- Table 2: frame and segment (majority-vote) accuracy of the baseline DNNs and the LSTM RNNs.
- Table 4: segment accuracy of the LSTM RNNs by majority vote (Seg), and of a linear SVM on the
  LSTM segment feature f_lstm (LSeg) and on the fusional segment feature f_fusion (FSeg), k = 0.9;
  five results of other systems quoted by the paper (paper-only rows). Figure 3 (accuracy against
  the threshold k) is written with it: ``table4_ismir2004_figure3.csv`` and ``.png``.

The reference numbers below are the paper's (Tables 2 and 4), accuracy in percent on the ISMIR
2004 development subset, one run (no std). They appear in outputs only in the ``paper_*`` columns.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from pathlib import Path

import pandas as pd

from common.atomic_files import atomic_write_bytes
from common.datasets import ismir2004
from common.outputs.result_tables import write_csv
from common.runner import DatasetSpec, Scheme, TableSpec, reference_table
from common.features.scattering import ScatteringExtractor, n_coefficients
from papers.lstm_segment import config as cfg
from papers.lstm_segment.protocol import (TrainingHoldoutSplit, evidence_metrics, prepare_frames, run_dnn_fold,
                                          run_lstm_table2_fold, run_lstm_table4_fold)

#: Paper Table 2 (frame accuracy, segment accuracy by majority vote), percent.
TABLE2_REFERENCE = reference_table({
    "baseline-DNN1(525-1024-6)": {"frame_accuracy": (75.92, None), "segment_accuracy": (85.32, None)},
    "baseline-DNN2(525-1024-1024-6)": {"frame_accuracy": (76.35, None), "segment_accuracy": (84.35, None)},
    "LSTM(525-512-6)": {"frame_accuracy": (83.85, None), "segment_accuracy": (87.52, None)},
    "LSTM(525-1024-6)": {"frame_accuracy": (83.78, None), "segment_accuracy": (87.65, None)},
    "LSTM(525-512-512-6)": {"frame_accuracy": (81.66, None), "segment_accuracy": (86.28, None)},
    "LSTM(525-1024-1024-6)": {"frame_accuracy": (80.44, None), "segment_accuracy": (82.99, None)},
})

#: Paper Table 4 (Seg / LSeg / FSeg accuracy, k = 0.9), percent; the literature rows give one
#: accuracy each, put in the first column as the paper prints them.
TABLE4_REFERENCE = reference_table({
    "LSTM(525-512-6)": {"seg_accuracy": (87.52, None), "lseg_accuracy": (88.07, None), "fseg_accuracy": (89.71, None)},
    "LSTM(525-1024-6)": {"seg_accuracy": (87.65, None), "lseg_accuracy": (88.34, None), "fseg_accuracy": (88.07, None)},
    "LSTM(525-512-512-6)": {"seg_accuracy": (86.28, None), "lseg_accuracy": (86.14, None),
                            "fseg_accuracy": (88.48, None)},
    "LSTM(525-1024-1024-6)": {"seg_accuracy": (82.99, None), "lseg_accuracy": (83.95, None),
                              "fseg_accuracy": (86.42, None)},
    "son2008 [27]": {"seg_accuracy": (84.77, None)},
    "hol2008 [28]": {"seg_accuracy": (83.5, None)},
    "lee2009 [23]": {"seg_accuracy": (86.8, None)},
    "leo2012 [24]": {"seg_accuracy": (76.27, None)},
    "sig2014 [8]": {"seg_accuracy": (73.4, None)},
})

#: Other systems quoted by the paper in Table 4 (not re-implemented here).
LITERATURE = {name: f"{name}: another system's ISMIR 2004 accuracy, quoted in the paper's Table 4 "
                    "(reference as numbered there); not re-implemented"
              for name in ("son2008 [27]", "hol2008 [28]", "lee2009 [23]", "leo2012 [24]", "sig2014 [8]")}

ISMIR2004 = DatasetSpec(
    name="ismir2004", index=partial(ismir2004.index, subsets=("training", "development")),
    dir_variable="ISMIR2004_DIR", default_dir="data/ismir2004",
    how_to_get="ISMIR 2004 genre contest collection (MTG, ismir04_genre: metadata/ and audio/ folders)")

SOURCE = "LSTM RNN based segment features for music genre classification (ISMIR 2004 genre data)"


def _protocol(settings: cfg.Settings) -> TrainingHoldoutSplit:
    return TrainingHoldoutSplit(train=settings.train_subsets, test=settings.test_subsets,
                                validation_fraction=settings.validation_fraction, seed=settings.seed)


def _dims(layers, n_in: int) -> str:
    return "-".join(str(v) for v in (n_in, *layers, 6))


def _lstm_description(lstm: cfg.LSTMConfig, n_features: int) -> str:
    sizes = _dims([p for p, _ in lstm.layers], n_features)
    cells = "/".join(str(c) for _, c in lstm.layers)
    return (f"LSTM RNN {sizes} here (projection units; {cells} cells), peepholes, softmax; "
            f"{lstm.num_streams} streams x {lstm.bptt_length} frames truncated BPTT")


def table2_ismir2004(settings: cfg.Settings = cfg.Settings()) -> TableSpec:
    """Table 2: frame and segment accuracy (%) of the DNN baselines and LSTM RNNs on scattering frames."""
    n_features = n_coefficients(settings.scattering)
    schemes = []
    for dnn in settings.dnns:
        schemes.append(Scheme(dnn.name, partial(run_dnn_fold, dnn),
                              f"DNN {_dims(dnn.hidden_units, n_features)} here, sigmoid hidden layers, softmax",
                              config={"model": asdict(dnn), "seed": settings.seed}))
    for lstm in settings.lstms:
        schemes.append(Scheme(lstm.name, partial(run_lstm_table2_fold, lstm), _lstm_description(lstm, n_features),
                              config={"model": asdict(lstm), "seed": settings.seed}))
    return TableSpec(
        paper="lstm_segment", table_id="table2_ismir2004", make_name="lstm_segment-table2-ismir2004",
        title="Table 2: ISMIR 2004 frame and segment accuracy (%) of DNN and LSTM models",
        dataset=ISMIR2004, extractor=partial(ScatteringExtractor, settings.scattering), prepare=prepare_frames,
        evidence_metrics=evidence_metrics,
        protocol=_protocol(settings), metrics=("frame_accuracy", "segment_accuracy"), schemes=tuple(schemes),
        reference=TABLE2_REFERENCE, source=f"{SOURCE}, Sec. 3.2, 4.1, Table 2")


def table4_ismir2004(settings: cfg.Settings = cfg.Settings()) -> TableSpec:
    """Table 4: Seg / LSeg / FSeg accuracy (%) of the LSTM segment features; Figure 3 with it."""
    n_features = n_coefficients(settings.scattering)
    schemes = []
    for lstm in settings.lstms:
        schemes.append(Scheme(lstm.name, partial(run_lstm_table4_fold, lstm, settings.segment),
                              _lstm_description(lstm, n_features) + "; linear SVM on f_lstm and f_fusion",
                              config={"model": asdict(lstm), "segment": asdict(settings.segment),
                                      "seed": settings.seed}))
    schemes += [Scheme(name, None, description) for name, description in LITERATURE.items()]
    return TableSpec(
        paper="lstm_segment", table_id="table4_ismir2004", make_name="lstm_segment-table4-ismir2004",
        title=f"Table 4: ISMIR 2004 segment-feature accuracy (%), k = {settings.segment.k}",
        dataset=ISMIR2004, extractor=partial(ScatteringExtractor, settings.scattering), prepare=prepare_frames,
        evidence_metrics=evidence_metrics,
        protocol=_protocol(settings), metrics=("seg_accuracy", "lseg_accuracy", "fseg_accuracy"),
        schemes=tuple(schemes), reference=TABLE4_REFERENCE, source=f"{SOURCE}, Sec. 4.2-4.3, Table 4, Figure 3",
        post_run=write_figure3)


def figure3_frame(fold_records: dict) -> pd.DataFrame:
    """Figure 3 data from Table 4's fold records: one row per (scheme, feature, k).

    Returns:
        DataFrame with columns ``scheme, feature`` (``f_lstm`` or ``f_fusion``), ``k``,
        ``accuracy`` (%), ``fold``.
    """
    rows = []
    for scheme, records in fold_records.items():
        for record in records:
            curve = record.get("details", {}).get("k_curve")
            if not curve:
                continue
            for feature, key in (("f_lstm", "lseg_accuracy"), ("f_fusion", "fseg_accuracy")):
                for k, accuracy in zip(curve["k"], curve[key]):
                    rows.append({"scheme": scheme, "feature": feature, "k": k, "accuracy": accuracy,
                                 "fold": record.get("fold", 0)})
    return pd.DataFrame(rows, columns=["scheme", "feature", "k", "accuracy", "fold"])


def write_figure3(out_dir: Path, fold_records: dict) -> None:
    """Write Figure 3 (accuracy against k for f_lstm and f_fusion) as CSV and PNG.

    Files: ``<out_dir>/table4_ismir2004_figure3.csv`` and ``..._figure3.png``. The curves are
    this run's; the paper's figure is not reproduced numerically (its values are not printed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = figure3_frame(fold_records)
    write_csv(frame, Path(out_dir) / "table4_ismir2004_figure3.csv")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = {scheme: f"C{i}" for i, scheme in enumerate(dict.fromkeys(frame["scheme"]))}
    for (scheme, feature), part in frame.groupby(["scheme", "feature"], sort=False):
        mean = part.groupby("k")["accuracy"].mean()
        ax.plot(mean.index, mean.values, color=colors[scheme], marker="o" if feature == "f_fusion" else "s",
                linestyle="-" if feature == "f_fusion" else "--", label=f"{feature} {scheme}")
    ax.set_xlabel("k (threshold of f_lstm^k, eq. 14)")
    ax.set_ylabel("segment accuracy (%)")
    ax.set_title("Figure 3: accuracy against k (this run), ISMIR 2004 development subset", fontsize=10)
    ax.grid(alpha=0.3)
    if len(frame):
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    atomic_write_bytes(Path(out_dir) / "table4_ismir2004_figure3.png",
                       lambda handle: fig.savefig(handle, format="png", dpi=120))
    plt.close(fig)


#: Tables selectable from the command line: ``lstm_segment.<name>``.
TABLES = {"table2_ismir2004": table2_ismir2004, "table4_ismir2004": table4_ismir2004}
