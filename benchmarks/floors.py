"""The slowest stage of each table against its floor (``make bench-floors``).

For each table's slowest stage (from ``make bench-scale``: the training of every table, the
scattering features of the ISMIR 2004 tables, mp3 decoding of the mp3 datasets), the project's
own code path is timed against the fastest way found to do the same work on this machine:

- ``scattering`` (LSTM segment Tables 2, 4): :class:`common.features.scattering.ScatteringExtractor`
  on a 44.1 kHz mp3 (decode, resample to 22,050 Hz, blocked kymatio transform, log) against the
  decoder alone plus each transform alternative on the decoded signal: kymatio's NumPy frontend on
  the whole signal at its default float64 (no blocking), the project's blocked transform at other
  block sizes and batch sizes, and kymatio's TensorFlow frontend.
- ``mp3 decoding`` (MagnaTagATune, FMA, Soundtracks, ISMIR 2004): :func:`common.audio.decoding.load_audio`
  (libsndfile's mpg123 decoder, checks, mono mix, soxr VHQ resampling) against ``soundfile.read``
  plus ``soxr.resample`` alone, and against FFmpeg's decoder through PyAV where PyAV is importable
  (not a project dependency; ``PYTHONPATH`` can point at a copy; said when absent).
- ``LSTM / DNN training`` (LSTM segment): :mod:`papers.lstm_segment.bench`, ``"project"`` path
  (memory-mapped frame file, Kaldi stream batches) against ``"minimal"`` (the same minibatches in
  memory, plain ``model.fit``).
- ``clip model training`` (MsE-CNN, CRNN-TF): one epoch of the table's first scheme through the
  runner on a small stand-in (:func:`benchmarks.scale.run_size`, ``--epoch``: memory-mapped store,
  tf.data, callbacks, validation), against the first epoch of a fresh model of the same clips in a
  minimal ``model.fit`` from memory (tracing included on both sides), with the floor's steady
  second epoch and the store -> tf.data input rate beside it.
- ``MCCLSTM training`` (Tables 3-5): read from ``table3_scale_<device>.csv`` (``make
  bench-table3``), which times one full-size epoch of every scheme through the runner and in a
  minimal ``model.fit`` (``overhead_ratio``); not measured again here.

``ratio = project seconds / floor seconds`` for the same work (> 1: the project is slower);
over :data:`LIMIT` a row says so. Writes ``results/bench/floors_<device>.csv`` and ``.json``
(machine, load, versions). Timing only: the audio is generated, never used for accuracy.

Usage::

    python -m benchmarks.floors [--only scattering,decoding,lstm,clip,mcclstm] [--seconds 60] [--out results/bench]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

#: A stage more than this many times slower than its floor must be made faster or explained.
LIMIT = 1.5

CASES = ("scattering", "decoding", "lstm", "clip", "mcclstm")


#: CPU seconds (all threads of this process) of the last :func:`_timed` call's best repeat.
_LAST_CPU = [float("nan")]


def _timed(call, repeats: int = 1) -> tuple[float, object]:
    """Best of ``repeats`` wall-clock seconds of ``call()`` and its last result (CPU seconds in ``_LAST_CPU``)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = call()
        seconds = time.perf_counter() - start
        if seconds < best:
            best, _LAST_CPU[0] = seconds, time.process_time() - cpu
    return best, result


def _row(case, tables, what, seconds, unit_work, note="", floor=False, cpu_seconds=float("nan")) -> dict:
    return {"case": case, "tables": tables, "path": what, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "work": unit_work, "floor": floor, "note": note}


def _write_mp3(path: Path, seconds: float, sample_rate: int, channels: int, seed: int = 0) -> Path:
    """Music-like test audio (a chord with vibrato plus noise) as mp3 (libsndfile's LAME encoder)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    signal = sum(0.15 * np.sin(2 * np.pi * f * t + 3 * np.sin(2 * np.pi * 5 * t)) for f in (220, 277, 330, 440))
    signal = (signal + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    if channels > 1:
        signal = np.stack([signal, np.roll(signal, 100)], axis=1)
    sf.write(str(path), signal, sample_rate, format="MP3")
    return path


def _pyav_decode(path: Path) -> np.ndarray:
    """All samples of ``path`` decoded by FFmpeg through PyAV, float32 interleaved."""
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
    return np.concatenate([f.reshape(-1) for f in frames])


# --- cases ---------------------------------------------------------------------------------------

def scattering_rows(seconds: float, folder: Path) -> list[dict]:
    """The ISMIR 2004 features: the project's extractor against decoder + fastest transform."""
    import soundfile as sf
    import soxr

    from common.features.scattering import BlockScattering, ScatteringExtractor
    from papers.lstm_segment.config import SCATTERING

    tables = "lstm_segment.table2_ismir2004, table4"
    work = f"{seconds:g} s of 44.1 kHz mono mp3"
    path = _write_mp3(folder / "song.mp3", seconds, 44100, 1)
    extractor = ScatteringExtractor(SCATTERING)
    extractor(path)  # builds the filters
    project_s, _ = _timed(lambda: extractor(path))
    rows = [_row("scattering", tables, f"project: ScatteringExtractor (decode, resample, blocked kymatio NumPy "
                 f"{SCATTERING.precision}, block {SCATTERING.block_frames} x {SCATTERING.batch_blocks}, log)",
                 project_s, work, cpu_seconds=_LAST_CPU[0])]
    decode_s, signal = _timed(lambda: soxr.resample(sf.read(str(path), dtype="float32")[0], 44100, 22050,
                                                    quality="VHQ"), 2)
    decode_cpu = _LAST_CPU[0]
    rows.append(_row("scattering", tables, "decode + resample only (soundfile + soxr VHQ)", decode_s, work,
                     cpu_seconds=decode_cpu))
    signal = signal.astype(np.float64)
    variants = [("project transform alone", SCATTERING)]
    variants += [(f"NumPy float32, block {b}", dataclasses.replace(SCATTERING, block_frames=b)) for b in (98, 392)]
    variants += [(f"NumPy float32, block 196, batch {b}", dataclasses.replace(SCATTERING, batch_blocks=b))
                 for b in (1, 2)]
    variants += [("NumPy float64, block 196", dataclasses.replace(SCATTERING, precision="float64")),
                 ("kymatio TensorFlow frontend, block 196", dataclasses.replace(SCATTERING, backend="tensorflow"))]
    transforms = []
    for name, config in variants:
        transform = BlockScattering(config)
        transform(signal[:22050 * 10])  # filters, tracing
        seconds_taken, _ = _timed(lambda: transform(signal))
        transforms.append((name, seconds_taken, _LAST_CPU[0]))
        rows.append(_row("scattering", tables, "transform: " + name, seconds_taken, work, cpu_seconds=_LAST_CPU[0]))
    from kymatio.scattering1d.frontend.numpy_frontend import ScatteringNumPy1D

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = ScatteringNumPy1D(J=SCATTERING.J, shape=signal.size, Q=tuple(SCATTERING.Q), T=SCATTERING.T,
                                  max_order=2, oversampling=SCATTERING.oversampling)
    whole_s, _ = _timed(lambda: whole.scattering(signal[None]))
    transforms.append(("kymatio NumPy on the whole signal, float64 (its default)", whole_s, _LAST_CPU[0]))
    rows.append(_row("scattering", tables, "transform: kymatio NumPy on the whole signal, float64 (its default)",
                     whole_s, work, cpu_seconds=_LAST_CPU[0]))
    # the feature pool keeps every core busy with one track per process: CPU seconds per track set its
    # throughput (the TensorFlow frontend's wall time alone hides the second core its threads use)
    name, fastest_s, fastest_cpu = min(transforms, key=lambda item: item[2])
    rows.append(_row("scattering", tables, f"floor: decode + resample + the transform of fewest CPU seconds ({name})",
                     decode_s + fastest_s, work, floor=True, cpu_seconds=decode_cpu + fastest_cpu,
                     note="floor chosen and compared by CPU seconds (a process per core in the feature pool)"))
    return rows


def decoding_rows(folder: Path) -> list[dict]:
    """mp3 decoding of the mp3 datasets at their formats, to the tables' feature rates."""
    import soundfile as sf
    import soxr

    from common.audio.decoding import load_audio

    rows = []
    formats = [("magnatagatune (MsE-CNN, CRNN-TF TI)", 29.1, 16000, 1, 12000),
               ("fma_medium (CRNN-TF TII)", 30.0, 44100, 2, 12000),
               ("soundtracks (MCCLSTM T5)", 15.0, 44100, 1, 44100),
               ("ismir2004 (LSTM segment)", 30.0, 44100, 1, 22050)]
    try:
        import av  # noqa: F401
        have_av = True
    except ImportError:
        have_av = False
    for k, (dataset, seconds, rate, channels, target) in enumerate(formats):
        path = _write_mp3(folder / f"clip{k}.mp3", seconds, rate, channels, seed=k)
        work = f"{seconds:g} s mp3, {rate} Hz, {channels} channel(s) -> mono {target} Hz"
        load_audio(path, target)  # warm-up
        project_s, _ = _timed(lambda: load_audio(path, target), 5)
        rows.append(_row("mp3 decoding", dataset, "project: load_audio (libsndfile mpg123, checks, mono, soxr VHQ)",
                         project_s, work))

        def plain():
            data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
            signal = data.mean(axis=1)
            return signal if file_rate == target else soxr.resample(signal, file_rate, target, quality="VHQ")

        plain_s, _ = _timed(plain, 5)
        decode_s, _ = _timed(lambda: sf.read(str(path), dtype="float32"), 5)
        rows.append(_row("mp3 decoding", dataset, "soundfile.read alone (libsndfile mpg123)", decode_s, work))
        candidates = [("soundfile.read + mono + soxr VHQ", plain_s)]
        if have_av:
            av_s, _ = _timed(lambda: _pyav_decode(path), 5)
            rows.append(_row("mp3 decoding", dataset, "PyAV (FFmpeg mp3 decoder) alone", av_s, work))
            resample_s = max(plain_s - decode_s, 0.0)
            candidates.append(("PyAV decode + soxr VHQ (soundfile's resampling time)", av_s + resample_s))
        name, fastest = min(candidates, key=lambda item: item[1])
        rows.append(_row("mp3 decoding", dataset, f"floor: {name}", fastest, work, floor=True,
                         note="" if have_av else "PyAV not importable: no second decoder measured"))
    return rows


def lstm_rows(n_batches: int) -> list[dict]:
    """LSTM segment frame-model training: project path vs the same minibatches in memory."""
    from papers.lstm_segment import config as cfg
    from papers.lstm_segment.bench import dnn_training_throughput, lstm_training_throughput

    rows = []
    lstm = cfg.LSTMS[0]
    for path in ("project", "minimal"):
        rate = lstm_training_throughput(lstm, n_batches=n_batches, path=path)
        frames = n_batches * lstm.num_streams * lstm.bptt_length
        rows.append(_row("LSTM training", "lstm_segment.table2_ismir2004, table4",
                         f"{'project: StreamBatches over a FrameSequenceFile' if path == 'project' else 'floor: the same minibatches in memory, model.fit'} ({lstm.name})",
                         frames / rate, f"{n_batches} minibatches of {lstm.num_streams} x {lstm.bptt_length} frames",
                         floor=path == "minimal"))
    dnn = cfg.DNNS[0]
    for path in ("project", "minimal"):
        rate = dnn_training_throughput(dnn, n_batches=10 * n_batches, path=path)
        frames = 10 * n_batches * dnn.batch_size
        rows.append(_row("DNN training", "lstm_segment.table2_ismir2004",
                         f"{'project: ShuffledFrames over a FrameSequenceFile' if path == 'project' else 'floor: model.fit(x, y, shuffle=True) in memory'} ({dnn.name})",
                         frames / rate, f"{10 * n_batches} minibatches of {dnn.batch_size} frames",
                         floor=path == "minimal"))
    return rows


def clip_rows(folder: Path, sizes: list[int]) -> list[dict]:
    """MsE-CNN and CRNN-TF: one epoch through the runner on stand-ins of ``sizes`` clips vs random clips in memory.

    Two sizes separate the one-off cost of a unit (tracing the train and predict functions,
    checkpoint, pipeline set-up), which the difference between the project and its floor stays
    near, from the per-step cost, which decides a full-size epoch.
    """
    import subprocess
    import sys

    rows = []
    for n_clips in sizes:
        for name in CLIP_TABLES:  # a child process each: a CPU model at batch 32 holds ~10 GB of activations
            out = folder / f"clip-{name}-{n_clips}.json"
            subprocess.run([sys.executable, "-m", "benchmarks.floors", "--clip-one", f"{name}:{n_clips}",
                            "--clip-folder", str(folder), "--clip-out", str(out)], check=True)
            rows += json.loads(out.read_text())
    return rows


#: The clip tables whose first scheme's epoch is compared (MsE-CNN; CRNN-TF Table I's FCN).
CLIP_TABLES = ("msecnn.table1_mtat", "crnn_tf.table1_mtat")


def _clip_rows_at(folder: Path, n_clips: int, names=CLIP_TABLES) -> list[dict]:
    from benchmarks.scale import run_size
    from common.registry import available_tables

    rows = []
    for name in names:
        table = f"{name} ({n_clips}-clip stand-in)"
        spec = available_tables()[name]()
        scheme = spec.trainable()[0]
        work = folder / f"{name}-{n_clips}"
        work.mkdir(parents=True, exist_ok=True)
        result = run_size(name, n_clips, work, workers=None, epoch=True, seconds=None,
                          stand_ins=folder / "stand_ins")
        epoch = next((s for s in result["stages"] if s["stage"] == f"epoch:{scheme.name}"), None)
        if epoch is None:
            rows.append(_row("clip model training", table, f"project: one epoch of {scheme.name}", float("nan"),
                             "", note=result.get("epoch_error", "no epoch measured")))
            continue
        train_clips = _train_clips(spec, n_clips, folder)
        rows.append(_row("clip model training", table, f"project: one epoch of {scheme.name} through the runner "
                         "(memory-mapped store, tf.data, callbacks, validation)", epoch["seconds"],
                         f"{train_clips} clips (one epoch of a {n_clips}-clip stand-in)"))
        import gc

        import keras

        keras.backend.clear_session()  # the runner's model goes before the floor's is built
        gc.collect()
        first, second, how = _first_epoch_floor(spec.paper, scheme, train_clips)
        rows.append(_row("clip model training", table, f"floor: first epoch of a fresh {scheme.name} in a minimal "
                         f"model.fit from memory, tracing included ({how})", first, f"{train_clips} clips",
                         floor=True))
        rows.append(_row("clip model training", table, f"steady: the floor's second epoch ({how})", second,
                         f"{train_clips} clips", note="the per-epoch cost at full size, where tracing is paid once"))
        if spec.paper == "msecnn":
            from papers.msecnn.bench import pipeline_throughput

            rate = pipeline_throughput(n_clips=256, batch_size=32)
            rows.append(_row("clip model training", table, "input pipeline alone: memory-mapped store -> tf.data "
                             "(papers.msecnn.bench.pipeline_throughput)", train_clips / rate, f"{train_clips} clips",
                             note=f"{rate:.0f} clips/s: the input side of a training step"))
    return rows


def _train_clips(spec, n_clips: int, folder: Path) -> int:
    """Training clips of fold 0 of the stand-in ``run_size`` built (the epoch's examples)."""
    from benchmarks.scale import STAND_INS, stand_in_folder

    stand_in = STAND_INS[spec.dataset.name]
    data = stand_in_folder(folder / "stand_ins", spec.dataset.name, n_clips, stand_in.seconds)
    built = json.loads((data / ".complete").read_text())
    index = spec.dataset.index(Path(built["data_dir"]))
    return len(spec.protocol.make_splits(index)[0].train)


def _batch_size(scheme) -> int | None:
    """Batch size of a scheme's training configuration (an argument of its ``run_fold`` with ``batch_size``)."""
    from benchmarks.scale import run_fold_settings

    for value in run_fold_settings(scheme):
        if isinstance(getattr(value, "batch_size", None), int):
            return value.batch_size
    return None


def _first_epoch_floor(paper: str, scheme, n_clips: int) -> tuple[float, float, str]:
    """Seconds of a first and of a second epoch of ``n_clips`` random clips in a fresh model, plain ``model.fit``.

    The project's one-epoch unit on a small stand-in is mostly one-off work (tracing the train
    and predict functions), so its floor must pay it too: a fresh model, ``fit`` from numpy arrays
    in memory, timed from the first call (as ``make bench-table3``'s ``epoch_s_minimal``); the
    second epoch is the steady state. MsE-CNN through :func:`papers.msecnn.bench.training_throughput`
    (the table's optimiser, loss, precision and XLA set-up); CRNN-TF's FCN through its bench
    builder (Adam, cross-entropy, as ``papers/crnn_tf/bench.py``).

    Returns:
        ``(first_s, second_s, how)``.
    """
    import keras

    batch = min(_batch_size(scheme) or 32, n_clips)
    if paper == "msecnn":
        from papers.msecnn.bench import training_throughput

        first = n_clips / training_throughput(scheme.name, batch, n_steps=max(1, n_clips // batch), warmup_steps=0)
        second = n_clips / training_throughput(scheme.name, batch, n_steps=max(1, n_clips // batch), warmup_steps=1)
        return first, second, f"papers.msecnn.bench.training_throughput, batch {batch}"
    from papers.crnn_tf.models import build_fcn_baseline

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_clips, 96, 1360)).astype("float32")
    y = rng.integers(0, 16, n_clips)
    keras.backend.clear_session()
    model = build_fcn_baseline(16, "genres")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1], f"papers.crnn_tf.models.build_fcn_baseline, Adam, batch {batch}"


def mcclstm_rows(folder: Path) -> list[dict]:
    """MCCLSTM Tables 3-5 training: ``make bench-table3``'s per-scheme project and minimal epochs."""
    import pandas as pd

    from benchmarks.throughput import device_name

    path = Path(folder) / f"table3_scale_{device_name()}.csv"
    if not path.is_file():
        return [_row("MCCLSTM training", "mcclstm.*", "make bench-table3 results", float("nan"), "",
                     note=f"{path} absent: run make bench-table3")]
    frame = pd.read_csv(path)
    rows = []
    for row in frame[frame.epoch_s_project.notna()].itertuples():
        work = f"one full-size epoch of {row.scheme} ({int(row.n_train_examples)} examples, batch {int(row.batch_size)})"
        note = f"from {path.name}"
        rows.append(_row("MCCLSTM training", "mcclstm.table3_gtzan, table4, table5", f"project: {row.scheme} epoch "
                         "through the runner", row.epoch_s_project, work, note))
        rows.append(_row("MCCLSTM training", "mcclstm.table3_gtzan, table4, table5", f"floor: {row.scheme} epoch in "
                         "a minimal model.fit", row.epoch_s_minimal, work, note, floor=True))
    return rows


# --- the table of ratios -------------------------------------------------------------------------

def with_ratios(rows: list[dict]) -> list[dict]:
    """Each project row gets ``ratio`` = its seconds over its case's floor (same ``case`` and ``tables``)."""
    out = []
    for row in rows:
        floor = next((r for r in rows if r["floor"] and r["case"] == row["case"] and r["tables"] == row["tables"]
                      and (row["case"] != "MCCLSTM training" or r["path"].split(":")[1].split()[0]
                           == row["path"].split(":")[1].split()[0])), None)
        key = "cpu_seconds" if row["case"] == "scattering" else "seconds"
        ratio = row[key] / floor[key] if floor and floor[key] > 0 else float("nan")
        within = "" if row["floor"] or not row["path"].startswith("project") or not np.isfinite(ratio) else \
            ("within" if ratio <= LIMIT else f"over {LIMIT}x")
        out.append({**row, "ratio_to_floor": ratio, "verdict": within})
    return out


def main(argv=None) -> int:
    """Command line: see the module text."""
    import pandas as pd

    from benchmarks.table3_scale import _load_average, library_versions
    from benchmarks.throughput import device_name
    from common.outputs.result_tables import write_csv, write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated cases of {CASES}")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of the scattering test song")
    parser.add_argument("--lstm-batches", type=int, default=30, help="timed LSTM minibatches (DNN: 10x)")
    parser.add_argument("--clips", default="32,128", help="clips of the MTAT stand-ins for the clip epochs "
                        "(comma-separated; each table and size in a child process)")
    parser.add_argument("--out", default="results/bench")
    parser.add_argument("--clip-one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--clip-folder", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--clip-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clip_one:  # a child of clip_rows: one table at one size
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            from common.training.tensorflow_logging import import_tensorflow_quietly

            import_tensorflow_quietly()
        name, n_clips = args.clip_one.rsplit(":", 1)
        rows = _clip_rows_at(Path(args.clip_folder), int(n_clips), (name,))
        Path(args.clip_out).write_text(json.dumps(rows))
        return 0
    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {CASES}")
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        from common.training.tensorflow_logging import import_tensorflow_quietly

        import_tensorflow_quietly()
    load_start, started, rows = _load_average(), time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="floors-") as folder:
        folder = Path(folder)
        for case in cases:
            print(f"== {case}", flush=True)
            new = {"scattering": lambda: scattering_rows(args.seconds, folder),
                   "decoding": lambda: decoding_rows(folder),
                   "lstm": lambda: lstm_rows(args.lstm_batches),
                   "clip": lambda: clip_rows(folder, [int(n) for n in args.clips.split(",")]),
                   "mcclstm": lambda: mcclstm_rows(Path(args.out))}[case]()
            for row in new:
                print(f"   {row['tables']}: {row['path']}: {row['seconds']:.3f} s", flush=True)
            rows += new
    frame = pd.DataFrame(with_ratios(rows))
    device = device_name()
    out = Path(args.out)
    csv_path = out / f"floors_{device}.csv"
    if set(cases) != set(CASES) and csv_path.is_file():  # a partial run replaces only its own cases
        kept = pd.read_csv(csv_path)
        frame = pd.concat([kept[~kept.case.isin(frame.case.unique())], frame], ignore_index=True)
    frame["device"] = device
    write_csv(frame, csv_path)
    import keras

    write_json({"note": "timing only: generated audio and random inputs, never accuracy", "cases": cases,
                "device": device, "host": platform.node(), "cpu_count": os.cpu_count(),
                "load_average_start": load_start, "load_average_end": _load_average(),
                "keras_backend": keras.backend.backend(), "versions": library_versions(),
                "limit": LIMIT, "wall_s": time.perf_counter() - started}, csv_path.with_suffix(".json"))
    shown = frame[frame.verdict.fillna("") != ""][["case", "tables", "path", "seconds", "ratio_to_floor", "verdict"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}", max_colwidth=70))
    print(f"wrote {csv_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
