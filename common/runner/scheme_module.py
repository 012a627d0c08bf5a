"""Your own model under a table's protocol: a user's *scheme module* added to a table as one more row.

``make <table target> SCHEME_MODULE=path/to/file.py`` (CLI ``--scheme-module``; a dotted module
name works too) loads a Python module that defines

- ``build_model(input_shape, n_outputs)`` (required): returns a Keras model mapping one example of
  the table's model input, batched (``(B, *input_shape)`` float32), to ``(B, n_outputs)``
  probabilities: softmax for the genre / class tables, sigmoid for the tagging tables; where the
  input is a sequence of frames of any length (``input_shape`` ``(None, D)``, :attr:`TableInput.outputs`
  ``"frame classes"``), to a softmax at every frame, ``(B, T, n_outputs)``;
- ``SCHEME_NAME`` (optional, default the file's stem): the row's name, kept as written (ASCII
  letters, digits, spaces and ``._+-()[]``, as the paper's rows: ``"MFCC + SVM"``; see
  :func:`scheme_name_problems`); not the name of one of the table's rows, nor one that differs
  from such a name only in letter case or in characters a folder name does not keep. Folders use
  :func:`common.runner.layout.scheme_folder_label` where a name's characters are not safe;
- ``TRAINING`` (optional): ``{field: value}`` overriding fields of the table's
  :class:`~common.training.trainer.TrainingConfig` for this row; the keys a user may set, the
  values accepted and why the others are not settable:
  :data:`common.training.overrides.TRAINING_FIELDS` (README table: :func:`training_keys_markdown`).
  A row with overrides shows them in its ``status`` (:func:`scheme_module_status`).

The row is run by the paper's adapter ``papers/<paper>/user_scheme.py`` exactly as the table runs
its own schemes (splits, features, input scaling, training configuration, early stopping and
checkpoint, metrics, confusion matrices); :data:`TableInput` says what its model receives, per
table (README, "Evaluate your own model"). Its identity includes the module's code
(:func:`common.runner.identity.file_code_version`), so editing the module re-runs its units, and
the row is no part of the paper's protocol: a run with it writes its table to the partial folder
``partial/<table>/<caps>_scheme-module-<name>/`` (:class:`~common.runner.layout.RunCaps`), never the
canonical table. The row has no paper numbers.

Every problem with the module (not found, fails to import, calls ``sys.exit`` or raises
``KeyboardInterrupt`` itself while imported or built (e.g. ``argparse`` at import), no
``build_model``, a bad ``SCHEME_NAME`` or ``TRAINING`` key or value, a build that fails, a return
value that is not a Keras model, a wrong input or output shape, outputs that are not
probabilities) raises :class:`~common.errors.ConfigError` in :func:`add_scheme_module`, before
the dataset is indexed and before any feature work; every problem of ``SCHEME_NAME`` and
``TRAINING`` is named in the one message.

``python -m common.runner.scheme_module --readme-training`` prints the README's table of
``TRAINING`` keys (:func:`training_keys_markdown`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import re
import signal
import sys
import threading
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common.errors import ConfigError
from common.runner.identity import file_code_version
from common.training.overrides import TRAINING_FIELDS, normalised_overrides, training_override_problems

#: Longest row name (it names folders of fold records and checkpoints).
SCHEME_NAME_MAX_LENGTH = 48

#: Characters a row name may hold besides ASCII letters and digits (the paper's rows use them:
#: ``"MFCC + SVM"``, ``"CRNN-TF (GRU)"``, ``"[21] (3 layers)"``).
SCHEME_NAME_PUNCTUATION = " ._+-()[]"

#: Why some other characters are refused.
SCHEME_NAME_REFUSED = {"/": "a path separator", "\\": "a path separator", ",": "it separates names in SCHEMES=",
                       "'": "a quote (commands printed for the row quote its name)", '"': "a quote",
                       ":": "not allowed in Windows file names", "*": "a wildcard", "?": "a wildcard"}


@dataclass(frozen=True)
class TableInput:
    """What a user's model receives and must return under one table's protocol.

    Attributes:
        shape: shape of one example, e.g. ``(40, 80)`` (mel bands x frames of an MCCLSTM chunk);
            ``None`` for an axis of any length (the time axis of a sequence: ``(None, 545)``).
        meaning: what an example is (features, scaling), for messages and the README.
        outputs: ``"classes"`` (softmax over single-label classes, ``(B, n_outputs)``), ``"tags"``
            (independent sigmoids, ``(B, n_outputs)``) or ``"frame classes"`` (a softmax over the
            classes at every time step of a sequence: ``(B, T, n_outputs)`` for an input
            ``(B, T, ...)``, one probability vector per input frame).
        n_outputs: number of classes or tags of the table's dataset.
        aggregation: how the table turns the model's outputs into a track's prediction.
        dtype: dtype of the examples (float32).
        probe_length: the length given to each ``None`` axis of ``shape`` in the random batch of
            :func:`check_probabilities`.
    """

    shape: tuple[int | None, ...]
    meaning: str
    outputs: str
    n_outputs: int
    aggregation: str
    dtype: str = "float32"
    probe_length: int = 24

    def output_shape(self, n_outputs: int | None = None) -> tuple[int | None, ...]:
        """The model's output for one example: ``(n_outputs,)``, or ``(None, n_outputs)`` for frame classes."""
        n = self.n_outputs if n_outputs is None else n_outputs
        return (None, n) if self.outputs == "frame classes" else (n,)

    def probe_shape(self) -> tuple[int, ...]:
        """``shape`` with every ``None`` axis :attr:`probe_length` long."""
        return tuple(self.probe_length if d is None else d for d in self.shape)


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
        training: ``{TrainingConfig field: value}`` overrides (``TRAINING``), possibly empty; checked
            (:func:`~common.training.overrides.training_override_problems`) and made plain Python
            values (:func:`~common.training.overrides.normalised_overrides`) by :func:`load_scheme_module`.
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

        Args:
            base: the table's configuration of the row (``TrainingConfig``).

        Returns:
            ``base`` with the overrides (checked and normalised when the module was loaded).

        Raises:
            ConfigError: a problem of :func:`~common.training.overrides.training_override_problems`
                against ``base`` (e.g. SGD's ``momentum`` for a row whose optimiser is Adam).
        """
        problems = training_override_problems(self.training, base)
        if problems:
            raise ConfigError(f"scheme module {self.ref.path}: {_training_refused(problems)}")
        return replace(base, **self.training)


def _training_refused(problems: list[str], not_here=()) -> str:
    settable = [name for name, spec in TRAINING_FIELDS.items() if spec.settable and name not in not_here]
    return (f"TRAINING is refused: {'; '.join(problems)} (settable keys: {', '.join(settable)}; README, "
            f"\"Evaluate your own model\")")


def table_training_refusals(adapter, spec) -> dict[str, str]:
    """``{TrainingConfig field: why}``: fields a module's ``TRAINING`` may set elsewhere but not in this table.

    From the paper adapter's optional ``training_not_settable(spec)`` (e.g. LSTM segment's
    newbob schedule has no patience); empty when it defines none.
    """
    hook = getattr(adapter, "training_not_settable", None)
    return dict(hook(spec)) if hook is not None else {}


def scheme_name_problems(name) -> list[str]:
    """What is wrong with a ``SCHEME_NAME`` on its own (the table's rows are checked by :func:`add_scheme_module`).

    A row name is kept as written; it names the folders of its fold records and checkpoints
    (``folds/<name>/``) and is typed in ``SCHEMES=`` / ``SCHEME=``, so it must be 1 to
    :data:`SCHEME_NAME_MAX_LENGTH` characters of ASCII letters, digits and
    :data:`SCHEME_NAME_PUNCTUATION`, begin with a letter or digit and not end with a space or a dot.

    Returns:
        one phrase per problem, each starting ``SCHEME_NAME <name>``; empty when the name is fine.
    """
    if not isinstance(name, str):
        return [f"SCHEME_NAME {name!r} must be a string, not {type(name).__name__}"]
    if not name:
        return ["SCHEME_NAME is empty"]
    problems = []
    if len(name) > SCHEME_NAME_MAX_LENGTH:
        problems.append(f"SCHEME_NAME {name!r} is {len(name)} characters long; at most {SCHEME_NAME_MAX_LENGTH}")
    control = sorted({c for c in name if ord(c) < 32 or 127 <= ord(c) < 160})
    if control:
        problems.append(f"SCHEME_NAME {name!r} holds the control character(s) {', '.join(map(repr, control))}")
    other = [c for c in dict.fromkeys(name) if not (c.isascii() and c.isalnum()) and c not in SCHEME_NAME_PUNCTUATION
             and c not in control]
    if other:
        why = ", ".join(f"{c!r}" + (f" ({SCHEME_NAME_REFUSED[c]})" if c in SCHEME_NAME_REFUSED else "") for c in other)
        problems.append(f"SCHEME_NAME {name!r} holds {why}: a row name holds ASCII letters, digits and "
                        f"{SCHEME_NAME_PUNCTUATION.strip()!r} and spaces only")
    if not (name[0].isascii() and name[0].isalnum()):
        problems.append(f"SCHEME_NAME {name!r} must begin with a letter or digit")
    if name[-1] in " .":
        problems.append(f"SCHEME_NAME {name!r} must not end with a space or a dot")
    return problems


def _folder_key(name: str) -> str:
    """A name as a folder sees it: unsafe characters as ``-`` and letter case ignored (macOS, Windows)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-").casefold()


@contextmanager
def _user_code(where: str, when: str = "", capture: bool = False):
    """Run a module's own code; ``sys.exit`` or a ``KeyboardInterrupt`` it raises itself becomes a ConfigError.

    A Ctrl-C pressed meanwhile (SIGINT, seen by a handler installed for the block in the main
    thread) stays a ``KeyboardInterrupt``; other exceptions pass through. With ``capture``, what
    the code prints is held back and shown after it, unless it exits: then the last line it
    printed (e.g. argparse's error) goes into the message instead of its usage text.

    Args:
        where: ``"scheme module <path>"`` (and the call), for the message.
        when: e.g. ``" while being imported"``.
        capture: hold back ``sys.stdout`` / ``sys.stderr`` output of the block.

    Raises:
        ConfigError: the code raised ``SystemExit`` (``sys.exit``, ``argparse``) or raised
            ``KeyboardInterrupt`` itself.
    """
    pressed = []
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None

    def on_sigint(signum, frame):
        pressed.append(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            raise KeyboardInterrupt

    if previous is not None:
        signal.signal(signal.SIGINT, on_sigint)
    out, err = io.StringIO(), io.StringIO()
    exited = False
    try:
        if capture:
            with redirect_stdout(out), redirect_stderr(err):
                yield
        else:
            yield
    except SystemExit as exc:
        exited = True
        code = "" if exc.code is None else repr(exc.code)
        printed = [line for line in (err.getvalue() or out.getvalue()).splitlines() if line.strip()]
        said = f", after printing {printed[-1].strip()!r}" if printed else ""
        raise ConfigError(f"{where} called sys.exit({code}){when}{said}: a scheme module must not end the "
                          f"program (a script's code run at import, e.g. argparse reading this command's "
                          f"arguments? put it under `if __name__ == \"__main__\":`); importing it must only "
                          f"define build_model, SCHEME_NAME and TRAINING") from None
    except KeyboardInterrupt:
        if pressed or previous is None and threading.current_thread() is threading.main_thread():
            raise  # a real Ctrl-C (or one that cannot be told apart from it)
        raise ConfigError(f"{where} raised KeyboardInterrupt{when} (no Ctrl-C was pressed): a scheme module "
                          f"must not raise it") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if capture and not exited:
            sys.stdout.write(out.getvalue())
            sys.stderr.write(err.getvalue())


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
        ConfigError: the file or module is not found, fails to import (the error is named), calls
            ``sys.exit`` (argparse) or raises ``KeyboardInterrupt`` itself while imported (a Ctrl-C
            pressed meanwhile stays a ``KeyboardInterrupt``), defines no callable ``build_model``,
            or has a bad ``SCHEME_NAME`` (:func:`scheme_name_problems`) or ``TRAINING`` key or value
            (:func:`~common.training.overrides.training_override_problems`); every problem of the
            last two in one message.
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
            with _user_code(f"scheme module {path}", " while being imported", capture=True):
                spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - whatever the user's code raises is reported, not a traceback
            sys.modules.pop(name, None)
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"scheme module {path} failed to import: {type(exc).__name__}: {exc}") from None
        except BaseException:
            sys.modules.pop(name, None)
            raise
    else:
        try:
            with _user_code(f"scheme module {reference}", " while being imported", capture=True):
                module = importlib.import_module(reference)
        except ConfigError:
            raise
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
    problems = scheme_name_problems(scheme_name)
    training = getattr(module, "TRAINING", {})
    if not isinstance(training, dict):
        problems.append(f"TRAINING must be a dict {{key: value}}, not {type(training).__name__} {training!r:.80} "
                        f"(README, \"Evaluate your own model\")")
    else:
        training_problems = training_override_problems(training)
        if training_problems:
            problems.append(_training_refused(training_problems))
    if problems:
        raise ConfigError(f"scheme module {path}: {'; '.join(problems)}")
    training = normalised_overrides(training)
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
        ConfigError: the build fails or calls ``sys.exit``, returns no ``keras.Model``, the model does not have exactly one
            input of shape ``(None, *table_input.shape)`` (a None dimension of the model accepted;
            an axis the table leaves free, ``None`` in ``table_input.shape``, must be free in the
            model too) and one output of shape ``(None, *table_input.output_shape(n_outputs))``.
    """
    import keras

    n_outputs = table_input.n_outputs if n_outputs is None else n_outputs
    where = f"scheme module {module.ref.path}: build_model({table_input.shape}, {n_outputs})"
    try:
        with _user_code(where):
            model = module.build_model(tuple(table_input.shape), int(n_outputs))
    except ConfigError:
        raise
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
    if not _shape_matches(got, tuple(table_input.shape)) or (
            any(w is None and g is not None for g, w in zip(got, table_input.shape))):
        raise ConfigError(f"{where}: the model's input is {_describe_shape((None, *got))}, the table feeds "
                          f"{_describe_shape((None, *table_input.shape))}: {table_input.meaning}")
    wanted = table_input.output_shape(n_outputs)
    if len(outputs) != 1 or not _shape_matches(tuple(outputs[0].shape[1:]), wanted):
        shapes = ", ".join(_describe_shape(o.shape) for o in outputs)
        kind = {"classes": "class probabilities (softmax)", "tags": "tag probabilities (sigmoid)",
                "frame classes": "class probabilities (softmax) at every input frame"}[table_input.outputs]
        raise ConfigError(f"{where}: the model's output is {shapes}; the table needs "
                          f"{_describe_shape((None, *wanted))}: {n_outputs} {kind}")
    return model


def _shape_matches(got: tuple, wanted: tuple) -> bool:
    """Same rank, and equal wherever both give a length (``None``: any length)."""
    return len(got) == len(wanted) and all(g is None or w is None or g == w for g, w in zip(got, wanted))


def check_probabilities(model, module: SchemeModule, table_input: TableInput, seed: int = 0) -> None:
    """Run the model on two random examples and check its outputs are probabilities of the right kind.

    Classes: every value in [0, 1] and each row summing to 1 (within 1e-3): a softmax. Tags: every
    value in [0, 1] (sigmoids). Frame classes: the examples are sequences of
    :attr:`TableInput.probe_length` frames; the output must have one softmax row per frame
    (``(2, probe_length, n_outputs)``), each summing to 1.

    Raises:
        ConfigError: the call fails, or the outputs are not such probabilities.
    """
    x = np.random.default_rng(seed).standard_normal((2, *table_input.probe_shape())).astype(table_input.dtype)
    where = f"scheme module {module.ref.path}"
    try:
        with _user_code(where, " when called"):
            y = np.asarray(model(x, training=False), dtype=np.float64)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"{where}: the model fails on a batch of shape {x.shape}: {type(exc).__name__}: {exc}") from None
    if table_input.outputs == "frame classes":
        if y.shape[:2] != x.shape[:2]:
            raise ConfigError(f"{where}: on a batch of shape {x.shape} the model's output has shape {y.shape}; the "
                              f"table needs one probability vector per input frame, {(*x.shape[:2], y.shape[-1])} "
                              f"(keep the time axis: no pooling or striding over time, return_sequences=True)")
        y = y.reshape(-1, y.shape[-1])
    if not np.all(np.isfinite(y)) or y.min() < -1e-6 or y.max() > 1 + 1e-6:
        raise ConfigError(f"{where}: the model's outputs are not probabilities (range {y.min():.3g} .. {y.max():.3g}); "
                          f"end it with a {'sigmoid' if table_input.outputs == 'tags' else 'softmax'} activation")
    if table_input.outputs != "tags" and not np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        per = "frame" if table_input.outputs == "frame classes" else "example"
        raise ConfigError(f"{where}: the model's outputs do not sum to 1 per {per} (sums {y.sum(axis=1).round(3)[:8]}); "
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
            module docstring), including a ``SCHEME_NAME`` that is a row of the table or differs
            from one only in letter case or in characters other than letters, digits, ``.`` and
            ``-`` (their folders would mix); raised before any dataset or feature work.
    """
    adapter, table_input = table_adapter(spec)
    module = load_scheme_module(reference)
    refusals = table_training_refusals(adapter, spec)
    problems = [f"{key} cannot be set in {spec.paper}.{spec.table_id}: {why}" for key, why in refusals.items()
                if key in module.training]
    if problems:
        raise ConfigError(f"scheme module {module.ref.path}: {_training_refused(problems, refusals)}")
    for row in spec.schemes:
        if module.name == row.name:
            raise ConfigError(f"scheme module {module.ref.path}: SCHEME_NAME {module.name!r} is a row of "
                              f"{spec.paper}.{spec.table_id} already; choose another name")
        if _folder_key(module.name) == _folder_key(row.name):
            raise ConfigError(f"scheme module {module.ref.path}: SCHEME_NAME {module.name!r} is too like the "
                              f"paper's row {row.name!r} of {spec.paper}.{spec.table_id}: both read "
                              f"{_folder_key(row.name)!r} as a folder name once letter case and characters "
                              f"other than letters, digits, '.' and '-' are set aside (folders of fold records "
                              f"ignore letter case on macOS and Windows); choose another name")
    import keras

    keras.backend.clear_session()
    model = build_checked(module, table_input)
    check_probabilities(model, module, table_input)
    del model
    keras.backend.clear_session()
    scheme = replace(adapter.user_scheme(spec, module, table_input), training_overrides=dict(module.training))
    return replace(spec, schemes=tuple(spec.schemes) + (scheme,))


def scheme_module_status(status: str, training: dict | None = None) -> str:
    """The ``status`` of a scheme module's row: the run's status after ``own model, `` and its overrides.

    A user's model is evaluated under the protocol, not reproduced: ``reproduced`` reads ``own
    model, full protocol``; ``partial: 2/10 folds, epochs <= 2`` reads ``own model, partial: 2/10
    folds, epochs <= 2``; ``not run`` stays ``not run``. A row whose module sets ``TRAINING`` says
    so: ``own model, TRAINING: learning_rate=0.005, batch_size=64, partial: 2/10 folds``.

    Args:
        status: the status :func:`common.outputs.result_tables.scheme_status` gave the row.
        training: the module's ``TRAINING`` overrides (``{field: value}``), or None / empty.

    >>> scheme_module_status("reproduced"), scheme_module_status("partial: 1/10 folds", {"epochs": 5})
    ('own model, full protocol', 'own model, TRAINING: epochs=5, partial: 1/10 folds')
    """
    if status == "not run":
        return status
    overrides = ", ".join(f"{key}={value}" for key, value in (training or {}).items())
    return ("own model, " + (f"TRAINING: {overrides}, " if overrides else "")
            + ("full protocol" if status == "reproduced" else status))


def table_trainings() -> dict[str, Any]:
    """``{"<paper>.<table>": TrainingConfig}``: the configuration a module's ``TRAINING`` overrides, per table.

    For every table of :func:`supported_tables` (its adapter's ``table_training(spec)``).
    """
    from common.registry import available_tables

    tables = available_tables()
    out = {}
    for name in supported_tables():
        spec = tables[name]()
        out[name] = importlib.import_module(f"papers.{spec.paper}.user_scheme").table_training(spec)
    return out


def _markdown_value(value) -> str:
    return f"`{value!r}`"


def training_keys_markdown() -> str:
    """The README's table of ``TRAINING`` keys: meaning, values accepted and each table's default.

    One row per :class:`~common.training.trainer.TrainingConfig` field
    (:data:`~common.training.overrides.TRAINING_FIELDS`), settable ones first; one default column per
    group of tables with the same configuration (:func:`table_trainings`); a field that is not
    settable gives the reason instead of values and defaults, and a field a table's adapter does
    not let its module set (:func:`table_training_refusals`) gives that reason in its column.

    Returns:
        GitHub-flavoured Markdown, no trailing newline.
    """
    from common.registry import available_tables

    groups: dict[tuple, list[str]] = {}
    configs, refusals = {}, {}
    factories = available_tables()
    for name, config in table_trainings().items():
        spec = factories[name]()
        refused = table_training_refusals(importlib.import_module(f"papers.{spec.paper}.user_scheme"), spec)
        key = (tuple((f, getattr(config, f)) for f, field_spec in TRAINING_FIELDS.items() if field_spec.settable),
               tuple(sorted(refused.items())))
        groups.setdefault(key, []).append(name)
        configs[key], refusals[key] = config, refused
    header = ["Key", "Meaning", "Accepted values"] + [
        "Default in " + ", ".join(f"`{name}`" for name in names) for names in groups.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    ordered = sorted(TRAINING_FIELDS.items(), key=lambda item: not item[1].settable)
    for field_name, spec in ordered:
        if spec.settable:
            cells = [spec.accepted] + [f"not settable here: {refusals[key][field_name]}" if field_name in refusals[key]
                                       else _markdown_value(getattr(configs[key], field_name)) for key in groups]
        else:
            cells = [f"not settable: {spec.refused}"] + ["" for _ in groups]
        lines.append("| " + " | ".join([f"`{field_name}`", spec.meaning, *cells]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] != ["--readme-training"]:
        sys.exit("usage: python -m common.runner.scheme_module --readme-training")
    print(training_keys_markdown())
