"""Non-finite training is a failure, never a result: a unit of work whose loss, weights or outputs
become non-finite (NaN or infinite) has *diverged*.

Keras trains on through ``loss: nan``; its NaN weights then give NaN probabilities, whose arg-max
is class 0 for every track, and an accuracy that looks like any other (10 % on ten balanced
classes). This module turns that into :class:`TrainingDiverged`, naming the epoch and what was
non-finite; the runner (:func:`common.runner.execution.run_unit`) records the unit as diverged
(no metric values) and the table shows no number for its row.

What is checked, while :func:`watch_training` is active (the runner wraps every unit's
``run_fold`` in it):

- every ``keras.Model.fit``: at the end of each epoch, the training loss and every validation
  loss in the epoch's logs (``loss``, ``val_loss``, ``*_loss``); the epoch is counted over all
  fits of the unit (a schedule that calls ``fit(epochs=1)`` once per epoch, as a Kaldi-style
  newbob schedule does, gets the right epoch). A non-finite value stops the fit after
  that epoch (``model.stop_training``; the epoch's progress line and the other callbacks run) and
  the fit raises. When a fit ends normally, the model's weights are checked (every variable,
  trainable or not).
- every ``keras.Model.predict`` / ``predict_on_batch``: the outputs (validation, test or
  transfer features) must be finite; the models of these tables end in softmax or sigmoid
  layers, so a non-finite output is a diverged (or numerically broken) model, even when the
  weights are finite (e.g. a layer that overflows only on real inputs, beyond the range of the
  random check a scheme module gets).

Why a watch around the unit and not checks inside :func:`common.training.trainer.train` and the
papers' protocols: those modules are part of the code version of every stored fold record
(:func:`common.runner.identity.code_version`), so editing them would invalidate every committed
result (the canonical tables' fold records) although a finite result does not change; and some
tables train with their own loops around ``fit``. The watch covers every Keras training path in
one place and leaves results that were finite untouched. Paths that are not
Keras (the SVMs) call :func:`check_finite` on their features and decision values themselves.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from common.errors import ReproError


class TrainingDiverged(ReproError):
    """A unit's training loss, validation loss, weights or model outputs became non-finite.

    Attributes:
        what: what was non-finite, e.g. ``"training loss nan"``, ``"validation loss inf"``,
            ``"weights non-finite: dense/kernel (nan)"``,
            ``"model outputs nan for 10 of 10 inputs (model.predict)"``.
        epoch: 1-based epoch of the unit (counted over all its fits) at which it happened, or the
            number of epochs trained before a non-finite prediction; 0 when no epoch was trained
            (e.g. an SVM's decision values).
        during_training: True when the check failed at the end of an epoch (``at epoch e``),
            False when it failed after training (``after epoch e``: weights, predictions).
    """

    def __init__(self, what: str, epoch: int = 0, during_training: bool = True):
        self.what, self.epoch, self.during_training = what, int(epoch), bool(during_training)
        super().__init__(divergence_phrase(self.epoch, self.during_training, what))

    def when(self) -> str:
        """``"at epoch 3"``, ``"after epoch 3"``, or ``""`` (no epoch trained, e.g. an SVM)."""
        return when_text(self.epoch, self.during_training)

    def as_dict(self) -> dict:
        """JSON-able description for a diverged fold record: ``{"what", "epoch", "during_training"}``."""
        return {"what": self.what, "epoch": self.epoch, "during_training": self.during_training}


def when_text(epoch: int, during_training: bool) -> str:
    """``"at epoch 3"`` (during training), ``"after epoch 3"`` (after it), ``""`` (epoch 0: no epoch trained)."""
    if epoch <= 0:
        return ""
    return f"{'at' if during_training else 'after'} epoch {epoch}"


def divergence_phrase(epoch: int, during_training: bool, what: str) -> str:
    """``"at epoch 3: training loss nan"``; without an epoch (an SVM) just ``what``."""
    when = when_text(epoch, during_training)
    return f"{when}: {what}" if when else what


def divergence_line(scheme: str, fold: int, epoch: int, during_training: bool, what: str) -> str:
    """The line printed for a diverged unit: ``diverged: R0 fold 2 at epoch 3: training loss nan``.

    Args:
        fold: 1-based, as the run's progress lines count folds.
    """
    when = when_text(epoch, during_training)
    return f"diverged: {scheme} fold {fold}{' ' + when if when else ''}: {what}"


def _value_text(value) -> str:
    """``nan``, ``inf`` or ``-inf`` for a non-finite value."""
    value = float(value)
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _kinds(array: np.ndarray) -> str:
    """``"nan"``, ``"inf"`` or ``"nan and inf"``: the non-finite values in a float array."""
    kinds = [name for name, present in (("nan", np.isnan(array).any()), ("inf", np.isinf(array).any())) if present]
    return " and ".join(kinds)


def nonfinite_rows(array) -> tuple[int, int, str]:
    """``(rows with a non-finite value, rows, "nan"/"inf"/"nan and inf")`` of an array's first axis.

    Args:
        array: numbers of any shape (a 0-d array counts as one row); non-float dtypes are finite.
    """
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.complexfloating):
        return 0, (len(array) if array.ndim else 1), ""
    bad = ~np.isfinite(array)
    if array.ndim == 0:
        return int(bad), 1, _kinds(array) if bad else ""
    per_row = bad.reshape(len(array), -1).any(axis=1) if len(array) else np.zeros(0, bool)
    return int(per_row.sum()), len(array), _kinds(array) if per_row.any() else ""


def check_finite(values, what: str, epoch: int = 0) -> None:
    """Raise :class:`TrainingDiverged` when ``values`` hold a NaN or an infinity.

    For paths that are not Keras models (features and decision values of an SVM); Keras models
    are checked by :func:`watch_training`.

    Args:
        values: an array ``(n, ...)`` (or a list of such arrays, e.g. per-track posteriors).
        what: what the values are, e.g. ``"SVM decision values on the test tracks"``.
        epoch: epochs trained before (0: none).

    Raises:
        TrainingDiverged: ``"<what> nan for 3 of 10 rows"`` (``after epoch e``).
    """
    arrays = values if isinstance(values, (list, tuple)) else [values]
    bad = total = 0
    kinds = set()
    for array in arrays:
        n_bad, n, kind = nonfinite_rows(array)
        bad, total = bad + n_bad, total + n
        kinds.update(filter(None, kind.split(" and ")))
    if bad:
        raise TrainingDiverged(f"{what} {' and '.join(sorted(kinds, reverse=True))} for {bad} of {total} rows",
                               epoch, during_training=False)


def nonfinite_weights(model) -> str | None:
    """Which of a Keras model's variables hold a non-finite value, or None when all are finite.

    Returns:
        e.g. ``"dense/kernel (nan), dense/bias (nan)"`` (at most three named, then ``and N more``).
    """
    import keras

    bad = []
    for variable in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad.append(f"{getattr(variable, 'path', None) or variable.name} ({_kinds(value)})")
    if not bad:
        return None
    return ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")


def _loss_label(name: str) -> str:
    """``"training loss"`` for ``loss``, ``"validation loss"`` for ``val_loss``, else the log's own name."""
    return {"loss": "training loss", "val_loss": "validation loss"}.get(name, name.replace("_", " "))


class TrainingWatch:
    """The state of one :func:`watch_training` block: epochs trained so far, and a divergence seen in a fit.

    Attributes:
        epochs: epochs finished over every fit of the block.
        pending: the divergence found at the end of an epoch, raised when its fit returns.
    """

    def __init__(self):
        self.epochs = 0
        self.pending: TrainingDiverged | None = None

    def callback(self):
        """A Keras callback checking the epoch's losses (placed first, so it sees each epoch before the others)."""
        import keras

        watch = self

        class NonFiniteLoss(keras.callbacks.Callback):
            """Stops the fit after an epoch whose training or validation loss is not finite."""

            def on_epoch_end(self, epoch, logs=None):
                watch.epochs += 1
                for name, value in (logs or {}).items():
                    if not (name == "loss" or name.endswith("_loss")) or watch.pending is not None:
                        continue
                    try:
                        finite = math.isfinite(float(value))
                    except (TypeError, ValueError):
                        continue
                    if not finite:
                        watch.pending = TrainingDiverged(f"{_loss_label(name)} {_value_text(value)}", watch.epochs)
                        self.model.stop_training = True

        return NonFiniteLoss()

    def after_fit(self, model) -> None:
        """After a fit returned: raise the divergence of one of its epochs, or one in the weights."""
        pending, self.pending = self.pending, None
        if pending is not None:
            raise pending
        bad = nonfinite_weights(model)
        if bad:
            raise TrainingDiverged(f"weights non-finite: {bad}", self.epochs, during_training=False)

    def after_predict(self, outputs, method: str) -> None:
        """Raise when a prediction holds a non-finite value."""
        import keras

        bad = total = 0
        kinds = set()
        for array in keras.tree.flatten(outputs):
            n_bad, n, kind = nonfinite_rows(array)
            bad, total = bad + n_bad, max(total, n)
            kinds.update(filter(None, kind.split(" and ")))
        if bad:
            raise TrainingDiverged(f"model outputs {' and '.join(sorted(kinds, reverse=True))} for {min(bad, total)} "
                                   f"of {total} inputs ({method})", self.epochs, during_training=False)


#: The active watches, innermost last (the wrappers report to the innermost one).
_ACTIVE: list[TrainingWatch] = []
#: ``keras.Model``'s own attributes replaced by :func:`_install` (:data:`_MISSING`: it had none, it inherits).
_ORIGINALS: dict[str, object] = {}
_MISSING = object()


def _install() -> None:
    """Wrap ``keras.Model.fit``, ``predict`` and ``predict_on_batch`` (once, while a watch is active)."""
    import keras

    model_class = keras.Model
    for name in ("fit", "predict", "predict_on_batch"):
        _ORIGINALS[name] = model_class.__dict__.get(name, _MISSING)

    original_fit, original_predict = model_class.fit, model_class.predict
    original_predict_on_batch = model_class.predict_on_batch

    def fit(self, *args, **kwargs):
        watch = _ACTIVE[-1] if _ACTIVE else None
        if watch is None:
            return original_fit(self, *args, **kwargs)
        if len(args) > 5:  # callbacks given by position: fit(x, y, batch_size, epochs, verbose, callbacks, ...)
            args = list(args)
            args[5] = [watch.callback(), *(args[5] or [])]
        else:
            kwargs["callbacks"] = [watch.callback(), *(kwargs.get("callbacks") or [])]
        try:
            history = original_fit(self, *args, **kwargs)
        except Exception as exc:  # e.g. a later callback failing on the NaN outputs: the divergence is the cause
            pending, watch.pending = watch.pending, None
            if pending is None:
                raise
            raise pending from exc
        watch.after_fit(self)
        return history

    def predict(self, *args, **kwargs):
        outputs = original_predict(self, *args, **kwargs)
        if _ACTIVE:
            _ACTIVE[-1].after_predict(outputs, "model.predict")
        return outputs

    def predict_on_batch(self, *args, **kwargs):
        outputs = original_predict_on_batch(self, *args, **kwargs)
        if _ACTIVE:
            _ACTIVE[-1].after_predict(outputs, "model.predict_on_batch")
        return outputs

    for function, name in ((fit, "fit"), (predict, "predict"), (predict_on_batch, "predict_on_batch")):
        function.__name__ = function.__qualname__ = name
        function.__doc__ = getattr(original_fit if name == "fit" else original_predict if name == "predict"
                                   else original_predict_on_batch, "__doc__", None)
        setattr(model_class, name, function)


def _uninstall() -> None:
    """Restore ``keras.Model``'s own methods."""
    import keras

    for name, original in _ORIGINALS.items():
        if original is _MISSING:
            delattr(keras.Model, name)
        else:
            setattr(keras.Model, name, original)
    _ORIGINALS.clear()


@contextmanager
def watch_training():
    """Check every Keras fit and prediction in the block for non-finite values (see the module docstring).

    Inside the block, ``keras.Model.fit`` gets a first callback that checks each epoch's losses and
    checks the weights when it returns, and ``keras.Model.predict`` / ``predict_on_batch`` check
    their outputs; each raises :class:`TrainingDiverged` (naming the epoch and what was
    non-finite). Finite training runs exactly as without the block (the callback only reads the
    epoch's logs). Blocks nest (the innermost counts the epochs); ``keras.Model`` is restored when
    the outermost one ends. Not for concurrent threads training different units.

    Yields:
        the block's :class:`TrainingWatch` (its ``epochs``: epochs trained so far).
    """
    watch = TrainingWatch()
    if not _ACTIVE:
        _install()
    _ACTIVE.append(watch)
    try:
        yield watch
    finally:
        _ACTIVE.remove(watch)
        if not _ACTIVE:
            _uninstall()
