"""The per-epoch test evaluation records the test metrics of every epoch and changes nothing else."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training.epoch_test_evaluation import (TEST_SELECTED_LABEL, EpochTestEvaluation, best_epoch_on_test,
                                                   predict_in_inference_mode, metrics_selected_on_test)
from common.training.trainer import TrainingConfig, train


def _data(n, seed, shuffle_seed=None):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)]
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        ds = ds.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)
    return x, y, ds.batch(8)


def _model():
    # dropout and batch normalisation: the layers whose training-time behaviour a careless
    # evaluation would disturb (random numbers drawn, moving statistics updated)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Dropout(0.5),
                             keras.layers.Dense(3, activation="softmax")])


def _accuracy(y, scores):
    return {"accuracy": float(np.mean(scores.argmax(1) == y.argmax(1))),
            "loss": float(-np.mean(np.sum(y * np.log(np.clip(scores, 1e-7, 1)), axis=1)))}


def _run(tmp_path, name, extra=()):
    keras.utils.set_random_seed(3)
    _, _, train_ds = _data(64, 0, shuffle_seed=5)
    _, _, val_ds = _data(32, 1)
    model = _model()
    config = TrainingConfig(optimizer="adam", learning_rate=0.01, epochs=6, patience=3, lr_decay_per_epoch=0.9)
    result = train(model, train_ds, val_ds, config, loss="categorical_crossentropy", metrics=["accuracy"],
                   n_train_examples=64, checkpoint_path=tmp_path / f"{name}.weights.h5", verbose=0,
                   extra_callbacks=extra)
    return model, result


def _test_callback():
    x_test, y_test, _ = _data(40, 2)
    inputs = tf.data.Dataset.from_tensor_slices(x_test).batch(8)
    return EpochTestEvaluation(inputs, lambda scores: _accuracy(y_test, scores))


def test_training_and_checkpoint_are_unchanged_by_the_per_epoch_test_evaluation(tmp_path):
    plain_model, plain = _run(tmp_path, "plain")
    callback = _test_callback()
    watched_model, watched = _run(tmp_path, "watched", extra=[callback])

    # identical training: every weight (kernels, biases, BN moving statistics) of the kept checkpoint
    for a, b in zip(plain_model.get_weights(), watched_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # identical validation-driven selection and logs
    assert plain.best_epoch == watched.best_epoch
    assert plain.epochs_run == watched.epochs_run
    assert plain.history == watched.history
    # and the test split was scored once per epoch run
    assert [r["epoch"] for r in callback.history] == list(range(1, watched.epochs_run + 1))
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["seconds"] >= 0 for r in callback.history)


def test_the_comparison_detects_an_evaluation_that_disturbs_training(tmp_path):
    """The test above can fail: scoring in training mode (dropout drawn, BN statistics updated) changes the weights."""

    class Careless(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            x_test, _, _ = _data(40, 2)
            self.model(x_test, training=True)  # updates BN moving statistics, draws dropout masks

    plain_model, _ = _run(tmp_path, "plain")
    careless_model, _ = _run(tmp_path, "careless", extra=[Careless()])
    assert any(not np.array_equal(a, b) for a, b in zip(plain_model.get_weights(), careless_model.get_weights()))


def test_inference_mode_prediction_matches_predict():
    keras.utils.set_random_seed(0)
    model = _model()
    x, _, _ = _data(20, 4)
    batches = tf.data.Dataset.from_tensor_slices(x).batch(6)
    np.testing.assert_allclose(predict_in_inference_mode(model, batches), model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match="no batch"):
        predict_in_inference_mode(model, [])


def test_each_metric_takes_its_own_best_epoch():
    history = [{"epoch": 1, "AUC": 0.80, "recall": 0.40, "loss": 1.0},
               {"epoch": 2, "AUC": 0.85, "recall": 0.30, "loss": float("nan")},
               {"epoch": 3, "AUC": 0.85, "recall": 0.35, "loss": 0.7}]
    best = best_epoch_on_test(history, ["AUC", "recall", "loss", "absent"], lower_is_better=["loss"])
    assert best == {"AUC": {"value": 0.85, "epoch": 2}, "recall": {"value": 0.40, "epoch": 1},
                    "loss": {"value": 0.7, "epoch": 3}}
    assert metrics_selected_on_test(history, ["AUC"]) == {f"AUC {TEST_SELECTED_LABEL}": 0.85}
    assert TEST_SELECTED_LABEL == "(best epoch on test, as the authors selected)"
