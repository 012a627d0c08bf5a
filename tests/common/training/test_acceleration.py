"""Acceleration settings of TrainingConfig: validation, environment overrides, precision policy."""

from __future__ import annotations

import argparse
import os

import keras
import pytest

from common.errors import ConfigError
from common.training.trainer import (TrainingConfig, acceleration_from_environment, distribution_strategy, gpu_count,
                             precision_policy, uses_mixed_precision)


def test_values_are_validated_and_mapped_to_keras():
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainingConfig(mixed_precision="yes")
    assert TrainingConfig(jit_compile="on").keras_jit_compile() is True
    assert TrainingConfig(jit_compile="off").keras_jit_compile() is False
    assert TrainingConfig().keras_jit_compile() == "auto"


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("REPRO_MIXED_PRECISION", "on")
    monkeypatch.setenv("REPRO_XLA", "OFF")
    config = acceleration_from_environment(TrainingConfig())
    assert (config.mixed_precision, config.jit_compile) == ("on", "off")
    monkeypatch.setenv("REPRO_XLA", "fast")
    with pytest.raises(ConfigError, match="REPRO_XLA"):
        acceleration_from_environment(TrainingConfig())
    monkeypatch.delenv("REPRO_XLA")
    monkeypatch.delenv("REPRO_MIXED_PRECISION")
    assert acceleration_from_environment(TrainingConfig(batch_size=3)) == TrainingConfig(batch_size=3)


def test_cli_options_reach_the_environment(monkeypatch):
    from common import cli

    # setenv first so that monkeypatch restores the variables' absence afterwards
    monkeypatch.setenv("REPRO_MIXED_PRECISION", "auto")
    monkeypatch.setenv("REPRO_XLA", "auto")
    cli._set_acceleration_environment(argparse.Namespace(mixed_precision="off", xla="on"))
    assert os.environ["REPRO_MIXED_PRECISION"] == "off" and os.environ["REPRO_XLA"] == "on"


def test_precision_policy_sets_and_restores_the_global_policy():
    before = keras.mixed_precision.global_policy().name
    with precision_policy(TrainingConfig(mixed_precision="on")) as name:
        assert name == "mixed_float16"
        layer = keras.layers.Dense(2)
        assert layer.dtype_policy.compute_dtype == "float16"
    assert keras.mixed_precision.global_policy().name == before
    with precision_policy(TrainingConfig(mixed_precision="off")) as name:
        assert name == "float32"
    assert uses_mixed_precision(TrainingConfig()) == (gpu_count() > 0)


def test_single_device_uses_the_default_strategy():
    strategy = distribution_strategy()
    assert strategy.num_replicas_in_sync == max(1, gpu_count())


def test_describe_lists_acceleration_only_when_set():
    assert "mixed_precision" not in TrainingConfig().describe()
    assert TrainingConfig(mixed_precision="off", jit_compile="on").describe()["jit_compile"] == "on"


def test_gpu_count_asks_the_keras_backend_that_trains(monkeypatch):
    """Under JAX the GPUs are JAX's devices, not TensorFlow's (TF only feeds tf.data there)."""
    import sys
    import types

    import keras
    import tensorflow as tf

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    fake_jax = types.SimpleNamespace(devices=lambda: [types.SimpleNamespace(platform="gpu"),
                                                      types.SimpleNamespace(platform="gpu"),
                                                      types.SimpleNamespace(platform="cpu")])
    monkeypatch.setitem(sys.modules, "jax", fake_jax)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert gpu_count() == 2
    assert distribution_strategy().num_replicas_in_sync == 1  # no MirroredStrategy outside TensorFlow
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    assert gpu_count() == 1
