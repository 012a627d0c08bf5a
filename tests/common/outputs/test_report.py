"""The results report (common/outputs/report.py, `make report`): built from result files alone."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd

from common.outputs.report import REPORT_NAME, TableRun, build_report, caps_text, find_runs, write_report
from common.outputs.result_tables import TABLE_COLUMNS


def _table(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=TABLE_COLUMNS).to_csv(path, index=False, float_format="%.4f")


def _row(scheme, paper, ours, folds, status, paper_std=float("nan"), ours_std=float("nan")):
    return {"scheme": scheme, "metric": "accuracy", "paper_mean": paper, "paper_std": paper_std, "our_mean": ours,
            "our_std": ours_std, "folds_run": folds, "difference": ours - paper, "status": status, "n_tracks": 40}


def _manifest(path, **fields):
    path.write_text(json.dumps({"paper": "toy", "table": "table_toy", "title": "toy table",
                                "dataset": {"name": "gtzan", "n_tracks": 40, "path": "/data/gtzan"},
                                "hardware": {"platform": "Linux-x86_64", "cpu_count": 2, "gpus": []},
                                "git_commit": "abc1234", **fields}))


def _spec(title, target, variable="GTZAN_DIR", dataset="gtzan"):
    return SimpleNamespace(title=title, make_target=target,
                           dataset=SimpleNamespace(dir_variable=variable, name=dataset, how_to_get="get it somewhere"))


def fake_results(root):
    """A canonical toy table (with confusion files and an extra output), two partial runs, noise."""
    toy = root / "toy"
    _table(toy / "table_toy.csv", [_row("[ref]", 50.0, float("nan"), 0, "paper-only"),
                                   _row("CNN | big", 79.8, 70.0, 10, "reproduced", 1.7, 11.547)])
    _manifest(toy / "table_toy_manifest.json", status="complete", wall_seconds=4610.6, started="2026-01-01T00:00:00",
              caps={"description": "full protocol", "capped": False}, folds_finished={"CNN | big": 10})
    for name in ("table_toy.png", "table_toy_confusion_CNN-big.png", "table_toy_figure3.png"):
        (toy / name).write_bytes(b"\x89PNG")
    (toy / "table_toy_confusion.csv").write_text("scheme,metric,true,predicted,count,row_percent,folds\n")
    (toy / "table_toy_per_class_recall.csv").write_text("scheme,metric,class,support,correct,recall_percent,folds\n")
    (toy / "table_toy_folds.csv").write_text("scheme,fold,accuracy\n")
    # a second table whose name extends the first one's: its files are not the first one's extras
    _table(toy / "table_toy_long.csv", [_row("CNN", 80.0, 0.5, 1, "partial: 1/10 folds")])
    (toy / "table_toy_long.png").write_bytes(b"\x89PNG")
    older = toy / "partial" / "table_toy" / "folds-2of10_epochs-2"
    _table(older / "table_toy.csv", [_row("CNN | big", 79.8, 20.0, 2, "partial: 2/10 folds, epochs <= 2")])
    _manifest(older / "table_toy_manifest.json", status="partial", wall_seconds=12.0, started="2026-01-02T00:00:00",
              caps={"description": "2/10 folds, epochs <= 2", "capped": True})
    newer = toy / "partial" / "table_toy" / "full-protocol-unfinished"
    newer.mkdir(parents=True)
    _manifest(newer / "table_toy_manifest.json", status="interrupted", error="KeyboardInterrupt",
              started="2026-01-03T00:00:00", caps={"description": "full protocol", "capped": False})
    (toy / "partial" / "table_toy" / "folds" / "CNN" / "fold_00").mkdir(parents=True)  # records, not a run
    (root / "bench").mkdir()
    (root / "bench" / "throughput.csv").write_text("stage,rate\nx,1\n")  # not a table
    return root


KNOWN = [("toy.table_toy", _spec("toy table", "table-toy"), None),
         ("toy.table_other", _spec("other toy table", "table-other", "BALLROOM_DIR", "ballroom"), None),
         ("toy.broken", None, "ConfigError: no weights")]


def test_find_runs(tmp_path):
    runs = find_runs(fake_results(tmp_path))
    assert sorted((r.name, r.canonical, r.label) for r in runs) == [
        ("toy.table_toy", False, "folds-2of10_epochs-2"), ("toy.table_toy", False, "full-protocol-unfinished"),
        ("toy.table_toy", True, None), ("toy.table_toy_long", True, None)]
    canonical = next(r for r in runs if r.name == "toy.table_toy" and r.canonical)
    assert [p.name for p in canonical.extra_files()] == ["table_toy_figure3.png"]
    long = next(r for r in runs if r.name == "toy.table_toy_long")
    assert long.manifest is None and "no manifest" in long.problem
    assert find_runs(tmp_path / "absent") == []


def test_report_sections_rows_caps_links_and_not_run(tmp_path):
    text = build_report(fake_results(tmp_path), KNOWN)
    canonical_at = text.index("## Canonical tables")
    partial_at = text.index("## Partial results")
    not_run_at = text.index("## Tables not run")
    assert canonical_at < partial_at < not_run_at
    canonical, partial, not_run = text[canonical_at:partial_at], text[partial_at:not_run_at], text[not_run_at:]
    # overview
    assert "| toy.table_toy | `make table-toy` | full protocol, partial (2) |" in text
    assert "| toy.table_other | `make table-other` | none |" in text
    assert "| toy.table_toy_long | — (not defined in this code base) | results present |" in text
    # the canonical table: its rows, caps, dataset, wall time, hardware, commit, figure and confusion links
    assert "### toy.table_toy — toy table" in canonical
    assert "| CNN \\| big | accuracy | 79.80 ± 1.70 | 70.00 ± 11.55 | -9.80 | 10 | reproduced |" in canonical
    assert "| \\[ref\\] | accuracy | 50.00 | — | — | 0 | paper-only |" in canonical
    assert "| Caps | full protocol |" in canonical and "| Status | complete |" in canonical
    assert "gtzan, 40 usable tracks; folder `/data/gtzan` on the machine that ran it" in canonical
    assert "4,611 s (1 h 17 min)" in canonical and "2 CPU cores; no GPU" in canonical and "`abc1234`" in canonical
    assert "![toy.table_toy: paper vs this run](toy/table_toy.png)" in canonical
    assert "[matrices (CSV)](toy/table_toy_confusion.csv)" in canonical
    assert "[per-class recall (CSV)](toy/table_toy_per_class_recall.csv)" in canonical
    assert "[CNN-big](toy/table_toy_confusion_CNN-big.png)" in canonical
    assert "[table_toy_figure3.png](toy/table_toy_figure3.png)" in canonical
    # the longer-named table's figure appears once, in its own section, not among table_toy's extras
    assert canonical.count("table_toy_long.png") == 1
    assert "![toy.table_toy_long: paper vs this run](toy/table_toy_long.png)" in canonical
    # partial runs: labelled, with their caps, newest first; the interrupted one has no table yet
    assert "**Partial result** (folder `full-protocol-unfinished`)" in partial
    assert "### toy.table_toy — toy table (partial: full-protocol run not finished)" in partial
    assert partial.index("full-protocol-unfinished") < partial.index("folds-2of10_epochs-2")
    assert "### toy.table_toy — toy table (partial: 2/10 folds, epochs <= 2)" in partial
    assert "| Status | interrupted: KeyboardInterrupt |" in partial and "*No table yet" in partial
    assert "| CNN \\| big | accuracy | 79.80 | 20.00 | -59.80 | 2 | partial: 2/10 folds, epochs <= 2 |" in partial
    assert "(toy/partial/table_toy/folds-2of10_epochs-2/table_toy.csv)" in partial
    assert "toy/table_toy.csv" not in partial
    # tables not run, and why
    assert "- **toy.table_other** — other toy table: no results: run `make table-other " \
           "BALLROOM_DIR=/path/to/ballroom` (get it somewhere)." in not_run
    assert "- **toy.broken**: no results; its table definition could not be built (ConfigError: no weights)." \
           in not_run
    assert "toy.table_toy**" not in not_run


def test_older_manifest_caps_and_fractions(tmp_path):
    manifest = {"folds_requested": 2, "folds_in_protocol": 10, "epochs_cap": 2}
    assert caps_text(TableRun("p", "t", tmp_path, False, "x", manifest)) == "2/10 folds, epochs <= 2"
    assert caps_text(TableRun("p", "t", tmp_path, False, "x", {})) == "see the folder name: x"
    _table(tmp_path / "p" / "t.csv", [{**_row("FCN", 0.894, 0.88123, 1, "reproduced"), "metric": "AUC"}])
    text = build_report(tmp_path, [])
    assert "| FCN | AUC | 0.8940 | 0.8812 | -0.0128 | 1 | reproduced |" in text
    assert "| Manifest | no manifest" in text


def test_write_report_and_cli(tmp_path, monkeypatch):
    import common.cli
    import common.registry

    fake_results(tmp_path)
    path = write_report(tmp_path, KNOWN)
    assert path == tmp_path / REPORT_NAME and path.read_text().startswith("# Results report")
    assert not list(tmp_path.glob(".*.tmp"))
    monkeypatch.setattr(common.registry, "available_tables", lambda: {"toy.table_other": lambda: KNOWN[1][1]})
    path.unlink()
    assert common.cli.main(["report", "--results-dir", str(tmp_path)]) == 0
    assert "`make table-other BALLROOM_DIR=/path/to/ballroom`" in path.read_text()


def test_report_of_real_toy_runs(tmp_path):
    """A complete toy run and a capped one through the runner, then the report (confusion links included)."""
    from common.runner import run_table
    from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec

    data = tiny_gtzan(tmp_path / "data", per_genre=4)
    results = tmp_path / "results"
    spec = toy_spec(MajorityScheme(), n_folds=2)
    run_table(spec, data, results_dir=results, work_dir=tmp_path / "w", progress=False)
    run_table(spec, data, results_dir=results, work_dir=tmp_path / "w", folds=1, epochs=1, progress=False)
    text = build_report(results, [("toy.table_toy", spec, None)])
    assert "| toy.table_toy | `make table-toy` | full protocol, partial (1) |" in text
    assert "[majority](toy/table_toy_confusion_majority.png)" in text
    assert "(toy/partial/table_toy/folds-1of2_epochs-1/table_toy_confusion_majority.png)" in text
    assert "| majority | accuracy | 10.00 ± 1.00 |" in text
    assert "## Tables not run\n\n*Every table has results.*" in text


def test_confusion_links_follow_the_table_order_and_name_the_metric(tmp_path):
    folder = tmp_path / "p"
    _table(folder / "t.csv", [_row("Z", 1.0, 1.0, 1, "reproduced"), _row("A", 1.0, 1.0, 1, "reproduced")])
    rows = [{"scheme": s, "metric": m, "true": "x", "predicted": "x", "count": 1, "row_percent": 100.0, "folds": 1}
            for s in ("Z (big)", "A") for m in ("seg_accuracy", "fseg_accuracy")]
    pd.DataFrame(rows).to_csv(folder / "t_confusion.csv", index=False)
    for name in ("t_confusion_A_seg_accuracy.png", "t_confusion_A_fseg_accuracy.png",
                 "t_confusion_Z-big_seg_accuracy.png", "t_confusion_Z-big_fseg_accuracy.png", "t_confusion_old.png"):
        (folder / name).write_bytes(b"\x89PNG")
    text = build_report(tmp_path, [])
    assert ("[Z (big) (seg_accuracy)](p/t_confusion_Z-big_seg_accuracy.png) · "
            "[Z (big) (fseg_accuracy)](p/t_confusion_Z-big_fseg_accuracy.png) · "
            "[A (seg_accuracy)](p/t_confusion_A_seg_accuracy.png) · "
            "[A (fseg_accuracy)](p/t_confusion_A_fseg_accuracy.png) · [old](p/t_confusion_old.png) |") in text


def test_a_broken_paper_module_does_not_hide_the_results(tmp_path, monkeypatch):
    import common.registry

    def broken():
        raise SyntaxError("bad paper module")

    monkeypatch.setattr(common.registry, "available_tables", broken)
    text = build_report(fake_results(tmp_path))
    assert "### toy.table_toy — toy table" in text
    assert "*The table definitions could not be imported (SyntaxError: bad paper module)" in text


def test_report_gives_the_dataset_status_and_a_verdict_per_table_and_cell(tmp_path):
    from common.outputs.result_tables import PaperResult, build_table, write_csv

    folds = [{"accuracy": v} for v in (70.0, 80.0, 90.0, 80.0, 60.0, 90.0, 60.0, 70.0, 90.0, 80.0)]
    frame = build_table(["A", "B"], ["accuracy"], {"A": {"accuracy": PaperResult(79.8, 1.7)},
                                                   "B": {"accuracy": PaperResult(95.0, 1.0)}},
                        {"A": folds, "B": folds}, trainable={"A", "B"}, n_tracks=100, folds_in_protocol=10,
                        dataset_status="subset: 100/1000 tracks")
    (tmp_path / "toy").mkdir()
    write_csv(frame, tmp_path / "toy" / "table_toy.csv")
    _manifest(tmp_path / "toy" / "table_toy_manifest.json", status="complete",
              dataset={"name": "gtzan", "n_tracks": 100, "path": "/work/shared/data/gtzan-mini",
                       "path_as_given": "../shared/data/gtzan-mini",
                       "coverage": {"description": "subset: 100/1000 tracks"}})
    text = build_report(tmp_path, known_tables=[])
    assert ("gtzan, 100 usable tracks (subset: 100/1000 tracks); folder given to the run: "
            "`../shared/data/gtzan-mini` (`/work/shared/data/gtzan-mini` on the machine that ran it)") in text
    # the headline names the subset the verdicts are about
    assert ("**Verdict:** on 100/1000 tracks: 1 of 2 cells consistent with the paper at the 5 % level (Holm); "
            "1 lower.") in text
    assert "| Status | 95 % CI | p | Verdict |" in text
    assert "| A | accuracy | 79.80 ± 1.70 | 77.00 ± 11.60 | -2.80 | 10 | subset: 100/1000 tracks | 68.71 – 85.29 | 0.47 | consistent |" in text
    assert "| **lower** |" in text


def test_report_refuses_a_results_folder_that_does_not_exist(tmp_path, capsys):
    """A mistyped RESULTS_DIR is named and never created (exit 2, no folder, no REPORT.md)."""
    import common.cli

    missing = tmp_path / "reslts typo"
    assert common.cli.main(["report", "--results-dir", str(missing)]) == 2
    assert "no results folder at" in capsys.readouterr().err
    assert not missing.exists()
