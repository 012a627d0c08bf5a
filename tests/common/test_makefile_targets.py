"""Every table's Makefile target exists, and `make help` names it."""

import re
from pathlib import Path

from common.registry import available_tables

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def test_every_table_has_a_make_target_listed_in_help():
    text = MAKEFILE.read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", text, flags=re.M))
    help_text = text[text.index("help:"):text.index("$(VENV)/.installed:")]
    for name, factory in available_tables().items():
        target = factory().make_target
        assert target in targets, f"{name}: no Makefile target {target}"
        assert target in help_text, f"{name}: `make help` does not list {target}"


def _make(*args, cwd=MAKEFILE.parent):
    import subprocess

    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _cli_line(dry_run: str) -> list[str]:
    import shlex

    line = next(line for line in dry_run.replace("\\\n", " ").splitlines() if "-m common.cli" in line)
    return shlex.split(line)


def test_paths_with_spaces_quotes_and_non_ascii_names_reach_the_cli_as_one_argument(tmp_path):
    data, results, work = (str(tmp_path / name) for name in ("my data d\u00e9j\u00e0", "r\u00e9sults 1", "it's work"))
    done = _make("-n", "table3-gtzan", f"GTZAN_DIR={data}", f"RESULTS_DIR={results}", f"WORK_DIR={work}",
                 "SCHEMES=R0", "FOLDS=1")
    assert done.returncode == 0, done.stderr
    argv = _cli_line(done.stdout)
    options = dict(zip(argv[5::2], argv[6::2]))
    assert options["--data-dir"] == data and options["--results-dir"] == results and options["--work-dir"] == work

    song = str(tmp_path / "my s\u00f6ng.wav")
    done = _make("-n", "predict", "TABLE=mcclstm.table3_gtzan", "SCHEME=R0", f"FILE={song}", "FILES=a.wav b.mp3",
                 f"RESULTS_DIR={results}", f"EXPORT={tmp_path / 'ex port'}")
    assert done.returncode == 0, done.stderr
    argv = _cli_line(done.stdout)
    assert argv[argv.index("predict") + 1:argv.index("--results-dir")] == [
        "mcclstm.table3_gtzan", "R0", "a.wav", "b.mp3", song]
    assert argv[argv.index("--results-dir") + 1] == results and argv[argv.index("--export") + 1] == str(tmp_path / "ex port")


def test_clean_work_removes_only_the_named_folder_even_with_a_space(tmp_path):
    (tmp_path / "my work").mkdir()
    (tmp_path / "my").mkdir()  # what an unquoted `rm -rf $(WORK_DIR)` would also have removed
    done = _make("clean-work", f"WORK_DIR={tmp_path / 'my work'}")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "my work").exists() and (tmp_path / "my").is_dir()


def test_scheme_module_and_workers_reach_the_cli(tmp_path):
    module = str(tmp_path / "my models" / "small cnn.py")
    done = _make("-n", "table3-gtzan", "GTZAN_DIR=data", f"SCHEME_MODULE={module}", "WORKERS=3", "FOLDS=2", "EPOCHS=2")
    assert done.returncode == 0, done.stderr
    argv = _cli_line(done.stdout)
    assert argv[argv.index("--scheme-module") + 1] == module
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--folds") + 1] == "2" and argv[argv.index("--epochs") + 1] == "2"


def test_benchmark_targets_pass_a_results_path_with_a_space_as_one_argument(tmp_path):
    """bench-scale and bench-floors quote RESULTS_DIR (an unquoted path was split at the space)."""
    results = str(tmp_path / "my results")
    for target, module in (("bench-scale", "benchmarks.scale"), ("bench-floors", "benchmarks.floors"),
                           ("bench-table3", "benchmarks.table3_scale")):
        done = _make("-n", target, f"RESULTS_DIR={results}", "TABLE=mcclstm.table3_gtzan")
        assert done.returncode == 0, done.stderr
        import shlex

        line = next(line for line in done.stdout.replace("\\\n", " ").splitlines() if f"-m {module}" in line)
        argv = shlex.split(line)
        assert argv[argv.index("--out") + 1] == results + "/bench", (target, argv)


def test_own_dataset_target_exists_is_in_help_and_passes_table_and_folder_as_one_argument_each(tmp_path):
    text = MAKEFILE.read_text()
    assert re.search(r"^own-dataset:", text, flags=re.M)
    assert "make own-dataset TABLE=" in text[text.index("help:"):text.index("$(VENV)/.installed:")]
    data = str(tmp_path / "my m\u00fcsic 'live'")
    done = _make("-n", "own-dataset", "TABLE=mcclstm.table3_gtzan", f"DATA_DIR={data}", "FOLDS=2", "EPOCHS=2",
                 "SCHEMES=R0", f"RESULTS_DIR={tmp_path / 'r s'}")
    assert done.returncode == 0, done.stderr
    argv = _cli_line(done.stdout)
    assert argv[argv.index("run") + 1] == "mcclstm.table3_gtzan"
    assert argv[argv.index("--own-dataset") + 1] == data and argv[argv.index("--results-dir") + 1] == str(tmp_path / "r s")
    assert argv[argv.index("--folds") + 1] == "2" and argv[argv.index("--schemes") + 1] == "R0"
    done = _make("-n", "own-dataset", "TABLE=mcclstm.table3_gtzan", f"DATA_DIR={data}", "COLLECT=1")
    assert _cli_line(done.stdout)[2:4] == ["common.cli", "collect"]
    done = _make("-n", "predict", "TABLE=mcclstm.table3_gtzan", "SCHEME=R0", "FILE=a b.wav", f"OWN_DATASET={data}")
    argv = _cli_line(done.stdout)
    assert argv[argv.index("--own-dataset") + 1] == data
