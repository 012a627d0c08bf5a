import keras
import pytest
import numpy as np
import tensorflow as tf

from common.training.trainer import TrainingConfig, train


def toy_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def test_keeps_the_best_validation_epoch_and_stops_early(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    config = TrainingConfig(optimizer="sgd", learning_rate=0.5, momentum=0.0, epochs=30, patience=2)
    result = train(model, toy_data(64, 0), toy_data(32, 1), config, loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], n_train_examples=64, checkpoint_path=tmp_path / "best.weights.h5",
                   log_dir=tmp_path / "tb", verbose=0)
    val_losses = result.history["val_loss"]
    assert result.best_epoch == 1 + int(np.argmin(val_losses))
    assert result.epochs_run <= 30 and result.epochs_run >= result.best_epoch
    if result.epochs_run < 30:  # stopped early: exactly `patience` epochs after the best one
        assert result.epochs_run - result.best_epoch == 2
    restored = model.evaluate(toy_data(32, 1), verbose=0)[0]  # [loss, accuracy]
    assert abs(restored - min(val_losses)) < 1e-4  # the kept weights are those of the best epoch
    assert any((tmp_path / "tb").rglob("*tfevents*"))
    assert result.examples_per_second > 0


def test_epoch_cap_and_learning_rate_decay(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    config = TrainingConfig(optimizer="adam", learning_rate=0.01, epochs=50, patience=0, lr_decay_per_epoch=0.5)
    result = train(model, toy_data(32, 0), None, config, loss="sparse_categorical_crossentropy",
                   n_train_examples=32, checkpoint_path=tmp_path / "w.weights.h5", epochs=3, verbose=0)
    assert result.epochs_run == 3
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01 * 0.5 ** 2)
