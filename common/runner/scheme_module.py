"""Your own model under a table's protocol: a user's *scheme module* added to a table as one more row.

``make <table target> SCHEME_MODULE=path/to/file.py`` (CLI ``--scheme-module``; a dotted module
name works too) loads a Python module that defines

- ``build_model(input_shape, n_outputs)`` (required): returns a Keras model mapping one example of
  the table's model input, batched (``(B, *input_shape)`` float32), to ``(B, n_outputs)``
  probabilities: softmax for the genre / class tables, sigmoid for the tagging tables;
- ``SCHEME_NAME`` (optional, default the file's stem): the row's name (letters, digits, ``._+-``;
  not the name of one of the paper's rows);
- ``TRAINING`` (optional): ``{field: value}`` overriding fields of the table's
  :class:`~common.training.trainer.TrainingConfig` for this row (``epochs``, ``batch_size``,
  ``learning_rate``, ``optimizer``, ``patience``, ...).

The row is run by the paper's adapter ``papers/<paper>/user_scheme.py`` exactly as the table runs
its own schemes (splits, features, input scaling, training configuration, early stopping and
checkpoint, metrics, confusion matrices); :data:`TableInput` says what its model receives, per
table (README, "Evaluate your own model"). Its identity includes the module's code
(:func:`common.runner.identity.file_code_version`), so editing the module re-runs its units, and
the row is no part of the paper's protocol: a run with it writes its table to the partial folder
``partial/<table>/<caps>_scheme-module-<name>/`` (:class:`~common.runner.layout.RunCaps`), never the
canonical table. The row has no paper numbers.

Every problem with the module (not found, fails to import, no ``build_model``, a bad
``SCHEME_NAME`` or ``TRAINING``, a build that fails, a return value that is not a Keras model, a
wrong input or output shape, outputs that are not probabilities) raises
:class:`~common.errors.ConfigError` in :func:`add_scheme_module`, before the dataset is indexed
and before any feature work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.errors import ConfigError
from common.runner.identity import file_code_version

#: Allowed row names: they name folders of fold records and Make-friendly caps labels.
SCHEME_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,47}$")


@dataclass(frozen=True)
class TableInput:
    """What a user's model receives and must return under one table's protocol.

    Attributes:
        shape: shape of one example, e.g. ``(40, 80)`` (mel bands x frames of an MCCLSTM chunk).
        meaning: what an example is (features, scaling), for messages and the README.
        outputs: ``"classes"`` (softmax over single-label classes) or ``"tags"`` (independent sigmoids).
        n_outputs: number of classes or tags of the table's dataset.
        aggregation: how the table turns the model's outputs into a track's prediction.
        dtype: dtype of the examples (float32).
    """

    shape: tuple[int, ...]
    meaning: str
    outputs: str
    n_outputs: int
    aggregation: str
    dtype: str = "float32"


@dataclass(frozen=True)
class SchemeModuleRef:
    """A loadable, picklable reference to a scheme module (what a row's ``run_fold`` carries).

    Attributes:
        reference: the module as given (a ``.py`` path or a dotted module name).
        path: the module's file, resolved.
        code: :func:`~common.runner.identity.file_code_version` of the file when the run was planned.
        name: the row's name (``SCHEME_NAME``).
    """

    reference: str
    path: str
    code: str
    name: str

    def load(self) -> "SchemeModule":
        """The module, loaded again (e.g. in a shard or a Ray worker), checked to be the planned code.

        Raises:
            ConfigError: the module cannot be loaded, or its code changed since the run was planned.
        """
        module = load_scheme_module(self.reference)
        if module.ref.code != self.code:
            raise ConfigError(f"scheme module {self.path} changed since this run was planned (code {self.code}, "
                              f"now {module.ref.code}); start the run again")
        return module


@dataclass(frozen=True)
class SchemeModule:
    """A loaded scheme module.

    Attributes:
        ref: its :class:`SchemeModuleRef`.
        build_model: ``(input_shape, n_outputs) -> keras.Model``.
        training: ``{TrainingConfig field: value}`` overrides (``TRAINING``), possibly empty.
        description: the first paragraph of the module's docstring (or a default).
    """

    ref: SchemeModuleRef
    build_model: Callable[[tuple, int], Any]
    training: dict = field(default_factory=dict)
    description: str = ""

    @property
    def name(self) -> str:
        """The row's name."""
        return self.ref.name

    def training_config(self, base):
        """The table's :class:`~common.training.trainer.TrainingConfig` with the module's ``TRAINING`` applied.

        Raises:
            ConfigError: an unknown field, or a value the configuration refuses.
        """
        known = {f.name for f in dataclasses.fields(base)}
        unknown = sorted(set(self.training) - known)
        if unknown:
            raise ConfigError(f"{self.ref.path}: TRAINING has unknown field(s) {unknown}; "
                              f"fields of the table's TrainingConfig: {sorted(known)}")
        try:
            return replace(base, **self.training)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.ref.path}: TRAINING {self.training} is refused: {exc}") from None


def _is_path(reference: str) -> bool:
    return reference.endswith(".py") or "/" in reference or "\\" in reference or Path(reference).is_file()


def load_scheme_module(reference: str) -> SchemeModule:
    """Import a scheme module from a ``.py`` file or a dotted module name and read its definitions.

    Args:
        reference: ``path/to/file.py`` (relative to the working directory) or ``package.module``
            (importable from the working directory or the installed packages).

    Returns:
        the :class:`SchemeModule`.

    Raises:
        ConfigError: the file or module is not found, fails to import (the error is named), defines
            no callable ``build_model``, or has a bad ``SCHEME_NAME`` / ``TRAINING``.
    """
    reference = str(reference).strip()
    if not reference:
        raise ConfigError("--scheme-module / SCHEME_MODULE is empty: give a .py file or a dotted module name")
    if _is_path(reference):
        path = Path(reference).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"scheme module file not found: {reference} (resolved to {path})")
        if path.suffix != ".py":
            raise ConfigError(f"scheme module {path}: not a Python file (.py)")
        name = f"scheme_module_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - whatever the user's code raises is reported, not a traceback
            sys.modules.pop(name, None)
            raise ConfigError(f"scheme module {path} failed to import: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(reference)
        except ModuleNotFoundError as exc:
            if exc.name and (reference == exc.name or reference.startswith(exc.name + ".")):
                raise ConfigError(f"scheme module not found: no module named {reference!r} (a file must be given as "
                                  f"a path ending in .py, e.g. examples/table3_small_cnn.py)") from None
            raise ConfigError(f"scheme module {reference} failed to import: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"scheme module {reference} failed to import: {type(exc).__name__}: {exc}") from None
        if not getattr(module, "__file__", None):
            raise ConfigError(f"scheme module {reference} has no source file (a namespace package?)")
        path = Path(module.__file__).resolve()
    builder = getattr(module, "build_model", None)
    if not callable(builder):
        raise ConfigError(f"scheme module {path} defines no build_model(input_shape, n_outputs) function "
                          f"returning a Keras model (see README, \"Evaluate your own model\")")
    scheme_name = getattr(module, "SCHEME_NAME", path.stem)
    if not isinstance(scheme_name, str) or not SCHEME_NAME_PATTERN.match(scheme_name):
        raise ConfigError(f"scheme module {path}: SCHEME_NAME {scheme_name!r} must be 1-48 letters, digits or "
                          f"'._+-', starting with a letter or digit")
    training = getattr(module, "TRAINING", {})
    if not isinstance(training, dict) or not all(isinstance(k, str) for k in training):
        raise ConfigError(f"scheme module {path}: TRAINING must be a dict of TrainingConfig fields, not {training!r}")
    doc = (module.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    try:
        code = file_code_version(path)
    except OSError as exc:
        raise ConfigError(f"scheme module {path}: cannot be read ({exc})") from None
    ref = SchemeModuleRef(reference=reference, path=str(path), code=code, name=scheme_name)
    return SchemeModule(ref=ref, build_model=builder, training=dict(training),
                        description=doc or f"user scheme from {path}")


def _describe_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def build_checked(module: SchemeModule, table_input: TableInput, n_outputs: int | None = None):
    """Call the module's ``build_model`` and check the model's input and output shapes.

    Args:
        module: the scheme module.
        table_input: what the table feeds the model.
        n_outputs: classes or tags (default ``table_input.n_outputs``; the run passes the
            dataset's actual count).

    Returns:
        the Keras model.

    Raises:
        ConfigError: the build fails, returns no ``keras.Model``, the model does not have exactly one
            input of shape ``(None, *table_input.shape)`` (None dimensions accepted) and one output of
            shape ``(None, n_outputs)``.
    """
    import keras

    n_outputs = table_input.n_outputs if n_outputs is None else n_outputs
    where = f"scheme module {module.ref.path}: build_model({table_input.shape}, {n_outputs})"
    try:
        model = module.build_model(tuple(table_input.shape), int(n_outputs))
    except Exception as exc:  # noqa: BLE001 - the user's error, reported in one paragraph
        raise ConfigError(f"{where} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, keras.Model):
        raise ConfigError(f"{where} returned {type(model).__module__}.{type(model).__qualname__}, not a keras.Model")
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError):
        raise ConfigError(f"{where}: the model is not built (give it keras.Input(shape=input_shape))") from None
    if len(inputs) != 1:
        raise ConfigError(f"{where}: the model has {len(inputs)} inputs; it must take one example of shape "
                          f"{table_input.shape} ({table_input.meaning})")
    got = tuple(inputs[0].shape[1:])
    if len(got) != len(table_input.shape) or any(g is not None and g != w for g, w in zip(got, table_input.shape)):
        raise ConfigError(f"{where}: the model's input is {_describe_shape((None, *got))}, the table feeds "
                          f"{_describe_shape((None, *table_input.shape))}: {table_input.meaning}")
    if len(outputs) != 1 or tuple(outputs[0].shape[1:]) != (n_outputs,):
        shapes = ", ".join(_describe_shape(o.shape) for o in outputs)
        kind = "class probabilities (softmax)" if table_input.outputs == "classes" else "tag probabilities (sigmoid)"
        raise ConfigError(f"{where}: the model's output is {shapes}; the table needs (None, {n_outputs}): "
                          f"{n_outputs} {kind}")
    return model


def check_probabilities(model, module: SchemeModule, table_input: TableInput, seed: int = 0) -> None:
    """Run the model on two random examples and check its outputs are probabilities of the right kind.

    Classes: every value in [0, 1] and each row summing to 1 (within 1e-3): a softmax. Tags: every
    value in [0, 1] (sigmoids).

    Raises:
        ConfigError: the call fails, or the outputs are not such probabilities.
    """
    x = np.random.default_rng(seed).standard_normal((2, *table_input.shape)).astype(table_input.dtype)
    where = f"scheme module {module.ref.path}"
    try:
        y = np.asarray(model(x, training=False), dtype=np.float64)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{where}: the model fails on a batch of shape {x.shape}: {type(exc).__name__}: {exc}") from None
    if not np.all(np.isfinite(y)) or y.min() < -1e-6 or y.max() > 1 + 1e-6:
        raise ConfigError(f"{where}: the model's outputs are not probabilities (range {y.min():.3g} .. {y.max():.3g}); "
                          f"end it with a {'softmax' if table_input.outputs == 'classes' else 'sigmoid'} activation")
    if table_input.outputs == "classes" and not np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        raise ConfigError(f"{where}: the model's outputs do not sum to 1 per example (sums {y.sum(axis=1).round(3)}); "
                          f"a single-label table needs softmax class probabilities")


def table_adapter(spec):
    """The paper's adapter module ``papers.<paper>.user_scheme`` and the table's :class:`TableInput`.

    Raises:
        ConfigError: the paper has no adapter, or the adapter does not support this table; the
            message lists the tables that take a scheme module.
    """
    try:
        adapter = importlib.import_module(f"papers.{spec.paper}.user_scheme")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"papers.{spec.paper}.user_scheme", f"papers.{spec.paper}"):
            raise
        adapter = None
    table_input = adapter.table_input(spec) if adapter is not None else None
    if table_input is None:
        raise ConfigError(f"{spec.paper}.{spec.table_id} does not take a scheme module (--scheme-module / "
                          f"SCHEME_MODULE) yet; tables that do: {', '.join(supported_tables())}")
    return adapter, table_input


def supported_tables() -> list[str]:
    """``<paper>.<table>`` of every table whose paper adapter runs a scheme module."""
    from common.registry import available_tables

    names = []
    for name, factory in available_tables().items():
        paper = name.split(".")[0]
        try:
            adapter = importlib.import_module(f"papers.{paper}.user_scheme")
        except ModuleNotFoundError:
            continue
        if adapter.table_input(factory()) is not None:
            names.append(name)
    return names


def add_scheme_module(spec, reference: str):
    """The table with one more trainable row: the user's scheme module, checked.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`).
        reference: ``path/to/file.py`` or a dotted module name.

    Returns:
        a copy of ``spec`` whose ``schemes`` end with the module's row (a
        :class:`~common.runner.spec.Scheme` with ``scheme_module`` set).

    Raises:
        ConfigError: the table takes no scheme module, or any problem with the module (see the
            module docstring); raised before any dataset or feature work.
    """
    adapter, table_input = table_adapter(spec)
    module = load_scheme_module(reference)
    taken = {s.name for s in spec.schemes}
    if module.name in taken:
        raise ConfigError(f"scheme module {module.ref.path}: SCHEME_NAME {module.name!r} is a row of "
                          f"{spec.paper}.{spec.table_id} already; choose another name")
    import keras

    keras.backend.clear_session()
    model = build_checked(module, table_input)
    check_probabilities(model, module, table_input)
    del model
    keras.backend.clear_session()
    scheme = adapter.user_scheme(spec, module, table_input)
    return replace(spec, schemes=tuple(spec.schemes) + (scheme,))


def scheme_module_status(status: str) -> str:
    """The ``status`` of a scheme module's row: the run's status after ``own model, ``.

    A user's model is evaluated under the protocol, not reproduced: ``reproduced`` reads ``own
    model, full protocol``; ``partial: 2/10 folds, epochs <= 2`` reads ``own model, partial: 2/10
    folds, epochs <= 2``; ``not run`` stays ``not run``.

    >>> scheme_module_status("reproduced"), scheme_module_status("partial: 1/10 folds")
    ('own model, full protocol', 'own model, partial: 1/10 folds')
    """
    if status == "not run":
        return status
    return "own model, " + ("full protocol" if status == "reproduced" else status)
