"""Training loop shared by all papers: compile, fit with early stopping on validation, restore best.

Model selection uses the validation split only: early stopping and the best checkpoint monitor
``val_loss`` (configurable); the test split is never seen during training.

Acceleration (GPU runs): ``TrainingConfig.mixed_precision`` (Keras ``mixed_float16`` policy, set
with :func:`precision_policy` around model building and training) and ``TrainingConfig.jit_compile``
(XLA, passed to ``model.compile``) are ``"auto"`` by default: on when a GPU is present, off on a
CPU. The command line (``--mixed-precision``, ``--xla``) overrides them through the environment
(:func:`acceleration_from_environment`). :func:`distribution_strategy` gives a
``tf.distribute.MirroredStrategy`` over all GPUs when there are several.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras

from common.errors import ConfigError

#: Values of ``TrainingConfig.mixed_precision`` and ``TrainingConfig.jit_compile``.
ACCELERATION_VALUES = ("auto", "on", "off")

#: Environment variables that override them (set by ``common.cli`` from --mixed-precision / --xla).
ACCELERATION_ENVIRONMENT = {"mixed_precision": "REPRO_MIXED_PRECISION", "jit_compile": "REPRO_XLA"}


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser and schedule of one scheme.

    Attributes:
        optimizer: ``"sgd"`` or ``"adam"``.
        learning_rate: initial learning rate.
        momentum: SGD momentum (ignored by Adam).
        nesterov: Nesterov momentum for SGD.
        batch_size: examples per batch (chunks or tracks, as the scheme's pipeline defines).
        epochs: maximum number of epochs.
        patience: early-stopping patience in epochs on ``monitor`` (0 disables early stopping).
        monitor: validation quantity for early stopping and checkpointing.
        lr_decay_per_epoch: multiply the learning rate by this each epoch (1.0: constant).
        clipnorm: gradient-norm clipping (None: off).
        mixed_precision: ``"auto"`` (float16 compute with float32 weights when a GPU is present),
            ``"on"`` or ``"off"``; applied by :func:`precision_policy`.
        jit_compile: XLA compilation of the train step: ``"auto"`` (Keras' choice: on for a
            single GPU, off on CPU and under tf.distribute), ``"on"`` or ``"off"``.
    """

    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    batch_size: int = 32
    epochs: int = 100
    patience: int = 10
    monitor: str = "val_loss"
    lr_decay_per_epoch: float = 1.0
    clipnorm: float | None = None
    mixed_precision: str = "auto"
    jit_compile: str = "auto"

    def __post_init__(self):
        for name in ("mixed_precision", "jit_compile"):
            if getattr(self, name) not in ACCELERATION_VALUES:
                raise ConfigError(f"TrainingConfig.{name} must be one of {ACCELERATION_VALUES}, "
                                  f"not {getattr(self, name)!r}")

    def keras_jit_compile(self):
        """The ``jit_compile`` argument of ``model.compile``: ``"auto"``, True or False."""
        return {"auto": "auto", "on": True, "off": False}[self.jit_compile]

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        """A fresh Keras optimiser for this configuration.

        Raises:
            ValueError: unknown optimiser name.
        """
        if self.optimizer == "sgd":
            return keras.optimizers.SGD(self.learning_rate, momentum=self.momentum,
                                        nesterov=self.nesterov, clipnorm=self.clipnorm)
        if self.optimizer == "adam":
            return keras.optimizers.Adam(self.learning_rate, clipnorm=self.clipnorm)
        raise ValueError(f"unknown optimizer {self.optimizer!r} (use 'sgd' or 'adam')")

    def describe(self) -> dict:
        """JSON description for manifests (and scheme fingerprints).

        ``mixed_precision`` / ``jit_compile`` are listed only when not ``"auto"``, so that
        descriptions (and the fold fingerprints of runs) made before these fields existed stay
        valid; the effective precision policy of a run is recorded by the protocols that use it.
        """
        out = asdict(self)
        for name in ("mixed_precision", "jit_compile"):
            if out[name] == "auto":
                del out[name]
        return out


#: Bytes of free space kept in reserve beyond a checkpoint's estimated size before it is written.
CHECKPOINT_MARGIN_BYTES = 16 * 2 ** 20


def save_weights_atomically(model: keras.Model, path: str | os.PathLike) -> None:
    """Save ``model``'s weights to ``path`` (``*.weights.h5``) through a temporary file and a rename.

    A reader (or a crash) never sees a half-written checkpoint. Free space is checked first
    (the weights' size plus :data:`CHECKPOINT_MARGIN_BYTES`), so a full disk gives a clean
    ``OSError`` instead of an HDF5 failure inside the write.

    Raises:
        OSError: not enough free space, or the folder is not writable; ``filename`` is ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    needed = sum(int(w.size) * w.dtype.itemsize for w in map(keras.ops.convert_to_numpy, model.weights))
    free = shutil.disk_usage(path.parent).free
    if free < needed + CHECKPOINT_MARGIN_BYTES:
        raise OSError(errno.ENOSPC, f"no space left for a checkpoint of {needed / 2 ** 20:.1f} MiB "
                                    f"({free / 2 ** 20:.1f} MiB free)", str(path))
    tmp = path.with_name(f".{path.name[:-len('.weights.h5')]}.{os.getpid()}.tmp.weights.h5")
    try:
        model.save_weights(str(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp.exists():
            tmp.unlink()
        if isinstance(exc, OSError) and not exc.filename:
            raise OSError(exc.errno or errno.EIO, str(exc), str(path)) from exc
        raise


class BestWeightsCheckpoint(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best ``monitor`` value, saved atomically.

    Best is the lowest value, or the highest for accuracy- and AUC-like quantities (names holding
    ``acc`` or ``auc``), as Keras' ``mode="auto"`` decides.

    Replaces ``keras.callbacks.ModelCheckpoint(save_best_only=True, save_weights_only=True)``,
    which writes the file in place (a concurrent reader or a crash can see a truncated file).

    Args:
        path: checkpoint file (``*.weights.h5``).
        monitor: a quantity of the epoch logs to minimise (``"val_loss"``).
    """

    def __init__(self, path: str | os.PathLike, monitor: str):
        super().__init__()
        if not str(path).endswith(".weights.h5"):
            raise ConfigError(f"checkpoint path must end with .weights.h5: {path}")
        self.path, self.monitor, self.best = Path(path), monitor, math.inf
        self.sign = -1.0 if any(key in monitor for key in ("acc", "auc")) else 1.0

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            if not self.path.exists():  # keep something to restore even if the quantity is never finite
                save_weights_atomically(self.model, self.path)
            return
        if self.sign * float(value) < self.best:
            self.best = self.sign * float(value)
            save_weights_atomically(self.model, self.path)


@dataclass
class TrainingResult:
    """What :func:`train` did.

    Attributes:
        epochs_run: epochs actually trained.
        best_epoch: 1-based epoch whose weights were kept.
        history: per-epoch Keras logs (loss, metrics, val_*).
        seconds: wall time of ``fit``.
        examples_per_second: training examples processed per second (all epochs).
    """

    epochs_run: int
    best_epoch: int
    history: dict = field(default_factory=dict)
    seconds: float = 0.0
    examples_per_second: float = 0.0


def train(model: keras.Model, train_ds, validation_ds, config: TrainingConfig, *, loss, metrics=(),
          n_train_examples: int, checkpoint_path: str | os.PathLike, log_dir: str | os.PathLike | None = None,
          epochs: int | None = None, verbose: int | str = "auto", extra_callbacks=()) -> TrainingResult:
    """Compile and fit ``model``, keeping the weights of the best validation epoch.

    Args:
        model: an uncompiled Keras model.
        train_ds: training ``tf.data.Dataset`` (batched).
        validation_ds: validation dataset, or None (then no early stopping; the last epoch is kept).
        config: optimiser and schedule.
        loss: Keras loss (e.g. ``"sparse_categorical_crossentropy"``).
        metrics: Keras metrics to log.
        n_train_examples: examples per epoch, for the throughput figure.
        checkpoint_path: where the best weights are written (``*.weights.h5``).
        log_dir: TensorBoard log folder, or None.
        epochs: cap overriding ``config.epochs`` (quick runs), or None.
        verbose: Keras progress output (``"auto"``, 0, 1, 2).
        extra_callbacks: further Keras callbacks, run after the checkpoint, early stopping and schedule
            (e.g. :class:`common.training.epoch_test_evaluation.EpochTestEvaluation`, which only
            reads the model).

    Returns:
        :class:`TrainingResult`; ``model`` holds the best weights on return.
    """
    max_epochs = min(config.epochs, epochs) if epochs else config.epochs
    model.compile(optimizer=config.make_optimizer(), loss=loss, metrics=list(metrics),
                  jit_compile=config.keras_jit_compile())
    checkpoint_path = Path(checkpoint_path)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    monitor = config.monitor if validation_ds is not None else "loss"
    callbacks = [BestWeightsCheckpoint(checkpoint_path, monitor=monitor)]
    if validation_ds is not None and config.patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience))
    if config.lr_decay_per_epoch != 1.0:
        decay, base = config.lr_decay_per_epoch, config.learning_rate
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch: base * decay ** epoch))
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False))
    callbacks.extend(extra_callbacks)
    start = time.perf_counter()
    history = model.fit(train_ds, validation_data=validation_ds, epochs=max_epochs,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - start
    model.load_weights(str(checkpoint_path))
    logs = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    monitored = logs.get(monitor, [])
    finite = [v if math.isfinite(v) else math.inf for v in monitored]
    best_epoch = 1 + min(range(len(finite)), key=finite.__getitem__) if finite else len(logs.get("loss", []))
    epochs_run = len(logs.get("loss", []))
    return TrainingResult(epochs_run=epochs_run, best_epoch=best_epoch, history=logs, seconds=seconds,
                          examples_per_second=n_train_examples * epochs_run / max(seconds, 1e-9))


def gpu_count() -> int:
    """Number of GPUs the Keras backend in use trains on.

    TensorFlow: its physical GPU devices; JAX: ``jax.devices()`` on the ``gpu`` platform (CUDA or
    ROCm); PyTorch: ``torch.cuda.device_count()``. Under JAX or PyTorch, TensorFlow (which only
    feeds tf.data on the CPU) is not asked, so "auto" mixed precision follows the devices that train.

    Returns:
        int >= 0.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return sum(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def uses_mixed_precision(config: TrainingConfig) -> bool:
    """Whether ``config`` trains in mixed precision here (``"auto"``: when a GPU is present)."""
    if config.mixed_precision == "auto":
        return gpu_count() > 0
    return config.mixed_precision == "on"


@contextmanager
def precision_policy(config: TrainingConfig):
    """Set the Keras global dtype policy for building and training a model; restore it on exit.

    Layers take the policy when they are created, so build the model inside the ``with`` block.
    Under ``mixed_float16`` Keras wraps the optimiser in a ``LossScaleOptimizer`` at compile time;
    output layers should be created with ``dtype="float32"`` (as :func:`common.models.fcn.tagging_head`).

    Yields:
        the policy name in force (``"mixed_float16"`` or ``"float32"``).
    """
    previous = keras.mixed_precision.global_policy()
    name = "mixed_float16" if uses_mixed_precision(config) else "float32"
    keras.mixed_precision.set_global_policy(name)
    try:
        yield name
    finally:
        keras.mixed_precision.set_global_policy(previous)


def distribution_strategy():
    """``tf.distribute.MirroredStrategy`` over all GPUs when there are several, else the default.

    Build and compile the model inside ``strategy.scope()``; the batch size of the input
    pipeline is then the global batch, split evenly over the replicas. Only the TensorFlow
    backend replicates a model this way; under JAX or PyTorch the default (no-op) strategy is
    returned and a unit trains on one device: use the fan-out (``--ray``, ``--shard``; one GPU
    per unit) to occupy several GPUs.
    """
    import tensorflow as tf

    if keras.backend.backend() == "tensorflow" and gpu_count() > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def acceleration_from_environment(config: TrainingConfig) -> TrainingConfig:
    """``config`` with ``mixed_precision`` / ``jit_compile`` overridden by the environment.

    The variables of :data:`ACCELERATION_ENVIRONMENT` (``REPRO_MIXED_PRECISION``, ``REPRO_XLA``)
    hold ``auto``, ``on`` or ``off``; ``common.cli`` sets them from ``--mixed-precision`` and
    ``--xla`` before the tables are built, so the values are part of each scheme's configuration
    (and of its fold fingerprints).

    Raises:
        ConfigError: a variable holds another value.
    """
    changes = {}
    for name, variable in ACCELERATION_ENVIRONMENT.items():
        value = os.environ.get(variable, "").strip().lower()
        if value:
            if value not in ACCELERATION_VALUES:
                raise ConfigError(f"{variable}={value!r}: use one of {ACCELERATION_VALUES}")
            changes[name] = value
    return replace(config, **changes) if changes else config
