# Reproduction suite: one target per reported table. `make help` lists them.
# Every target first makes the virtual environment .venv (from setup.cfg) if it is missing or stale.

PYTHON_BOOT ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
RESULTS_DIR ?= results
WORK_DIR    ?= work

# Dataset folders (point them at your own copies).
GTZAN_DIR       ?= data/gtzan
BALLROOM_DIR    ?= data/ballroom
SOUNDTRACKS_DIR ?= data/soundtracks
MTAT_DIR        ?= data/magnatagatune
FMA_DIR         ?= data/fma
ISMIR2004_DIR   ?= data/ismir2004
export GTZAN_DIR BALLROOM_DIR SOUNDTRACKS_DIR MTAT_DIR FMA_DIR ISMIR2004_DIR

# Quick runs: FOLDS=N runs the first N folds, EPOCHS=N caps the epochs, SCHEMES=a,b a subset.
# Fan-out: SHARD=I/N runs shard I of N of the (scheme, fold) units (records only; then COLLECT=1),
# RAY=1 runs the units as Ray tasks (RAY_ADDRESS=... for a cluster), COLLECT=1 writes the table
# from the records present without training.
FOLDS   ?=
EPOCHS  ?=
SCHEMES ?=
SHARD   ?=
RAY     ?=
COLLECT ?=
# GROUP_DUPLICATES=1 keeps identical audio files within one part of every fold (a group-aware split:
# not the papers' protocol, so its table goes to partial/); identical files are reported either way.
GROUP_DUPLICATES ?=
# SPLIT=fault-filtered runs a GTZAN table on GTZAN's fault-filtered split (Kereliuk, Sturm & Larsen 2015:
# one fold, 443/197/290 listed excerpts; a variant in partial/, no verdict against the paper). Unset: the paper's.
SPLIT ?=
# WORKERS=N: feature-extraction processes (default: the cores this process may use).
WORKERS ?=
# SCHEME_MODULE=path/to/file.py (or a dotted module name): your own model as one more row of the table,
# run under the table's protocol (README, "Evaluate your own model"); its table goes to partial/.
SCHEME_MODULE ?=
# Paths may hold spaces, quotes and non-ASCII characters: $(call q,VALUE) passes VALUE to the shell
# as one argument, single-quoted.
q = '$(subst ','\'',$(1))'
RUN_OPTS = --results-dir $(call q,$(RESULTS_DIR)) --work-dir $(call q,$(WORK_DIR)) \
           $(if $(FOLDS),--folds $(FOLDS)) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(SCHEMES),--schemes $(call q,$(SCHEMES))) \
           $(if $(SHARD),--shard $(SHARD)) $(if $(RAY),--ray) $(if $(GROUP_DUPLICATES),--group-duplicates) \
           $(if $(SPLIT),--split $(call q,$(SPLIT))) \
           $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEME_MODULE),--scheme-module $(call q,$(SCHEME_MODULE)))
RUN = $(PY) -m common.cli $(if $(COLLECT),collect,run)

.PHONY: help setup test test-fast bench bench-table3 all-results list report download-gtzan clean-work \
        table3-gtzan table3-gtzan-paper-init table3-gtzan-bass-time-wide

help:
	@echo "Tables (each makes .venv first; DATASET_DIR=... points at your copy):"
	@echo "  make table3-gtzan [GTZAN_DIR=...]       MCCLSTM Table 3 on GTZAN (the main job)"
	@echo "  make table3-gtzan-paper-init            Table 3 with the paper's N(0,1) initialisation"
	@echo "  make table3-gtzan-bass-time-wide        Table 3 with the B kernel read as 9 bands x 13 frames"
	@echo "  make table4-ballroom  table5-soundtracks  MCCLSTM Tables 4-5 (BALLROOM_DIR, SOUNDTRACKS_DIR)"
	@echo "  make msecnn-table1-mtat                 MsE-CNN Table 1 (MTAT_DIR)"
	@echo "  make crnn_tf-table1-mtat  crnn_tf-fig5-mtat  crnn_tf-table2-fma  crnn_tf-table3-gtzan"
	@echo "  make lstm_segment-table2-ismir2004  lstm_segment-table4-ismir2004   (ISMIR2004_DIR)"
	@echo "  make all-results                        every table whose dataset is present"
	@echo "  make own-dataset TABLE=mcclstm.table3_gtzan DATA_DIR=my/music   a table's protocol on your own collection"
	@echo "               (DATA_DIR/<class name>/<audio files>; MCCLSTM Tables 3-5, CRNN-TF Table III from scratch; README)"
	@echo "  options: FOLDS=N EPOCHS=N SCHEMES=a,b (partial runs)  SHARD=I/N  COLLECT=1  RAY=1 (fan-out)"
	@echo "           SCHEME_MODULE=path/to/model.py  your own model under the table's protocol (README)"
	@echo "           WORKERS=N (feature-extraction processes; default: every core)"
	@echo "           GROUP_DUPLICATES=1 (identical audio kept within one part of every fold: a variant)"
	@echo "           SPLIT=fault-filtered (GTZAN tables on the fault-filtered split, 443/197/290: a variant)"
	@echo "Data:"
	@echo "  make download-gtzan  download-ballroom  download-mtat   (into GTZAN_DIR, BALLROOM_DIR, MTAT_DIR)"
	@echo "  make list                               every table with its target and dataset variable"
	@echo "Results and models:"
	@echo "  make report                             $(RESULTS_DIR)/REPORT.md: every table's results in one page"
	@echo "  make predict TABLE=mcclstm.table3_gtzan SCHEME=MCCLSTM FILES=\"a.wav b.mp3\" [EXPORT=dir] [RUN_DIR=dir]"
	@echo "               (one path with spaces: FILE=\"my song.wav\"; FILES is split at spaces)"
	@echo "Tests and benchmarks:"
	@echo "  make test  test-fast                    the test suite (test-fast: without end-to-end runs)"
	@echo "  make bench  bench-table3                throughput; full-scale Table 3 projection"
	@echo "  make bench-scale TABLE=paper.table      a table's stage costs at three stand-in sizes, growth, projection"
	@echo "  make bench-floors                       each table's slowest stage against its floor"
	@echo "  make setup  clean-work                  make .venv only; delete WORK_DIR (caches, checkpoints)"

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON_BOOT) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

list: setup
	$(PY) -m common.cli list

# The suite runs in TEST_WORKERS processes (pytest-xdist; each test file stays in one process).
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not e2e"

bench: setup
	$(PY) -m benchmarks.throughput

# Full-scale MCCLSTM Table 3 benchmark on a 1000 x 30 s stand-in (timing only, never accuracy);
# SCHEMES=a,b times a subset. Writes $(RESULTS_DIR)/bench/table3_scale_<device>.{csv,json}.
bench-table3: setup
	$(PY) -m benchmarks.table3_scale --out $(call q,$(RESULTS_DIR)/bench) --records $(call q,$(RESULTS_DIR)/mcclstm) \
	    $(if $(SCHEMES),--schemes $(call q,$(SCHEMES)))

# Scale benchmark of one table (stand-in at three sizes growing 4x; timing only, never accuracy):
#   make bench-scale TABLE=crnn_tf.table2_fma [SIZES=20,80,320] [WORKERS=N] [EPOCH=1] [SECONDS=250]
#   make bench-scale TABLE=all     every table in turn (~35 min on 2 cores) + scale_summary_<device>.csv
#   make bench-scale TABLE=all REPROJECT=1   projections and summary again from the stored results
# SECONDS: seconds per stand-in track (ISMIR 2004 runs 30 s excerpts by default, projected to whole songs).
# Writes $(RESULTS_DIR)/bench/scale_<table>.{csv,json}.
SIZES ?=
.PHONY: bench-scale bench-floors
bench-scale: setup
	$(PY) -m benchmarks.scale $(call q,$(TABLE)) --out $(call q,$(RESULTS_DIR)/bench) $(if $(SIZES),--sizes $(SIZES)) \
	    $(if $(WORKERS),--workers $(WORKERS)) $(if $(EPOCH),--epoch) $(if $(SECONDS),--seconds $(SECONDS)) \
	    $(if $(REPROJECT),--reproject) --records $(call q,$(RESULTS_DIR))

# The slowest stage of each table against its floor (scattering, mp3 decoding, frame and clip model
# training; MCCLSTM from bench-table3). CASES=scattering,decoding,... runs some. Writes
# $(RESULTS_DIR)/bench/floors_<device>.{csv,json}.
bench-floors: setup
	$(PY) -m benchmarks.floors --out $(call q,$(RESULTS_DIR)/bench) $(if $(CASES),--only $(call q,$(CASES)))

all-results: setup
	$(PY) -m common.cli all-results $(RUN_OPTS)

report: setup
	$(PY) -m common.cli report --results-dir $(call q,$(RESULTS_DIR))

download-gtzan: setup
	$(PY) -m common.cli download gtzan --dest $(call q,$(GTZAN_DIR))

clean-work:
	rm -rf $(call q,$(WORK_DIR))

# Apply a trained scheme to your own audio (common/inference/, with papers/<p>/inference.py), e.g.
#   make predict TABLE=mcclstm.table3_gtzan SCHEME=MCCLSTM FILES="a.wav b.mp3" [FOLD=K | ENSEMBLE=1] [TOP=5] [EXPORT=dir]
#                [RUN_DIR=results/mcclstm/partial/table3_gtzan/<caps>]   (the run to use; default: the canonical one,
#                else the newest partial run with the scheme; SCHEME_MODULE=... for your own model's row)
#                [OWN_DATASET=my/music]   (a model trained by make own-dataset on that collection; its classes)
# FILES is split into words by the shell (globs work: FILES="songs/*.mp3"); FILE="my song.wav" passes one
# path as it is (spaces, quotes, non-ASCII). Several paths with spaces: quote each inside FILES
# (FILES="'my song.wav' 'other one.mp3'") or call the CLI: .venv/bin/python -m common.cli predict TABLE SCHEME PATH...
.PHONY: predict
TABLE    ?=
SCHEME   ?=
FILES    ?=
FILE     ?=
FOLD     ?=
ENSEMBLE ?=
TOP      ?=
EXPORT   ?=
RUN_DIR  ?=
OWN_DATASET ?=
predict: setup
	$(PY) -m common.cli predict $(call q,$(TABLE)) $(call q,$(SCHEME)) $(FILES) $(if $(FILE),$(call q,$(FILE))) \
	    --results-dir $(call q,$(RESULTS_DIR)) --work-dir $(call q,$(WORK_DIR)) \
	    $(if $(FOLD),--fold $(FOLD)) $(if $(ENSEMBLE),--ensemble) $(if $(TOP),--top $(TOP)) $(if $(EXPORT),--export $(call q,$(EXPORT))) \
	    $(if $(SCHEME_MODULE),--scheme-module $(call q,$(SCHEME_MODULE))) $(if $(RUN_DIR),--run $(call q,$(RUN_DIR))) \
	    $(if $(OWN_DATASET),--own-dataset $(call q,$(OWN_DATASET)))

# A table's protocol on your own collection (README, "Your own collection"):
#   make own-dataset TABLE=mcclstm.table3_gtzan DATA_DIR="my music" [FOLDS=N EPOCHS=N SCHEMES=a,b SCHEME_MODULE=...]
# DATA_DIR holds one folder per class (its name is the class name) with audio files, sub-folders too.
# Tables: the MCCLSTM tables (3-5 and the Table 3 variants), crnn_tf.table3_gtzan (its from-scratch rows).
# Results: $(RESULTS_DIR)/<paper>/own/<table>/<collection>/..., never the canonical tables.
.PHONY: own-dataset
DATA_DIR ?=
own-dataset: setup
	$(RUN) $(call q,$(TABLE)) --own-dataset $(call q,$(DATA_DIR)) $(RUN_OPTS)

# --- MCCLSTM (Chen & Wang, ISMIR 2017) ---------------------------------------------------------
table3-gtzan: setup
	$(RUN) mcclstm.table3_gtzan --data-dir $(call q,$(GTZAN_DIR)) $(RUN_OPTS)

table3-gtzan-paper-init: setup
	$(RUN) mcclstm.table3_gtzan_paper_init --data-dir $(call q,$(GTZAN_DIR)) $(RUN_OPTS)

table3-gtzan-bass-time-wide: setup
	$(RUN) mcclstm.table3_gtzan_bass_time_wide --data-dir $(call q,$(GTZAN_DIR)) $(RUN_OPTS)

# --- MCCLSTM Tables 4-5: Ballroom and Soundtracks ----------------------------------------------
.PHONY: table4-ballroom table5-soundtracks download-ballroom

table4-ballroom: setup
	$(RUN) mcclstm.table4_ballroom --data-dir $(call q,$(BALLROOM_DIR)) $(RUN_OPTS)

table5-soundtracks: setup
	$(RUN) mcclstm.table5_soundtracks --data-dir $(call q,$(SOUNDTRACKS_DIR)) $(RUN_OPTS)

download-ballroom: setup
	$(PY) -m common.cli download ballroom --dest $(call q,$(BALLROOM_DIR))

# --- MsE-CNN (multi-scale embedded CNN, MagnaTagATune) ------------------------------------------
# MSECNN_OPTS passes extra CLI options, e.g. MSECNN_OPTS="--mixed-precision off --xla off".
.PHONY: msecnn-table1-mtat download-mtat
MSECNN_OPTS ?=

msecnn-table1-mtat: setup
	$(RUN) msecnn.table1_mtat --data-dir $(call q,$(MTAT_DIR)) $(RUN_OPTS) $(MSECNN_OPTS)

download-mtat: setup
	$(PY) -m common.cli download magnatagatune --dest $(call q,$(MTAT_DIR))

# --- LSTM segment features (ISMIR 2004 genres) --------------------------------------------------
# Table 4 also writes Figure 3 (accuracy against k): results/lstm_segment/table4_ismir2004_figure3.{csv,png}.
# The LSTM frame posteriors are shared: whichever of Tables 2 and 4 runs first trains the LSTMs.
.PHONY: lstm_segment-table2-ismir2004 lstm_segment-table4-ismir2004

lstm_segment-table2-ismir2004: setup
	$(RUN) lstm_segment.table2_ismir2004 --data-dir $(call q,$(ISMIR2004_DIR)) $(RUN_OPTS)

lstm_segment-table4-ismir2004: setup
	$(RUN) lstm_segment.table4_ismir2004 --data-dir $(call q,$(ISMIR2004_DIR)) $(RUN_OPTS)

# --- CRNN-TF (Wang et al. 2018) -----------------------------------------------------------------
# Table I: MTAT tagging (MTAT_DIR); also writes the per-tag AUCs of Fig. 6 and keeps the CRNN-TF
# checkpoint Table III starts from. Fig. 5: CRNN-TF fed with subsets of the 8 scanners (MTAT_DIR).
# Table II: FMA medium (FMA_DIR holds fma_metadata/ and fma_medium/). Table III: GTZAN transfer,
# starting from CRNN-TF weights trained on MTAT for Table I (CRNN_TF_WEIGHTS; the run stops at once
# with a message when the file is missing).
CRNN_TF_WEIGHTS ?= $(WORK_DIR)/crnn_tf/table1_mtat/CRNN-TF/fold_00/best.weights.h5
export CRNN_TF_WEIGHTS

.PHONY: crnn_tf-table1-mtat crnn_tf-fig5-mtat crnn_tf-table2-fma crnn_tf-table3-gtzan

crnn_tf-table1-mtat: setup
	$(RUN) crnn_tf.table1_mtat --data-dir $(call q,$(MTAT_DIR)) $(RUN_OPTS)

crnn_tf-fig5-mtat: setup
	$(RUN) crnn_tf.fig5_mtat --data-dir $(call q,$(MTAT_DIR)) $(RUN_OPTS)

crnn_tf-table2-fma: setup
	$(RUN) crnn_tf.table2_fma --data-dir $(call q,$(FMA_DIR)) $(RUN_OPTS)

crnn_tf-table3-gtzan: setup
	$(RUN) crnn_tf.table3_gtzan --data-dir $(call q,$(GTZAN_DIR)) $(RUN_OPTS)
