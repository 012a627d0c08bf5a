"""What a user may set of a TrainingConfig (a scheme module's ``TRAINING``): every field decided,
every value checked for type and range, the papers' own configurations untouched."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from common.training.overrides import OPTIMIZERS, TRAINING_FIELDS, normalised_overrides, training_override_problems
from common.training.trainer import TrainingConfig


def test_every_field_of_training_config_is_settable_or_refused_with_a_reason():
    assert set(TRAINING_FIELDS) == {f.name for f in dataclasses.fields(TrainingConfig)}
    for name, spec in TRAINING_FIELDS.items():
        assert spec.meaning, name
        assert (spec.check is not None) == (not spec.refused), name  # settable xor refused with a reason
        if spec.settable:
            default = getattr(TrainingConfig(), name)
            assert training_override_problems({name: default}) == [], (name, default)


def test_the_optimizers_accepted_are_the_ones_make_optimizer_builds():
    for name in OPTIMIZERS:
        assert TrainingConfig(optimizer=name).make_optimizer() is not None
    with pytest.raises(ValueError):
        TrainingConfig(optimizer="nonsense").make_optimizer()


@pytest.mark.parametrize("overrides, phrase", [
    ({"optimizer": "nonsense"}, "optimizer 'nonsense' is not one of 'sgd', 'adam'"),
    ({"optimizer": "Adam"}, "optimizer 'Adam' is not one of"),
    ({"epochs": "ten"}, "epochs 'ten' is a str, not an integer"),
    ({"epochs": 0}, "epochs 0 is below 1"),
    ({"epochs": 2.5}, "epochs 2.5 is a float, not an integer"),
    ({"epochs": True}, "epochs True is a bool, not an integer"),
    ({"batch_size": 0}, "batch_size 0 is below 1"),
    ({"batch_size": "64"}, "batch_size '64' is a str, not an integer"),
    ({"learning_rate": -1}, "learning_rate -1 must be above 0"),
    ({"learning_rate": 0}, "learning_rate 0 must be above 0"),
    ({"learning_rate": float("nan")}, "learning_rate nan is not a finite number"),
    ({"learning_rate": float("inf")}, "learning_rate inf is not a finite number"),
    ({"learning_rate": "0.01"}, "learning_rate '0.01' is a str, not a number"),
    ({"learning_rate": True}, "learning_rate True is a bool, not a number"),
    ({"patience": -5}, "patience -5 is below 0"),
    ({"momentum": 1.0}, "momentum 1.0 must be below 1"),
    ({"momentum": -0.1}, "momentum -0.1 is below 0"),
    ({"nesterov": 1}, "nesterov 1 is an int, not True or False"),
    ({"clipnorm": 0}, "clipnorm 0 must be above 0"),
    ({"clipnorm": float("inf")}, "clipnorm inf is not a finite number"),
    ({"lr_decay_per_epoch": 0}, "lr_decay_per_epoch 0 must be above 0"),
    ({"lr_decay_per_epoch": 1.5}, "lr_decay_per_epoch 1.5 is above 1"),
    ({"monitor": "val_accuracy"}, "monitor cannot be set here: model selection"),
    ({"mixed_precision": "on"}, "mixed_precision cannot be set here: "),
    ({"jit_compile": "off"}, "jit_compile cannot be set here: "),
    ({"batchsize": 8}, "unknown key 'batchsize'"),
])
def test_bad_values_are_refused_with_the_key_and_the_reason(overrides, phrase):
    problems = training_override_problems(overrides)
    assert len(problems) == 1 and phrase in problems[0], problems


def test_every_problem_is_reported_at_once():
    problems = training_override_problems({"epochs": "ten", "batch_size": 0, "optimizer": "nonsense"})
    assert [p.split()[0] for p in problems] == ["epochs", "batch_size", "optimizer"]


def test_sgd_settings_with_adam_are_refused_against_the_tables_optimizer():
    adam = TrainingConfig(optimizer="adam")
    assert training_override_problems({"momentum": 0.5}, adam) == [
        "momentum applies to SGD only and this row's optimizer is 'adam'"]
    assert training_override_problems({"nesterov": False, "optimizer": "adam"}, TrainingConfig()) == [
        "nesterov applies to SGD only and this row's optimizer is 'adam'"]
    assert training_override_problems({"momentum": 0.5, "optimizer": "sgd"}, adam) == []


def test_accepted_values_become_plain_python_values_of_the_fields_type():
    out = normalised_overrides({"learning_rate": 1, "batch_size": np.int64(16), "clipnorm": np.float32(2.0),
                                "nesterov": np.bool_(False), "optimizer": "adam"})
    assert out == {"learning_rate": 1.0, "batch_size": 16, "clipnorm": 2.0, "nesterov": False, "optimizer": "adam"}
    assert [type(v) for v in out.values()] == [float, int, float, bool, str]
    json.dumps(dataclasses.replace(TrainingConfig(), **out).describe())
    assert normalised_overrides({"clipnorm": None}) == {"clipnorm": None}
    assert math.isclose(normalised_overrides({"learning_rate": 0.005})["learning_rate"], 0.005)
