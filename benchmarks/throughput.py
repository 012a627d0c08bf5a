"""Throughput benchmark (``make bench``): feature extraction and model training on this machine.

Measures, on synthetic audio and random inputs so that no dataset is needed:

- feature extraction, tracks/s, for 30 s tracks at 22,050 Hz (GTZAN's format) turned into the
  MCCLSTM log-mel spectrogram (44.1 kHz, Blackman-Harris 2048, hop 1024, 40 bands):
  the librosa reference path, the TensorFlow path track by track, and the TensorFlow path
  batched inside ``tf.data`` (the form that runs on a GPU);
- MCCLSTM training throughput, chunks/s, of train steps on random chunk sequences
  (8 tracks x 16 chunks per batch), and of the R3 chunk model (batch of 32 chunks);
- the training throughput of other papers' models where their package provides
  ``papers/<paper>/bench.py`` with ``BENCHMARKS``: a list of ``(name, unit, callable -> rate)``.

Prints a table and writes it to ``results/bench/throughput_<device>.csv``. Runs under any Keras
backend; without TensorFlow (e.g. ``KERAS_BACKEND=jax``) the TF feature rows say so.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def _timed(function, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return time.perf_counter() - start


def feature_rows(n_tracks: int) -> list[dict]:
    """Feature-extraction throughput rows (tracks/s) for the librosa and TF paths."""
    from common.audio.decoding import load_audio
    from common.features.logmel import LogMelExtractor, logmel_tf
    import soundfile as sf

    from papers.mcclstm.config import FEATURES

    rows = []
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(n_tracks):  # 30 s of noise at GTZAN's format (22,050 Hz, 16-bit mono WAV)
            paths.append(Path(folder) / f"t{i}.wav")
            sf.write(str(paths[-1]), 0.1 * rng.standard_normal(30 * 22050), 22050, subtype="PCM_16")
        librosa_path = LogMelExtractor(FEATURES, backend="librosa")
        librosa_path(paths[0])  # warm-up
        seconds = _timed(lambda: [librosa_path(p) for p in paths], 1)
        rows.append({"benchmark": "log-mel, librosa (decode + resample + STFT)", "unit": "tracks/s",
                     "rate": n_tracks / seconds})
        try:
            import tensorflow as tf
        except ImportError:
            rows.append({"benchmark": "log-mel, TensorFlow", "unit": "tracks/s", "rate": np.nan,
                         "note": "TensorFlow not installed"})
            return rows
        tf_path = LogMelExtractor(FEATURES, backend="tf")
        tf_path(paths[0])
        seconds = _timed(lambda: [tf_path(p) for p in paths], 1)
        rows.append({"benchmark": "log-mel, TensorFlow per track (decode + resample + tf.signal)",
                     "unit": "tracks/s", "rate": n_tracks / seconds})
        signals = np.stack([load_audio(p, FEATURES.sample_rate) for p in paths])
        dataset = tf.data.Dataset.from_tensor_slices(signals).batch(8).map(
            lambda x: logmel_tf(x, FEATURES), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
        for _ in dataset.take(1):
            pass
        seconds = _timed(lambda: [None for _ in dataset], 1)
        rows.append({"benchmark": "log-mel, tf.signal in tf.data, batch 8 (decoded audio)", "unit": "tracks/s",
                     "rate": n_tracks / seconds})
    return rows


def training_rate(model, inputs, targets, n_examples: int, steps: int) -> float:
    """Examples per second of ``steps`` train steps (after two warm-up steps)."""
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    for _ in range(2):
        model.train_on_batch(inputs, targets)
    seconds = _timed(lambda: model.train_on_batch(inputs, targets), steps)
    return n_examples * steps / seconds


def mcclstm_rows(steps: int) -> list[dict]:
    """MCCLSTM (sequence) and R3 (chunk) training throughput in chunks/s."""
    from papers.mcclstm.models import build_model

    rng = np.random.default_rng(0)
    sequences = {"chunks": rng.standard_normal((8, 16, 40, 80)).astype("float32"),
                 "n_chunks": np.full((8,), 16, dtype="int32")}
    rows = [{"benchmark": "MCCLSTM training, 8 tracks x 16 chunks per batch", "unit": "chunks/s",
             "rate": training_rate(build_model("MCCLSTM", 10), sequences, rng.integers(0, 10, 8), 8 * 16, steps)}]
    chunks = rng.standard_normal((32, 40, 80)).astype("float32")
    rows.append({"benchmark": "R3 training, 32 chunks per batch", "unit": "chunks/s",
                 "rate": training_rate(build_model("R3", 10), chunks, rng.integers(0, 10, 32), 32, steps)})
    return rows


def paper_rows(papers: list[str] | None = None) -> list[dict]:
    """Rows from ``papers/<paper>/bench.py`` modules (``BENCHMARKS``), where present (only ``papers`` if given)."""
    from common.registry import paper_modules

    rows = []
    for paper, module in paper_modules("bench"):
        if papers is not None and paper not in papers:
            continue
        for name, unit, measure in getattr(module, "BENCHMARKS", []):
            print(f"  measuring {name} ...", flush=True)
            rows.append({"benchmark": name, "unit": unit, "rate": measure()})
    return rows


def device_name() -> str:
    """Short name of the accelerator in use (GPU model) or of the CPU."""
    try:
        import keras

        if keras.backend.backend() == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "gpu":
                return device.device_kind.replace(" ", "-")
        else:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return details.get("device_name", "gpu").replace(" ", "-")
    except Exception:  # noqa: BLE001 - any failure here only changes the label
        pass
    return f"cpu{os.cpu_count()}"


def main(argv=None) -> int:
    """Run the benchmark and print the table."""
    import keras
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=8, help="synthetic 30 s tracks for feature extraction")
    parser.add_argument("--steps", type=int, default=10, help="timed train steps per model")
    parser.add_argument("--out", default="results/bench")
    parser.add_argument("--skip-features", action="store_true")
    parser.add_argument("--papers", default=None,
                        help="comma-separated papers: only their bench.py rows, merged into the device's CSV "
                             "(rows of the same name replaced, the others kept)")
    args = parser.parse_args(argv)
    papers = [p.strip() for p in args.papers.split(",")] if args.papers else None
    if papers is None:
        rows = [] if args.skip_features else feature_rows(args.tracks)
        rows += mcclstm_rows(args.steps)
        rows += paper_rows()
    else:
        rows = paper_rows(papers)
    device = device_name()
    frame = pd.DataFrame(rows)
    if "note" not in frame:
        frame["note"] = ""
    frame.insert(0, "device", device)
    frame["keras_backend"] = keras.backend.backend()
    frame["host"] = platform.node()
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from common.outputs.result_tables import write_csv

    existing = out / f"throughput_{device}.csv"
    if papers is not None and existing.is_file():
        kept = pd.read_csv(existing)
        frame = pd.concat([kept[~kept.benchmark.isin(frame.benchmark)], frame], ignore_index=True)

    write_csv(frame, out / f"throughput_{device}.csv")
    print(f"wrote {out / f'throughput_{device}.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
