"""Training loop shared by all papers: compile, fit with early stopping on validation, restore best.

Model selection uses the validation split only: early stopping and the best checkpoint monitor
``val_loss`` (configurable); the test split is never seen during training.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras


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
        """JSON description for manifests."""
        return asdict(self)


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
          epochs: int | None = None, verbose: int | str = "auto") -> TrainingResult:
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

    Returns:
        :class:`TrainingResult`; ``model`` holds the best weights on return.
    """
    max_epochs = min(config.epochs, epochs) if epochs else config.epochs
    model.compile(optimizer=config.make_optimizer(), loss=loss, metrics=list(metrics))
    checkpoint_path = Path(checkpoint_path)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    monitor = config.monitor if validation_ds is not None else "loss"
    callbacks = [keras.callbacks.ModelCheckpoint(str(checkpoint_path), monitor=monitor,
                                                 save_best_only=True, save_weights_only=True)]
    if validation_ds is not None and config.patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=config.patience))
    if config.lr_decay_per_epoch != 1.0:
        decay, base = config.lr_decay_per_epoch, config.learning_rate
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch: base * decay ** epoch))
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False))
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
