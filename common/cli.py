"""Command line: list tables, run one, run all whose dataset is present, download a dataset.

Usage (the Makefile wraps these)::

    python -m common.cli list
    python -m common.cli run mcclstm.table3_gtzan --data-dir DIR [--folds N] [--epochs N]
                             [--schemes R0,R4] [--results-dir results] [--work-dir work]
    python -m common.cli run ... --shard I/N      (one shard of the units; then `collect`)
    python -m common.cli run ... --ray            (units as Ray tasks; RAY_ADDRESS for a cluster)
    python -m common.cli run ... --group-duplicates  (identical audio kept within one part of every fold)
    python -m common.cli run mcclstm.table3_gtzan ... --split fault-filtered  (GTZAN's fault-filtered split)
    python -m common.cli run mcclstm.table3_gtzan --own-dataset DIR [...]   (the table's protocol on your own
                             collection: DIR/<class name>/<audio files>; make own-dataset TABLE=... DATA_DIR=...)
    python -m common.cli collect mcclstm.table3_gtzan --data-dir DIR   (the table from the records present)
    python -m common.cli all-results [--folds N] [--epochs N]
    python -m common.cli download gtzan --dest data/gtzan     (also: ballroom, magnatagatune)
    python -m common.cli predict mcclstm.table3_gtzan MCCLSTM a.wav b.mp3 [--fold K | --ensemble]
                             [--top 5] [--export DIR] [--results-dir results] [--work-dir work] [--run DIR]
    python -m common.cli report [--results-dir results]       (writes results/REPORT.md)

``--mixed-precision`` and ``--xla`` (``auto``/``on``/``off``) override the acceleration settings
of the tables' training configurations (see :mod:`common.training.trainer`); ``auto`` turns both on
when a GPU is present.

Tables are found in ``papers/<paper>/tables.py`` (its ``TABLES`` dict of factories). Dataset
folders for ``all-results`` come from the environment variables named by each table (e.g.
``GTZAN_DIR``), defaulting to ``data/<dataset>``. Bad input ends with a one-paragraph message
and exit status 2, not a traceback: a dataset problem, a bad option, a run of the same table
already writing to the results folder, or an operating-system error (read-only folder, disk full,
permission denied), named with its path. Earlier results are left intact in every case (every
result is written atomically). Ctrl-C and SIGTERM end with one ``interrupted: ...`` line and exit
status 130 and 143; the run resumes with the same command.

A unit (scheme, fold) whose training diverges (a non-finite training or validation loss, weights
or model outputs; :mod:`common.training.divergence`) is recorded as diverged, not as a result: the
run goes on with the other units, prints ``diverged: <scheme> fold <k> at epoch <e>: <what>`` for
each, writes the table with no number in that row (status ``diverged in fold k (epoch e)``), and
ends with a one-line summary and exit status 3 (:data:`DIVERGED_EXIT_STATUS`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from pathlib import Path

from common.errors import ReproError
from common.registry import available_tables

def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: what happened and to which path.

    >>> describe_os_error(OSError(28, "No space left on device", "work/cache/x.npz"))
    'No space left on device: work/cache/x.npz (the disk is full: free some space or point WORK_DIR / RESULTS_DIR elsewhere)'
    """
    import errno

    hints = {errno.ENOSPC: "the disk is full: free some space or point WORK_DIR / RESULTS_DIR elsewhere",
             errno.EROFS: "read-only file system: point RESULTS_DIR / WORK_DIR at a writable folder",
             errno.EACCES: "permission denied: point RESULTS_DIR / WORK_DIR at a folder you can write",
             errno.EPERM: "operation not permitted: point RESULTS_DIR / WORK_DIR at a folder you can write"}
    where = f": {exc.filename}" if exc.filename else ""
    hint = f" ({hints[exc.errno]})" if exc.errno in hints else ""
    return f"{exc.strerror or exc}{where}{hint}"


def _table(name: str):
    tables = available_tables()
    if name not in tables:
        raise ReproError(f"unknown table {name!r}; available: {', '.join(sorted(tables))}")
    return tables[name]()


def _with_own_dataset(spec, args):
    """The table on the collection of ``--own-dataset`` (:func:`common.runner.own_dataset.own_dataset_table`),
    or ``spec`` unchanged without the option.

    Raises:
        ConfigError: the table does not run on an own collection (the message lists those that do),
            ``--schemes`` names a row left out there, or ``--data-dir`` is given too.
        DatasetError: the folder is missing, has fewer than two class folders or an empty one.
    """
    folder = getattr(args, "own_dataset", None)
    if folder is None:
        return spec
    from common.errors import ConfigError
    from common.runner.own_dataset import own_dataset_table

    if getattr(args, "data_dir", None):
        raise ConfigError(f"--own-dataset {folder} is the run's dataset folder; leave --data-dir out")
    schemes = [s for s in (getattr(args, "schemes", None) or "").split(",") if s]
    return own_dataset_table(spec, folder, schemes)


def _with_scheme_module(spec, args) -> tuple:
    """The table with the row of ``--scheme-module`` added, and the schemes to run.

    Returns:
        ``(spec, None)`` without the option; else ``(spec with the module's row, [the --schemes
        named, then the module's row])``: only the user's row is trained unless ``--schemes``
        names paper schemes too (the table still shows every scheme with matching records).

    Raises:
        ConfigError: any problem with the module (see :mod:`common.runner.scheme_module`), before
            any dataset or feature work.
    """
    reference = getattr(args, "scheme_module", None)
    if not reference:
        return spec, None
    from common.runner.scheme_module import add_scheme_module

    spec = add_scheme_module(spec, reference)
    row = spec.scheme_module_rows()[0].name
    named = [s for s in (getattr(args, "schemes", None) or "").split(",") if s and s != row]
    return spec, [*named, row]


#: Exit status of a ``run`` / ``collect`` / ``all-results`` whose table has a unit whose training
#: diverged (non-finite loss, weights or outputs; :mod:`common.training.divergence`): the run went
#: on and wrote the table, where that row shows no number. (2: bad input; 130/143: interrupted.)
DIVERGED_EXIT_STATUS = 3


def divergence_summary(table_name: str, diverged_units: list[str], units: int) -> str:
    """The one-line summary printed (on standard error) after a table with diverged units.

    >>> divergence_summary("mcclstm.table3_gtzan", ["R0 fold 1"], 20)
    'diverged: 1 of 20 units of mcclstm.table3_gtzan (R0 fold 1) have no result; their rows show no number (status "diverged in fold ..."); exit status 3'
    """
    return (f"diverged: {len(diverged_units)} of {units} units of {table_name} ({', '.join(diverged_units)}) have "
            f"no result; their rows show no number (status \"diverged in fold ...\"); exit status {DIVERGED_EXIT_STATUS}")


def _run(spec, data_dir, args, schemes: list[str] | None = None) -> int:
    """Run (or collect) one table and print it; returns the exit status (:data:`DIVERGED_EXIT_STATUS` or 0)."""
    from common.runner import run_table

    schemes = schemes or [s for s in (args.schemes or "").split(",") if s] or None
    from common.runner.fanout import parse_shard

    frame = run_table(spec, data_dir, results_dir=args.results_dir, work_dir=args.work_dir, folds=args.folds,
                      epochs=args.epochs, schemes=schemes, seed=args.seed, verbose=args.keras_verbose,
                      progress=not args.no_progress, shard=parse_shard(args.shard) if args.shard else None,
                      collect_only=getattr(args, "collect_only", False), ray=args.ray,
                      group_duplicates=args.group_duplicates, split=getattr(args, "split", None))
    if frame is None:
        return 0
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    diverged = frame.attrs.get("diverged_units") or []
    if diverged:
        print(divergence_summary(f"{spec.paper}.{spec.table_id}", diverged, frame.attrs.get("units", len(diverged))),
              file=sys.stderr, flush=True)
        return DIVERGED_EXIT_STATUS
    return 0


def _schemes_ready(spec, name: str, args) -> list[str] | None:
    """For ``all-results``: the selected schemes whose preflight check passes (None: all of them).

    A scheme that cannot start (e.g. Table III's transfer rows without the Table I weights) is
    reported and left out, so that the table's other rows still run.
    """
    selected = [s for s in (args.schemes or "").split(",") if s]
    ready, blocked = [], {}
    for scheme in spec.trainable():
        if selected and scheme.name not in selected:
            continue
        try:
            if scheme.preflight is not None:
                scheme.preflight()
            ready.append(scheme.name)
        except ReproError as exc:
            blocked[scheme.name] = str(exc).splitlines()[0]
    for scheme, reason in blocked.items():
        print(f"-- {name}: scheme {scheme!r} skipped: {reason}", flush=True)
    if not blocked:
        return selected or None
    if not ready:
        raise ReproError(f"no scheme of {name} can start (see above)")
    return ready


def _set_workers_environment(args) -> None:
    """Export --workers for :func:`common.features.cache.feature_workers` (as ``$REPRO_FEATURE_WORKERS``).

    Raises:
        ConfigError: ``--workers`` below 1.
    """
    workers = getattr(args, "workers", None)
    if workers is not None:
        from common.errors import ConfigError
        from common.features.cache import WORKERS_ENVIRONMENT

        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, not {workers}")
        os.environ[WORKERS_ENVIRONMENT] = str(workers)


def _set_acceleration_environment(args) -> None:
    """Export --mixed-precision / --xla for :func:`common.training.trainer.acceleration_from_environment`."""
    for option, name in (("mixed_precision", "mixed_precision"), ("xla", "jit_compile")):
        value = getattr(args, option, None)
        if value is not None:
            from common.training.trainer import ACCELERATION_ENVIRONMENT

            os.environ[ACCELERATION_ENVIRONMENT[name]] = value


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m common.cli", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the tables")

    def run_options(p):
        p.add_argument("--folds", type=int, default=None, help="run only the first N folds")
        p.add_argument("--epochs", type=int, default=None, help="cap the number of epochs")
        p.add_argument("--schemes", default=None, help="comma-separated subset of trainable schemes")
        p.add_argument("--results-dir", default="results",
                       help="root of the result tables, figures, manifests and fold records (default: results)")
        p.add_argument("--work-dir", default="work", help="feature cache, checkpoints, TensorBoard logs")
        p.add_argument("--seed", type=int, default=0, help="base seed of every (scheme, fold) (default: 0)")
        p.add_argument("--keras-verbose", default=2, type=int, help="Keras fit verbosity (0, 1, 2)")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.add_argument("--workers", type=int, default=None, metavar="N",
                       help="feature-extraction processes (default: $REPRO_FEATURE_WORKERS, else the cores "
                            "this process may use)")
        p.add_argument("--mixed-precision", choices=("auto", "on", "off"), default=None,
                       help="mixed float16 training (default: the table's setting, auto = on with a GPU)")
        p.add_argument("--xla", choices=("auto", "on", "off"), default=None,
                       help="XLA-compile the train step (default: the table's setting, auto = on with one GPU)")
        p.add_argument("--shard", default=None, metavar="I/N",
                       help="run shard I of N (from 0) of the (scheme, fold) units and write their records only; "
                            "`collect` then writes the table")
        p.add_argument("--ray", action="store_true",
                       help="run the units as Ray tasks (local Ray, or the cluster at RAY_ADDRESS), then the table")
        p.add_argument("--group-duplicates", action="store_true",
                       help="keep identical audio files (the same recording under several track ids) within one "
                            "part of every fold: a group-aware split, not the papers' protocol (a variant table "
                            "in partial/); cross-validation tables only")
        p.add_argument("--split", default=None, metavar="NAME",
                       help="the split: 'paper' (default: the paper's own) or 'fault-filtered' (GTZAN's fault-filtered "
                            "split of Kereliuk, Sturm & Larsen 2015: one fold, 443/197/290 listed excerpts; a variant "
                            "table in partial/ with no verdict against the paper); GTZAN tables only")
        p.add_argument("--scheme-module", default=None, metavar="FILE.py|MODULE",
                       help="your own model as one more row of the table (a module defining build_model(input_shape, "
                            "n_outputs); README, \"Evaluate your own model\"): only it is trained unless --schemes "
                            "names paper schemes too; its table goes to partial/, never the canonical one")
        p.add_argument("--own-dataset", default=None, metavar="DIR",
                       help="run the table's protocol on your own collection instead of its dataset: DIR holds one "
                            "folder per class (its name is the class name) with audio files in it, sub-folders "
                            "too (README, \"Your own collection\"); results go to <results>/<paper>/own/<table>/, "
                            "never the canonical table; MCCLSTM Tables 3-5 and CRNN-TF Table III's from-scratch rows")

    exit_statuses = ("exit status: 0 done; 2 bad input (one paragraph, no traceback); 3 the table was written but "
                     "a unit diverged (non-finite loss, weights or outputs: that row shows no number, status "
                     "\"diverged in fold k (epoch e)\"); 130 interrupted (Ctrl-C); 143 interrupted (SIGTERM)")
    run = sub.add_parser("run", help="run one table", epilog=exit_statuses)
    run.add_argument("table", help="<paper>.<table>, see `list`")
    run.add_argument("--data-dir", default=None, help="dataset folder (default: $<DATASET>_DIR or data/<dataset>)")
    run_options(run)
    collect = sub.add_parser("collect", help="write a table from the fold records present (after shards)",
                             epilog=exit_statuses)
    collect.add_argument("table", help="<paper>.<table>, see `list`")
    collect.add_argument("--data-dir", default=None, help="dataset folder (default: $<DATASET>_DIR or data/<dataset>)")
    run_options(collect)
    every = sub.add_parser("all-results", help="run every table whose dataset is present",
                           epilog=exit_statuses.replace("3 the table was", "1 a table failed; 3 the tables were"))
    run_options(every)
    download = sub.add_parser("download", help="download a dataset (where its licence allows)")
    download.add_argument("dataset", choices=["gtzan", "ballroom", "magnatagatune"])
    download.add_argument("--dest", required=True)
    predict = sub.add_parser("predict", help="apply a trained scheme of a table to audio files (common.inference)")
    predict.add_argument("table", help="<paper>.<table>, see `list`")
    predict.add_argument("scheme", help="a trainable scheme of the table, e.g. MCCLSTM")
    predict.add_argument("files", nargs="*", help="audio files (any format the table's loader decodes)")
    predict.add_argument("--results-dir", default="results", help="results folder of the training run")
    predict.add_argument("--work-dir", default="work", help="work folder of the training run (checkpoints)")
    which = predict.add_mutually_exclusive_group()
    which.add_argument("--fold", type=int, default=None, help="0-based fold whose model to use (default: 0)")
    which.add_argument("--ensemble", action="store_true", help="average the probabilities of every trained fold")
    predict.add_argument("--top", type=int, default=5, help="classes (tags) to print per file (default: 5)")
    predict.add_argument("--export", default=None, metavar="DIR",
                         help="also write the fold's model.keras and preprocessing.json to DIR")
    predict.add_argument("--scheme-module", default=None, metavar="FILE.py|MODULE",
                         help="the scheme module that trained SCHEME (a row added with --scheme-module): only a "
                              "run made with its current code is used")
    predict.add_argument("--run", default=None, metavar="DIR",
                         help="the run to use: its results folder, holding <table>_manifest.json (<results>/<paper> "
                              "for the canonical table, <results>/<paper>/partial/<table>/<caps> for another run); "
                              "default: the canonical run, else the newest partial run with the scheme "
                              "(--results-dir is then not used)")
    predict.add_argument("--own-dataset", default=None, metavar="DIR",
                         help="the model was trained on your own collection DIR (run ... --own-dataset DIR, make "
                              "own-dataset): use that run (<results>/<paper>/own/<table>/<collection>/...) and its "
                              "class names")
    report = sub.add_parser("report", help="write <results-dir>/REPORT.md from the result files (no training)")
    report.add_argument("--results-dir", default="results", help="root of the results (default: results)")
    args = parser.parse_args(argv)

    def command() -> int:
        _set_acceleration_environment(args)
        _set_workers_environment(args)
        if (args.command not in ("list", "report", "download")
                and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"):
            from common.training.tensorflow_logging import import_tensorflow_quietly

            import_tensorflow_quietly()  # inside guarded(): a Ctrl-C during the import is one line too
        return _command(args)

    return guarded(command)


class Terminated(KeyboardInterrupt):
    """SIGTERM received (``kill PID``, a job scheduler, ``docker stop``): handled like Ctrl-C.

    A ``KeyboardInterrupt``, so that everything that cleans up after Ctrl-C (the manifest marked
    ``interrupted``, the table's lock released, the feature workers ended) does so after SIGTERM too.
    """


def _raise_terminated(signum, frame) -> None:
    """SIGTERM handler installed by :func:`guarded`: raise :class:`Terminated` once.

    A second SIGTERM while the first is being handled ends the process at once (the default action).
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated("SIGTERM")


def guarded(call) -> int:
    """Run ``call()`` and turn the errors this project expects into a message and exit status 2.

    ``call`` returns an exit status (or None for 0). A :class:`~common.errors.ReproError` (bad
    dataset, option, or a run already writing the table) and an ``OSError`` (read-only folder,
    full disk, permissions) print ``error: ...`` on standard error, naming the path, with no
    traceback. Ctrl-C (``KeyboardInterrupt``) prints one ``interrupted: ...`` line and returns 130
    (128 + SIGINT, the shell's convention); SIGTERM (while ``call`` runs in the main thread) does the
    same and returns 143 (128 + SIGTERM). A table run has by then marked its manifest
    ``interrupted`` and released its lock, and the same command resumes it.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        return call() or 0
    except KeyboardInterrupt as exc:
        how, status = ("SIGTERM", 143) if isinstance(exc, Terminated) else ("Ctrl-C", 130)
        print(f"interrupted: stopped by {how}; every finished fold record and cache entry is kept (each is "
              "written atomically) and the same command resumes from them", file=sys.stderr)
        return status
    except ReproError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {describe_os_error(exc)}\nNothing already written was changed: every result and "
              f"cache file is written atomically.", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _command(args) -> int:
    """Carry out a parsed command; returns the exit status."""
    if args.command == "list":
        rows = [(name, f"make {spec.make_target}", spec.dataset.dir_variable, spec.title)
                for name, spec in ((name, factory()) for name, factory in available_tables().items())]
        header = ("table", "target", "dataset", "title")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    elif args.command in ("run", "collect"):
        args.collect_only = args.command == "collect"
        spec, schemes = _with_scheme_module(_with_own_dataset(_table(args.table), args), args)
        if getattr(args, "own_dataset", None) is not None:
            data_dir = spec.dataset.default_dir  # the collection, resolved
        else:
            data_dir = args.data_dir or os.environ.get(spec.dataset.dir_variable) or spec.dataset.default_dir
        return _run(spec, data_dir, args, schemes)
    elif args.command == "all-results":
        if getattr(args, "own_dataset", None) is not None:
            raise ReproError("--own-dataset runs one table's protocol on your collection: make own-dataset "
                             "TABLE=<paper>.<table> DATA_DIR=<folder> (python -m common.cli run <table> --own-dataset "
                             "<folder>), not all-results")
        if getattr(args, "scheme_module", None):
            raise ReproError("--scheme-module / SCHEME_MODULE adds a row to one table: run that table's target, "
                             "e.g. make table3-gtzan SCHEME_MODULE=examples/table3_small_cnn.py")
        if getattr(args, "split", None) not in (None, "", "paper"):
            raise ReproError(f"--split / SPLIT={args.split} applies to one GTZAN table, not to all-results: run that "
                             f"table's target, e.g. make table3-gtzan SPLIT=fault-filtered")
        failed, diverged = [], []
        for name, factory in available_tables().items():
            spec = factory()
            data_dir = os.environ.get(spec.dataset.dir_variable) or spec.dataset.default_dir
            if not Path(data_dir).is_dir():
                print(f"-- skipped {name}: {spec.dataset.name} not found at {data_dir} "
                      f"(set {spec.dataset.dir_variable}; {spec.dataset.how_to_get})", flush=True)
                continue
            try:
                if _run(spec, data_dir, args, _schemes_ready(spec, name, args)) == DIVERGED_EXIT_STATUS:
                    diverged.append(name)
            except ReproError as exc:
                print(f"-- {name} failed: {exc}", file=sys.stderr, flush=True)
                failed.append(name)
        if failed:
            print(f"tables that failed: {', '.join(failed)}", file=sys.stderr)
            return 1
        if diverged:
            print(f"tables with diverged units: {', '.join(diverged)}", file=sys.stderr)
            return DIVERGED_EXIT_STATUS
    elif args.command == "predict":
        from common.inference.command import run_command

        return run_command(_with_scheme_module(_with_own_dataset(_table(args.table), args), args)[0], args)
    elif args.command == "report":
        from common.outputs.report import write_report

        print(f"wrote {write_report(args.results_dir)}")
    elif args.command == "download":
        loader = importlib.import_module(f"common.datasets.{args.dataset}")
        destination = Path(args.dest)
        created = not destination.exists()
        try:
            print(f"{loader.NAME} is in {loader.download(destination)}")
        except BaseException:
            if created and destination.is_dir():  # leave nothing behind that the next run would mistake for data
                import shutil

                shutil.rmtree(destination, ignore_errors=True)
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
