"""Full-scale benchmark of MCCLSTM Table 3 (``make bench-table3``): where a full GTZAN run spends its time.

Answers "how long does the full Table 3 protocol take on this machine, and how much of an epoch
is the project's own overhead?" without the real GTZAN:

1. **Stand-in dataset.** ``--tracks`` (1000) tracks of ``--seconds`` (30) s at 22,050 Hz in
   GTZAN's layout (``genres/<genre>/<genre>.000NN.wav``, 16-bit mono WAV), made in a work folder
   (a temporary one by default). Each track is a window of the genre's ``gtzan-mini`` clips
   looped end to end (``../shared/data/gtzan-mini`` beside the repository, when present), else
   generated noise and tones. **The stand-in only has GTZAN's sizes and format: it is never
   used for accuracy, and no accuracy from it is reported.**
2. **Features.** Every track through the table's own extractor and feature cache
   (:func:`common.runner.prepare_features`, what :func:`common.runner.run_table` does; the cache
   starts empty): seconds and tracks/s.
3. **One epoch per scheme, project path.** Each selected Table 3 scheme trains for one epoch on
   the first fold through the runner (:func:`common.runner.execution.make_plan` and
   :func:`~common.runner.execution.run_unit` with ``epochs=1``; 1000 tracks give the protocol's
   800/100/100 split). ``epoch_s_project`` is the ``model.fit`` wall time the protocol records
   (``details["train_seconds"]``: one epoch including the first-step tracing, the validation
   pass, the checkpoint and TensorBoard callbacks); ``unit_other_s_project`` is the rest of the
   unit (chunk assembly, standardisation, model build, test and validation prediction, record).
4. **The same epoch, minimal Keras.** The same model (:func:`papers.mcclstm.models.build_model`,
   the scheme's own model and training configuration), compiled with the same optimiser, loss,
   metrics and ``jit_compile``, ``model.fit`` for one epoch on in-memory numpy arrays of the
   same training tracks and batch size, no ``tf.data``, no callbacks, no validation.
   ``epoch_s_minimal`` is that first epoch (with its tracing, like the project's);
   ``epoch_s_minimal_steady`` a second ``fit`` epoch of the already traced model.
   ``overhead_ratio = epoch_s_project / epoch_s_minimal``.
5. **Projection.** Per scheme ``projected_s = folds x (mean_epochs_last_run x epoch_s_project +
   unit_other_s_project)``, where ``mean_epochs_last_run`` is the mean over folds of the epochs
   early stopping ran in the last canonical Table 3 run (``details["epochs_run"]`` of the fold
   records under ``results/mcclstm/table3_gtzan/``; that run was on the data it was run on, e.g.
   gtzan-mini, so at full scale early stopping may stop elsewhere) and ``folds`` = 10; plus the
   feature extraction once. That counts every epoch at the first epoch's cost (tracing
   included); ``projected_s_trace_once`` pays ``first_epoch_extra_s_minimal`` (first minus steady
   minimal epoch, i.e. tracing) once per fold instead. Feature extraction is timed after one
   warm-up extraction (library start-up, recorded as ``warmup_s`` in the sidecar).

Writes ``<out>/table3_scale_<device>.csv`` (one row per scheme, a ``features`` row and a
``total`` row; a run of a subset of the schemes adds ``_schemes-<a>+<b>`` to the name, so runs
of different subsets do not overwrite each other) and the same name ``.json`` (machine, CPU
count, load averages at start and end, Keras backend, library versions, the stand-in, split
sizes and every input of the projection). Runs under any Keras backend the project path runs
under: this module imports no TensorFlow itself (the project path's ``tf.data`` pipelines do;
Keras 3 feeds them to JAX too).

Usage::

    python -m benchmarks.table3_scale [--tracks 1000] [--seconds 30] [--schemes R0 MCCLSTM]
                                      [--out results/bench] [--work DIR] [--source DIR|none]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

#: Sample rate of the stand-in tracks, Hz (GTZAN's).
SAMPLE_RATE = 22050

#: Default source of real clips: ``../shared/data/gtzan-mini`` beside the repository.
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "gtzan-mini"

#: Integer columns of the CSV.
INTEGER_COLUMNS = ("n_train_examples", "batch_size", "folds_last_run", "tracks")

#: Said in the output, the sidecar and the stand-in folder.
STAND_IN_NOTE = ("The stand-in dataset has GTZAN's sizes and format only (looped gtzan-mini clips or "
                 "generated noise and tones); it is used for timing and never for accuracy.")

#: Columns of the CSV, in order; the first six are the benchmark's answer.
COLUMNS = ("scheme", "epoch_s_project", "epoch_s_minimal", "overhead_ratio", "mean_epochs_last_run",
           "projected_s", "projected_s_trace_once", "unit_other_s_project", "epoch_s_minimal_steady",
           "first_epoch_extra_s_minimal",
           "n_train_examples", "batch_size", "folds_last_run", "tracks", "tracks_per_s", "device",
           "keras_backend")


def _log(message: str) -> None:
    print(message, flush=True)


# --- 1. the stand-in dataset -------------------------------------------------------------------

def tracks_per_genre(n_tracks: int, genres: tuple[str, ...]) -> dict[str, int]:
    """``n_tracks`` spread over ``genres`` as evenly as possible (the first genres take the remainder).

    Returns:
        ``{genre: count}``, counts summing to ``n_tracks``.
    """
    base, extra = divmod(n_tracks, len(genres))
    return {genre: base + (1 if i < extra else 0) for i, genre in enumerate(genres)}


def _source_loops(source: Path | None) -> dict[str, np.ndarray]:
    """``{genre: float32 signal}``: the genre's source clips at 22,050 Hz, concatenated in id order."""
    if source is None or not Path(source).is_dir():
        return {}
    from common.audio.decoding import load_audio
    from common.datasets import gtzan

    index = gtzan.index(source)
    loops: dict[str, list[np.ndarray]] = {}
    for track in index.tracks:
        loops.setdefault(track.label, []).append(load_audio(track.path, SAMPLE_RATE))
    return {genre: np.concatenate(parts) for genre, parts in loops.items()}


def _synthetic(genre_index: int, number: int, n_samples: int) -> np.ndarray:
    """Noise plus three amplitude-modulated tones that depend on the genre; float32 in [-1, 1]."""
    rng = np.random.default_rng(1000 * genre_index + number)
    t = np.arange(n_samples) / SAMPLE_RATE
    signal = 0.05 * rng.standard_normal(n_samples)
    for k in range(3):
        frequency = 110.0 * (genre_index + 1) * (k + 1) * (1.0 + 0.01 * (number % 7))
        signal += 0.1 * np.sin(2 * np.pi * frequency * t) * (0.6 + 0.4 * np.sin(2 * np.pi * (k + 1) * 0.5 * t))
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def build_stand_in(folder: str | os.PathLike, n_tracks: int, seconds: float,
                   source: str | os.PathLike | None = DEFAULT_SOURCE) -> dict:
    """Write a GTZAN-shaped stand-in dataset: ``<folder>/genres/<genre>/<genre>.000NN.wav``.

    Track ``k`` of a genre is ``seconds`` of the genre's ``source`` clips looped end to end,
    starting ``7.3 k`` s into the loop (so the tracks differ); genres without source clips (or no
    ``source``) get generated noise and tones. 16-bit mono WAV at 22,050 Hz, like GTZAN's
    converted ``.wav``. A note in ``<folder>/STAND-IN-NOT-GTZAN.txt`` says what it is.

    Args:
        folder: where to write (created; existing genre folders are replaced).
        n_tracks: total tracks, spread evenly over the ten GTZAN genres.
        seconds: duration of every track, s.
        source: a GTZAN-layout folder of real clips (``gtzan-mini``), or None.

    Returns:
        ``{"data_dir", "tracks", "seconds", "sample_rate", "per_genre", "source", "source_kind",
        "seconds_to_build"}``.

    Raises:
        ValueError: ``n_tracks`` < 1 or ``seconds`` <= 0.
    """
    import soundfile as sf

    from common.datasets import gtzan

    if n_tracks < 1 or not seconds > 0:
        raise ValueError(f"need at least one track of positive duration, not {n_tracks} x {seconds} s")
    start = time.perf_counter()
    folder = Path(folder)
    genres_dir = folder / "genres"
    if genres_dir.exists():
        shutil.rmtree(genres_dir)
    loops = _source_loops(Path(source) if source is not None else None)
    n_samples = int(round(seconds * SAMPLE_RATE))
    counts = tracks_per_genre(n_tracks, gtzan.GENRES)
    synthetic_genres = []
    for g, genre in enumerate(gtzan.GENRES):
        (genres_dir / genre).mkdir(parents=True, exist_ok=True)
        loop = loops.get(genre)
        if loop is None or not len(loop):
            synthetic_genres.append(genre)
        for k in range(counts[genre]):
            if loop is not None and len(loop):
                offset = int(round(7.3 * k * SAMPLE_RATE))
                signal = np.take(loop, np.arange(offset, offset + n_samples), mode="wrap")
            else:
                signal = _synthetic(g, k, n_samples)
            sf.write(str(genres_dir / genre / f"{genre}.{k:05d}.wav"), signal, SAMPLE_RATE, subtype="PCM_16")
    if not loops:
        kind = "generated noise and tones"
    elif synthetic_genres:
        kind = f"looped source clips; generated noise and tones for {', '.join(synthetic_genres)}"
    else:
        kind = "looped source clips"
    (folder / "STAND-IN-NOT-GTZAN.txt").write_text(
        f"{STAND_IN_NOTE}\n{n_tracks} tracks x {seconds} s, {kind}"
        + (f" from {Path(source).resolve()}" if loops else "") + ".\n")
    return {"data_dir": str(folder), "tracks": n_tracks, "seconds": seconds, "sample_rate": SAMPLE_RATE,
            "per_genre": counts, "source": str(Path(source).resolve()) if loops else None, "source_kind": kind,
            "seconds_to_build": time.perf_counter() - start}


# --- the split when the stand-in is too small for the table's protocol -------------------------

@dataclass(frozen=True)
class StratifiedHoldout:
    """Protocol for small stand-ins: one stratified train/validation/test split (fold 0).

    Used only when the table's 10-fold protocol cannot split the stand-in (fewer than 10 tracks
    per genre, e.g. a smoke test). Per class, in track-id order: the last
    ``max(1, round(test_fraction * n))`` tracks are test, the ``max(1, round(validation_fraction *
    n))`` before them validation, the rest training.

    Attributes:
        validation_fraction, test_fraction: shares of each class.
    """

    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    @property
    def n_folds(self) -> int:
        """Always 1."""
        return 1

    def make_splits(self, index) -> list:
        """One :class:`common.evaluation.splits.Split` of ``index``.

        Raises:
            DatasetError: a class has fewer than 3 tracks (one each for train, validation, test).
        """
        from common.errors import DatasetError
        from common.evaluation.splits import Split

        train, validation, test = [], [], []
        for name in index.classes:
            ids = sorted(t.track_id for t in index.tracks if t.label == name)
            n_test = max(1, round(self.test_fraction * len(ids)))
            n_validation = max(1, round(self.validation_fraction * len(ids)))
            if len(ids) < n_test + n_validation + 1:
                raise DatasetError(f"class {name} has {len(ids)} tracks; the benchmark needs at least 3 per "
                                   f"class (use --tracks >= {3 * len(index.classes)})")
            test += ids[len(ids) - n_test:]
            validation += ids[len(ids) - n_test - n_validation:len(ids) - n_test]
            train += ids[:len(ids) - n_test - n_validation]
        return [Split(fold=0, train=tuple(sorted(train)), validation=tuple(sorted(validation)),
                      test=tuple(sorted(test)))]

    def describe(self) -> dict:
        """JSON description for manifests."""
        return {"protocol": "stratified_holdout (benchmark stand-in only)", **asdict(self)}


def benchmark_spec(data_dir: str | os.PathLike):
    """Table 3's spec, with :class:`StratifiedHoldout` when its protocol cannot split ``data_dir``.

    Returns:
        ``(spec, protocol_note)``: the spec to run and which protocol it uses.
    """
    from common.errors import DatasetError
    from papers.mcclstm.tables import table3_gtzan

    spec = table3_gtzan()
    try:
        spec.protocol.make_splits(spec.dataset.index(Path(data_dir)))
        return spec, f"the table's protocol, fold 0 ({spec.protocol.describe()})"
    except DatasetError as exc:
        holdout = StratifiedHoldout()
        return replace(spec, protocol=holdout), f"{holdout.describe()['protocol']}: {exc}"


# --- 2. features ---------------------------------------------------------------------------------

def time_features(spec, data_dir: str | os.PathLike, cache_dir: str | os.PathLike) -> dict:
    """Extract every track's features through the table's extractor and feature cache, timed.

    Args:
        spec: the table.
        data_dir: the stand-in dataset.
        cache_dir: an empty feature-cache root (then every track is computed).

    Returns:
        ``{"tracks", "computed", "cache_hits", "skipped", "seconds", "tracks_per_s", "warmup_s"}``:
        ``seconds`` for all tracks after one untimed-in-the-rate warm-up extraction of the first
        track (``warmup_s``: library start-up, paid once per run).
    """
    from common.runner import prepare_features

    index = spec.dataset.index(Path(data_dir))
    start = time.perf_counter()
    spec.extractor()(index.tracks[0].path)  # library start-up (imports, JIT), once per process
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    usable, _, skipped, cache = prepare_features(spec, index, Path(cache_dir), progress=False)
    seconds = time.perf_counter() - start
    return {"tracks": len(index.tracks), "computed": cache.stats.computed, "cache_hits": cache.stats.hits,
            "skipped": len(skipped), "seconds": seconds, "tracks_per_s": len(index.tracks) / seconds,
            "warmup_s": warmup_s}


# --- 3. one epoch through the runner -------------------------------------------------------------

def make_benchmark_plan(spec, data_dir, results_dir, work_dir, schemes: tuple[str, ...]):
    """The runner's plan of a one-fold, one-epoch run of ``schemes`` (features from the cache).

    Returns:
        ``(plan, seconds)``: :class:`common.runner.execution.Plan` and the time ``make_plan`` took.
    """
    from common.runner.execution import Request, make_plan

    all_names = tuple(s.name for s in spec.trainable())
    request = Request(spec=spec, data_dir=Path(data_dir), results_dir=Path(results_dir), work_dir=Path(work_dir),
                      folds=1, epochs=1, selected=schemes,
                      subset=schemes if set(schemes) != set(all_names) else None, seed=0, verbose=0,
                      progress=False, started=time.time())
    start = time.perf_counter()
    plan = make_plan(request)
    return plan, time.perf_counter() - start


def project_epoch(plan, scheme: str) -> dict:
    """Train ``scheme`` for one epoch on the plan's first fold through :func:`run_unit`.

    Returns:
        ``{"epoch_s_project", "unit_other_s_project", "unit_s_project", "epochs_run"}``: the
        recorded ``model.fit`` seconds per epoch, and the rest of the unit's seconds.

    Raises:
        RuntimeError: the unit's record lacks ``train_seconds`` or ``epochs_run``.
    """
    from common.runner.execution import run_unit

    record = run_unit(plan, scheme, plan.splits[0].fold)
    details = record.get("details", {})
    if "train_seconds" not in details or not details.get("epochs_run"):
        raise RuntimeError(f"{scheme}: the fold record has no train_seconds / epochs_run ({sorted(details)})")
    return {"epoch_s_project": details["train_seconds"] / details["epochs_run"],
            "unit_other_s_project": record["seconds"] - details["train_seconds"],
            "unit_s_project": record["seconds"], "epochs_run": details["epochs_run"]}


# --- 4. the same epoch in a minimal Keras loop ---------------------------------------------------

def scheme_settings(spec, scheme: str):
    """``(SchemeSpec, MCCLSTMConfig, TrainingConfig)`` the table's scheme trains with.

    Raises:
        ValueError: the scheme's ``run_fold`` is not ``partial(run_scheme_fold, spec, model, training)``.
    """
    from papers.mcclstm.protocol import run_scheme_fold

    run_fold = next(s for s in spec.trainable() if s.name == scheme).run_fold
    if not (isinstance(run_fold, functools.partial) and run_fold.func is run_scheme_fold and len(run_fold.args) == 3):
        raise ValueError(f"{scheme}: run_fold is not partial(run_scheme_fold, scheme, model_config, training)")
    return run_fold.args


def minimal_arrays(plan, scheme_spec, ids) -> tuple:
    """In-memory training arrays of ``ids``, standardised as the protocol does.

    Returns:
        ``(x, y, n_examples)``: chunk schemes ``x`` float32 ``(n_chunks, M, N)``, ``y`` int64
        ``(n_chunks,)``; sequence schemes ``x = {"chunks": float32 (n_tracks, L, M, N) zero-padded,
        "n_chunks": int32 (n_tracks,)}``, ``y`` int64 ``(n_tracks,)``.
    """
    from common.training.pipeline import BandStandardizer, TrackChunks

    lookup = {name: i for i, name in enumerate(plan.index.classes)}
    labels = {t.track_id: lookup[t.label] for t in plan.index.tracks}
    data = TrackChunks.from_tracks([plan.features[i] for i in ids], np.array([labels[i] for i in ids]))
    chunks = BandStandardizer.fit(data.chunks)(data.chunks)
    if not scheme_spec.lstm:
        return chunks, data.chunk_labels, len(chunks)
    n_tracks, length = len(data.n_chunks), int(data.n_chunks.max())
    padded = np.zeros((n_tracks, length, *chunks.shape[1:]), dtype=np.float32)
    for k, (begin, count) in enumerate(zip(np.cumsum(data.n_chunks) - data.n_chunks, data.n_chunks)):
        padded[k, :count] = chunks[begin:begin + count]
    return {"chunks": padded, "n_chunks": data.n_chunks.astype(np.int32)}, data.labels, n_tracks


def minimal_epoch(plan, scheme: str, seed: int = 0) -> dict:
    """One epoch of ``scheme`` on the plan's first fold in plain ``model.fit`` on numpy arrays, timed.

    Same model builder, model and training configuration, optimiser, loss, metrics, ``jit_compile``
    and batch size as the protocol; no tf.data, no callbacks, no validation.

    Returns:
        ``{"epoch_s_minimal", "epoch_s_minimal_steady", "first_epoch_extra_s_minimal",
        "n_train_examples", "batch_size"}``; seconds of the first ``fit`` epoch (with tracing) and
        of a second one.
    """
    import keras

    from papers.mcclstm.models import build_model

    scheme_spec, model_config, training = scheme_settings(plan.request.spec, scheme)
    x, y, n_examples = minimal_arrays(plan, scheme_spec, plan.splits[0].train)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model(scheme_spec, len(plan.index.classes), model_config)
    model.compile(optimizer=training.make_optimizer(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=training.keras_jit_compile())
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        model.fit(x, y, batch_size=training.batch_size, epochs=1, verbose=0, shuffle=True)
        seconds.append(time.perf_counter() - start)
    return {"epoch_s_minimal": seconds[0], "epoch_s_minimal_steady": seconds[1],
            "first_epoch_extra_s_minimal": seconds[0] - seconds[1], "n_train_examples": n_examples,
            "batch_size": training.batch_size}


# --- 5. epochs of the last canonical run and the projection ------------------------------------

def last_run_epochs(paper_dir: str | os.PathLike, table_id: str = "table3_gtzan") -> tuple[dict, dict]:
    """Epochs early stopping ran per (scheme, fold) in the last canonical run of a table.

    Reads ``details["epochs_run"]`` of the fold records under ``<paper_dir>/<table_id>/folds``:
    the records the canonical manifest names (``records``: ``{"<scheme>/fold_NN": identity}``,
    files ``<scheme>/fold_NN/<identity>.json``); without that list, the old layout's
    ``<scheme>/fold_NN.json``, or in the new layout the most recently finished record of each fold.

    Args:
        paper_dir: ``results/<paper>``.
        table_id: the table.

    Returns:
        ``({scheme: {fold: epochs}}, {"folder", "layout", "manifest"})``; empty when there are no
        records. Records without ``epochs_run`` are left out.
    """
    paper_dir = Path(paper_dir)
    folds_dir = paper_dir / table_id / "folds"
    manifest_path = paper_dir / f"{table_id}_manifest.json"
    source = {"folder": str(folds_dir), "layout": None,
              "manifest": str(manifest_path) if manifest_path.is_file() else None}
    files: dict[tuple[str, int], Path] = {}
    named = None
    if manifest_path.is_file():
        try:
            named = json.loads(manifest_path.read_text()).get("records")
        except (OSError, ValueError):
            named = None
    if isinstance(named, dict) and named:
        source["layout"] = "records named by the canonical manifest"
        for key, identity in named.items():
            scheme, fold_name = key.rsplit("/", 1)
            files[scheme, int(fold_name.split("_")[1])] = folds_dir / scheme / fold_name / f"{identity}.json"
    elif folds_dir.is_dir():
        for scheme_dir in sorted(p for p in folds_dir.iterdir() if p.is_dir()):
            for entry in sorted(scheme_dir.glob("fold_*")):
                number = entry.name[len("fold_"):].split(".")[0]
                if not number.isdigit():
                    continue  # not a fold record (e.g. a temporary file)
                fold = int(number)
                if entry.is_file() and entry.suffix == ".json":
                    source["layout"] = "fold_NN.json (old layout)"
                    files[scheme_dir.name, fold] = entry
                elif entry.is_dir():
                    candidates = []
                    for path in entry.glob("*.json"):
                        try:
                            candidates.append((json.loads(path.read_text()).get("finished") or "", path))
                        except (OSError, ValueError):
                            continue
                    if candidates:
                        source["layout"] = source["layout"] or "fold_NN/<identity>.json, latest finished"
                        files[scheme_dir.name, fold] = max(candidates)[1]
    epochs: dict[str, dict[int, int]] = {}
    for (scheme, fold), path in sorted(files.items()):
        try:
            value = json.loads(path.read_text()).get("details", {}).get("epochs_run")
        except (OSError, ValueError):
            continue
        if isinstance(value, (int, float)) and value > 0:
            epochs.setdefault(scheme, {})[fold] = int(value)
    return epochs, source


def projected_seconds(epoch_s: float, unit_other_s: float, mean_epochs: float, folds: int,
                      first_epoch_extra_s: float = 0.0) -> float:
    """Full-protocol seconds of one scheme, from one timed first epoch.

    ``folds x (mean_epochs x (epoch_s - first_epoch_extra_s) + first_epoch_extra_s + unit_other_s)``:
    with ``first_epoch_extra_s = 0`` every epoch costs the timed first epoch; with the first
    epoch's extra cost (tracing) it is paid once per fold.

    Args:
        epoch_s: seconds of the first epoch.
        unit_other_s: seconds of a unit outside ``fit`` (data, build, evaluation).
        mean_epochs: epochs per fold (NaN when unknown: the result is NaN).
        folds: folds of the protocol.
        first_epoch_extra_s: how much longer the first epoch is than the later ones (>= 0).
    """
    extra = min(max(first_epoch_extra_s, 0.0), epoch_s)
    return folds * (mean_epochs * (epoch_s - extra) + extra + unit_other_s)


# --- machine description -------------------------------------------------------------------------

def library_versions() -> dict:
    """Installed versions of Keras, TensorFlow, JAX, NumPy (package metadata; nothing is imported)."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0]}
    for name, packages in {"keras": ("keras",), "tensorflow": ("tensorflow", "tensorflow-cpu"),
                           "jax": ("jax",), "jaxlib": ("jaxlib",), "numpy": ("numpy",)}.items():
        for package in packages:
            try:
                versions[name] = metadata.version(package)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# --- the benchmark -------------------------------------------------------------------------------

def selected_schemes(schemes: list[str] | None) -> list[str]:
    """``schemes`` in Table 3's row order (None or empty: all seven trainable schemes).

    Raises:
        ConfigError: an unknown or paper-only scheme name.
    """
    from common.errors import ConfigError
    from papers.mcclstm.tables import table3_gtzan

    names = [s.name for s in table3_gtzan().trainable()]
    unknown = [s for s in schemes or [] if s not in names]
    if unknown:
        raise ConfigError(f"unknown or paper-only Table 3 scheme(s) {unknown}; trainable: {', '.join(names)}")
    return [s for s in names if not schemes or s in schemes]


def run_benchmark(n_tracks: int, seconds: float, schemes: list[str] | None, out: str | os.PathLike,
                  work: str | os.PathLike | None = None, source: str | os.PathLike | None = DEFAULT_SOURCE,
                  records: str | os.PathLike = "results/mcclstm") -> tuple:
    """Run steps 1-5 (module text) and write the CSV and its JSON sidecar.

    Args:
        n_tracks, seconds: size of the stand-in (GTZAN: 1000 x 30 s).
        schemes: Table 3 schemes to time (None: all seven).
        out: folder of the outputs.
        work: folder for the stand-in, caches and runner scratch (kept); None: a temporary folder,
            removed at the end.
        source: GTZAN-layout folder of real clips to loop, or None for generated audio.
        records: ``results/mcclstm``, the folder of the last canonical Table 3 run.

    Returns:
        ``(frame, csv_path, json_path)``.

    Raises:
        ConfigError: an unknown or paper-only scheme name.
        DatasetError: fewer than 3 stand-in tracks per genre.
    """
    import keras
    import pandas as pd

    from benchmarks.throughput import device_name
    from common.outputs.result_tables import write_csv, write_json
    from papers.mcclstm.tables import table3_gtzan

    started, load_start = time.perf_counter(), _load_average()
    table = table3_gtzan()
    schemes = selected_schemes(schemes)
    n_folds = int(table.protocol.n_folds)
    temporary = work is None
    work = Path(tempfile.mkdtemp(prefix="table3-scale-")) if temporary else Path(work)
    try:
        _log(f"== Table 3 at scale: {n_tracks} tracks x {seconds} s, schemes {', '.join(schemes)}; work folder {work}")
        _log(f"   {STAND_IN_NOTE}")
        runner_dir = work / "runner"
        if runner_dir.exists():
            shutil.rmtree(runner_dir)  # an empty feature cache and no earlier records
        stand_in = build_stand_in(work / "data", n_tracks, seconds, source)
        _log(f"  stand-in: {stand_in['source_kind']} ({stand_in['seconds_to_build']:.1f} s to write)")
        spec, protocol_note = benchmark_spec(stand_in["data_dir"])
        _log(f"  split: {protocol_note}")
        features = time_features(spec, stand_in["data_dir"], runner_dir / "work" / "cache")
        _log(f"  features: {features['tracks']} tracks in {features['seconds']:.1f} s "
             f"({features['tracks_per_s']:.2f} tracks/s)")
        plan, setup_s = make_benchmark_plan(spec, stand_in["data_dir"], runner_dir / "results",
                                            runner_dir / "work", tuple(schemes))
        split = plan.splits[0]
        _log(f"  plan (index, cached features, content hashes, splits): {setup_s:.1f} s; split "
             f"{len(split.train)}/{len(split.validation)}/{len(split.test)}")
        last_epochs, last_source = last_run_epochs(records)
        device, backend = device_name(), keras.backend.backend()
        rows = []
        for scheme in schemes:
            _log(f"  {scheme}: one epoch through the runner ...")
            project = project_epoch(plan, scheme)
            _log(f"  {scheme}: one epoch in minimal model.fit ...")
            minimal = minimal_epoch(plan, scheme)
            epochs = last_epochs.get(scheme, {})
            mean_epochs = float(np.mean(list(epochs.values()))) if epochs else math.nan
            rows.append({"scheme": scheme, "epoch_s_project": project["epoch_s_project"],
                         "epoch_s_minimal": minimal["epoch_s_minimal"],
                         "overhead_ratio": project["epoch_s_project"] / minimal["epoch_s_minimal"],
                         "mean_epochs_last_run": mean_epochs,
                         "projected_s": projected_seconds(project["epoch_s_project"],
                                                          project["unit_other_s_project"], mean_epochs, n_folds),
                         "projected_s_trace_once": projected_seconds(
                             project["epoch_s_project"], project["unit_other_s_project"], mean_epochs, n_folds,
                             minimal["first_epoch_extra_s_minimal"]),
                         "unit_other_s_project": project["unit_other_s_project"],
                         "epoch_s_minimal_steady": minimal["epoch_s_minimal_steady"],
                         "first_epoch_extra_s_minimal": minimal["first_epoch_extra_s_minimal"],
                         "n_train_examples": minimal["n_train_examples"], "batch_size": minimal["batch_size"],
                         "folds_last_run": len(epochs)})
        rows.append({"scheme": "features", "projected_s": features["seconds"],
                     "projected_s_trace_once": features["seconds"], "tracks": features["tracks"],
                     "tracks_per_s": features["tracks_per_s"]})
        rows.append({"scheme": "total", "projected_s": sum(r["projected_s"] for r in rows),
                     "projected_s_trace_once": sum(r["projected_s_trace_once"] for r in rows)})
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
        for column in INTEGER_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        frame["device"], frame["keras_backend"] = device, backend
        load_end = _load_average()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"table3_scale_{device}" + ("" if len(schemes) == len(table.trainable()) else
                                           "_schemes-" + "+".join(s.replace("-", "") for s in schemes))
        csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
        write_csv(frame, csv_path)
        write_json({
            "note": STAND_IN_NOTE, "command": sys.argv, "device": device, "host": platform.node(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "load_average_start": load_start, "load_average_end": load_end,
            "keras_backend": backend, "versions": library_versions(), "stand_in": stand_in,
            "split": {"protocol": protocol_note, "train": len(split.train), "validation": len(split.validation),
                      "test": len(split.test)},
            "features": {**features, "extractor": plan.manifest.get("features")}, "plan_setup_s": setup_s,
            "last_run": {**last_source, "epochs_run": {s: {f"fold_{f:02d}": e for f, e in sorted(v.items())}
                                                       for s, v in last_epochs.items()}},
            "projection": {"folds": n_folds, "formula": "projected_s = folds x (mean_epochs_last_run x "
                           "epoch_s_project + unit_other_s_project); projected_s_trace_once: the same with "
                           "first_epoch_extra_s_minimal (tracing, as measured in the minimal loop) paid once "
                           "per fold instead of every epoch; features row: extraction once; total: sum",
                           "caveats": ["projected_s counts every epoch at the first epoch's cost (tracing "
                                       "included): an upper estimate; projected_s_trace_once assumes the "
                                       "project's first-epoch extra equals the minimal loop's (it also traces "
                                       "the validation step, so it is still slightly high)",
                                       "mean_epochs_last_run comes from the last canonical run on its own data "
                                       "(e.g. gtzan-mini); early stopping may stop elsewhere at full scale",
                                       "the plan setup (content hashes, splits) is not in the total"],
                           "schemes_timed": schemes},
            "wall_s": time.perf_counter() - started,
        }, json_path)
        _print_report(frame, features, setup_s, last_source, n_folds, load_start, load_end, device, backend)
        _log(f"wrote {csv_path} and {json_path}")
        return frame, csv_path, json_path
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)


def _print_report(frame, features, setup_s, last_source, n_folds, load_start, load_end, device, backend) -> None:
    shown = frame[[c for c in COLUMNS[:13] if c in frame]]
    _log("")
    _log(f"Table 3 at scale on {device} (Keras backend {backend}, {os.cpu_count()} CPUs, load average "
         f"{load_start} at start, {load_end} at end)")
    _log(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}", na_rep="-"))
    _log(f"Projection: {n_folds} folds x (mean epochs of the last canonical run x epoch_s_project + "
         f"unit_other_s_project) per scheme, plus the features once ({features['seconds']:.1f} s for "
         f"{features['tracks']} tracks, {features['tracks_per_s']:.2f} tracks/s); plan setup {setup_s:.1f} s "
         f"not included. Epochs from {last_source['folder']} ({last_source['layout'] or 'no records found'}).")
    total = float(frame.loc[frame.scheme == "total", "projected_s"].iloc[0])
    once = float(frame.loc[frame.scheme == "total", "projected_s_trace_once"].iloc[0])
    _log(f"Projected full-protocol wall time (timed schemes only): {total:.0f} s = {total / 3600:.2f} h with "
         f"every epoch at the first epoch's cost; {once:.0f} s = {once / 3600:.2f} h with tracing paid once per fold.")
    _log(STAND_IN_NOTE)


def main(argv=None) -> int:
    """Command line: see the module text."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=1000, help="stand-in tracks (GTZAN: 1000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per track (GTZAN: 30)")
    parser.add_argument("--schemes", nargs="+", default=None,
                        help="Table 3 schemes to time (names, space- or comma-separated; default: all seven)")
    parser.add_argument("--out", default="results/bench", help="folder of the CSV and JSON")
    parser.add_argument("--work", default=None,
                        help="folder for the stand-in, caches and runner scratch, kept (default: a temporary "
                             "folder, removed)")
    parser.add_argument("--source", default=str(DEFAULT_SOURCE),
                        help="GTZAN-layout folder of clips to loop ('none': generated audio)")
    parser.add_argument("--records", default="results/mcclstm",
                        help="folder of the last canonical Table 3 run (its fold records give the epochs)")
    args = parser.parse_args(argv)
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        from common.training.tensorflow_logging import import_tensorflow_quietly

        import_tensorflow_quietly()  # as the CLI does: no CPU-machine start-up noise
    schemes = [name for item in args.schemes or [] for name in item.split(",") if name] or None
    source = None if args.source.lower() == "none" else args.source
    from common.errors import ConfigError

    if args.tracks < 30 or not args.seconds >= 2.0:
        parser.error("use --tracks >= 30 (3 per genre: train, validation, test) and --seconds >= 2 "
                     "(one 80-frame chunk is 1.86 s)")
    try:
        selected_schemes(schemes)
    except ConfigError as exc:
        parser.error(str(exc))
    run_benchmark(args.tracks, args.seconds, schemes, args.out, args.work, source, args.records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
