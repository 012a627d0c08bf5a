"""The scheme-module contract, checked up front: every ``TRAINING`` key and value, the row's name
and what the module does when imported, refused in one paragraph with exit status 2 before the
dataset is read; a row's name kept as written with a safe folder form; overrides shown in the status."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from common.cli import main
from common.errors import ConfigError
from common.runner.assembly import assemble
from common.runner.layout import RunCaps
from common.runner.scheme_module import (add_scheme_module, load_scheme_module, scheme_module_status,
                                         training_keys_markdown)
from common.training.overrides import TRAINING_FIELDS
from papers.mcclstm.tables import table3_gtzan
from tests.common.runner.test_scheme_module import GOOD as CHUNK_MODEL
from papers.msecnn.tables import table1_mtat as msecnn_table1

REPOSITORY = Path(__file__).resolve().parents[3]

GOOD = CHUNK_MODEL.format(activation="softmax")  # the tiny chunk model of the module tests


def module_file(folder: Path, extra: str = "", name: str = "my_model.py", text: str = GOOD) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text) + "\n" + textwrap.dedent(extra) + "\n")
    return path


def run_cli(tmp_path, path, capsys) -> tuple[int, str]:
    status = main(["run", "mcclstm.table3_gtzan", "--data-dir", str(tmp_path / "no-dataset-here"),
                   "--scheme-module", str(path), "--results-dir", str(tmp_path / "r"),
                   "--work-dir", str(tmp_path / "w"), "--no-progress"])
    return status, capsys.readouterr().err


# --- TRAINING -------------------------------------------------------------------------------------

@pytest.mark.parametrize("training, phrase", [
    ('{"optimizer": "nonsense"}', "optimizer 'nonsense' is not one of 'sgd', 'adam'"),
    ('{"epochs": "ten"}', "epochs 'ten' is a str, not an integer"),
    ('{"batch_size": 0}', "batch_size 0 is below 1"),
    ('{"batch_size": "64"}', "batch_size '64' is a str, not an integer"),
    ('{"learning_rate": -1}', "learning_rate -1 must be above 0"),
    ('{"learning_rate": 0}', "learning_rate 0 must be above 0"),
    ('{"learning_rate": float("nan")}', "learning_rate nan is not a finite number"),
    ('{"learning_rate": float("inf")}', "learning_rate inf is not a finite number"),
    ('{"patience": -5}', "patience -5 is below 0"),
    ('{"epochs": 0}', "epochs 0 is below 1"),
    ('{"clipnorm": -1.0}', "clipnorm -1.0 must be above 0"),
    ('{"momentum": 2}', "momentum 2 must be below 1"),
    ('{"monitor": "val_accuracy"}', "monitor cannot be set here"),
    ('{"batchsize": 8}', "unknown key 'batchsize'"),
    ('[("epochs", 2)]', "TRAINING must be a dict"),
])
def test_a_bad_training_value_stops_the_cli_with_exit_2_before_the_dataset_is_read(tmp_path, capsys, training,
                                                                                    phrase):
    status, err = run_cli(tmp_path, module_file(tmp_path, f"TRAINING = {training}"), capsys)
    assert status == 2 and phrase in err, err
    assert "scheme module" in err and str(tmp_path / "my_model.py") in err
    assert "Traceback" not in err and "\n\n" not in err.strip() and "no-dataset-here" not in err
    assert not (tmp_path / "w").exists() and not (tmp_path / "r").exists()


def test_an_unknown_key_lists_the_settable_keys_and_every_problem_is_named_at_once(tmp_path):
    path = module_file(tmp_path, 'TRAINING = {"batchsize": 8, "epochs": "ten", "learning_rate": -1}')
    with pytest.raises(ConfigError) as caught:
        add_scheme_module(table3_gtzan(), str(path))
    message = str(caught.value)
    assert "unknown key 'batchsize'" in message and "epochs 'ten'" in message and "learning_rate -1" in message
    settable = [name for name, spec in TRAINING_FIELDS.items() if spec.settable]
    assert "settable keys: " + ", ".join(settable) in message


def test_sgd_settings_on_the_adam_table_are_refused_before_the_dataset(tmp_path):
    path = module_file(tmp_path, 'TRAINING = {"momentum": 0.5}', text=MSECNN_GOOD)
    with pytest.raises(ConfigError, match=r"momentum applies to SGD only and this row's optimizer is 'adam'"):
        add_scheme_module(msecnn_table1(), str(path))


MSECNN_GOOD = GOOD.replace('activation="softmax"', 'activation="sigmoid"')


def test_accepted_overrides_reach_the_rows_configuration_as_plain_values(tmp_path):
    path = module_file(tmp_path, 'import numpy as np\nTRAINING = {"learning_rate": 1, "batch_size": np.int64(16)}')
    row = add_scheme_module(table3_gtzan(), str(path)).schemes[-1]
    assert row.config["training"]["learning_rate"] == 1.0 and isinstance(row.config["training"]["learning_rate"], float)
    assert type(row.config["training"]["batch_size"]) is int
    assert row.training_overrides == {"learning_rate": 1.0, "batch_size": 16}


def test_the_readme_lists_every_key_with_each_tables_default():
    readme = (REPOSITORY / "README.md").read_text()
    block = training_keys_markdown()
    assert block in readme, ("README.md's TRAINING table is out of date; regenerate it with\n"
                             "  .venv/bin/python -m common.runner.scheme_module --readme-training\n" + block)
    for name in TRAINING_FIELDS:
        assert f"| `{name}` |" in block
    assert "0.01" in block and "0.0001" in block  # MCCLSTM's and MsE-CNN's learning rates


# --- status ---------------------------------------------------------------------------------------

def test_a_row_with_overrides_says_so_in_its_status(tmp_path):
    path = module_file(tmp_path, 'TRAINING = {"learning_rate": 0.005, "batch_size": 64}')
    spec = add_scheme_module(table3_gtzan(), str(path))
    records = {"Tiny": [{"scheme": "Tiny", "fold": k, "identity": "x", "metrics": {"accuracy": 50.0}}
                        for k in range(2)]}
    caps = RunCaps(folds_run=2, folds_in_protocol=10, epochs=2, schemes=("Tiny",), scheme_module="Tiny")
    table, _ = assemble(spec, records, caps, n_tracks=1000)
    status = table.set_index("scheme").loc["Tiny", "status"]
    assert status == "own model, TRAINING: learning_rate=0.005, batch_size=64, partial: 2/10 folds, epochs <= 2"
    plain = add_scheme_module(table3_gtzan(), str(module_file(tmp_path, "", name="plain.py")))
    table, _ = assemble(plain, records, caps, n_tracks=1000)
    assert table.set_index("scheme").loc["Tiny", "status"] == "own model, partial: 2/10 folds, epochs <= 2"


def test_the_status_text_of_overrides():
    assert scheme_module_status("reproduced", {"optimizer": "adam", "clipnorm": None}) == (
        "own model, TRAINING: optimizer=adam, clipnorm=None, full protocol")
    assert scheme_module_status("not run", {"epochs": 3}) == "not run"
    assert scheme_module_status("partial: 1/10 folds", {}) == "own model, partial: 1/10 folds"


# --- SCHEME_NAME ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["My CNN + LSTM", "CNN (small) [v2]", "R0-mine", "a.b_c+d-e"])
def test_a_row_name_is_kept_as_written(tmp_path, name):
    path = module_file(tmp_path, f"SCHEME_NAME = {name!r}")
    spec = add_scheme_module(table3_gtzan(), str(path))
    assert spec.schemes[-1].name == name


def test_names_that_differ_only_in_folder_unsafe_characters_get_different_safe_folders():
    labels = [RunCaps(folds_run=10, folds_in_protocol=10, scheme_module=name).label()
              for name in ("My CNN + LSTM", "My-CNN-LSTM", "My CNN - LSTM", "My_CNN_LSTM")]
    assert len(set(labels)) == len(labels), labels
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", label) for label in labels), labels
    assert labels[1] == "scheme-module-My-CNN-LSTM"  # a name that is already safe keeps its label


@pytest.mark.parametrize("name, phrase", [
    ("", "is empty"),
    ("x" * 49, "is 49 characters long; at most 48"),
    ("a\tb", "control character"),
    ("a\nb", "control character"),
    ("my row/x", "'/'"),
    ("a\\b", "'\\\\'"),
    ("a,b", "','"),
    ("a'b", "\"'\""),
    (" lead", "begin with a letter or digit"),
    ("trail ", "end with a space"),
    ("r0", "too like the paper's row 'R0'"),
    ("cnns 3", "too like the paper's row 'CNNs-3'"),
    ("MCCLSTM", "'MCCLSTM' is a row of mcclstm.table3_gtzan"),
    (7, "must be a string"),
])
def test_unsafe_or_colliding_names_are_refused(tmp_path, name, phrase):
    path = module_file(tmp_path, f"SCHEME_NAME = {name!r}")
    with pytest.raises(ConfigError) as caught:
        add_scheme_module(table3_gtzan(), str(path))
    assert phrase in str(caught.value) and "SCHEME_NAME" in str(caught.value), str(caught.value)


# --- what the module does when imported ---------------------------------------------------------

@pytest.mark.parametrize("code, phrase", [
    ("import sys\nsys.exit(0)", "called sys.exit(0) while being imported"),
    ("raise SystemExit('bye')", "called sys.exit('bye') while being imported"),
    ("import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr', type=float)\n"
     "ARGS = parser.parse_args()", "called sys.exit(2) while being imported"),
    ("raise KeyboardInterrupt", "raised KeyboardInterrupt while being imported"),
])
def test_a_module_that_exits_or_interrupts_at_import_is_the_modules_problem(tmp_path, capsys, monkeypatch,
                                                                            code, phrase):
    path = module_file(tmp_path, code)
    monkeypatch.setattr(sys, "argv", ["common.cli", "run", "mcclstm.table3_gtzan", "--scheme-module", str(path)])
    status, err = run_cli(tmp_path, path, capsys)
    assert status == 2 and phrase in err and f"scheme module {path}" in err, err
    assert "\n\n" not in err.strip() and "Traceback" not in err
    assert not (tmp_path / "w").exists()


def test_argparse_at_import_is_explained_with_its_own_message(tmp_path, capsys, monkeypatch):
    path = module_file(tmp_path, "import argparse\nargparse.ArgumentParser().parse_args()")
    monkeypatch.setattr(sys, "argv", ["common.cli", "run", "--scheme-module", str(path)])
    status, err = run_cli(tmp_path, path, capsys)
    assert status == 2 and "unrecognized arguments" in err and "argparse" in err
    assert not err.startswith("usage:")  # the module's usage text is not shown as if it were ours


def test_a_module_whose_build_model_exits_is_the_modules_problem(tmp_path):
    path = module_file(tmp_path, text="import sys\ndef build_model(input_shape, n_outputs):\n    sys.exit(3)\n")
    with pytest.raises(ConfigError, match=r"build_model\(\(40, 80\), 10\) called sys.exit\(3\)"):
        add_scheme_module(table3_gtzan(), str(path))


def test_a_real_ctrl_c_during_the_import_is_still_an_interrupt(tmp_path, capsys):
    path = module_file(tmp_path, "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)")
    status, err = run_cli(tmp_path, path, capsys)
    assert status == 130 and err.startswith("interrupted:"), err


def test_a_module_that_imports_cleanly_keeps_its_prints(tmp_path, capsys):
    path = module_file(tmp_path, "print('hello from the module')")
    load_scheme_module(str(path))
    assert "hello from the module" in capsys.readouterr().out
