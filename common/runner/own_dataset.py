"""A table's protocol on a user's own collection (``make own-dataset TABLE=... DATA_DIR=...``, ``--own-dataset``).

The collection is a folder with one folder per class (:mod:`common.datasets.own_collection`). It
takes the place of the table's dataset; everything else is the table's: its splits (stratified k
folds), features, models, training, metrics and confusion matrices, with as many classes as the
collection has folders (the models' output size is read from the index's classes, and a scheme
module's from :attr:`~common.runner.spec.DatasetSpec.own_collection`).

Which tables: those whose paper adapter ``papers/<paper>/own_dataset.py`` accepts them
(:func:`rows_left_out` is not None; :func:`supported_tables` lists them). The adapter may leave
rows out that cannot run on another collection (e.g. rows that start from weights trained on
the paper's own pre-training data), each with its reason; naming such a row in ``SCHEMES`` is
refused with that reason. The paper-only rows (numbers quoted from other papers) are dropped.

What differs from a run on the table's dataset:

- no paper columns: the CSV has :data:`OWN_COLUMNS` only (no paper numbers, no difference, no
  interval or verdict against the paper), and the figure shows this run's bars only;
- every row's status starts ``own dataset: <n> classes, <m> tracks``
  (:mod:`common.runner.coverage`);
- every file goes under ``<results>/<paper>/own/<table>/<collection label>/``
  (:class:`~common.runner.layout.RunLayout`): records and splits there, the table in a folder per
  caps label (``full-protocol`` when uncapped); never the canonical table, and a full run's
  checkpoints are not published as the table's model;
- before any feature work (:func:`check_collection`): a class with fewer tracks than the
  protocol's folds is refused (named), and so is identical audio in two classes (the groups listed
  as the duplicate check lists them, :mod:`common.runner.duplicates`); identical audio within one
  class is reported as for every dataset and kept (``--group-duplicates`` keeps it together).
"""

from __future__ import annotations

import importlib
import shlex
from dataclasses import replace
from pathlib import Path

import pandas as pd

from common.datasets import own_collection
from common.errors import ConfigError, DatasetError

#: The columns of an own-dataset run's table CSV: no paper columns, no comparison with the paper.
OWN_COLUMNS = ["scheme", "metric", "our_mean", "our_std", "folds_run", "status", "n_tracks"]

#: The Make target (``make own-dataset TABLE=<paper>.<table> DATA_DIR=<folder>``).
MAKE_TARGET = "own-dataset"


def _adapter(paper: str):
    """``papers.<paper>.own_dataset``, or None when the paper has none."""
    try:
        return importlib.import_module(f"papers.{paper}.own_dataset")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"papers.{paper}.own_dataset", f"papers.{paper}"):
            raise
        return None


def rows_left_out(spec) -> dict[str, str] | None:
    """``{row: why it cannot run on an own collection}`` for a supported table; None when the table is not supported.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`).
    """
    adapter = _adapter(spec.paper)
    return None if adapter is None else adapter.rows_left_out(spec)


def supported_tables() -> list[str]:
    """``<paper>.<table>`` of every table that runs on an own collection (:func:`rows_left_out` is not None)."""
    from common.registry import available_tables

    return [name for name, factory in available_tables().items() if rows_left_out(factory()) is not None]


def own_dataset_table(spec, folder, schemes: list[str] | None = None):
    """The table with a user's own collection in place of its dataset, checked before any feature work.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`).
        folder: the collection folder (``DATA_DIR`` / ``--own-dataset``).
        schemes: the rows asked for (``SCHEMES``), or None: checked against the rows left out.

    Returns:
        a copy of ``spec`` whose ``dataset`` reads the collection (``own_collection`` set, ``index``
        :func:`common.datasets.own_collection.index`, ``dir_variable`` ``DATA_DIR``), without
        paper-only rows and the rows the paper's adapter leaves out, with no paper numbers, its
        title naming the collection, and its ``make_target`` the ``own-dataset`` command.

    Raises:
        ConfigError: the table does not run on an own collection (the message lists those that
            do), or ``schemes`` names a row left out (with the reason and the rows that run).
        DatasetError: the folder is missing, has fewer than two class folders, or a class folder
            holds no audio file (:func:`common.datasets.own_collection.describe_folder`).
    """
    name = f"{spec.paper}.{spec.table_id}"
    left_out = rows_left_out(spec)
    if left_out is None:
        raise ConfigError(f"{name} does not run on an own collection (--own-dataset / make own-dataset): it is not "
                          f"a single-label classification table under cross-validation, or its paper has no adapter "
                          f"for it yet. Tables that do: {', '.join(supported_tables())}")
    kept = tuple(s for s in spec.schemes if s.run_fold is not None and s.name not in left_out)
    refused = [s for s in (schemes or []) if s in left_out]
    if refused:
        raise ConfigError(f"{name} on an own collection: " + "; ".join(f"{s!r} {left_out[s]}" for s in refused)
                          + f". The rows that run on an own collection: {', '.join(s.name for s in kept)}")
    collection = own_collection.describe_folder(folder)
    dataset = replace(spec.dataset, name=own_collection.NAME, index=own_collection.index, dir_variable="DATA_DIR",
                      default_dir=str(collection.root), how_to_get="", published_size=None,
                      own_collection=collection)
    title = f"{spec.title.split(':')[0]} protocol on own collection {collection.root.name!r}"
    return replace(spec, dataset=dataset, schemes=kept, reference={}, title=title,
                   make_name=f"{MAKE_TARGET} TABLE={name} DATA_DIR={shlex.quote(str(collection.root))}")


def is_own_dataset(spec) -> bool:
    """True for a table made by :func:`own_dataset_table`."""
    return getattr(spec.dataset, "own_collection", None) is not None


def check_collection(index, spec, digest_of) -> list[str]:
    """The checks of an own collection that need the protocol and the files' contents (before features).

    Args:
        index: the collection's :class:`~common.datasets.base.DatasetIndex` (usable tracks).
        spec: the own-dataset table (its protocol's ``n_folds``).
        digest_of: ``path -> content digest`` (:meth:`common.runner.identity.ContentHashes.of`).

    Returns:
        console lines describing the collection (classes, tracks per class, what was ignored).

    Raises:
        DatasetError: a class has fewer usable tracks than the protocol's folds (each test fold
            needs one track of every class; the message names every such class, its folder and
            count, and says that ``FOLDS`` does not change the protocol's fold count); or
            identical audio (byte-identical files) lies in two classes (every such group is listed
            as :func:`common.runner.duplicates.report_lines` lists groups).
    """
    from common.runner.duplicates import group_line, identical_audio_groups

    counts = index.class_counts()
    n_folds = getattr(spec.protocol, "n_folds", None)
    where = f"own dataset at {index.root}"
    if n_folds:
        small = {name: n for name, n in counts.items() if n < n_folds}
        if small:
            listed = "; ".join(f"class {name!r} ({Path(index.root) / name}) has {n} usable track{'s' if n != 1 else ''}"
                               for name, n in small.items())
            raise DatasetError(f"{where}: {listed}; {spec.paper}.{spec.table_id}'s protocol is "
                               f"{n_folds}-fold stratified cross-validation, so every class needs at least "
                               f"{n_folds} tracks (each test fold holds one of every class). FOLDS=N runs only the "
                               f"first N of those {n_folds} folds and does not change them. Add tracks to "
                               f"{'that class' if len(small) == 1 else 'those classes'} or leave "
                               f"{'it' if len(small) == 1 else 'them'} out.")
    groups = identical_audio_groups(index.tracks, digest_of)
    across = [g for g in groups if len({t.label for t in g}) > 1]
    if across:
        raise DatasetError(f"{where}: identical audio in two classes: {len(across)} group(s) of byte-identical "
                           f"files carry different class labels, so the same recording would be taught as two "
                           f"classes (and could be tested against its own copy):\n"
                           + "\n".join(group_line(g) for g in across)
                           + "\nKeep each recording in one class folder only.")
    notes = index.notes or {}
    lines = [f"  own dataset: {len(index.classes)} classes, {len(index.tracks)} tracks: "
             + ", ".join(f"{name} {n}" for name, n in counts.items())]
    ignored = [(notes.get("ignored_non_audio_files", 0), "non-audio file"),
               (notes.get("files_outside_class_folders", 0), "file outside the class folders"),
               (notes.get("ignored_hidden_entries", 0), "hidden file or folder")]
    if any(n for n, _ in ignored):
        lines.append("  own dataset: ignored " + ", ".join(f"{n} {what}{'s' if n != 1 else ''}"
                                                            for n, what in ignored if n)
                     + (" (the manifest lists the files under dataset.unexpected_files)"
                        if ignored[0][0] or ignored[1][0] else ""))
    return lines


def own_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison table of an own-dataset run without its paper columns (:data:`OWN_COLUMNS`)."""
    return table[[c for c in OWN_COLUMNS if c in table.columns]].copy()


__all__ = ["OWN_COLUMNS", "own_dataset_table", "is_own_dataset", "check_collection", "rows_left_out",
           "supported_tables", "own_table"]
