import math


import numpy as np
import pandas as pd
import pytest
from scipy import stats

from common.evaluation.statistics import CellComparison
from common.outputs.result_tables import (COMPARISON_COLUMNS, TABLE_COLUMNS, PaperResult, build_table, plot_table,
                                          scheme_status, table_verdict, write_csv)


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
    # 40 of GTZAN's 1000 published tracks: a subset, whatever the folds and epochs
    assert table.loc["majority", "status"] == "subset: 40/1000 tracks" and table.loc["transfer", "status"] == "not run"


def test_a_single_fold_has_no_std_rather_than_zero(tmp_path):
    frame = build_table(["A", "B"], ["accuracy"], {}, {"A": [{"accuracy": 78.0}],
                                                       "B": [{"accuracy": 78.0}, {"accuracy": 82.0}]},
                        trainable={"A", "B"}, n_tracks=100)
    rows = frame.set_index("scheme")
    assert rows.loc["A", "our_mean"] == 78.0 and math.isnan(rows.loc["A", "our_std"])
    assert abs(rows.loc["B", "our_std"] - 2.8284) < 1e-4
    plot_table(frame, tmp_path / "t.png", "one fold")  # no error bar for A, no failure


def test_status_names_the_dataset_subset_with_the_other_caps():
    assert scheme_status(10, 10, None) == "reproduced"
    assert scheme_status(10, 10, None, dataset="subset: 100/1000 tracks") == "subset: 100/1000 tracks"
    assert (scheme_status(2, 10, 2, dataset="subset: 100/1000 tracks")
            == "subset: 100/1000 tracks, partial: 2/10 folds, epochs <= 2")
    assert (scheme_status(10, 10, None, variant="group-aware split", dataset="subset: 100/1000 tracks")
            == "subset: 100/1000 tracks, variant: group-aware split")
    assert scheme_status(0, 10, None, dataset="subset: 100/1000 tracks") == "not run"


def test_comparison_columns_are_appended_and_the_old_ones_keep_their_order(tmp_path):
    assert TABLE_COLUMNS[:10] == ["scheme", "metric", "paper_mean", "paper_std", "our_mean", "our_std", "folds_run",
                                  "difference", "status", "n_tracks"]
    assert TABLE_COLUMNS[10:] == COMPARISON_COLUMNS == ["ci95_low", "ci95_high", "p_value", "verdict", "test"]
    folds = [{"accuracy": v} for v in (70.0, 80.0, 90.0, 80.0, 70.0, 80.0, 90.0, 80.0, 70.0, 60.0)]
    reference = {"[x]": {"accuracy": PaperResult(70.0)}, "A": {"accuracy": PaperResult(79.8, 1.7)},
                 "B": {"accuracy": PaperResult(60.0)}}
    frame = build_table(["[x]", "A", "B"], ["accuracy"], reference, {"A": folds, "B": folds},
                        trainable={"A", "B"}, n_tracks=100, folds_in_protocol=10,
                        dataset_status="subset: 100/1000 tracks")
    assert list(frame.columns) == TABLE_COLUMNS
    rows = frame.set_index("scheme")
    values = [f["accuracy"] for f in folds]
    welch = stats.ttest_ind_from_stats(np.mean(values), np.std(values, ddof=1), 10, 79.8, 1.7, 10, equal_var=False)
    assert rows.loc["A", "p_value"] == pytest.approx(welch.pvalue)
    assert rows.loc["A", "verdict"] == "consistent" and rows.loc["A", "test"] == "Welch t-test, 10 vs 10 folds"
    low, high = stats.t.interval(0.95, 9, loc=np.mean(values), scale=stats.sem(values))
    assert (rows.loc["A", "ci95_low"], rows.loc["A", "ci95_high"]) == (pytest.approx(low), pytest.approx(high))
    # no paper std: a one-sample t-test of our folds against the paper's mean; 60 lies below our interval
    assert rows.loc["B", "p_value"] == pytest.approx(stats.ttest_1samp(values, 60.0).pvalue)
    assert rows.loc["B", "verdict"] == "higher" and low > 60.0
    assert rows.loc["[x]", "verdict"] == "n/a" and np.isnan(rows.loc["[x]", "p_value"])
    assert rows.loc["A", "status"] == "subset: 100/1000 tracks"
    summary = table_verdict(frame)
    assert summary.n_compared == 2 and summary.n_consistent == 1 and summary.n_higher == 1
    assert summary.text().startswith("on 100/1000 tracks: 1 of 2 cells consistent with the paper at the 5 % level "
                                     "(Holm)")
    write_csv(frame, tmp_path / "t.csv")
    again = pd.read_csv(tmp_path / "t.csv")
    assert list(again.columns) == TABLE_COLUMNS
    assert again.loc[1, "p_value"] == pytest.approx(welch.pvalue, rel=1e-2)  # 3 significant digits, never 0.0000
    plot_table(frame, tmp_path / "t.png", "marked")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_the_verdict_flips_when_the_paper_value_leaves_the_interval():
    folds = [{"accuracy": v} for v in (78.0, 80.0, 82.0, 79.0, 81.0)]
    low, high = stats.t.interval(0.95, 4, loc=80.0, scale=stats.sem([78.0, 80.0, 82.0, 79.0, 81.0]))

    def verdict(paper):
        frame = build_table(["A"], ["accuracy"], {"A": {"accuracy": PaperResult(paper)}}, {"A": folds},
                            trainable={"A"}, folds_in_protocol=5)
        return frame.loc[0, "verdict"]

    assert verdict(high - 0.01) == "consistent" and verdict(high + 0.01) == "lower"
    assert verdict(low + 0.01) == "consistent" and verdict(low - 0.01) == "higher"


def test_single_split_cells_use_the_given_bootstrap_comparison_or_say_why_not():
    comparison = CellComparison(0.88, 0.92, 0.3, "consistent", "bootstrap, 1000 resamples of 50 test items")
    frame = build_table(["A", "B"], ["auc"], {"A": {"auc": PaperResult(0.9)}, "B": {"auc": PaperResult(0.9)}},
                        {"A": [{"auc": 0.9}], "B": [{"auc": 0.8}]}, trainable={"A", "B"}, folds_in_protocol=1,
                        comparisons={("A", "auc"): comparison})
    rows = frame.set_index("scheme")
    assert rows.loc["A", "verdict"] == "consistent" and rows.loc["A", "ci95_low"] == 0.88
    assert rows.loc["B", "verdict"] == "n/a" and "no per-clip test results" in rows.loc["B", "test"]


# --- verdicts only where a comparison means something -------------------------------------------------------

SPREAD = [70.0, 80.0, 90.0, 80.0, 60.0, 90.0, 60.0, 70.0, 90.0, 80.0]


def _one_row(values, paper=PaperResult(79.8, 1.7), metric="accuracy", **kwargs):
    frame = build_table(["A"], [metric], {"A": {metric: paper}}, {"A": [{metric: v} for v in values]},
                        trainable={"A"}, n_tracks=100, **kwargs)
    return frame.iloc[0]


def test_an_epoch_capped_run_gets_no_verdict_but_keeps_its_interval():
    row = _one_row(SPREAD, folds_in_protocol=10, epochs_cap=2)
    assert row["verdict"] == "n/a" and math.isnan(row["p_value"])
    assert row["test"].startswith("no verdict: epochs <= 2")
    assert row["ci95_low"] < row["our_mean"] < row["ci95_high"]  # this run's own interval is still valid
    # a single-split table's bootstrap comparison is withheld the same way
    given = CellComparison(0.88, 0.92, 0.01, "lower", "bootstrap, 1000 resamples of 50 test items")
    frame = build_table(["A"], ["auc"], {"A": {"auc": PaperResult(0.95)}}, {"A": [{"auc": 0.9}]}, trainable={"A"},
                        folds_in_protocol=1, epochs_cap=3, comparisons={("A", "auc"): given})
    assert frame.loc[0, "verdict"] == "n/a" and math.isnan(frame.loc[0, "p_value"])
    assert "epochs <= 3" in frame.loc[0, "test"] and "bootstrap" in frame.loc[0, "test"]


def test_a_smoke_run_gets_no_verdict_and_its_headline_claims_none():
    """FOLDS=2 EPOCHS=2: 45 vs 79.80 was ``consistent`` (interval -18.53 to 108.53), 30/30 was ``lower``."""
    reference = {"CNNs-3": {"accuracy": PaperResult(79.8, 1.7)}, "R2": {"accuracy": PaperResult(78.4, 1.9)}}
    folds = {"CNNs-3": [{"accuracy": 30.0}, {"accuracy": 60.0}], "R2": [{"accuracy": 30.0}, {"accuracy": 30.0}]}
    for cap in (2, None):
        frame = build_table(["CNNs-3", "R2"], ["accuracy"], reference, folds, trainable={"CNNs-3", "R2"},
                            n_tracks=100, folds_in_protocol=10, epochs_cap=cap,
                            dataset_status="subset: 100/1000 tracks")
        assert (frame["verdict"] == "n/a").all() and frame["p_value"].isna().all()
        assert frame["ci95_low"].isna().all()  # two folds: no interval either
        text = table_verdict(frame).text()
        assert text.startswith("on 100/1000 tracks: no cell compared with the paper (")
        assert "consistent" not in text and "2 folds" in text
        assert ("epochs <= 2" in text) == (cap == 2)


def test_a_subset_run_of_the_full_protocol_keeps_its_verdicts_and_names_the_subset():
    reference = {"A": {"accuracy": PaperResult(79.8, 1.7)}, "B": {"accuracy": PaperResult(95.0, 1.0)}}
    frame = build_table(["A", "B"], ["accuracy"], reference, {"A": [{"accuracy": v} for v in SPREAD],
                                                              "B": [{"accuracy": v} for v in SPREAD]},
                        trainable={"A", "B"}, n_tracks=100, folds_in_protocol=10,
                        dataset_status="subset: 100/1000 tracks")
    assert frame["verdict"].tolist() == ["consistent", "lower"]
    assert table_verdict(frame).text() == ("on 100/1000 tracks: 1 of 2 cells consistent with the paper at the "
                                           "5 % level (Holm); 1 lower")
    full = build_table(["A"], ["accuracy"], reference, {"A": [{"accuracy": v} for v in SPREAD]}, trainable={"A"},
                       n_tracks=1000, folds_in_protocol=10)
    assert table_verdict(full).text().startswith("1 of 1 cell consistent")  # the whole dataset: no scope


def test_intervals_stay_inside_the_metric_range():
    """A group-aware run showed an interval from -21.73 %; AUCs are at most 1."""
    low = _one_row([0.0, 0.0, 10.0, 50.0, 0.0], folds_in_protocol=5)
    assert low["ci95_low"] == 0.0 and low["ci95_high"] > low["our_mean"]
    high = _one_row([100.0, 100.0, 90.0, 50.0, 100.0], folds_in_protocol=5)
    assert high["ci95_high"] == 100.0 and high["ci95_low"] < high["our_mean"]
    auc = _one_row([0.99, 1.0, 0.7, 1.0], paper=PaperResult(0.9), metric="roc_auc", folds_in_protocol=4)
    assert auc["ci95_high"] == 1.0
    fraction = _one_row([0.99, 1.0, 0.7, 1.0], paper=PaperResult(0.72), metric="accuracy", folds_in_protocol=4)
    assert fraction["ci95_high"] == 1.0  # CRNN-TF's accuracies are fractions
    # a bootstrap interval given by the caller is clipped too
    frame = build_table(["A"], ["auc"], {"A": {"auc": PaperResult(0.9)}}, {"A": [{"auc": 0.99}]}, trainable={"A"},
                        folds_in_protocol=1, comparisons={("A", "auc"): CellComparison(0.95, 1.02, 0.2,
                                                                                        "consistent", "bootstrap")})
    assert frame.loc[0, "ci95_high"] == 1.0 and frame.loc[0, "verdict"] == "consistent"


def test_a_fold_without_a_finite_value_gives_no_mean_and_no_test():
    """A NaN fold was dropped by the test but not by the mean (NaN beside a Welch verdict)."""
    row = _one_row(SPREAD[:9] + [float("nan")], folds_in_protocol=10)
    assert math.isnan(row["our_mean"]) and math.isnan(row["our_std"]) and math.isnan(row["difference"])
    assert row["verdict"] == "n/a" and math.isnan(row["p_value"]) and math.isnan(row["ci95_low"])
    assert row["test"].startswith("1 of 10 folds without a finite value") and row["folds_run"] == 10


def test_the_figure_axis_stays_inside_the_metric_range(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    limits = {}
    close = plt.close

    def capture(fig=None):
        if fig is not None and hasattr(fig, "axes"):
            limits.update({ax.get_ylabel(): ax.get_ylim() for ax in fig.axes})
        close(fig)

    monkeypatch.setattr(plt, "close", capture)
    reference = {"A": {"accuracy": PaperResult(96.0, 3.0)}, "B": {"accuracy": PaperResult(50.0, 1.0)}}
    frame = build_table(["A", "B"], ["accuracy"], reference, {"A": [{"accuracy": v} for v in (100.0, 90.0, 100.0)],
                                                              "B": [{"accuracy": v} for v in (20.0, 90.0, 40.0)]},
                        trainable={"A", "B"}, folds_in_protocol=3)
    frame.loc[1, "our_std"] = 150.0  # an error bar far beyond the range must not stretch the axis
    plot_table(frame, tmp_path / "t.png", "range")
    assert limits["accuracy"][0] == 0.0 and limits["accuracy"][1] <= 100.0


def test_a_row_with_a_diverged_fold_shows_no_number_and_says_diverged(tmp_path):
    """A diverged fold (common/training/divergence.py) leaves its row without a number, whatever the other folds."""
    from common.outputs.result_tables import diverged_status

    reference = {"A": {"accuracy": PaperResult(80.0, 2.0)}, "B": {"accuracy": PaperResult(60.0, 1.0)}}
    folds = [{"accuracy": 78.0}, {"accuracy": 82.0}, {"accuracy": 80.0}]
    frame = build_table(["A", "B"], ["accuracy"], reference, {"A": folds, "B": folds}, trainable={"A", "B"},
                        n_tracks=100, folds_in_protocol=4, diverged={"A": [(4, "epoch 3")]})
    rows = frame.set_index("scheme")
    a = rows.loc["A"]
    assert math.isnan(a["our_mean"]) and math.isnan(a["our_std"]) and math.isnan(a["difference"])
    assert math.isnan(a["ci95_low"]) and math.isnan(a["p_value"]) and a["verdict"] == "n/a"
    assert a["status"] == "diverged in fold 4 (epoch 3)"  # every fold ran, but it is no reproduction
    assert a["folds_run"] == 4 and a["test"] == "no result: diverged in fold 4 (epoch 3)"
    assert rows.loc["B", "our_mean"] == pytest.approx(80.0) and rows.loc["B", "status"] == "partial: 3/4 folds"
    capped = build_table(["A"], ["accuracy"], reference, {"A": folds[:1]}, trainable={"A"}, folds_in_protocol=4,
                         epochs_cap=2, dataset_status="subset: 100/1000 tracks", diverged={"A": [(2, "after epoch 2")]})
    assert capped["status"].item() == "diverged in fold 2 (after epoch 2); subset: 100/1000 tracks, partial: 2/4 folds, epochs <= 2"
    assert diverged_status([(3, "after epoch 2"), (1, "epoch 5")]) == "diverged in folds 1 (epoch 5), 3 (after epoch 2)"
    write_csv(frame, tmp_path / "t.csv")
    raw = pd.read_csv(tmp_path / "t.csv", keep_default_na=False).set_index("scheme")
    assert raw.loc["A", "our_mean"] == "" and raw.loc["A", "difference"] == ""
    plot_table(frame, tmp_path / "t.png", "test")  # the bar is replaced by the word "diverged"
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
