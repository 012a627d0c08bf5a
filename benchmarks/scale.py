"""Scale benchmark of any table (``make bench-scale TABLE=<paper.table>``): how its costs grow with the dataset.

For one table, at three sizes of a stand-in of its dataset (each ``--growth`` (4) times the
previous one), in a fresh child process per size (so that peak memory is per size):

1. **Stand-in dataset** in the real layout and formats (:data:`STAND_INS`; mp3 where the
   dataset is mp3, stereo where it is stereo, whole-song lengths for ISMIR 2004), written with
   the layout writers of the test fixtures (``tests/*fixtures.py``,
   ``tests/common/datasets/generated_trees.py``; GTZAN with
   :func:`benchmarks.table3_scale.build_stand_in`, looped ``gtzan-mini`` clips), audio a tone
   plus noise. **Timing only: a stand-in is never used for accuracy.**
2. **Stages**, through the table's own code: ``index`` (``spec.dataset.index``),
   ``content_hashes`` (:class:`common.runner.identity.ContentHashes`, as a run does), ``startup``
   (one extraction here: library imports, once per run), ``features``
   (:func:`common.runner.prepare_features` into an empty cache, ``--workers`` processes), and
   ``store`` (the clip tables, :data:`STORE_PAPERS`: fold 0's memory-mapped train / validation /
   test stores, :func:`common.features.store.split_feature_stores`), and with ``--epoch`` one
   epoch of the first scheme on fold 0 through the runner
   (:func:`benchmarks.table3_scale.make_benchmark_plan` / ``project_epoch``): ``epoch:<scheme>``
   (the recorded ``model.fit`` seconds) and ``evaluation:<scheme>`` (the rest of the unit: data
   assembly, model build, one prediction of the validation and test splits, the record). Each stage
   records seconds, the peak resident memory of the process tree so far (``ru_maxrss`` of the
   process and of its largest finished child, the extraction workers, MiB) and the bytes its
   folder gained on disk.
3. **Growth**: for each stage the exponent ``b`` of ``seconds ~ a n^b`` (``numpy.polyfit`` on
   log-log; 1 is linear), and the projected full-size seconds on this machine (the power law,
   and linear from the largest size).

4. **Training, projected** (:func:`table_training`): per scheme ``folds x epochs x examples / rate``
   from ``throughput_*.csv`` rows (``make bench``): this machine's rows for the CPU column (an
   ``--epoch`` measurement replaces its scheme's, and for MCCLSTM tables each scheme's own epoch
   measured by ``make bench-table3`` does, :func:`read_table3_epochs`), GPU devices' rows for the
   GPU column (one row per paper's model: an upper bound for its smaller schemes). Epochs:
   the last canonical run's records under ``--records``, else the configured cap. **A projection
   from throughput rows, not a measured run.**
5. **Summary** (``all``: every table in turn, stand-ins shared per dataset):
   ``scale_summary_<device>.csv``, one line per table (:func:`summary_row`): ``<stage>_s`` seconds
   at the sizes (``a/b/c``), ``features_exponent``, ``peak_rss_mib`` (largest of any size),
   ``rss_exponent``, ``disk_bytes_full`` (caches and stores at full size, linear), ``cpu_data_s``
   (index, hashes, start-up, features, stores at full size), ``cpu_training_s`` /
   ``gpu_training_s`` (sum over the schemes with a projection; ``*_note`` names the device and
   the schemes left out, and why), ``cpu_total_s``; ``size_note`` where the sizes are below 1/16.

Writes ``<out>/scale_<table>.csv`` (one row per size and stage, then one ``growth`` row per
stage) and the same name ``.json`` (machine, CPU count, load averages, Keras backend, versions,
stand-in, sizes). Load on a shared machine disturbs every time: it is recorded with each size.

Usage::

    python -m benchmarks.scale mcclstm.table3_gtzan|all [--sizes 20,80,320 | --largest N] [--growth 4]
                               [--workers N] [--epoch] [--out results/bench] [--work DIR] [--records results]
    python -m benchmarks.scale all --reproject     # projections and summary again from the stored results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.table3_scale import DEFAULT_SOURCE, _load_average, library_versions


# --- 1. stand-ins ------------------------------------------------------------------------------

@dataclass(frozen=True)
class StandIn:
    """A dataset's real size and format, and how to write ``n`` tracks of it.

    Attributes:
        dataset: the table's ``spec.dataset.name``.
        full_tracks: tracks of the real dataset (the papers and releases; see the module text).
        seconds: mean duration of a real track, s.
        audio: format written, e.g. ``"mp3 44.1 kHz stereo"``.
        write: ``(folder, n_tracks, seconds) -> data_dir`` (``seconds`` per track).
        train_tracks: tracks a full-size epoch trains on (the protocol's training part: 8 of 10
            folds for cross-validation; the published training split otherwise).
        sizes: default sizes on a 2-core machine (``make bench-scale TABLE=all`` in ~25 min).
        size_note: said in the output and the summary when the largest default size is below 1/16
            of the real size, and why.
        run_seconds: seconds per track the benchmark writes by default when whole tracks do not fit
            three sizes (ISMIR 2004's whole songs); None: ``seconds``. Stages whose work grows with
            the audio's duration (:data:`DURATION_STAGES`) are then projected to ``seconds`` per
            track in proportion (``duration_scale``), as are the examples per track of frame-level
            features; ``make bench-scale SECONDS=<seconds>`` runs whole tracks instead.
    """

    dataset: str
    full_tracks: int
    seconds: float
    audio: str
    write: object
    train_tracks: int = 0
    sizes: tuple[int, ...] = ()
    size_note: str = ""
    run_seconds: float | None = None


def _write_gtzan(folder: Path, n: int, seconds: float) -> Path:
    from benchmarks.table3_scale import build_stand_in

    return Path(build_stand_in(folder, n, seconds, DEFAULT_SOURCE)["data_dir"])


def _write_ballroom(folder: Path, n: int, seconds: float) -> Path:
    from common.datasets import ballroom
    from tests.common.datasets.generated_trees import write_ballroom

    styles = list(ballroom.FOLDER_CLASSES)
    counts = {s: n // len(styles) + (1 if i < n % len(styles) else 0) for i, s in enumerate(styles)}
    return write_ballroom(folder, counts, seconds=(seconds,), sample_rate=44100, file_list=True).parent


def _write_soundtracks(folder: Path, n: int, seconds: float) -> Path:
    from common.datasets import soundtracks
    from tests.common.datasets.generated_trees import write_soundtracks

    n1 = max(1, round(n * 360 / 470))
    labels = [soundtracks.CLASSES[k % len(soundtracks.CLASSES)] for k in range(n)]
    write_soundtracks(folder, labels[:n1], labels[n1:] or labels[:1], seconds=(seconds,), sample_rate=44100)
    return folder


def _write_mtat(folder: Path, n: int, seconds: float) -> Path:
    from common.datasets import magnatagatune
    from tests.mtat_fixtures import Clip, write_mtat_tree

    tags = [f"tag{k:02d}" for k in range(50)]
    clips = [Clip(clip_id=str(k + 2), folder=magnatagatune.FOLDERS[k % 16], seconds=seconds,
                  tags={tags[k % 50], tags[(7 * k + 3) % 50]}, frequency=200.0 + 5 * (k % 50)) for k in range(n)]
    return write_mtat_tree(folder, clips, tags, sample_rate=16000)


def _write_fma(folder: Path, n: int, seconds: float) -> Path:
    from common.datasets import fma
    from tests.audio_fixtures import write_audio
    from tests.fma_fixtures import write_tracks_csv

    rows = []
    for k in range(n):
        split = fma.SPLITS[{1: 1, 2: 2}.get(k % 10, 0)]  # ~ 19,922 / 2,505 / 2,573; every part from 3 tracks
        genre = fma.GENRES[k % len(fma.GENRES)]
        rows.append({"track_id": k + 2, "subset": "medium", "split": split, "genre_top": genre})
        write_audio(fma.audio_path(folder, k + 2), seconds, 44100, frequency=150.0 + 10 * (k % 16), seed=k, channels=2)
    write_tracks_csv(folder / "fma_metadata" / "tracks.csv", rows)
    return folder


def _write_ismir2004(folder: Path, n: int, seconds: float) -> Path:
    from common.datasets import ismir2004
    from tests.ismir2004_fixtures import write_ismir2004_tree

    per_class = max(1, round(n / 2 / len(ismir2004.CLASSES)))  # training and development halves
    return write_ismir2004_tree(folder, {"training": per_class, "development": per_class}, seconds=seconds,
                                sample_rate=44100)


#: Stand-ins by ``spec.dataset.name``.
STAND_INS = {s.dataset: s for s in (
    StandIn("gtzan", 1000, 30.0, "wav 22.05 kHz mono (looped gtzan-mini)", _write_gtzan, 800, (25, 100, 400)),
    StandIn("ballroom", 698, 30.0, "wav 44.1 kHz mono", _write_ballroom, 558, (10, 40, 160)),
    StandIn("soundtracks", 470, 15.0, "mp3 44.1 kHz mono", _write_soundtracks, 376, (10, 40, 160)),
    StandIn("magnatagatune", 25863, 29.1, "mp3 16 kHz mono", _write_mtat, 15244, (16, 64, 256),
            "largest size 256 clips is below 1/16 of the real 25,863 (2-core time budget)"),
    StandIn("fma_medium", 25000, 30.0, "mp3 44.1 kHz stereo", _write_fma, 19922, (12, 48, 192),
            "largest size 192 tracks is below 1/16 of the real 25,000 (2-core time budget)"),
    StandIn("ismir2004", 1458, 250.0, "mp3 44.1 kHz mono, 30 s excerpts of whole-song-length tracks", _write_ismir2004,
            656, (12, 48, 192),
            "tracks of 27.5-29 s, not whole songs of 250 s: the scattering costs ~30 s of CPU per whole song, so "
            "three sizes of whole songs do not fit a 2-core time budget; duration-proportional stages are "
            "projected to 250 s per track (duration_scale 9.09; the scattering's unit of work is a block of 164 "
            "frames, 30.5 s: every stand-in track is one block, a 250 s song nine), checked against 12 whole "
            "songs (scale_lstm_segment.table2_ismir2004_whole_songs.csv); largest size 192 is 1/7.6 of the real "
            "1,458",
            run_seconds=27.5),
)}


# --- 2. one size (run in a child process) ------------------------------------------------------

def _peak_rss_mib() -> float:
    """Peak resident memory of this process and of its largest finished child, MiB (Linux ``ru_maxrss`` in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).exists() else 0


#: Stages whose work grows in proportion to the tracks' duration (decoded samples, feature frames,
#: training frames); with ``StandIn.run_seconds`` they are projected to the real duration.
DURATION_STAGES = ("content_hashes", "features", "store", "epoch", "evaluation")

#: Papers whose examples are feature frames (their count per track grows with the duration).
FRAME_PAPERS = ("lstm_segment",)

#: Papers whose protocols train from memory-mapped split stores (:func:`common.features.store.split_feature_stores`).
STORE_PAPERS = ("msecnn", "crnn_tf")


def stand_in_folder(root: Path, dataset: str, n: int, seconds: float) -> Path:
    """Folder of the stand-in of ``n`` tracks of ``seconds`` s of ``dataset`` under ``root`` (shared by its tables)."""
    return Path(root) / f"{dataset}-n{n}-s{seconds:g}"


def run_size(table: str, n: int, work: Path, workers: int | None, epoch: bool, seconds: float | None = None,
             stand_ins: Path | None = None) -> dict:
    """Build (or reuse) the stand-in of ``n`` tracks and time the stages (module text, step 2).

    ``stand_ins``: folder of stand-ins shared by the tables of a dataset (a complete one, marked
    by ``.complete``, is reused; its ``stand_in_s`` is then the first table's); None: ``work/data``.

    Returns:
        ``{"tracks", "indexed_tracks", "stand_in_s", "stand_in_bytes", "load_average",
        "examples_per_track", "stages": [{"stage", "seconds", "peak_rss_mib", "disk_bytes"}]}``
        (``store_error`` / ``epoch_error`` when that stage could not run on the stand-in).

    Raises:
        KeyError: no stand-in for the table's dataset.
    """
    from joblib.externals.loky import get_reusable_executor

    from common.registry import available_tables
    from common.runner import prepare_features
    from common.runner.identity import ContentHashes, tracks_digest

    spec = available_tables()[table]()
    stand_in = STAND_INS[spec.dataset.name]
    seconds = seconds or stand_in.seconds
    data = stand_in_folder(stand_ins, spec.dataset.name, n, seconds) if stand_ins else work / "data"
    cache = work / "cache"
    for folder in (cache, work / "runner", work / "store") + (() if stand_ins else (data,)):
        shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    marker = data / ".complete"
    if marker.is_file():
        built = json.loads(marker.read_text())
        data_dir, stand_in_s = Path(built["data_dir"]), built["stand_in_s"]
    else:
        shutil.rmtree(data, ignore_errors=True)
        data_dir = stand_in.write(data, n, seconds)
        stand_in_s = time.perf_counter() - start
        marker.write_text(json.dumps({"data_dir": str(data_dir), "stand_in_s": stand_in_s}))
    out = {"tracks": n, "stand_in_s": stand_in_s, "stand_in_bytes": _disk_bytes(data),
           "load_average": _load_average(), "stages": []}

    def record(name, seconds, folder=None, before=0):
        out["stages"].append({"stage": name, "seconds": seconds, "peak_rss_mib": _peak_rss_mib(),
                              "disk_bytes": (_disk_bytes(folder) - before) if folder else 0})

    def stage(name, call, folder=None):
        before = _disk_bytes(folder) if folder else 0
        start = time.perf_counter()
        result = call()
        record(name, time.perf_counter() - start, folder, before)
        return result

    index = stage("index", lambda: spec.dataset.index(Path(data_dir)))
    out["indexed_tracks"] = len(index.tracks)
    hashes = ContentHashes(cache)
    stage("content_hashes", lambda: (tracks_digest(list(index.tracks), hashes), hashes.save()), cache)

    def startup():
        from common.errors import AudioError

        try:
            spec.extractor()(index.tracks[0].path)
        except AudioError:  # an unusable first track still paid the imports; prepare_features reports it
            pass

    if index.tracks:  # library start-up (imports, FFT plans), paid once per process: not in the growth
        stage("startup", startup)

    def features():
        result = prepare_features(spec, index, cache, progress=False, workers=workers)
        get_reusable_executor().shutdown(wait=True)  # reaped: the workers' peak memory is counted
        return result

    usable, prepared, skipped, feature_cache = stage("features", features, cache)
    out["skipped"] = len(skipped)
    out["features_computed"] = feature_cache.stats.computed
    # leading dimension of the prepared features: chunks per track for chunk tables (the unit of chunks/s rows)
    out["examples_per_track"] = float(np.mean([np.shape(prepared[t.track_id])[0] for t in usable.tracks]))
    if spec.paper in STORE_PAPERS:
        from common.features.store import split_feature_stores

        dtype = spec.trainable()[0].config.get("store_dtype", "float16")
        try:
            split = spec.protocol.make_splits(usable)[0]
            stage("store", lambda: split_feature_stores(split, prepared, work / "store", dtype), work / "store")
        except Exception as exc:  # the stand-in may be too small for the protocol: said, not fatal
            out["store_error"] = f"{type(exc).__name__}: {exc}"
    if epoch:
        from benchmarks.table3_scale import make_benchmark_plan, project_epoch

        scheme = spec.trainable()[0].name
        try:
            plan, _ = make_benchmark_plan(spec, data_dir, work / "runner" / "results", work / "runner" / "work",
                                          (scheme,))
            before = _disk_bytes(work / "runner")
            unit = project_epoch(plan, scheme)
            record(f"epoch:{scheme}", unit["epoch_s_project"], work / "runner", before)
            # the unit outside model.fit: data assembly, model build, one prediction of the validation and
            # test splits, the record (the runner does not time the test prediction on its own)
            record(f"evaluation:{scheme}", unit["unit_other_s_project"])
        except Exception as exc:  # the stand-in may be too small for the protocol: said, not fatal
            out["epoch_error"] = f"{type(exc).__name__}: {exc}"
    return out


# --- 3. growth and projection ------------------------------------------------------------------

def growth_exponent(sizes, seconds) -> float:
    """``b`` of ``seconds ~ a n^b`` by least squares on log-log (``numpy.polyfit``); NaN with < 2 usable points."""
    x, y = np.asarray(sizes, float), np.asarray(seconds, float)
    keep = (x > 0) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


#: Stages paid once per run whatever the size (library start-up): projected at their measured cost.
ONE_OFF_STAGES = ("startup",)


def project(sizes, seconds, full: int, one_off: bool = False) -> dict:
    """Full-size seconds: the fitted power law, and linear from the largest size (``one_off``: the largest's)."""
    b = growth_exponent(sizes, seconds)
    if one_off:
        largest = float(seconds[int(np.argmax(sizes))])
        return {"exponent": b, "projected_s_power": largest, "projected_s_linear": largest}
    largest = int(np.argmax(sizes))
    power = float(seconds[largest] * (full / sizes[largest]) ** b) if np.isfinite(b) else float("nan")
    return {"exponent": b, "projected_s_power": power,
            "projected_s_linear": float(seconds[largest] * full / sizes[largest])}


def default_sizes(full: int, largest: int, growth: int = 4) -> list[int]:
    """Three sizes growing ``growth`` times, the largest ``largest`` (at most ``full``), each >= 1."""
    largest = min(largest, full)
    return sorted({max(1, round(largest / growth ** k)) for k in (2, 1, 0)})


# --- 4. training projections from throughput rows ---------------------------------------------

#: Throughput row (``benchmark`` name prefix in ``throughput_<device>.csv``) timing each paper's
#: schemes; ``None``: no row. MCCLSTM sequence schemes use the MCCLSTM row and chunk schemes the
#: R3 row; CRNN-TF variants (Fig. 5 ablations, Table III transfer) the Grid-LSTM CRNN-TF row.
CRNN_TF_BENCHMARKS = {"FCN": "FCN-4 (Choi", "CRNN": "CRNN (Choi", "CRNN-TF (GRU)": "CRNN-TF (GRU)",
                      "Timbre CNN": "Timbre CNN", "End-to-end": "End-to-end", "MFCC + SVM": None}

#: Units of throughput rows that convert to examples per epoch (``examples_per_track`` factor or 1).
EXAMPLE_UNITS = ("clips/s", "chunks/s", "frames/s")


def scheme_benchmark(paper: str, scheme) -> str | None:
    """Name prefix of the throughput row that times ``scheme``'s training (see :data:`CRNN_TF_BENCHMARKS`)."""
    if paper == "mcclstm":
        return "MCCLSTM training" if scheme.config.get("lstm") else "R3 training"
    if paper == "msecnn":
        return f"{scheme.name} training"
    if paper == "crnn_tf":
        return CRNN_TF_BENCHMARKS.get(scheme.name, "CRNN-TF (Grid LSTM)")
    if paper == "lstm_segment":
        return f"{scheme.name} training"
    return None


def run_fold_settings(scheme) -> tuple:
    """The objects a scheme's ``run_fold`` is bound with (``functools.partial`` arguments and keywords)."""
    run_fold = scheme.run_fold
    return (*getattr(run_fold, "args", ()), *getattr(run_fold, "keywords", {}).values())


def scheme_epochs(scheme) -> int | None:
    """Epoch cap of a scheme's training configuration, or None.

    An argument of its ``run_fold`` with ``epochs`` (a ``TrainingConfig``), or with a
    ``schedule.max_epochs`` (LSTM segment: the newbob schedule's cap).
    """
    for value in run_fold_settings(scheme):
        if isinstance(getattr(value, "epochs", None), int):
            return value.epochs
        if isinstance(getattr(getattr(value, "schedule", None), "max_epochs", None), int):
            return value.schedule.max_epochs
    return None


def read_throughput(folder: str | os.PathLike, gpu: bool, device: str | None = None) -> list[dict]:
    """Rows of ``<folder>/throughput_*.csv`` (``make bench``): of GPU devices (``gpu``), or of ``device``.

    A device is a GPU when its name does not start with ``cpu`` (:func:`benchmarks.throughput.device_name`).

    Returns:
        dicts with ``device``, ``benchmark``, ``unit``, ``rate`` (float, NaN when empty) and ``source``.
    """
    import pandas as pd

    rows = []
    for path in sorted(Path(folder).glob("throughput_*.csv")):
        frame = pd.read_csv(path)
        for row in frame.to_dict("records"):
            name = str(row.get("device", ""))
            if (device is not None and name == device) or (device is None and gpu and not name.startswith("cpu")):
                rows.append({**row, "rate": float(row.get("rate", float("nan"))), "source": path.name})
    return rows


def training_projection(rows: list[dict], benchmark: str | None, train_examples: float, epochs: float | None,
                        folds: int) -> dict:
    """Full-protocol training seconds of one scheme from a throughput row: ``folds x epochs x examples / rate``.

    Args:
        rows: throughput rows (:func:`read_throughput`).
        benchmark: row name prefix (:func:`scheme_benchmark`), or None.
        train_examples: examples one full-size epoch trains on, in the row's unit (clips, or chunks).
        epochs: epochs per fold (the last canonical run's mean, else the configuration's cap), or None.
        folds: folds of the protocol.

    Returns:
        ``{"epoch_s", "protocol_s", "rate", "unit", "device", "benchmark", "reason"}``: seconds NaN and
        ``reason`` saying why when no usable row or epoch count exists. A projection from throughput
        rows (random inputs, train steps only), not a measured run.
    """
    nan = float("nan")
    out = {"epoch_s": nan, "protocol_s": nan, "rate": nan, "unit": None, "device": None, "benchmark": benchmark,
           "reason": ""}
    if benchmark is None:
        return {**out, "reason": "no throughput benchmark of this scheme"}
    row = next((r for r in rows if str(r["benchmark"]).startswith(benchmark)), None)
    if row is None or not row["rate"] > 0:
        return {**out, "reason": f"no usable throughput row {benchmark!r}"}
    out.update(rate=row["rate"], unit=row["unit"], device=row["device"])
    if row["unit"] not in EXAMPLE_UNITS:
        return {**out, "reason": f"unit {row['unit']} has no known count per track"}
    out["epoch_s"] = train_examples / row["rate"]
    if not epochs:
        return {**out, "reason": "epoch count unknown"}
    out["protocol_s"] = folds * epochs * out["epoch_s"]
    return out


#: Papers whose schemes' epochs ``make bench-table3`` measures one by one (on the full-size GTZAN
#: stand-in, through the project's runner): every MCCLSTM table's schemes are the same models
#: (Ballroom and Soundtracks: other data; the variants: another initialisation, or the B kernel
#: transposed, 9 x 13 instead of 13 x 9, the same multiply count).
TABLE3_SCALE_PAPERS = ("mcclstm",)


def read_table3_epochs(folder: str | os.PathLike, device: str) -> dict:
    """Seconds of one training epoch per training chunk, per scheme, from ``table3_scale_<device>.csv``.

    ``make bench-table3`` times one epoch of every Table 3 scheme on the 1,000-track stand-in
    (800 training tracks) through the project's runner (``epoch_s_project``). A chunk scheme's
    ``n_train_examples`` counts chunks, a sequence scheme's counts tracks (of ``chunks per track``
    chunks each: the chunk schemes' examples over the training tracks), so both turn into seconds
    per chunk, the unit :func:`table_training` scales to another table's training chunks.

    Returns:
        ``{scheme: {"s_per_chunk", "epoch_s", "chunks", "source"}}``; empty without the file.
    """
    import pandas as pd

    path = Path(folder) / f"table3_scale_{device}.csv"
    meta = path.with_suffix(".json")
    if not path.is_file() or not meta.is_file():
        return {}
    frame = pd.read_csv(path)
    frame = frame[frame.epoch_s_project.notna() & frame.n_train_examples.notna()]
    train = float(json.loads(meta.read_text())["split"]["train"])
    if frame.empty or not train:
        return {}
    chunks_per_track = float(frame.n_train_examples.max()) / train
    out = {}
    for row in frame.itertuples():
        chunks = float(row.n_train_examples) if row.n_train_examples > train else float(row.n_train_examples) * \
            chunks_per_track
        out[row.scheme] = {"s_per_chunk": float(row.epoch_s_project) / chunks, "epoch_s": float(row.epoch_s_project),
                           "chunks": chunks, "source": path.name}
    return out


def table_training(spec, stand_in: StandIn, examples_per_track: float, rows: list[dict],
                   records: str | os.PathLike | None, measured_epoch: dict | None = None,
                   table3_epochs: dict | None = None) -> list[dict]:
    """Per trainable scheme of the table: full-protocol training seconds projected from ``rows``.

    Epochs per fold: the mean over folds of the last canonical run's records under
    ``<records>/<paper>/<table_id>`` (:func:`benchmarks.table3_scale.last_run_epochs`), else the
    scheme's configured cap (an upper bound: early stopping may stop sooner). ``table3_epochs``
    (:func:`read_table3_epochs`, for :data:`TABLE3_SCALE_PAPERS`) replaces the row's epoch with
    the scheme's own measured epoch, scaled to this table's training chunks: a throughput row
    times one model per paper (MCCLSTM's row for R1, R4 and MCCLSTM, R3's for every chunk
    scheme), which overstated the smaller schemes up to 10 times (R1: 43 s per epoch from the
    MCCLSTM row, 4.3 s measured). ``measured_epoch`` (``{scheme: full-size seconds of one epoch}``,
    from ``--epoch``) replaces both.

    Returns:
        one dict per scheme: :func:`training_projection`'s keys plus ``scheme``, ``epochs``,
        ``epochs_source``, ``folds``.
    """
    from benchmarks.table3_scale import last_run_epochs

    last = last_run_epochs(Path(records) / spec.paper, spec.table_id)[0] if records else {}
    folds = int(getattr(spec.protocol, "n_folds", 1))
    out = []
    for scheme in spec.trainable():
        benchmark = scheme_benchmark(spec.paper, scheme)
        unit = next((r["unit"] for r in rows if benchmark and str(r["benchmark"]).startswith(benchmark)), None)
        examples = stand_in.train_tracks * (examples_per_track if unit in ("chunks/s", "frames/s") else 1.0)
        if last.get(scheme.name):
            epochs, source = float(np.mean(list(last[scheme.name].values()))), "last canonical run"
        else:
            epochs, source = scheme_epochs(scheme), "configured cap"
        result = training_projection(rows, benchmark, examples, epochs, folds)
        if table3_epochs and spec.paper in TABLE3_SCALE_PAPERS and scheme.name in table3_epochs:
            measured = table3_epochs[scheme.name]
            epoch_s = measured["s_per_chunk"] * stand_in.train_tracks * examples_per_track
            result.update(epoch_s=epoch_s, protocol_s=folds * epochs * epoch_s if epochs else float("nan"),
                          rate=1.0 / measured["s_per_chunk"], unit="chunks/s",
                          device=f"this machine ({measured['source']}: this scheme's measured epoch)",
                          benchmark=f"make bench-table3: {scheme.name}", reason="")
        if measured_epoch and scheme.name in measured_epoch:
            epoch_s = measured_epoch[scheme.name]
            result.update(epoch_s=epoch_s, protocol_s=folds * epochs * epoch_s if epochs else float("nan"),
                          device="this machine (--epoch)", reason="")
        out.append({"scheme": scheme.name, "epochs": epochs, "epochs_source": source, "folds": folds, **result})
    return out


def run_benchmark(table: str, sizes: list[int], out: str | os.PathLike, work: str | os.PathLike | None = None,
                  workers: int | None = None, epoch: bool = False, in_process: bool = False,
                  seconds: float | None = None, stand_ins: str | os.PathLike | None = None,
                  records: str | os.PathLike | None = "results", throughput: str | os.PathLike | None = None):
    """Run every size (a child process each unless ``in_process``), fit, project; write CSV and JSON.

    ``seconds`` overrides the tracks' real duration (quick runs; the projection then is not the
    real dataset's). ``stand_ins``: folder of stand-ins shared between tables (kept; the caller
    removes it), else each size's stand-in is removed after it. ``records``: root of the canonical
    results (epochs of the last run); ``throughput``: folder of ``throughput_*.csv`` (default ``out``).

    Returns:
        ``(frame, csv_path, json_path)``; the JSON has ``training_cpu`` and ``training_gpu``
        (:func:`table_training`).
    """
    import pandas as pd

    from benchmarks.throughput import device_name
    from common.outputs.result_tables import write_csv, write_json
    from common.registry import available_tables

    spec = available_tables()[table]()
    stand_in = STAND_INS[spec.dataset.name]
    seconds = seconds or stand_in.run_seconds
    duration_scale = stand_in.seconds / seconds if seconds and stand_in.run_seconds else 1.0
    temporary = work is None
    work = Path(tempfile.mkdtemp(prefix="scale-")) if temporary else Path(work)
    load_start, started, results = _load_average(), time.perf_counter(), []
    try:
        for n in sizes:
            folder = work / f"n{n}"
            folder.mkdir(parents=True, exist_ok=True)
            if in_process:
                result = run_size(table, n, folder, workers, epoch, seconds, Path(stand_ins) if stand_ins else None)
            else:
                command = [sys.executable, "-m", "benchmarks.scale", table, "--one-size", str(n), "--work",
                           str(folder)] + (["--workers", str(workers)] if workers else []) + (
                               ["--epoch"] if epoch else []) + (["--seconds", str(seconds)] if seconds else []) + (
                               ["--stand-ins", str(stand_ins)] if stand_ins else [])
                subprocess.run(command, check=True)
                result = json.loads((folder / "size.json").read_text())
            print(f"  {table} n={n}: " + ", ".join(f"{s['stage']} {s['seconds']:.2f} s" for s in result["stages"])
                  + f" (load {result['load_average']})", flush=True)
            results.append(result)
            shutil.rmtree(folder / "data", ignore_errors=True)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    rows = [{"table": table, "tracks": r["tracks"], **s, "load_1min": (r["load_average"] or [None])[0]}
            for r in results for s in r["stages"]]
    for name in dict.fromkeys(s["stage"] for r in results for s in r["stages"]):
        points = [(r["tracks"], s["seconds"], s["disk_bytes"], s["peak_rss_mib"])
                  for r in results for s in r["stages"] if s["stage"] == name]
        n, times, disk, rss = (np.array(v, float) for v in zip(*points))
        scale = duration_scale if name.split(":")[0] in DURATION_STAGES else 1.0
        projected = project(n, times, stand_in.full_tracks, name in ONE_OFF_STAGES)
        rows.append({"table": table, "stage": name, "tracks": stand_in.full_tracks,
                     **{k: (v * scale if k.startswith("projected") else v) for k, v in projected.items()},
                     "disk_exponent": growth_exponent(n, disk), "rss_exponent": growth_exponent(n, rss),
                     "projected_disk_bytes": float(disk[-1] * stand_in.full_tracks / n[-1]) * scale if n[-1]
                     else float("nan"), "duration_scale": scale, "kind": "growth"})
    frame = pd.DataFrame(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / f"scale_{table}.csv", out / f"scale_{table}.json"
    write_csv(frame, csv_path)
    import keras

    largest = results[-1]
    epoch_rows = frame[(frame.kind == "growth") & frame.stage.str.startswith("epoch:")]
    # one measured epoch grows with the training examples: linear from the largest size to full size
    measured = {row.stage.split(":", 1)[1]: row.projected_s_linear for row in epoch_rows.itertuples()}
    examples = largest.get("examples_per_track", 1.0) * (duration_scale if spec.paper in FRAME_PAPERS else 1.0)
    throughput = Path(throughput or out)
    training_cpu = table_training(spec, stand_in, examples, read_throughput(throughput, False, device_name()),
                                  records, measured, read_table3_epochs(throughput, device_name()))
    training_gpu = table_training(spec, stand_in, examples, read_throughput(throughput, True), records)
    write_json({"note": "stand-in datasets (real layout and format, generated audio): timing only, never accuracy",
                "table": table, "dataset": spec.dataset.name, "full_tracks": stand_in.full_tracks,
                "full_seconds_per_track": stand_in.seconds, "seconds_per_track_run": seconds or stand_in.seconds,
                "duration_scale": duration_scale,
                "audio": stand_in.audio, "sizes": sizes,
                "workers": workers, "device": device_name(), "host": platform.node(), "cpu_count": os.cpu_count(),
                "load_average_start": load_start, "load_average_end": _load_average(), "size_note": stand_in.size_note,
                "training_cpu": training_cpu, "training_gpu": training_gpu,
                "training_note": "projected from throughput rows (train steps on random inputs; examples per epoch "
                                 "x epochs x folds), not measured; epochs from the last canonical run where it "
                                 "exists, else the configured cap; an --epoch measurement replaces the CPU row",
                "keras_backend": keras.backend.backend(), "versions": library_versions(), "sizes_run": results,
                "wall_s": time.perf_counter() - started}, json_path)
    return frame, csv_path, json_path


# --- 5. the summary of every table --------------------------------------------------------------

#: Stages shown in the summary (``epoch`` and ``evaluation`` match ``epoch:<scheme>`` / ``evaluation:<scheme>``).
SUMMARY_STAGES = ("index", "content_hashes", "features", "store", "epoch", "evaluation")

#: Stages of the data preparation projected into ``cpu_data_s``.
DATA_STAGES = ("index", "content_hashes", "startup", "features", "store")


def _training_total(training: list[dict]) -> tuple[float, str]:
    """Sum of the schemes' ``protocol_s`` and a note naming the schemes left out (and why)."""
    def finite(value):  # NaN is written to JSON as null
        return value is not None and bool(np.isfinite(value))

    known = [t["protocol_s"] for t in training if finite(t["protocol_s"])]
    missing = [f"{t['scheme']} ({t['reason']})" for t in training if not finite(t["protocol_s"])]
    total = float(sum(known)) if known else float("nan")
    note = ("; ".join(sorted({t["device"] for t in training if t["device"]})) or "no rows") + (
        f"; left out: {', '.join(missing)}" if missing else "")
    return total, note


def summary_row(frame, meta: dict) -> dict:
    """One table's line of the summary CSV, from its scale frame and JSON (:func:`run_benchmark`).

    Returns:
        ``{"table", "dataset", "full_tracks", "sizes", "size_note", "<stage>_s" ("a/b/c" seconds at
        the sizes), "features_exponent", "peak_rss_mib", "rss_exponent", "disk_bytes_full",
        "cpu_data_s", "cpu_training_s", "cpu_total_s", "cpu_training_note", "gpu_training_s",
        "gpu_note"}``; see the module text for their meaning.
    """
    sized = frame[frame.kind != "growth"]
    growth = frame[frame.kind == "growth"].set_index("stage")
    row = {"table": meta["table"], "dataset": meta["dataset"], "full_tracks": meta["full_tracks"],
           "sizes": "/".join(str(n) for n in meta["sizes"]), "size_note": meta.get("size_note", "")}
    for name in SUMMARY_STAGES:
        times = sized[(sized.stage == name) | sized.stage.str.startswith(f"{name}:")]
        row[f"{name}_s"] = "/".join(f"{v:.2f}" for v in times.groupby("tracks", sort=True).seconds.sum())
    row["features_exponent"] = float(growth.exponent.get("features", float("nan")))
    row["peak_rss_mib"] = float(sized.peak_rss_mib.max())
    row["rss_exponent"] = float(growth.rss_exponent.get("features", float("nan")))
    row["disk_bytes_full"] = float(growth.projected_disk_bytes.sum())
    data = [growth.projected_s_power[s] if np.isfinite(growth.projected_s_power[s]) else
            growth.projected_s_linear[s] for s in DATA_STAGES if s in growth.index]
    row["cpu_data_s"] = float(sum(data))
    row["cpu_training_s"], row["cpu_training_note"] = _training_total(meta["training_cpu"])
    row["cpu_total_s"] = row["cpu_data_s"] + row["cpu_training_s"]
    gpu_s, gpu_note = _training_total(meta["training_gpu"])
    row["gpu_training_s"] = gpu_s
    row["gpu_note"] = ("projection from throughput rows, not measured: " + gpu_note) if np.isfinite(gpu_s) else \
        "no GPU throughput rows for these schemes: " + gpu_note
    return row


def run_all(tables: list[str], out: str | os.PathLike, work: str | os.PathLike | None = None,
            sizes: list[int] | None = None, **options):
    """:func:`run_benchmark` for each table in turn (stand-ins shared per dataset), then the summary CSV.

    A table that fails is reported in its summary line (``error``) and the others still run.

    Returns:
        ``(summary frame, summary_path)``: ``<out>/scale_summary_<device>.csv``.
    """
    import pandas as pd

    from benchmarks.throughput import device_name
    from common.outputs.result_tables import write_csv
    from common.registry import available_tables

    temporary = work is None
    work = Path(tempfile.mkdtemp(prefix="scale-all-")) if temporary else Path(work)
    rows = []
    try:
        for table in tables:
            stand_in = STAND_INS[available_tables()[table]().dataset.name]
            print(f"== {table}: sizes {sizes or list(stand_in.sizes)}"
                  + (f" ({stand_in.size_note})" if stand_in.size_note and not sizes else ""), flush=True)
            try:
                frame, _, json_path = run_benchmark(table, sizes or list(stand_in.sizes), out, work / table,
                                                    stand_ins=work / "stand_ins", **options)
                rows.append(summary_row(frame, json.loads(Path(json_path).read_text())))
            except Exception as exc:  # one table's failure does not stop the others
                rows.append({"table": table, "error": f"{type(exc).__name__}: {exc}"})
                print(f"   {table} failed: {type(exc).__name__}: {exc}", flush=True)
    finally:
        shutil.rmtree(work / "stand_ins" if not temporary else work, ignore_errors=True)
    summary = pd.DataFrame(rows)
    path = Path(out) / f"scale_summary_{device_name()}.csv"
    write_csv(summary, path)
    return summary, path


def reproject(tables: list[str], out: str | os.PathLike, records: str | os.PathLike | None = "results",
              throughput: str | os.PathLike | None = None):
    """Training projections and the summary again from the tables' stored ``scale_<table>.{csv,json}``.

    The measured stages are kept as they are; only what is projected from other benchmarks
    (``throughput_*.csv`` rows, ``table3_scale_<device>.csv`` epochs, the last canonical run's
    epochs) is computed again, e.g. after ``make bench`` on a GPU machine or ``make bench-table3``.
    Each JSON is rewritten (atomically) with ``reprojected`` set; a table without stored results
    is left out of the summary and named.

    Returns:
        ``(summary frame, summary_path)`` as :func:`run_all`.
    """
    import pandas as pd

    from benchmarks.throughput import device_name
    from common.outputs.result_tables import write_csv, write_json
    from common.registry import available_tables

    out, rows = Path(out), []
    throughput = Path(throughput or out)
    for table in tables:
        csv_path, json_path = out / f"scale_{table}.csv", out / f"scale_{table}.json"
        if not csv_path.is_file() or not json_path.is_file():
            print(f"   {table}: no stored scale results in {out}; left out", flush=True)
            continue
        frame, meta = pd.read_csv(csv_path), json.loads(json_path.read_text())
        spec = available_tables()[table]()
        stand_in = STAND_INS[spec.dataset.name]
        examples = meta["sizes_run"][-1].get("examples_per_track", 1.0) * (
            meta.get("duration_scale", 1.0) if spec.paper in FRAME_PAPERS else 1.0)
        epoch_rows = frame[(frame.kind == "growth") & frame.stage.str.startswith("epoch:")] if "kind" in frame else \
            frame.iloc[0:0]
        measured = {row.stage.split(":", 1)[1]: row.projected_s_linear for row in epoch_rows.itertuples()}
        meta["training_cpu"] = table_training(spec, stand_in, examples,
                                              read_throughput(throughput, False, meta.get("device", device_name())),
                                              records, measured,
                                              read_table3_epochs(throughput, meta.get("device", device_name())))
        meta["training_gpu"] = table_training(spec, stand_in, examples, read_throughput(throughput, True), records)
        meta["reprojected"] = time.strftime("%Y-%m-%d %H:%M:%S")
        write_json(meta, json_path)
        rows.append(summary_row(frame, meta))
    summary = pd.DataFrame(rows)
    path = out / f"scale_summary_{device_name()}.csv"
    write_csv(summary, path)
    return summary, path


def main(argv=None) -> int:
    """Command line: see the module text."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("table", help="<paper>.<table> (python -m common.cli list), or all")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated track counts (default: the dataset's 2-core sizes, STAND_INS)")
    parser.add_argument("--largest", type=int, default=None, help="largest size (three sizes growing --growth)")
    parser.add_argument("--growth", type=int, default=4, help="factor between sizes (default 4)")
    parser.add_argument("--workers", type=int, default=None, help="feature-extraction processes")
    parser.add_argument("--epoch", action="store_true", help="also one epoch of the first scheme on fold 0")
    parser.add_argument("--out", default="results/bench", help="folder of the CSV and JSON")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per stand-in track (default: the real dataset's; shorter: a quick run only)")
    parser.add_argument("--records", default="results",
                        help="root of the canonical results (epochs of the last run; 'none': configured caps)")
    parser.add_argument("--reproject", action="store_true",
                        help="recompute only the training projections and the summary from the stored scale "
                             "results (after new throughput rows); nothing is run")
    parser.add_argument("--stand-ins", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one-size", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        from common.training.tensorflow_logging import import_tensorflow_quietly

        import_tensorflow_quietly()
    if args.one_size is not None:
        result = run_size(args.table, args.one_size, Path(args.work), args.workers, args.epoch, args.seconds,
                          Path(args.stand_ins) if args.stand_ins else None)
        (Path(args.work) / "size.json").write_text(json.dumps(result))
        return 0
    from common.registry import available_tables

    if args.table != "all" and args.table not in available_tables():
        parser.error(f"unknown table {args.table!r}")
    records = None if args.records.lower() == "none" else args.records
    if args.reproject:
        summary, path = reproject(list(available_tables()) if args.table == "all" else [args.table], args.out,
                                  records)
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-"))
        print(f"wrote {path}")
        return 0
    options = {"workers": args.workers, "epoch": args.epoch, "seconds": args.seconds, "records": records}
    print("Stand-in datasets (real layout and format, generated or looped audio): timing only, never accuracy.")
    if args.table == "all":
        sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
        summary, path = run_all(list(available_tables()), args.out, args.work, sizes, **options)
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-"))
        print(f"wrote {path}")
        return 0
    stand_in = STAND_INS[available_tables()[args.table]().dataset.name]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else \
        default_sizes(stand_in.full_tracks, args.largest, args.growth) if args.largest else list(stand_in.sizes)
    if stand_in.size_note and not args.sizes and not args.largest:
        print(f"Note: {stand_in.size_note}.")
    frame, csv_path, json_path = run_benchmark(args.table, sizes, args.out, args.work, **options)
    growth = frame[frame.get("kind") == "growth"] if "kind" in frame else frame.iloc[0:0]
    print(growth[["stage", "exponent", "projected_s_power", "projected_s_linear"]].to_string(index=False))
    row = summary_row(frame, json.loads(Path(json_path).read_text()))
    print(f"Projected full size on this machine: data {row['cpu_data_s']:.0f} s, training {row['cpu_training_s']:.0f} s "
          f"({row['cpu_training_note']}); one GPU training: {row['gpu_training_s']:.0f} s ({row['gpu_note']})")
    print(f"wrote {csv_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
