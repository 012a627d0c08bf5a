"""Opt-in evaluation of the test split after every training epoch, for papers whose authors picked
their published numbers that way.

Some authors predict the test set at the end of every epoch and publish the best value each metric
reached over the epochs (for example the CRNN-TF notebooks, ``FishInMedi/CRNN-TF`` ``1.ipynb`` cell 3
L73-97 and cell 11 L173-197, maxima taken in ``Reseach_1_plot.ipynb`` cell 10 L19-21). A number
chosen on the test set is not a held-out estimate; this module makes it measurable beside the
honest, validation-selected one, without letting it change anything else:

- :class:`EpochTestEvaluation` is a Keras callback that, at the end of every epoch, predicts the
  test inputs in inference mode (``training=False``: dropout off, batch-normalisation statistics
  not updated, no random numbers drawn) and scores them with the caller's metric function. It
  writes nothing into the epoch logs, so early stopping, the learning-rate schedule and the kept
  checkpoint (:class:`common.training.trainer.BestWeightsCheckpoint`) see exactly what they would
  see without it; the trained weights and the validation-selected checkpoint are bit-identical
  (``tests/common/training/test_epoch_test_evaluation.py`` trains twice and compares them).
- :func:`best_epoch_on_test` gives, for every metric, the best value over the epochs and the
  epoch it came from (each metric its own epoch, as the authors' maxima are), and
  :func:`metrics_selected_on_test` names those values ``"<metric> (best epoch on test, as the
  authors selected)"`` (:data:`TEST_SELECTED_LABEL`) for a table's CSV.

Cost: one extra inference pass over the test split per epoch, plus the metric function.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Iterable, Mapping

import keras
import numpy as np

#: Suffix of a metric chosen on the test split over epochs (never the reproduction's number).
TEST_SELECTED_LABEL = "(best epoch on test, as the authors selected)"


def selected_on_test_name(metric: str) -> str:
    """``"<metric> (best epoch on test, as the authors selected)"``: the labelled name of a metric chosen on test."""
    return f"{metric} {TEST_SELECTED_LABEL}"


def predict_in_inference_mode(model: keras.Model, inputs) -> np.ndarray:
    """The model's outputs on ``inputs`` with ``training=False``, batch by batch.

    Calls the model directly (not ``model.predict``), so no predict function, iterator or callback
    state of the model is created or changed while ``fit`` runs, and no random number is drawn
    (layers such as dropout are identities in inference mode).

    Args:
        model: a built Keras model with one output.
        inputs: an iterable of input batches (e.g. a batched ``tf.data.Dataset`` without targets,
            or a list of arrays); a batch that is a tuple ``(x, ...)`` uses its first element.

    Returns:
        float32 array ``(n_examples, *output_shape)``: the batches' outputs concatenated in order.

    Raises:
        ValueError: ``inputs`` yields no batch.
    """
    outputs = []
    for batch in inputs:
        x = batch[0] if isinstance(batch, tuple) else batch
        outputs.append(np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float32))
    if not outputs:
        raise ValueError("per-epoch test evaluation: the test inputs yielded no batch")
    return np.concatenate(outputs, axis=0)


class EpochTestEvaluation(keras.callbacks.Callback):
    """Score the test split at the end of every epoch, without influencing training.

    Args:
        test_inputs: iterable of test input batches, re-iterated every epoch in the same order
            (a batched, unshuffled ``tf.data.Dataset`` without targets).
        score: ``outputs -> {metric: float}``, with ``outputs`` the float32 array of
            :func:`predict_in_inference_mode` (e.g. patch probabilities that the function
            aggregates to tracks before scoring).

    Attributes:
        history: one dict per finished epoch, ``{"epoch": 1-based int, "seconds": float (predict
            + score), metric: float, ...}``.

    The callback only reads the model; it never writes to the epoch ``logs``. Place it after the
    checkpoint and early-stopping callbacks (``common.training.trainer.train(callbacks=...)`` does).
    """

    def __init__(self, test_inputs, score: Callable[[np.ndarray], Mapping[str, float]]):
        super().__init__()
        self.test_inputs = test_inputs
        self.score = score
        self.history: list[dict] = []

    def on_train_begin(self, logs=None):
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        outputs = predict_in_inference_mode(self.model, self.test_inputs)
        metrics = {name: float(value) for name, value in self.score(outputs).items()}
        self.history.append({"epoch": int(epoch) + 1, **metrics, "seconds": time.perf_counter() - start})


def best_epoch_on_test(history: Iterable[Mapping], metrics: Iterable[str],
                       lower_is_better: Iterable[str] = ()) -> dict:
    """For each metric, its best value over the epochs of ``history`` and the (first) epoch that gave it.

    Each metric is maximised (minimised for ``lower_is_better``) on its own, so two metrics may come
    from different epochs: the authors' selection (e.g. ``max(aucs_1)``, ``max(recalls_1)`` in
    ``Reseach_1_plot.ipynb`` cell 10 L19-21). Non-finite values are ignored.

    Args:
        history: :attr:`EpochTestEvaluation.history`.
        metrics: metric names to select.
        lower_is_better: metrics where smaller is better (e.g. a loss).

    Returns:
        ``{metric: {"value": float, "epoch": int}}`` for every metric with at least one finite value.
    """
    history = list(history)
    lower = set(lower_is_better)
    best = {}
    for metric in metrics:
        sign = -1.0 if metric in lower else 1.0
        for record in history:
            value = record.get(metric)
            if value is None or not math.isfinite(float(value)):
                continue
            if metric not in best or sign * float(value) > sign * best[metric]["value"]:
                best[metric] = {"value": float(value), "epoch": int(record["epoch"])}
    return best


def metrics_selected_on_test(history: Iterable[Mapping], metrics: Iterable[str],
                          lower_is_better: Iterable[str] = ()) -> dict:
    """``{selected_on_test_name(metric): best value over epochs}`` (see :func:`best_epoch_on_test`).

    These values are chosen on the test split: report them only beside the validation-selected
    ones, labelled, to show how much of a gap to a paper comes from that selection.
    """
    return {selected_on_test_name(metric): chosen["value"]
            for metric, chosen in best_epoch_on_test(history, metrics, lower_is_better).items()}
