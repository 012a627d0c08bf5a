"""One Markdown report of every table's results: ``results/REPORT.md`` (``make report``).

Built from the result files alone (table CSVs, manifests, figures, confusion matrices; see
:mod:`common.runner.layout`): no training, no dataset access. The table definitions are imported
only for the names, titles, Make targets and dataset variables of the tables that have no result.

The report lists, in this order:

1. an overview: every table, its Make target and what results it has (full protocol, partial,
   none);
2. the canonical tables (complete full-protocol runs), in the order of ``python -m common.cli list``;
3. the partial tables (``partial/<table>/<caps>/``: fewer folds, an epoch cap, a scheme subset, or a
   full-protocol run not finished), newest first per table, each labelled with its caps;
4. the runs of a table's protocol on a user's own collection (``own/<table>/<collection>/<caps>/``,
   ``make own-dataset``): this run's numbers only, no paper column;
5. the tables without any result and the command that makes them.

Each table section gives the run's status and caps, dataset and size, wall time, hardware, git
commit, the paper-vs-ours table, the comparison figure, and links to the CSVs, the manifest and
the confusion matrices (when the table has them). Links are relative to the report's folder, so
the report renders on GitHub and in a local Markdown viewer alike.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from common.atomic_files import atomic_write_text
from common.errors import ConfigError
from common.outputs.confusion import figure_names
from common.outputs.result_tables import COMPARISON_COLUMNS, TABLE_COLUMNS, table_verdict
from common.runner.layout import UNFINISHED_LABEL, RunCaps

#: File name of the report inside the results folder.
REPORT_NAME = "REPORT.md"


@dataclass
class TableRun:
    """One table's outputs in one folder (canonical ``<paper>/`` or ``<paper>/partial/<table>/<caps>/``).

    Attributes:
        paper: paper package name.
        table_id: table name.
        folder: the folder holding ``<table_id>.csv`` and its siblings.
        canonical: True for the canonical folder.
        label: the caps folder name of a partial run (None when canonical).
        manifest: the run manifest, or None.
        problem: why the manifest is missing or unreadable (None when it was read).
        other_tables: ids of every table in the same folder (to tell this table's extra files
            from those of a table whose name extends this one).
        own_dataset: for a run on a user's own collection (``own/<table>/<collection>/<caps>/``),
            the collection's folder label; None otherwise.
    """

    paper: str
    table_id: str
    folder: Path
    canonical: bool
    label: str | None = None
    manifest: dict | None = None
    problem: str | None = None
    other_tables: tuple[str, ...] = field(default=())
    own_dataset: str | None = None

    @property
    def name(self) -> str:
        """``<paper>.<table>``, as ``python -m common.cli list`` names it."""
        return f"{self.paper}.{self.table_id}"

    def file(self, suffix: str) -> Path:
        """``<folder>/<table_id><suffix>`` (e.g. ``".csv"``, ``"_manifest.json"``)."""
        return self.folder / f"{self.table_id}{suffix}"

    def extra_files(self) -> list[Path]:
        """Other outputs of this table in its folder (e.g. a figure written by the table's post-run hook).

        Files named ``<table_id>_*`` that are not the standard outputs and do not belong to another
        table of the folder whose name extends this one (``table3_gtzan_paper_init``).
        """
        standard = {f"{self.table_id}{s}" for s in (".csv", ".png", "_folds.csv", "_manifest.json",
                                                     "_confusion.csv", "_per_class_recall.csv")}
        found = []
        for path in sorted(self.folder.glob(f"{self.table_id}_*")):
            if not path.is_file() or path.name in standard or path.name.startswith(f"{self.table_id}_confusion_"):
                continue
            if any(path.name.startswith(f"{other}.") or path.name.startswith(f"{other}_")
                   for other in self.other_tables if other.startswith(f"{self.table_id}_")):
                continue
            found.append(path)
        return found


def _is_table_csv(path: Path) -> bool:
    """True when the file's header is the comparison table's (:data:`common.outputs.result_tables.TABLE_COLUMNS`,
    or its first ten columns: a table written before the comparison columns were appended)."""
    try:
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    base = TABLE_COLUMNS[:len(TABLE_COLUMNS) - len(COMPARISON_COLUMNS)]
    return header in (TABLE_COLUMNS, base)  # tables written before the comparison columns too


def _read_manifest(run: TableRun) -> TableRun:
    path = run.file("_manifest.json")
    if not path.is_file():
        run.problem = "no manifest (the run may have been killed before writing it)"
        return run
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError(f"a JSON {type(manifest).__name__}, not an object")
        run.manifest = manifest
    except (OSError, ValueError) as exc:
        run.problem = f"unreadable manifest ({exc})"
    return run


def _tables_in(folder: Path) -> set[str]:
    """Table ids with a manifest or a comparison CSV directly in ``folder``."""
    names = {p.name[:-len("_manifest.json")] for p in folder.glob("*_manifest.json") if p.is_file()}
    names |= {p.stem for p in folder.glob("*.csv") if p.is_file() and _is_table_csv(p)}
    return names


def find_runs(results_dir: str | Path) -> list[TableRun]:
    """Every table result under ``results_dir``: canonical folders first, then partial ones.

    Args:
        results_dir: the results root (``results``).

    Returns:
        the runs, unsorted within each kind (see :func:`build_report` for the order); an absent
        folder gives ``[]``.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    runs = []
    for paper_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        tables = _tables_in(paper_dir)
        for table_id in sorted(tables):
            runs.append(_read_manifest(TableRun(paper_dir.name, table_id, paper_dir, True,
                                                other_tables=tuple(sorted(tables)))))
        runs += _own_runs(paper_dir)
        partial = paper_dir / "partial"
        if not partial.is_dir():
            continue
        for table_dir in sorted(p for p in partial.iterdir() if p.is_dir()):
            for label_dir in sorted(p for p in table_dir.iterdir() if p.is_dir() and p.name not in ("folds", "splits")):
                table_id = table_dir.name
                if (label_dir / f"{table_id}.csv").is_file() or (label_dir / f"{table_id}_manifest.json").is_file():
                    runs.append(_read_manifest(TableRun(paper_dir.name, table_id, label_dir, False, label_dir.name)))
    return runs


def _own_runs(paper_dir: Path) -> list[TableRun]:
    """The runs on users' own collections under ``<paper>/own/<table>/<collection>/<caps>/``."""
    from common.runner.layout import OWN_FOLDER

    runs = []
    own = paper_dir / OWN_FOLDER
    if not own.is_dir():
        return runs
    for table_dir in sorted(p for p in own.iterdir() if p.is_dir()):
        for collection in sorted(p for p in table_dir.iterdir() if p.is_dir()):
            for label_dir in sorted(p for p in collection.iterdir() if p.is_dir() and p.name not in ("folds", "splits")):
                table_id = table_dir.name
                if (label_dir / f"{table_id}.csv").is_file() or (label_dir / f"{table_id}_manifest.json").is_file():
                    runs.append(_read_manifest(TableRun(paper_dir.name, table_id, label_dir, False, label_dir.name,
                                                        own_dataset=collection.name)))
    return runs


# ----------------------------------------------------------------------------------------------
# Formatting


def _escape(text) -> str:
    """Text safe inside a Markdown table cell (``|``, brackets, ``*``, backquotes and HTML tags escaped).

    Underscores are left alone: GitHub never reads an underscore inside a word as emphasis.
    """
    text = str(text).replace("\n", " ")
    for char in "\\`*[]|":
        text = text.replace(char, "\\" + char)
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)  # only a "<" that could open an HTML tag


def _link(target: Path, base: Path) -> str:
    """URL-quoted POSIX path of ``target`` relative to ``base``."""
    return quote(target.relative_to(base).as_posix())


def _number(value, decimals: int) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(value) else f"{value:.{decimals}f}"


def _mean_std(mean, std, decimals: int) -> str:
    text = _number(mean, decimals)
    if text != "—" and _number(std, decimals) != "—":
        text += f" ± {_number(std, decimals)}"
    return text


def _duration(seconds) -> str:
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "not recorded"
    if math.isnan(seconds):
        return "not recorded"
    text = f"{seconds:,.0f} s"
    minutes = round(seconds / 60)
    if minutes >= 60:
        text += f" ({minutes // 60} h {minutes % 60} min)"
    elif seconds >= 60:
        text += f" ({seconds / 60:.0f} min)"
    return text


def _hardware(info) -> str:
    if not isinstance(info, dict):
        return "not recorded"
    parts = [str(info.get("platform") or info.get("processor") or "unknown platform")]
    if info.get("cpu_count"):
        parts.append(f"{info['cpu_count']} CPU cores")
    gpus = info.get("gpus")
    if isinstance(gpus, list):
        parts.append(", ".join(map(str, gpus)) if gpus else "no GPU")
    elif gpus:
        parts.append(f"GPUs: {gpus}")
    if info.get("load_average_1min") is not None:
        parts.append(f"load average {info['load_average_1min']} at the start")
    return "; ".join(parts)


def caps_text(run: TableRun) -> str:
    """The run's caps in words, from the manifest (older manifests: from their fold and epoch fields)."""
    manifest = run.manifest or {}
    caps = manifest.get("caps")
    if isinstance(caps, dict) and caps.get("description"):
        return str(caps["description"])
    if "folds_requested" in manifest or "epochs_cap" in manifest:
        folds = manifest.get("folds_requested") or 1
        return RunCaps(folds_run=int(folds), folds_in_protocol=int(manifest.get("folds_in_protocol") or folds),
                       epochs=manifest.get("epochs_cap")).describe()
    if run.label:
        return f"see the folder name: {run.label}"
    return "not recorded"


def _status(run: TableRun) -> str:
    manifest = run.manifest or {}
    status = str(manifest.get("status") or "unknown")
    if status == "running":
        status += (f" (pid {manifest.get('pid', '?')}, started {manifest.get('started', '?')}; if that process "
                   f"no longer runs, it was killed before it could record how it ended)")
    if manifest.get("error"):
        status += f": {manifest['error']}"
    diverged = manifest.get("diverged")
    if isinstance(diverged, dict) and diverged:  # units whose training diverged: no result (runner's write_outputs)
        status += f"; {len(diverged)} unit{'s' if len(diverged) > 1 else ''} diverged (" + "; ".join(
            f"{unit} {why}" for unit, why in diverged.items()) + ")"
    return status


def _dataset(manifest: dict) -> str:
    dataset = manifest.get("dataset")
    if not isinstance(dataset, dict):
        return "not recorded"
    text = f"{dataset.get('name', '?')}, {dataset.get('n_tracks', '?')} usable tracks"
    coverage = dataset.get("coverage")
    if isinstance(coverage, dict) and coverage.get("description"):
        text += f" ({_escape(coverage['description'])})"
    skipped = manifest.get("skipped_tracks")
    if skipped:
        text += f", {len(skipped)} skipped"
    if dataset.get("path_as_given"):
        text += f"; folder given to the run: `{dataset['path_as_given']}`"
        if dataset.get("path") and dataset["path"] != dataset["path_as_given"]:
            text += f" (`{dataset['path']}` on the machine that ran it)"
    elif dataset.get("path"):
        text += f"; folder `{dataset['path']}` on the machine that ran it"
    return text


def _table_markdown(csv: Path) -> list[str]:
    """The paper-vs-ours table as Markdown rows (fractions with 4 decimals, percentages with 2)."""
    try:
        frame = pd.read_csv(csv)
    except (OSError, ValueError, pd.errors.EmptyDataError) as exc:
        return [f"*The table `{csv.name}` could not be read: {_escape(exc)}.*"]
    if "paper_mean" not in frame.columns and {"scheme", "metric", "our_mean"} <= set(frame.columns):
        return _own_table_markdown(frame)  # a run on an own collection: no paper columns
    missing = [c for c in ("scheme", "metric", "paper_mean", "our_mean") if c not in frame.columns]
    if missing:
        return [f"*The table `{csv.name}` lacks the columns {missing}.*"]
    decimals = {}
    for metric, part in frame.groupby("metric", sort=False):
        values = pd.concat([part["paper_mean"], part["our_mean"]]).astype(float).abs().dropna()
        decimals[metric] = 4 if len(values) and values.max() <= 1.0 else 2
    compared = set(COMPARISON_COLUMNS) <= set(frame.columns)
    lines = []
    if compared:
        lines += [f"**Verdict:** {_escape(table_verdict(frame).text())}. Per cell below: our 95 % interval, the "
                  "p-value of the test named in the CSV's `test` column, and the verdict at the 5 % level "
                  "(not corrected for the number of cells).", ""]
    header = "| Scheme | Metric | Paper | Ours | Ours - paper | Folds | Status |"
    rule = "|---|---|---:|---:|---:|---:|---|"
    if compared:
        header += " 95 % CI | p | Verdict |"
        rule += "---:|---:|---|"
    lines += [header, rule]
    for row in frame.to_dict("records"):
        d = decimals[row["metric"]]
        difference = _number(row.get("difference"), d)
        if difference not in ("—",) and not difference.startswith("-"):
            difference = "+" + difference
        folds = row.get("folds_run")
        cells = [
            _escape(row["scheme"]), _escape(row["metric"]), _mean_std(row["paper_mean"], row.get("paper_std"), d),
            _mean_std(row["our_mean"], row.get("our_std"), d), difference,
            "—" if folds is None or (isinstance(folds, float) and math.isnan(folds)) else str(int(folds)),
            _escape(row.get("status", ""))]
        if compared:
            low, high = _number(row.get("ci95_low"), d), _number(row.get("ci95_high"), d)
            verdict = row.get("verdict")
            verdict = "—" if not isinstance(verdict, str) or verdict == "n/a" else verdict
            cells += ["—" if "—" in (low, high) else f"{low} – {high}", _p_value(row.get("p_value")),
                      f"**{verdict}**" if verdict in ("lower", "higher") else verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _own_table_markdown(frame: pd.DataFrame) -> list[str]:
    """The table of a run on a user's own collection (no paper columns) as Markdown rows."""
    lines = ["| Scheme | Metric | Ours | Folds | Status |", "|---|---|---:|---:|---|"]
    for row in frame.to_dict("records"):
        values = frame.loc[frame["metric"] == row["metric"], "our_mean"].astype(float).abs().dropna()
        d = 4 if len(values) and values.max() <= 1.0 else 2
        folds = row.get("folds_run")
        lines.append("| " + " | ".join([
            _escape(row["scheme"]), _escape(row["metric"]), _mean_std(row["our_mean"], row.get("our_std"), d),
            "—" if folds is None or (isinstance(folds, float) and math.isnan(folds)) else str(int(folds)),
            _escape(row.get("status", ""))]) + " |")
    return lines


def _p_value(value) -> str:
    """A p-value with 2 significant digits, ``< 0.001`` below that; ``—`` when there is none."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(value):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.2g}"


def _confusion_links(run: TableRun, base: Path) -> str | None:
    csv, recall = run.file("_confusion.csv"), run.file("_per_class_recall.csv")
    figures = sorted(run.folder.glob(f"{run.table_id}_confusion_*.png"))
    if not csv.is_file() and not figures:
        return None
    parts = []
    if csv.is_file():
        parts.append(f"[matrices (CSV)]({_link(csv, base)})")
    if recall.is_file():
        parts.append(f"[per-class recall (CSV)]({_link(recall, base)})")
    prefix = f"{run.table_id}_confusion_"
    labels = {p.name: p.stem[len(prefix):] for p in figures}  # fallback: the file name's scheme part
    order = _figure_order(run, csv)  # the confusion CSV's (table) order, with the schemes' full names
    several = len({metric for _, metric in order}) > 1
    for (scheme, metric), name in order.items():
        if name in labels:
            labels[name] = f"{scheme} ({metric})" if several else scheme
    ordered = [n for n in order.values() if n in labels] + sorted(n for n in labels if n not in order.values())
    parts += [f"[{_escape(labels[n])}]({_link(run.folder / n, base)})" for n in ordered]
    return " · ".join(parts)


def _figure_order(run: TableRun, csv: Path) -> dict:
    """``{(scheme, metric): png name}`` in the order of the confusion CSV ({} when it cannot be read)."""
    try:
        frame = pd.read_csv(csv, usecols=["scheme", "metric"])
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return {}
    keys = list(dict.fromkeys(zip(frame["scheme"].astype(str), frame["metric"].astype(str))))
    return figure_names(run.table_id, keys)


def _section(run: TableRun, base: Path) -> list[str]:
    manifest = run.manifest or {}
    title = manifest.get("title", "")
    heading = f"### {run.name}" + (f" — {_escape(title)}" if title else "")
    if run.own_dataset is not None:
        heading += f" (own collection `{run.own_dataset}`: {_escape(caps_text(run))})"
        lines = [heading, "", f"**Own collection** (folder `{run.own_dataset}/{run.label}`): the table's protocol on "
                 "a user's collection, not the paper's dataset; no paper numbers to compare with.", ""]
    elif not run.canonical:
        unfinished = run.label == UNFINISHED_LABEL
        heading += " (partial: " + ("full-protocol run not finished" if unfinished else _escape(caps_text(run))) + ")"
        lines = [heading, ""]
    else:
        lines = [heading, ""]
    if not run.canonical and run.own_dataset is None:
        lines += [f"**Partial result** (folder `{run.label}`): not the paper's full protocol, or a full-protocol "
                  "run that has not finished. Its numbers are not a reproduction of the table.", ""]
    commit = manifest.get("git_commit")
    info = [("Status", _escape(_status(run))), ("Caps", _escape(caps_text(run))),
            ("Dataset", _dataset(manifest) if manifest else "not recorded"),
            ("Wall time", _duration(manifest.get("wall_seconds")) +
             (" (this run assembled the table from stored records)" if manifest.get("mode") == "collect" else "")),
            ("Training time", _duration(manifest.get("unit_seconds_total")) + " (sum over the fold records)"
             if manifest.get("unit_seconds_total") is not None else "not recorded"),
            ("Hardware", _escape(_hardware(manifest.get("hardware")))),
            ("Git commit", f"`{commit}`" if commit else "not recorded"),
            ("Started", _escape(manifest.get("started", "not recorded")))]
    finished = manifest.get("folds_finished")
    if isinstance(finished, dict) and finished:
        info.append(("Folds finished", _escape(", ".join(f"{k} {v}" for k, v in finished.items()))))
    if manifest.get("source"):
        info.append(("Paper", _escape(manifest["source"])))
    if run.problem:
        info.append(("Manifest", _escape(run.problem)))
    files = [f"[{label}]({_link(path, base)})" for label, path in
             (("table (CSV)", run.file(".csv")), ("per fold (CSV)", run.file("_folds.csv")),
              ("manifest", run.file("_manifest.json"))) if path.is_file()]
    files += [f"[{_escape(p.name)}]({_link(p, base)})" for p in run.extra_files()]
    if files:
        info.append(("Files", " · ".join(files)))
    confusion = _confusion_links(run, base)
    if confusion:
        info.append(("Confusion matrices", confusion))
    lines += ["| | |", "|---|---|"] + [f"| {key} | {value} |" for key, value in info] + [""]
    csv = run.file(".csv")
    lines += _table_markdown(csv) if csv.is_file() else ["*No table yet: no fold had finished.*"]
    lines.append("")
    figure = run.file(".png")
    if figure.is_file():
        what = "this run" if run.own_dataset is not None else "paper vs this run"
        lines += [f"![{_escape(run.name)}: {what}]({_link(figure, base)})", ""]
    return lines


def _table_order(known: list[str]):
    position = {name: i for i, name in enumerate(known)}
    return lambda run: (position.get(run.name, len(position)), run.name)


def _known_tables() -> list[tuple[str, object, str | None]]:
    """``(name, spec or None, problem)`` of every table of :func:`common.registry.available_tables`."""
    from common import registry

    found = []
    for name, factory in registry.available_tables().items():
        try:
            found.append((name, factory(), None))
        except Exception as exc:  # noqa: BLE001 - a table definition that cannot be built is reported, not fatal
            found.append((name, None, f"{type(exc).__name__}: {exc}"))
    return found


def build_report(results_dir: str | Path, known_tables: list[tuple[str, object, str | None]] | None = None) -> str:
    """The report's Markdown text.

    Args:
        results_dir: the results root; links are relative to it (the report goes there).
        known_tables: ``(name, spec, problem)`` of every table the code base defines (default: from
            :func:`common.registry.available_tables`); ``spec`` gives ``title``, ``make_target`` and
            ``dataset.dir_variable``.

    Returns:
        GitHub-flavoured Markdown.
    """
    results_dir = Path(results_dir)
    known, load_problem = known_tables, None
    if known is None:
        try:
            known = _known_tables()
        except Exception as exc:  # noqa: BLE001 - a broken paper module must not hide the results
            known, load_problem = [], f"{type(exc).__name__}: {exc}"
    found = find_runs(results_dir)
    own_runs = sorted(sorted((r for r in found if r.own_dataset is not None),
                             key=lambda r: str((r.manifest or {}).get("started", "")), reverse=True),
                      key=lambda r: (r.name, r.own_dataset))
    runs = [r for r in found if r.own_dataset is None]  # the paper's dataset (own collections: their own section)
    order = _table_order([name for name, _, _ in known])
    canonical = sorted((r for r in runs if r.canonical), key=order)
    partial = sorted((r for r in runs if not r.canonical), key=lambda r: str((r.manifest or {}).get("started", "")),
                     reverse=True)
    partial = sorted(partial, key=order)  # stable: newest first within a table
    with_results = {r.name for r in runs}
    lines = ["# Results report", "",
             f"Written by `make report` (`python -m common.cli report --results-dir {results_dir.as_posix()}`) "
             "from the result files alone; nothing here is typed in by hand. Paper numbers come from each "
             "paper's `tables.py`. *Canonical* tables are complete full-protocol runs; *partial* tables come "
             "from runs with fewer folds, an epoch cap or a scheme subset (or a full run not finished) and are "
             "not reproductions. A row's `reproduced` status says that this code trained and tested the scheme "
             "under the paper's full protocol on the whole published dataset, not that the numbers agree; a run "
             "on part of the dataset says `subset: 100/1000 tracks` instead. Whether the numbers agree is the "
             "verdict: each compared cell's 95 % interval and test (Welch's t-test over folds where the paper "
             "gives a std over its folds, a one-sample t-test where it gives none, a bootstrap over the test "
             "clips for single-split tables), and per table the number of cells consistent with the paper at "
             "the 5 % level after Holm's correction, headed by the subset it ran on where that is not the "
             "whole dataset (\"on 100/1000 tracks: ...\"). A run with an epoch cap, a cell with fewer than 3 folds or "
             "no spread over its folds, and a cell with a fold without a finite value get no verdict (`n/a`, "
             "the reason in the CSV's `test` column). Confusion matrices are summed over the folds the run "
             "completed.", ""]
    lines += ["## Overview", "", "| Table | Make target | Results |", "|---|---|---|"]
    for name, spec, problem in known:
        target = f"`make {spec.make_target}`" if spec is not None else "—"
        states = []
        if any(r.name == name for r in canonical):
            states.append("full protocol")
        n_partial = sum(r.name == name for r in partial)
        if n_partial:
            states.append(f"partial ({n_partial})")
        n_own = sum(r.name == name for r in own_runs)
        if n_own:
            states.append(f"own collections ({n_own})")
        lines.append(f"| {_escape(name)} | {target} | {', '.join(states) or 'none'} |")
    extra = sorted(with_results - {name for name, _, _ in known})
    for name in extra:
        lines.append(f"| {_escape(name)} | — (not defined in this code base) | results present |")
    lines.append("")

    lines += ["## Canonical tables (full protocol)", ""]
    if not canonical:
        lines += ["*None yet.*", ""]
    for run in canonical:
        lines += _section(run, results_dir)
    lines += ["## Partial results", ""]
    if not partial:
        lines += ["*None.*", ""]
    for run in partial:
        lines += _section(run, results_dir)

    lines += split_variant_section(runs, results_dir)
    if own_runs:
        lines += ["## Own collections", "",
                  "Runs of a table's protocol on a user's own collection (`make own-dataset TABLE=... DATA_DIR=...`): "
                  "the collection's classes, the table's splits, features, models and training; no paper numbers "
                  "and no verdict.", ""]
        for run in own_runs:
            lines += _section(run, results_dir)
    lines += ["## Tables not run", ""]
    missing = [(name, spec, problem) for name, spec, problem in known if name not in with_results]
    if load_problem:
        lines += [f"*The table definitions could not be imported ({_escape(load_problem)}), so this list and "
                  "the overview are incomplete.*", ""]
    elif not missing:
        lines += ["*Every table has results.*", ""]
    for name, spec, problem in missing:
        if spec is None:
            lines.append(f"- **{_escape(name)}**: no results; its table definition could not be built "
                         f"({_escape(problem)}).")
            continue
        variable = spec.dataset.dir_variable
        how = f" ({_escape(spec.dataset.how_to_get)})" if spec.dataset.how_to_get else ""
        lines.append(f"- **{_escape(name)}** — {_escape(spec.title)}: no results: run `make {spec.make_target} "
                     f"{variable}=/path/to/{spec.dataset.name}`{how}.")
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Runs on another split than the paper's (--split fault-filtered)


def split_of(run: TableRun) -> str | None:
    """The split a run used instead of the paper's (``"fault-filtered"``), from its manifest or folder name; None: the paper's."""
    caps = (run.manifest or {}).get("caps")
    if isinstance(caps, dict) and caps.get("split"):
        return str(caps["split"])
    if run.label and "fault-filtered-split" in run.label.split("_"):
        return "fault-filtered"
    return None


def _rows_by_scheme(csv: Path) -> dict[tuple[str, str], dict]:
    """``{(scheme, metric): row}`` of a table CSV's rows that have a result ({} when unreadable)."""
    try:
        frame = pd.read_csv(csv)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return {}
    if not {"scheme", "metric", "our_mean"} <= set(frame.columns):
        return {}
    return {(str(r["scheme"]), str(r["metric"])): r for r in frame.to_dict("records")
            if _number(r.get("our_mean"), 4) != "—"}


def _cross_validated_run(run: TableRun, runs: list[TableRun]) -> TableRun | None:
    """The paper's-split result of ``run``'s table: the canonical run, else the newest partial run on the paper's split."""
    same = [r for r in runs if r.name == run.name and split_of(r) is None and r.file(".csv").is_file()]
    canonical = [r for r in same if r.canonical]
    if canonical:
        return canonical[0]
    def plain(r: TableRun) -> bool:  # not a variant of the paper's split either (e.g. group-aware)
        caps = (r.manifest or {}).get("caps")
        return not (isinstance(caps, dict) and caps.get("group_duplicates")) and "group-aware-split" not in (r.label or "")

    partial = sorted((r for r in same if plain(r)),
                     key=lambda r: str((r.manifest or {}).get("started", "")), reverse=True)
    return partial[0] if partial else None


def _result_cell(row: dict | None, decimals: int) -> str:
    """``85.10 ± 3.20 (10 folds, 1000 tracks)`` from a table row; ``—`` without one."""
    if row is None:
        return "—"
    folds, tracks = row.get("folds_run"), row.get("n_tracks")
    where = []
    if _number(folds, 0) != "—":
        where.append(f"{int(float(folds))} fold{'s' if int(float(folds)) != 1 else ''}")
    if _number(tracks, 0) != "—":
        where.append(f"{int(float(tracks))} tracks")
    return _mean_std(row.get("our_mean"), row.get("our_std"), decimals) + (f" ({', '.join(where)})" if where else "")


def _test_items(row: dict) -> str:
    """The number of test items resampled, read off the ``test`` column (``—`` when it names none)."""
    found = re.search(r"resamples of (\d+) test items", str(row.get("test", "")))
    return found.group(1) if found else "—"


def split_variant_section(runs: list[TableRun], base: Path) -> list[str]:
    """The report section comparing, per scheme, the paper's split with another split (``--split``).

    For every run on another split (GTZAN's fault-filtered split), one row per scheme and metric
    with a result: the same scheme's result under the paper's split (the canonical run of the
    table, else its newest partial run on the paper's split; ``—`` when there is none), the result
    on the other split with the bootstrap interval over its test set, and both runs' status.

    Args:
        runs: every run found (:func:`find_runs`).
        base: the report's folder (links are relative to it).

    Returns:
        Markdown lines; empty when no run used another split.
    """
    variants = sorted((r for r in runs if split_of(r) is not None),
                      key=lambda r: (r.name, str((r.manifest or {}).get("started", ""))))
    if not variants:
        return []
    lines = ["## Other splits: the paper's split beside GTZAN's fault-filtered split", "",
             "The fault-filtered split (Kereliuk, Sturm & Larsen 2015; `SPLIT=fault-filtered`) trains on 443, "
             "selects on 197 and tests on 290 listed GTZAN excerpts (on a subset, the listed ones present), "
             "artist-conditional and without Sturm's (2013) faulty excerpts. The paper's numbers come from "
             "random 10-fold cross-validation, so the fault-filtered results get no verdict against them; their "
             "interval is a bootstrap over the one test set (test-set sampling only, not training randomness). "
             "The paper's-split column is the canonical run of the table, else its newest partial run; "
             "compare the statuses (dataset size, folds, epoch caps) before comparing the numbers.", "",
             "| Table | Scheme | Metric | Paper's split (mean ± std over folds) | Fault-filtered split | "
             "95 % CI (bootstrap, test set) | Test tracks | Paper's-split run | Fault-filtered run |",
             "|---|---|---|---:|---:|---:|---:|---|---|"]
    for run in variants:
        ours = _rows_by_scheme(run.file(".csv"))
        other = _cross_validated_run(run, runs)
        theirs = _rows_by_scheme(other.file(".csv")) if other is not None else {}
        link = f"[{_escape(run.label or run.folder.name)}]({_link(run.file('.csv'), base)})"
        other_link = ("—" if other is None else
                      f"[{'canonical' if other.canonical else _escape(other.label)}]({_link(other.file('.csv'), base)})")
        for (scheme, metric), row in ours.items():
            values = [row.get("our_mean"), row.get("ci95_high")] + ([theirs[scheme, metric].get("our_mean")]
                                                                    if (scheme, metric) in theirs else [])
            finite = [abs(float(v)) for v in values if _number(v, 4) != "—"]
            decimals = 4 if finite and max(finite) <= 1.0 else 2
            low, high = _number(row.get("ci95_low"), decimals), _number(row.get("ci95_high"), decimals)
            paper_split = theirs.get((scheme, metric))
            lines.append("| " + " | ".join([
                _escape(run.name), _escape(scheme), _escape(metric), _result_cell(paper_split, decimals),
                _result_cell(row, decimals), "—" if "—" in (low, high) else f"{low} – {high}", _test_items(row),
                other_link + (f" ({_escape(paper_split.get('status', ''))})" if paper_split is not None else ""),
                f"{link} ({_escape(row.get('status', ''))})"]) + " |")
    lines.append("")
    return lines


def write_report(results_dir: str | Path = "results", known_tables=None) -> Path:
    """Write :func:`build_report` to ``<results_dir>/REPORT.md`` atomically; returns the path.

    Raises:
        ConfigError: ``results_dir`` is not an existing folder (a mistyped ``RESULTS_DIR`` is
            named, never created).
        OSError: the report cannot be written (the earlier one stays intact).
    """
    if not Path(results_dir).is_dir():
        raise ConfigError(f"no results folder at {results_dir}: nothing to report (check RESULTS_DIR / "
                          f"--results-dir; a table run creates it)")
    path = Path(results_dir) / REPORT_NAME
    atomic_write_text(path, build_report(results_dir, known_tables))
    return path
