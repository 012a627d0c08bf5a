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
   with ``--epoch`` one epoch of one scheme on fold 0 through the runner
   (:func:`benchmarks.table3_scale.make_benchmark_plan` / ``project_epoch``). Each stage
   records seconds, the peak resident memory of the process tree so far (``ru_maxrss`` of the
   process and of its largest finished child, the extraction workers, MiB) and the bytes its
   folder gained on disk.
3. **Growth**: for each stage the exponent ``b`` of ``seconds ~ a n^b`` (``numpy.polyfit`` on
   log-log; 1 is linear), and the projected full-size seconds on this machine (the power law,
   and linear from the largest size).

Writes ``<out>/scale_<table>.csv`` (one row per size and stage, then one ``growth`` row per
stage) and the same name ``.json`` (machine, CPU count, load averages, Keras backend, versions,
stand-in, sizes). Load on a shared machine disturbs every time: it is recorded with each size.

Usage::

    python -m benchmarks.scale mcclstm.table3_gtzan [--sizes 20,80,320 | --largest N] [--growth 4]
                               [--workers N] [--epoch] [--out results/bench] [--work DIR]
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
    """

    dataset: str
    full_tracks: int
    seconds: float
    audio: str
    write: object


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
        split = fma.SPLITS[0 if k % 10 < 8 else (1 if k % 10 == 8 else 2)]  # ~ 19,922 / 2,505 / 2,573
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
    StandIn("gtzan", 1000, 30.0, "wav 22.05 kHz mono (looped gtzan-mini)", _write_gtzan),
    StandIn("ballroom", 698, 30.0, "wav 44.1 kHz mono", _write_ballroom),
    StandIn("soundtracks", 470, 15.0, "mp3 44.1 kHz mono", _write_soundtracks),
    StandIn("magnatagatune", 25863, 29.1, "mp3 16 kHz mono", _write_mtat),
    StandIn("fma_medium", 25000, 30.0, "mp3 44.1 kHz stereo", _write_fma),
    StandIn("ismir2004", 1458, 250.0, "mp3 44.1 kHz mono, whole-song length", _write_ismir2004),
)}


# --- 2. one size (run in a child process) ------------------------------------------------------

def _peak_rss_mib() -> float:
    """Peak resident memory of this process and of its largest finished child, MiB (Linux ``ru_maxrss`` in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).exists() else 0


def run_size(table: str, n: int, work: Path, workers: int | None, epoch: bool, seconds: float | None = None) -> dict:
    """Build the stand-in of ``n`` tracks and time the stages (module text, step 2).

    Returns:
        ``{"tracks", "stand_in_s", "stand_in_bytes", "load_average", "stages": [{"stage", "seconds",
        "peak_rss_mib", "disk_bytes"}]}``.

    Raises:
        KeyError: no stand-in for the table's dataset.
    """
    from joblib.externals.loky import get_reusable_executor

    from common.registry import available_tables
    from common.runner import prepare_features
    from common.runner.identity import ContentHashes, tracks_digest

    spec = available_tables()[table]()
    stand_in = STAND_INS[spec.dataset.name]
    data, cache = work / "data", work / "cache"
    for folder in (data, cache, work / "runner"):
        shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    data_dir = stand_in.write(data, n, seconds or stand_in.seconds)
    out = {"tracks": n, "stand_in_s": time.perf_counter() - start, "stand_in_bytes": _disk_bytes(data),
           "load_average": _load_average(), "stages": []}

    def stage(name, call, folder=None):
        before = _disk_bytes(folder) if folder else 0
        start = time.perf_counter()
        result = call()
        out["stages"].append({"stage": name, "seconds": time.perf_counter() - start,
                              "peak_rss_mib": _peak_rss_mib(),
                              "disk_bytes": (_disk_bytes(folder) - before) if folder else 0})
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

    usable, _, skipped, feature_cache = stage("features", features, cache)
    out["skipped"] = len(skipped)
    out["features_computed"] = feature_cache.stats.computed
    if epoch:
        from benchmarks.table3_scale import make_benchmark_plan, project_epoch

        scheme = spec.trainable()[0].name
        try:
            plan, _ = make_benchmark_plan(spec, data_dir, work / "runner" / "results", work / "runner" / "work",
                                          (scheme,))
            stage(f"epoch:{scheme}", lambda: project_epoch(plan, scheme), work / "runner")
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


def run_benchmark(table: str, sizes: list[int], out: str | os.PathLike, work: str | os.PathLike | None = None,
                  workers: int | None = None, epoch: bool = False, in_process: bool = False,
                  seconds: float | None = None):
    """Run every size (a child process each unless ``in_process``), fit, project; write CSV and JSON.

    ``seconds`` overrides the tracks' real duration (quick runs; the projection then is not the
    real dataset's).

    Returns:
        ``(frame, csv_path, json_path)``.
    """
    import pandas as pd

    from benchmarks.throughput import device_name
    from common.outputs.result_tables import write_csv, write_json
    from common.registry import available_tables

    spec = available_tables()[table]()
    stand_in = STAND_INS[spec.dataset.name]
    temporary = work is None
    work = Path(tempfile.mkdtemp(prefix="scale-")) if temporary else Path(work)
    load_start, started, results = _load_average(), time.perf_counter(), []
    try:
        for n in sizes:
            folder = work / f"n{n}"
            folder.mkdir(parents=True, exist_ok=True)
            if in_process:
                result = run_size(table, n, folder, workers, epoch, seconds)
            else:
                command = [sys.executable, "-m", "benchmarks.scale", table, "--one-size", str(n), "--work",
                           str(folder)] + (["--workers", str(workers)] if workers else []) + (
                               ["--epoch"] if epoch else []) + (["--seconds", str(seconds)] if seconds else [])
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
        rows.append({"table": table, "stage": name, "tracks": stand_in.full_tracks, **{
            k: v for k, v in project(n, times, stand_in.full_tracks, name in ONE_OFF_STAGES).items()},
            "disk_exponent": growth_exponent(n, disk), "rss_exponent": growth_exponent(n, rss),
            "projected_disk_bytes": float(disk[-1] * stand_in.full_tracks / n[-1]) if n[-1] else float("nan"),
            "kind": "growth"})
    frame = pd.DataFrame(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / f"scale_{table}.csv", out / f"scale_{table}.json"
    write_csv(frame, csv_path)
    import keras

    write_json({"note": "stand-in datasets (real layout and format, generated audio): timing only, never accuracy",
                "table": table, "dataset": spec.dataset.name, "full_tracks": stand_in.full_tracks,
                "full_seconds_per_track": stand_in.seconds, "seconds_per_track_run": seconds or stand_in.seconds,
                "audio": stand_in.audio, "sizes": sizes,
                "workers": workers, "device": device_name(), "host": platform.node(), "cpu_count": os.cpu_count(),
                "load_average_start": load_start, "load_average_end": _load_average(),
                "keras_backend": keras.backend.backend(), "versions": library_versions(), "sizes_run": results,
                "wall_s": time.perf_counter() - started}, json_path)
    return frame, csv_path, json_path


def main(argv=None) -> int:
    """Command line: see the module text."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("table", help="<paper>.<table> (python -m common.cli list)")
    parser.add_argument("--sizes", default=None, help="comma-separated track counts (default: from --largest)")
    parser.add_argument("--largest", type=int, default=None,
                        help="largest size (default: 1/16 of the real dataset)")
    parser.add_argument("--growth", type=int, default=4, help="factor between sizes (default 4)")
    parser.add_argument("--workers", type=int, default=None, help="feature-extraction processes")
    parser.add_argument("--epoch", action="store_true", help="also one epoch of the first scheme on fold 0")
    parser.add_argument("--out", default="results/bench", help="folder of the CSV and JSON")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per stand-in track (default: the real dataset's; shorter: a quick run only)")
    parser.add_argument("--one-size", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        from common.training.tensorflow_logging import import_tensorflow_quietly

        import_tensorflow_quietly()
    if args.one_size is not None:
        result = run_size(args.table, args.one_size, Path(args.work), args.workers, args.epoch, args.seconds)
        (Path(args.work) / "size.json").write_text(json.dumps(result))
        return 0
    from common.registry import available_tables

    if args.table not in available_tables():
        parser.error(f"unknown table {args.table!r}")
    full = STAND_INS[available_tables()[args.table]().dataset.name].full_tracks
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else \
        default_sizes(full, args.largest or max(1, full // 16), args.growth)
    frame, csv_path, json_path = run_benchmark(args.table, sizes, args.out, args.work, args.workers, args.epoch,
                                               seconds=args.seconds)
    growth = frame[frame.get("kind") == "growth"] if "kind" in frame else frame.iloc[0:0]
    print(growth[["stage", "exponent", "projected_s_power", "projected_s_linear"]].to_string(index=False))
    print(f"wrote {csv_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
