"""What a user may set in a table's training configuration: a scheme module's ``TRAINING`` checked.

Every field of :class:`~common.training.trainer.TrainingConfig` is listed in
:data:`TRAINING_FIELDS` with its meaning and the values accepted, or the reason it is not settable
by a user. :func:`training_override_problems` names every problem of a user's overrides (one phrase
each) and :func:`normalised_overrides` makes accepted values plain Python values. The papers' own
configurations are the tables' choices and are not checked here.

This module is kept apart from :mod:`common.training.trainer` on purpose: the trainer is part of
every table's code version (:func:`common.runner.identity.code_version`), and the checks of a
user's input must not change the identity of stored results.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

import numpy as np

from common.training.trainer import TrainingConfig

#: Values of ``TrainingConfig.optimizer``: the names :meth:`TrainingConfig.make_optimizer` builds.
OPTIMIZERS = ("sgd", "adam")


def _kind(value) -> str:
    name = type(value).__name__
    return ("an " if name[:1] in "aeiou" else "a ") + name


def _integer(minimum: int) -> Callable[[str, Any], str | None]:
    def check(name, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            return f"{name} {value!r} is {_kind(value)}, not an integer"
        if value < minimum:
            return f"{name} {value!r} is below {minimum}"
        return None
    return check


def _real(low: float, high: float | None = None, *, low_open: bool = True, high_open: bool = False,
          optional: bool = False) -> Callable[[str, Any], str | None]:
    def check(name, value):
        if optional and value is None:
            return None
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            return f"{name} {value!r} is {_kind(value)}, not a number" + (" (or None)" if optional else "")
        if not math.isfinite(value):
            return f"{name} {value!r} is not a finite number"
        if low_open and value <= low:
            return f"{name} {value!r} must be above {low:g}"
        if not low_open and value < low:
            return f"{name} {value!r} is below {low:g}"
        if high is not None and high_open and value >= high:
            return f"{name} {value!r} must be below {high:g}"
        if high is not None and not high_open and value > high:
            return f"{name} {value!r} is above {high:g}"
        return None
    return check


def _boolean(name, value):
    if not isinstance(value, (bool, np.bool_)):
        return f"{name} {value!r} is {_kind(value)}, not True or False"
    return None


def _optimizer(name, value):
    if not isinstance(value, str) or value not in OPTIMIZERS:
        return f"{name} {value!r} is not one of {', '.join(map(repr, OPTIMIZERS))}"
    return None


@dataclass(frozen=True)
class TrainingField:
    """Whether and how a user may set one :class:`TrainingConfig` field (a scheme module's ``TRAINING``).

    Attributes:
        meaning: what the field does, for messages and the README.
        accepted: the values accepted, in words (empty when the field is not settable).
        check: ``(name, value) -> problem | None``: one phrase naming the field, the value and what
            is wrong with it; None when the field is not settable.
        refused: why the field is not settable by a user (empty when it is).
    """

    meaning: str
    accepted: str = ""
    check: Callable[[str, Any], str | None] | None = None
    refused: str = ""

    @property
    def settable(self) -> bool:
        """True when a scheme module's ``TRAINING`` may set the field."""
        return self.check is not None


#: Every field of :class:`TrainingConfig`, in its order, with what a user may set it to (a
#: scheme module's ``TRAINING``, :mod:`common.runner.scheme_module`) or why not. The papers'
#: own configurations are not checked by this (their values are the tables' choices).
TRAINING_FIELDS: dict[str, TrainingField] = {
    "optimizer": TrainingField("the optimiser", " or ".join(f"`{o!r}`" for o in OPTIMIZERS), _optimizer),
    "learning_rate": TrainingField("initial learning rate", "a finite number > 0", _real(0.0)),
    "momentum": TrainingField("SGD momentum (SGD only)", "a number, 0 <= momentum < 1",
                              _real(0.0, 1.0, low_open=False, high_open=True)),
    "nesterov": TrainingField("Nesterov momentum (SGD only)", "`True` or `False`", _boolean),
    "batch_size": TrainingField("examples per batch (chunks or clips, as the table's pipeline defines)",
                                "an integer >= 1", _integer(1)),
    "epochs": TrainingField("maximum number of epochs (a run's `EPOCHS` cap lowers it further)",
                            "an integer >= 1", _integer(1)),
    "patience": TrainingField("early-stopping patience in epochs on the validation loss (0: no early "
                              "stopping, every epoch runs; the best validation epoch is kept either way)",
                              "an integer >= 0", _integer(0)),
    "monitor": TrainingField("validation quantity of early stopping and of the checkpoint kept",
                             refused="model selection on the validation loss is part of the table's protocol"),
    "lr_decay_per_epoch": TrainingField("factor applied to the learning rate after each epoch (1: constant)",
                                        "a number, 0 < factor <= 1", _real(0.0, 1.0)),
    "clipnorm": TrainingField("gradient-norm clipping (`None`: off)", "`None` or a finite number > 0",
                              _real(0.0, optional=True)),
    "mixed_precision": TrainingField(
        "float16 compute with float32 weights",
        refused="acceleration is chosen for the whole run: --mixed-precision auto, on or off on the command line "
                "(make: MSECNN_OPTS=\"--mixed-precision off\")"),
    "jit_compile": TrainingField(
        "XLA compilation of the train step",
        refused="acceleration is chosen for the whole run: --xla auto, on or off on the command line "
                "(make: MSECNN_OPTS=\"--xla off\")"),
}

#: Fields that only the SGD optimiser reads.
SGD_ONLY_FIELDS = ("momentum", "nesterov")


def training_override_problems(overrides: Mapping, base: TrainingConfig | None = None) -> list[str]:
    """What is wrong with a user's overrides of a :class:`TrainingConfig` (a scheme module's ``TRAINING``).

    Args:
        overrides: ``{field name: value}`` as the user wrote it.
        base: the table's configuration the overrides apply to, or None; with it, SGD-only fields
            (:data:`SGD_ONLY_FIELDS`) set for a row whose optimiser is Adam are refused too.

    Returns:
        one phrase per problem, in the order of ``overrides`` (each starts with the key): an unknown
        key, a field that is not settable (:data:`TRAINING_FIELDS`, with the reason), a value of the
        wrong type (bools are not integers or numbers; strings are not numbers), out of range, not
        finite, or an unknown optimiser. Empty when every override is accepted.
    """
    problems = []
    for name, value in overrides.items():
        spec = TRAINING_FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            problems.append(f"unknown key {name!r}")
        elif not spec.settable:
            problems.append(f"{name} cannot be set here: {spec.refused}")
        else:
            problem = spec.check(name, value)
            if problem:
                problems.append(problem)
    if base is not None:
        optimizer = overrides.get("optimizer", base.optimizer)
        if optimizer != "sgd" and optimizer in OPTIMIZERS:
            problems.extend(f"{name} applies to SGD only and this row's optimizer is {optimizer!r}"
                            for name in SGD_ONLY_FIELDS if name in overrides)
    return problems


def normalised_overrides(overrides: Mapping) -> dict:
    """Accepted overrides as plain Python values of each field's type (JSON-able, stable identities).

    ``1`` for a float field becomes ``1.0``, ``numpy.int64(16)`` becomes ``16``, ``numpy.bool_``
    a ``bool``, so that a run's configuration and identity do not depend on how a number was spelled.
    Call it after :func:`training_override_problems` returned no problem.
    """
    kinds = {f.name: f.type for f in fields(TrainingConfig)}
    out = {}
    for name, value in overrides.items():
        kind = str(kinds[name])
        if value is None or isinstance(value, str):
            out[name] = value
        elif kind == "bool":
            out[name] = bool(value)
        elif kind == "int":
            out[name] = int(value)
        else:
            out[name] = float(value)
    return out
