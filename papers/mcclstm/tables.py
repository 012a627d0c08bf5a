"""MCCLSTM tables: dataset, protocol, schemes and the paper's reference numbers.

Tables 3 (GTZAN), 4 (Ballroom) and 5 (Soundtracks) share the schemes, features and protocol
(:func:`make_table`) and differ in dataset and reference numbers.

The reference numbers below are the paper's (Chen & Wang 2017, Tables 3-5), accuracy in percent,
mean and std over 10 folds. They appear in outputs only in the ``paper_*`` columns.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial

from common.datasets import ballroom, gtzan, soundtracks
from common.features.logmel import LogMelExtractor, chunk_spectrogram
from common.runner import DatasetSpec, Scheme, TableSpec, reference_table
from common.evaluation.splits import CrossValidation
from papers.mcclstm import config as cfg
from papers.mcclstm.protocol import run_scheme_fold

#: Paper Table 3 (GTZAN). [14] Lykartsis & Lerch 2015 and [21] Sigtia & Dixon 2014 are not
#: re-implemented (the paper itself only quotes them).
TABLE3_REFERENCE = reference_table({
    "[14]": {"accuracy": (72.80, None)},
    "[21] (3 layers)": {"accuracy": (83.00, 1.10)},
    "CNNs-3": {"accuracy": (79.80, 1.70)},
    "R0": {"accuracy": (51.70, 2.60)},
    "R1": {"accuracy": (59.30, 2.20)},
    "R2": {"accuracy": (78.40, 1.90)},
    "R3": {"accuracy": (82.90, 2.11)},
    "R4": {"accuracy": (83.70, 1.10)},
    "MCCLSTM": {"accuracy": (84.69, 1.76)},
})

PAPER_ONLY = {
    "[14]": "Lykartsis & Lerch 2015, beat-histogram features (quoted by the paper; not re-implemented)",
    "[21] (3 layers)": "Sigtia & Dixon 2014, MLP (quoted by the paper; not re-implemented)",
    "[18]": "Saari et al. 2011, hand-crafted mood features (quoted by the paper; not re-implemented)",
}

GTZAN = DatasetSpec(name="gtzan", index=gtzan.index, dir_variable="GTZAN_DIR", default_dir="data/gtzan",
                    how_to_get="GTZAN genres.tar.gz (make download-gtzan, or your own copy)")


def prepare_chunks(spectrogram, track):
    """Cached log-mel ``(40, frames)`` -> chunks ``(n_chunks, 40, 80)``; too short -> AudioError."""
    return chunk_spectrogram(spectrogram, cfg.CHUNK_FRAMES, source=str(track.path))


def make_schemes(model_config: cfg.MCCLSTMConfig = cfg.MCCLSTMConfig(), row_order=(), paper_only=()) -> tuple:
    """The table rows: paper-only rows first (``paper_only`` names), then ``row_order`` schemes."""
    rows = [Scheme(name, None, PAPER_ONLY.get(name, "")) for name in paper_only]
    specs = {s.name: s for s in cfg.SCHEMES}
    for name in row_order or [s.name for s in cfg.SCHEMES]:
        spec = specs[name]
        training = cfg.SEQUENCE_TRAINING if spec.lstm else cfg.CHUNK_TRAINING
        rows.append(Scheme(name, partial(run_scheme_fold, spec, model_config, training), spec.architecture,
                           config={"model": asdict(model_config), "training": training.describe(),
                                   "channels": list(spec.channels), "lstm": spec.lstm}))
    return tuple(rows)


def make_table(table_id: str, title: str, dataset: DatasetSpec, reference: dict, paper_only: tuple,
               source: str, model_config: cfg.MCCLSTMConfig = cfg.MCCLSTMConfig()) -> TableSpec:
    """An MCCLSTM table on ``dataset``: 10-fold CV, 80/10/10 stratified splits, all seven schemes."""
    return TableSpec(
        paper="mcclstm", inference="papers.mcclstm.inference", table_id=table_id, title=title, dataset=dataset,
        extractor=partial(LogMelExtractor, cfg.FEATURES),
        prepare=prepare_chunks,
        protocol=CrossValidation(n_folds=10, validation_fraction=0.1, seed=cfg.SEED),
        metrics=("accuracy",),
        schemes=make_schemes(model_config, paper_only=paper_only),
        reference=reference, source=source)


def table3_gtzan(model_config: cfg.MCCLSTMConfig = cfg.MCCLSTMConfig()) -> TableSpec:
    """Table 3: accuracy on GTZAN (10 genres), 10-fold cross-validation, 80/10/10 %."""
    return make_table("table3_gtzan", "Table 3: GTZAN genre accuracy (%)", GTZAN, TABLE3_REFERENCE,
                      ("[14]", "[21] (3 layers)"), "Chen & Wang, ISMIR 2017, Sec. 3.2, Table 3", model_config)


def paper_init(model_config: cfg.MCCLSTMConfig = cfg.MCCLSTMConfig()) -> cfg.MCCLSTMConfig:
    """The paper's literal initialisation: Gaussian weights with variance 1 on CNN and LSTM layers (Sec. 3)."""
    return replace(model_config, init_stddev=1.0)


def table3_gtzan_paper_init() -> TableSpec:
    """Table 3 with the paper's literal N(0, 1) initialisation (see README, "Initialisation")."""
    spec = table3_gtzan(paper_init())
    return replace(spec, table_id="table3_gtzan_paper_init",
                   title="Table 3: GTZAN genre accuracy (%), paper's N(0,1) initialisation")


def bass_time_wide(model_config: cfg.MCCLSTMConfig = cfg.MCCLSTMConfig()) -> cfg.MCCLSTMConfig:
    """The B channel read as Sec. 2.1 describes it: kernel 9 bands x 13 frames (m < n), not Table 1's 13 x 9."""
    return replace(model_config, bass_kernel=cfg.BASS_KERNEL_TIME_WIDE)


def table3_gtzan_bass_time_wide() -> TableSpec:
    """Table 3 with the B-channel kernel transposed to (9, 13) (see README, "Bass channel orientation")."""
    spec = table3_gtzan(bass_time_wide())
    return replace(spec, table_id="table3_gtzan_bass_time_wide",
                   title="Table 3: GTZAN genre accuracy (%), B kernel 9 bands x 13 frames")


# --- Tables 4 (Ballroom) and 5 (Soundtracks) ---------------------------------------------------
# Same schemes, features and protocol as Table 3 (Sec. 3: every table uses 10-fold CV, 80/10/10 %).

#: Paper Table 4 (Ballroom). [14] Lykartsis & Lerch 2015 is quoted by the paper, not re-implemented.
TABLE4_REFERENCE = reference_table({
    "[14]": {"accuracy": (88.40, None)},
    "CNNs-3": {"accuracy": (87.00, 1.32)},
    "R0": {"accuracy": (81.79, 4.72)},
    "R1": {"accuracy": (64.00, 1.50)},
    "R2": {"accuracy": (87.68, 4.44)},
    "R3": {"accuracy": (89.45, 2.18)},
    "R4": {"accuracy": (90.32, 1.12)},
    "MCCLSTM": {"accuracy": (91.90, 2.33)},
})

#: Paper Table 5 (Soundtracks). [18] Saari et al. 2011 is quoted by the paper, not re-implemented.
TABLE5_REFERENCE = reference_table({
    "[18]": {"accuracy": (57.40, 5.50)},
    "CNNs-3": {"accuracy": (60.87, 3.76)},
    "R0": {"accuracy": (52.00, 2.20)},
    "R1": {"accuracy": (64.50, 2.00)},
    "R2": {"accuracy": (57.28, 2.85)},
    "R3": {"accuracy": (63.04, 2.16)},
    "R4": {"accuracy": (73.70, 2.47)},
    "MCCLSTM": {"accuracy": (74.35, 1.63)},
})

BALLROOM = DatasetSpec(name="ballroom", index=ballroom.index, dir_variable="BALLROOM_DIR",
                       default_dir="data/ballroom",
                       how_to_get=f"data1.tar.gz from {ballroom.ARCHIVE_URL} (make download-ballroom)")

SOUNDTRACKS = DatasetSpec(name="soundtracks", index=soundtracks.index, dir_variable="SOUNDTRACKS_DIR",
                          default_dir="data/soundtracks",
                          how_to_get=f"Set1.zip, Set2.zip, mean_ratings_set1.csv and mean_ratings_set2.csv "
                                     f"from {soundtracks.SOURCE_URL}, by hand")


def table4_ballroom(model_config: cfg.MCCLSTMConfig = cfg.MCCLSTMConfig()) -> TableSpec:
    """Table 4: accuracy on Ballroom (8 dances, 698 tracks), 10-fold cross-validation, 80/10/10 %."""
    return make_table("table4_ballroom", "Table 4: Ballroom dance-style accuracy (%)", BALLROOM, TABLE4_REFERENCE,
                      ("[14]",), "Chen & Wang, ISMIR 2017, Sec. 3.1-3.2, Table 4", model_config)


def table5_soundtracks(model_config: cfg.MCCLSTMConfig = cfg.MCCLSTMConfig()) -> TableSpec:
    """Table 5: accuracy on Soundtracks (5 discrete emotions, 470 excerpts), 10-fold CV, 80/10/10 %.

    Labels come from the excerpts' mean ratings (:func:`common.datasets.soundtracks.discrete_labels`);
    excerpts of 15-30 s give different chunk counts, which the sequence schemes mask per track.
    """
    return make_table("table5_soundtracks", "Table 5: Soundtracks emotion accuracy (%)", SOUNDTRACKS,
                      TABLE5_REFERENCE, ("[18]",), "Chen & Wang, ISMIR 2017, Sec. 3.1-3.2, Table 5", model_config)


#: Tables selectable from the command line: ``mcclstm.<name>``.
TABLES = {"table3_gtzan": table3_gtzan, "table3_gtzan_paper_init": table3_gtzan_paper_init,
          "table3_gtzan_bass_time_wide": table3_gtzan_bass_time_wide,
          "table4_ballroom": table4_ballroom, "table5_soundtracks": table5_soundtracks}
