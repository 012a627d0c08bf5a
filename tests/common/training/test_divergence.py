"""Non-finite training is a failure, never a result (common/training/divergence.py).

Inside ``watch_training`` (the runner wraps every unit in it): a non-finite training or validation
loss stops the fit after that epoch and raises ``TrainingDiverged`` naming the epoch; non-finite
weights after a fit, and non-finite outputs of ``predict`` / ``predict_on_batch``, raise too;
finite training is exactly what it is without the watch.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training.divergence import TrainingDiverged, check_finite, watch_training
from common.training.trainer import TrainingConfig, train
from tests.runner_fixtures import nan_above_in_inference


def toy_data(n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal((n, 4))).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def tiny_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])


def _train(model, tmp_path, config, validation=True, **kw):
    return train(model, toy_data(64, 0), toy_data(32, 1) if validation else None, config,
                 loss="sparse_categorical_crossentropy", metrics=["accuracy"], n_train_examples=64,
                 checkpoint_path=tmp_path / "best.weights.h5", verbose=0, **kw)


def test_learning_rate_1e30_through_the_trainer_diverges_at_epoch_1(tmp_path):
    config = TrainingConfig(optimizer="sgd", learning_rate=1e30, epochs=5, patience=3)
    with watch_training():
        with pytest.raises(TrainingDiverged) as caught:
            _train(tiny_model(), tmp_path, config)
    assert caught.value.epoch == 1 and caught.value.during_training
    assert caught.value.what in ("training loss nan", "training loss inf")
    assert str(caught.value) == f"at epoch 1: {caught.value.what}"
    assert caught.value.as_dict() == {"what": caught.value.what, "epoch": 1, "during_training": True}
    # without the watch (as before), the same training "succeeds" with NaN weights
    result = _train(tiny_model(), tmp_path / "plain", config)
    assert not np.isfinite(result.history["loss"]).any()


def test_finite_training_is_the_same_with_and_without_the_watch(tmp_path):
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=3, patience=0)
    plain_model = tiny_model()
    plain = _train(plain_model, tmp_path / "a", config)
    watched_model = tiny_model()
    with watch_training() as watch:
        watched = _train(watched_model, tmp_path / "b", config)
        assert watch.epochs == 3
    assert watched.history == plain.history
    for a, b in zip(plain_model.get_weights(), watched_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "fit" not in vars(keras.Model) and "predict" not in vars(keras.Model)  # restored


def test_outputs_nan_only_on_large_inputs_are_caught_in_the_predictions(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), nan_above_in_inference(10.0), keras.layers.Dense(2, activation="softmax")])
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=2, patience=0)
    test = np.concatenate([np.ones((3, 4)), np.full((2, 4), 50.0)]).astype("float32")
    with watch_training():
        result = _train(model, tmp_path, config)  # inputs of training and validation are small: finite
        assert result.epochs_run == 2
        assert np.isfinite(model.predict(test[:3], verbose=0)).all()
        with pytest.raises(TrainingDiverged, match=r"^after epoch 2: model outputs nan for 2 of 5 inputs "
                                                   r"\(model\.predict\)$") as caught:
            model.predict(test, verbose=0)
        assert not caught.value.during_training
        with pytest.raises(TrainingDiverged, match=r"model outputs nan for 2 of 5 inputs \(model\.predict_on_batch\)"):
            model.predict_on_batch(test)
    assert np.isnan(model.predict(test, verbose=0)).sum() == 4  # outside the watch: unchanged Keras


def test_a_nan_validation_loss_names_the_validation_loss(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), nan_above_in_inference(10.0), keras.layers.Dense(2, activation="softmax")])
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=4, patience=0)
    with watch_training():
        with pytest.raises(TrainingDiverged, match=r"^at epoch 1: validation loss nan$"):
            train(model, toy_data(64, 0), toy_data(32, 1, scale=100.0), config,
                  loss="sparse_categorical_crossentropy", n_train_examples=64,
                  checkpoint_path=tmp_path / "best.weights.h5", verbose=0)


def test_epochs_are_counted_over_every_fit_of_the_block():
    """A schedule that calls fit(epochs=1) once per epoch (the LSTM segment tables' newbob) gets the epoch right."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    broken = toy_data(64, 0).map(lambda x, y: (x * float("nan"), y))  # from the third epoch on
    with watch_training() as watch:
        model.fit(toy_data(64, 0), epochs=1, verbose=0)
        model.fit(toy_data(64, 0), epochs=1, verbose=0)
        with pytest.raises(TrainingDiverged, match=r"^at epoch 3: training loss nan$"):
            model.fit(broken, epochs=3, verbose=0)
        assert watch.epochs == 3  # the fit stopped after its first (non-finite) epoch


def test_non_finite_weights_after_a_fit_are_caught():
    class Spoil(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            bias = self.model.layers[-1].bias
            bias.assign(np.array([np.inf, 0.0], dtype="float32"))

    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    with watch_training():
        with pytest.raises(TrainingDiverged, match=r"^after epoch 2: weights non-finite: .*bias \(inf\)$"):
            model.fit(toy_data(64, 0), epochs=2, verbose=0, callbacks=[Spoil()])


def test_check_finite_for_paths_that_are_not_keras():
    check_finite(np.zeros((3, 2)), "SVM decision values")
    check_finite([np.zeros((4, 2)), np.ones((2, 2))], "posteriors")
    with pytest.raises(TrainingDiverged, match=r"^after epoch 4: SVM decision values nan and inf for 2 of 3 rows$"):
        check_finite(np.array([[0.0, np.nan], [np.inf, 1.0], [0.0, 0.0]]), "SVM decision values", epoch=4)
    with pytest.raises(TrainingDiverged, match=r"^features nan for 1 of 6 rows$"):
        check_finite([np.zeros((4, 2)), np.array([[np.nan, 0.0], [0.0, 0.0]])], "features")
