"""Training throughput of the Table 1 models (clips per second), for ``make bench``.

:func:`training_throughput` builds FCN-5 or MsE-CNN exactly as the table trains it (same
optimiser, loss, precision policy, XLA setting and distribution strategy), feeds it random
96 x 1366 spectrograms and random tags from memory, and times ``n_steps`` training steps after a
warm-up (graph tracing and XLA compilation are excluded). The input pipeline is not part of the
figure; :func:`pipeline_throughput` measures the memory-mapped store -> tf.data path on its own.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from common.fcn import FCNConfig
from common.feature_store import ClipFeatureStore
from common.pipeline import clip_dataset
from common.training import (TrainingConfig, acceleration_from_environment, distribution_strategy,
                             precision_policy)
from papers.msecnn import config as cfg
from papers.msecnn.models import build_model


def training_throughput(model_name: str, batch_size: int = 32, n_steps: int = 20, *, warmup_steps: int = 3,
                        model_config: FCNConfig = cfg.MODEL, training: TrainingConfig | None = None,
                        seed: int = 0) -> float:
    """Training clips per second of one Table 1 model on random data.

    Args:
        model_name: ``"FCN-5"`` or ``"MsE-CNN"``.
        batch_size: global batch (clips per step, split over the GPUs when there are several).
        n_steps: timed training steps.
        warmup_steps: untimed steps first (tracing, XLA compilation, cuDNN autotuning).
        model_config: network shape (default: the full-size models).
        training: optimiser and acceleration (default: :data:`papers.msecnn.config.TRAINING`
            with the environment's --mixed-precision / --xla overrides).
        seed: seed of the weights and the random data.

    Returns:
        clips per second over the timed steps (``n_steps * batch_size / seconds``).

    Raises:
        ValueError: non-positive ``batch_size`` or ``n_steps``.
    """
    import tensorflow as tf

    if batch_size < 1 or n_steps < 1:
        raise ValueError("batch_size and n_steps must be positive")
    training = acceleration_from_environment(training or cfg.TRAINING)
    rng = np.random.default_rng(seed)
    x = rng.normal(-30.0, 20.0, (batch_size, model_config.n_mels, model_config.n_frames)).astype(np.float32)
    y = (rng.random((batch_size, cfg.N_TAGS)) < 0.1).astype(np.float32)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    strategy = distribution_strategy()
    with precision_policy(training), strategy.scope():
        model = build_model(model_name, cfg.N_TAGS, model_config)
        model.compile(optimizer=training.make_optimizer(), loss="binary_crossentropy",
                      jit_compile=training.keras_jit_compile())
        data = tf.data.Dataset.from_tensors((x, y)).repeat().prefetch(2)
        if warmup_steps > 0:
            model.fit(data, steps_per_epoch=warmup_steps, epochs=1, verbose=0, shuffle=False)
        start = time.perf_counter()
        model.fit(data, steps_per_epoch=n_steps, epochs=1, verbose=0, shuffle=False)
        seconds = time.perf_counter() - start
    return n_steps * batch_size / seconds


def pipeline_throughput(n_clips: int = 256, batch_size: int = 32, *, shape=(96, 1366), dtype: str = "float16",
                        epochs: int = 2, folder: str | Path | None = None) -> float:
    """Clips per second that :func:`common.pipeline.clip_dataset` delivers from a memory-mapped store.

    Writes ``n_clips`` random spectrograms to a :class:`ClipFeatureStore` (in ``folder``, or a
    temporary folder that is removed) and iterates a shuffled epoch over it ``epochs`` times; the
    first epoch reads from disk, later ones from the page cache.

    Returns:
        clips per second over all epochs.
    """
    rng = np.random.default_rng(0)
    arrays = {str(i): rng.normal(-30.0, 20.0, shape).astype(np.float32) for i in range(n_clips)}
    targets = (rng.random((n_clips, cfg.N_TAGS)) < 0.1).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        store = ClipFeatureStore.build(Path(folder or tmp) / "store", list(arrays), arrays.__getitem__, dtype=dtype)
        ds = clip_dataset(store.features, targets, batch_size, shuffle=True)
        start = time.perf_counter()
        for _ in range(epochs):
            for _batch in ds:
                pass
        seconds = time.perf_counter() - start
    return epochs * n_clips / seconds
