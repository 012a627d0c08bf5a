import math


from common.outputs.result_tables import PaperResult, build_table, plot_table


def test_statuses_and_differences(tmp_path):
    reference = {"[x]": {"accuracy": PaperResult(70.0)}, "A": {"accuracy": PaperResult(80.0, 2.0)},
                 "B": {"accuracy": PaperResult(60.0, 1.0)}}
    frame = build_table(["[x]", "A", "B"], ["accuracy"], reference, {"A": [{"accuracy": 78.0}, {"accuracy": 82.0}]},
                        trainable={"A", "B"}, n_tracks=100)
    rows = frame.set_index("scheme")
    assert rows.loc["[x]", "status"] == "paper-only" and math.isnan(rows.loc["[x]", "our_mean"])
    assert rows.loc["A", "status"] == "reproduced" and rows.loc["A", "our_mean"] == 80.0
    assert rows.loc["A", "difference"] == 0.0 and rows.loc["A", "folds_run"] == 2
    assert rows.loc["B", "status"] == "not run" and rows.loc["B", "folds_run"] == 0
    plot_table(frame, tmp_path / "t.png", "test")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_all_results_skips_absent_datasets(tmp_path, capsys, monkeypatch):
    from common import cli

    for variable in ("GTZAN_DIR", "BALLROOM_DIR", "SOUNDTRACKS_DIR", "MTAT_DIR", "FMA_DIR", "ISMIR2004_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "absent" / variable))
    assert cli.main(["all-results", "--results-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "skipped mcclstm.table3_gtzan" in out and "GTZAN_DIR" in out
    assert not (tmp_path / "r").exists()


def test_all_results_runs_the_rows_whose_preflight_passes(tmp_path, capsys, monkeypatch):
    """A table whose transfer rows lack their weights still runs its other rows (reported)."""
    from common import cli
    from common.errors import ConfigError
    from common.runner import Scheme
    from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

    def missing_weights():
        raise ConfigError("pre-trained weights not found: /nowhere.h5\nsecond line")

    spec = toy_spec(MajorityScheme(), n_folds=2)
    spec = type(spec)(**{**spec.__dict__, "schemes": spec.schemes + (
        Scheme("transfer", MajorityScheme(), "needs weights", preflight=missing_weights),)})
    monkeypatch.setattr(cli, "available_tables", lambda: {"toy.table_toy": lambda: spec})
    monkeypatch.setenv("GTZAN_DIR", str(tiny_gtzan(tmp_path / "g", per_genre=4)))
    assert cli.main(["all-results", "--results-dir", str(tmp_path / "r"), "--work-dir", str(tmp_path / "w"),
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "scheme 'transfer' skipped: pre-trained weights not found: /nowhere.h5" in out
    import pandas as pd

    # a scheme subset is not the full protocol: its table goes to the partial folder named by its caps
    assert not (tmp_path / "r" / "toy" / "table_toy.csv").exists()
    table = pd.read_csv(tmp_path / "r" / "toy" / "partial" / "table_toy" / "schemes-majority" /
                        "table_toy.csv").set_index("scheme")
    assert table.loc["majority", "status"] == "reproduced" and table.loc["transfer", "status"] == "not run"


def test_a_single_fold_has_no_std_rather_than_zero(tmp_path):
    frame = build_table(["A", "B"], ["accuracy"], {}, {"A": [{"accuracy": 78.0}],
                                                       "B": [{"accuracy": 78.0}, {"accuracy": 82.0}]},
                        trainable={"A", "B"}, n_tracks=100)
    rows = frame.set_index("scheme")
    assert rows.loc["A", "our_mean"] == 78.0 and math.isnan(rows.loc["A", "our_std"])
    assert abs(rows.loc["B", "our_std"] - 2.8284) < 1e-4
    plot_table(frame, tmp_path / "t.png", "one fold")  # no error bar for A, no failure
