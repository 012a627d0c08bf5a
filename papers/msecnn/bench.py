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

from common.models.fcn import FCNConfig
from common.features.store import ClipFeatureStore
from common.training.pipeline import clip_dataset
from common.training.trainer import (TrainingConfig, acceleration_from_environment, distribution_strategy,
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
    """Clips per second that :func:`common.training.pipeline.clip_dataset` delivers from a memory-mapped store.

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


def backend_training_throughput(model_name: str, batch_size: int, n_steps: int, *, warmup_steps: int = 2,
                                mixed_precision: bool = False) -> float:
    """Training clips per second with plain ``train_on_batch`` under any Keras backend (e.g. JAX).

    Used by ``make bench`` where TensorFlow is absent (the GPU machine of this workplace has JAX
    but no TensorFlow); same full-size model, optimiser and loss as the table, random data.

    Returns:
        clips per second over ``n_steps`` timed steps.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(-30.0, 20.0, (batch_size, cfg.MODEL.n_mels, cfg.MODEL.n_frames)).astype(np.float32)
    y = (rng.random((batch_size, cfg.N_TAGS)) < 0.1).astype(np.float32)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    try:
        keras.utils.set_random_seed(0)
        model = build_model(model_name, cfg.N_TAGS, cfg.MODEL)
        model.compile(optimizer=cfg.TRAINING.make_optimizer(), loss="binary_crossentropy")
        for _ in range(warmup_steps):
            model.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(n_steps):
            model.train_on_batch(x, y)
        seconds = time.perf_counter() - start
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return n_steps * batch_size / seconds


def _bench(model_name: str) -> float:
    """The ``make bench`` figure: the table's exact setup under TensorFlow, else the backend path."""
    try:
        import tensorflow as tf

        on_gpu = bool(tf.config.list_physical_devices("GPU"))
    except ImportError:
        import jax

        on_gpu = jax.devices()[0].platform == "gpu"
        return backend_training_throughput(model_name, 32 if on_gpu else 4, 20 if on_gpu else 2,
                                           mixed_precision=on_gpu)
    return training_throughput(model_name, 32 if on_gpu else 4, 20 if on_gpu else 2,
                               warmup_steps=3 if on_gpu else 1)


#: Rows of ``make bench`` (see benchmarks/throughput.py): (name, unit, measure).
BENCHMARKS = [
    ("FCN-5 training, 96x1366 clips (batch 32 on GPU, 4 on CPU)", "clips/s", lambda: _bench("FCN-5")),
    ("MsE-CNN training, 96x1366 clips (batch 32 on GPU, 4 on CPU)", "clips/s", lambda: _bench("MsE-CNN")),
]
