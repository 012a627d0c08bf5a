"""A user's scheme module: every bad module stops with a clear ConfigError before any dataset or
feature work; the module's code is part of its units' identity; its row never makes a run canonical."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from common.cli import main
from common.errors import ConfigError
from common.runner.identity import unit_identity
from common.runner.layout import RunCaps
from common.runner.scheme_module import add_scheme_module, load_scheme_module, scheme_module_status
from papers.crnn_tf.tables import table1_mtat as crnn_table1
from papers.mcclstm.tables import table3_gtzan

REPOSITORY = Path(__file__).resolve().parents[3]

GOOD = """
\"\"\"A tiny chunk model.\"\"\"
import keras
from keras import layers

SCHEME_NAME = "Tiny"


def build_model(input_shape, n_outputs):
    x = keras.Input(shape=input_shape)
    y = layers.Flatten()(x)
    y = layers.Dense(4, activation="relu")(y)
    return keras.Model(x, layers.Dense(n_outputs, activation="{activation}")(y))
"""


def write_module(folder: Path, text: str, name: str = "my_model.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def good(folder: Path, activation: str = "softmax", **kw) -> Path:
    return write_module(folder, GOOD.replace("{activation}", activation), **kw)


def test_a_good_module_becomes_the_last_row_with_the_tables_training_and_no_paper_numbers(tmp_path):
    spec = add_scheme_module(table3_gtzan(), str(good(tmp_path)))
    row = spec.schemes[-1]
    assert row.name == "Tiny" and row.scheme_module == str((tmp_path / "my_model.py").resolve())
    assert [s.name for s in spec.paper_trainable()] == [s.name for s in table3_gtzan().trainable()]
    assert row.config["input_shape"] == [40, 80]
    assert row.config["training"]["optimizer"] == "sgd" and row.config["training"]["batch_size"] == 32
    assert "Tiny" not in spec.reference  # no paper numbers for a user's row


def test_training_overrides_apply_and_unknown_fields_are_refused(tmp_path):
    path = good(tmp_path)
    path.write_text(path.read_text() + "\nTRAINING = {'batch_size': 8, 'epochs': 3}\n")
    row = add_scheme_module(table3_gtzan(), str(path)).schemes[-1]
    assert row.config["training"]["batch_size"] == 8 and row.config["training"]["epochs"] == 3
    path.write_text(path.read_text() + "\nTRAINING = {'batchsize': 8}\n")
    with pytest.raises(ConfigError, match=r"TRAINING is refused: unknown key 'batchsize' \(settable keys: optimizer, "):
        add_scheme_module(table3_gtzan(), str(path))


@pytest.mark.parametrize("text, message", [
    ("x = 1\n", r"defines no build_model\(input_shape, n_outputs\)"),
    ("import not_a_package_anywhere\n", r"failed to import: ModuleNotFoundError"),
    ("def build_model(input_shape, n_outputs):\n    raise RuntimeError('boom')\n",
     r"build_model\(\(40, 80\), 10\) failed: RuntimeError: boom"),
    ("def build_model(input_shape, n_outputs):\n    return 'a model'\n", r"returned builtins.str, not a keras.Model"),
    (GOOD.replace("n_outputs, activation", "3, activation").replace("{activation}", "softmax"),
     r"the model's output is \(None, 3\); the table needs \(None, 10\): 10 class probabilities \(softmax\)"),
    (GOOD.replace("keras.Input(shape=input_shape)", "keras.Input(shape=(80, 40))").replace("{activation}", "softmax"),
     r"the model's input is \(None, 80, 40\), the table feeds \(None, 40, 80\): one log-mel chunk"),
    (GOOD.replace("{activation}", "linear"), r"(not probabilities|do not sum to 1)"),
    (GOOD.replace("{activation}", "sigmoid"), r"do not sum to 1 per example"),
    (GOOD.replace("{activation}", "softmax").replace('"Tiny"', '"my row/x"'), r"SCHEME_NAME 'my row/x' holds '/' \(a path separator\)"),
    (GOOD.replace("{activation}", "softmax").replace('"Tiny"', '"MCCLSTM"'), r"'MCCLSTM' is a row of mcclstm.table3_gtzan"),
])
def test_bad_modules_give_a_clear_config_error_naming_the_file(tmp_path, text, message):
    path = write_module(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        add_scheme_module(table3_gtzan(), str(path))
    assert "scheme module" in str(caught.value)


def test_a_missing_file_or_module_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"scheme module file not found: .*nowhere\.py"):
        load_scheme_module(str(tmp_path / "nowhere.py"))
    with pytest.raises(ConfigError, match=r"no module named 'examples_nowhere\.model'"):
        load_scheme_module("examples_nowhere.model")


def test_a_table_without_an_adapter_says_which_tables_take_a_module(tmp_path):
    from dataclasses import replace

    other = replace(crnn_table1(), dataset=replace(crnn_table1().dataset, name="another_dataset"))
    with pytest.raises(ConfigError, match=r"crnn_tf.table1_mtat does not take a scheme module.*mcclstm.table3_gtzan"):
        add_scheme_module(other, str(good(tmp_path)))
    with pytest.raises(ConfigError, match=r"nopaper.table3_gtzan does not take a scheme module"):
        add_scheme_module(replace(table3_gtzan(), paper="nopaper"), str(good(tmp_path)))


def test_every_table_of_the_registry_takes_a_scheme_module():
    from common.registry import available_tables
    from common.runner.scheme_module import supported_tables

    assert supported_tables() == list(available_tables())


def test_the_dotted_module_name_of_an_example_works():
    row = add_scheme_module(table3_gtzan(), "examples.table3_small_cnn").schemes[-1]
    assert row.name == "SmallCNN" and row.scheme_module == str(REPOSITORY / "examples" / "table3_small_cnn.py")


def _identity(row) -> str:
    return unit_identity(scheme=row.name, config=row.config, features="f", split="s", epochs=2, seed=0,
                         code="c", audio="a")[0]


def test_editing_the_module_code_changes_the_unit_identity_and_editing_its_docstring_does_not(tmp_path):
    path = good(tmp_path)
    before = _identity(add_scheme_module(table3_gtzan(), str(path)).schemes[-1])
    path.write_text(path.read_text().replace('"""A tiny chunk model."""', '"""A tiny chunk model, documented."""'))
    assert _identity(add_scheme_module(table3_gtzan(), str(path)).schemes[-1]) == before
    path.write_text(path.read_text().replace("Dense(4,", "Dense(5,"))
    assert _identity(add_scheme_module(table3_gtzan(), str(path)).schemes[-1]) != before


def test_a_run_with_a_module_row_is_never_canonical_and_is_labelled_by_it():
    caps = RunCaps(folds_run=10, folds_in_protocol=10, scheme_module="SmallCNN", schemes=("SmallCNN",))
    assert caps.capped and caps.label() == "scheme-module-SmallCNN"
    assert caps.describe() == "scheme module SmallCNN"
    both = RunCaps(folds_run=2, folds_in_protocol=10, epochs=2, schemes=("R0", "SmallCNN"), scheme_module="SmallCNN")
    assert both.label() == "folds-2of10_epochs-2_schemes-R0_scheme-module-SmallCNN"
    assert scheme_module_status("reproduced") == "own model, full protocol"


def test_the_cli_stops_with_exit_2_before_indexing_the_dataset_or_extracting_features(tmp_path, capsys):
    path = write_module(tmp_path, "x = 1\n")
    status = main(["run", "mcclstm.table3_gtzan", "--data-dir", str(tmp_path / "no-dataset-here"),
                   "--scheme-module", str(path), "--results-dir", str(tmp_path / "r"), "--work-dir", str(tmp_path / "w"),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "defines no build_model" in err and "no-dataset-here" not in err
    assert not (tmp_path / "w").exists() and not (tmp_path / "r").exists()
    assert main(["all-results", "--scheme-module", str(path)]) == 2
    assert "adds a row to one table" in capsys.readouterr().err
