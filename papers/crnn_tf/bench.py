"""Training throughput of CRNN-TF and its baselines at the papers' input sizes (``make bench``).

Each entry of :data:`BENCHMARKS` is ``(name, unit, callable -> rate)``; ``benchmarks/throughput.py``
runs them. Random inputs of the real shapes, batch 32 (CRNN-TF Sec. V-C), Adam; the rate counts
examples (clips, patches or windows) per second over ``CRNN_TF_BENCH_STEPS`` train steps (default 5)
after two warm-up steps. Runs under any Keras backend (TensorFlow here, JAX on the GPU machines).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

import numpy as np

BATCH = 32


def _steps() -> int:
    return int(os.environ.get("CRNN_TF_BENCH_STEPS", "5"))


def _rate(model, inputs: np.ndarray, n_classes: int) -> float:
    """Examples per second of train steps on one random batch (sparse categorical cross-entropy)."""
    targets = np.random.default_rng(1).integers(0, n_classes, len(inputs))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    for _ in range(2):
        model.train_on_batch(inputs, targets)
    steps = _steps()
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(inputs, targets)
    return len(inputs) * steps / (time.perf_counter() - start)


def crnn_tf_rate(rnn: str = "grid_lstm") -> float:
    """CRNN-TF training rate, clips/s, on 96 x 1360 log-mel clips (16 genres).

    Args:
        rnn: ``"grid_lstm"`` (the paper's row) or ``"gru"`` (the ``CRNN-TF (GRU)`` row with every
            setting of :data:`papers.crnn_tf.config.GRU_ROW_CHANGES`).
    """
    from papers.crnn_tf.config import GRU_ROW_CHANGES, CRNNTFConfig
    from papers.crnn_tf.models import build_crnn_tf

    config = replace(CRNNTFConfig(), **GRU_ROW_CHANGES) if rnn == "gru" else CRNNTFConfig()
    x = np.random.default_rng(0).standard_normal((BATCH, 96, 1360)).astype("float32")
    return _rate(build_crnn_tf(16, "genres", config), x, 16)


def crnn_rate() -> float:
    """CRNN (Choi et al. 2017) training rate, clips/s, on 96 x 1360 clips."""
    from papers.crnn_tf.models import build_crnn

    x = np.random.default_rng(0).standard_normal((BATCH, 96, 1360)).astype("float32")
    return _rate(build_crnn(16, "genres"), x, 16)


def fcn_rate() -> float:
    """FCN baseline (FCN-4, Choi et al. 2016) training rate, clips/s, on 96 x 1360 clips."""
    from papers.crnn_tf.models import build_fcn_baseline

    x = np.random.default_rng(0).standard_normal((BATCH, 96, 1360)).astype("float32")
    return _rate(build_fcn_baseline(16, "genres"), x, 16)


def timbre_cnn_rate() -> float:
    """Timbre CNN (Pons et al. 2017) training rate, patches/s, on 128 x 187 patches."""
    from papers.crnn_tf.models import build_timbre_cnn

    x = np.random.default_rng(0).standard_normal((BATCH, 128, 187)).astype("float32")
    return _rate(build_timbre_cnn(16, "genres"), x, 16)


def end_to_end_rate() -> float:
    """End-to-end (Dieleman & Schrauwen 2014) training rate, windows/s, on 3 s windows at 16 kHz."""
    from papers.crnn_tf.models import build_end_to_end

    x = (0.1 * np.random.default_rng(0).standard_normal((BATCH, 48000))).astype("float32")
    return _rate(build_end_to_end(16, "genres"), x, 16)


BENCHMARKS = [
    ("CRNN-TF (Grid LSTM) training, 32 clips of 96 x 1360", "clips/s", lambda: crnn_tf_rate("grid_lstm")),
    ("CRNN-TF (GRU) training, 32 clips of 96 x 1360", "clips/s", lambda: crnn_tf_rate("gru")),
    ("CRNN (Choi et al.) training, 32 clips of 96 x 1360", "clips/s", crnn_rate),
    ("FCN-4 (Choi et al. 2016) training, 32 clips of 96 x 1360", "clips/s", fcn_rate),
    ("Timbre CNN training, 32 patches of 128 x 187", "patches/s", timbre_cnn_rate),
    ("End-to-end training, 32 raw-audio windows of 3 s", "windows/s", end_to_end_rate),
]
