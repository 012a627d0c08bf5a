"""Where a run's outputs go, and what caps it ran under.

Results layout under ``<results_dir>/<paper>/``:

- ``<table>.csv``, ``<table>_folds.csv``, ``<table>.png``, ``<table>_manifest.json``: the
  **canonical** table. Written only by a run whose table is complete under the full protocol:
  every fold, every trainable scheme, no epoch cap. Nothing else ever writes these files.
- ``<table>/folds/<scheme>/fold_<k>/<identity>.json``: fold records of units trained without an
  epoch cap (whichever run made them), one file per identity; ``<table>/splits/<id>.json``: splits.
- ``partial/<table>/<label>/<table>.csv`` (and ``_folds.csv``, ``.png``, ``_manifest.json``): the
  table of any other run, in a folder named by its caps (``folds-2of10_epochs-2``,
  ``schemes-R0``, or ``full-protocol-unfinished`` while a full run has not finished).
- ``partial/<table>/folds/...`` and ``partial/<table>/splits/...``: records of epoch-capped units,
  and of every unit of a variant of the protocol (``--group-duplicates``: a group-aware split,
  labelled ``group-aware-split``; ``--split fault-filtered``: GTZAN's fault-filtered split, labelled
  ``fault-filtered-split``), which is never the paper's table.
- ``own/<table>/<collection>/``: a run of the table's protocol on a user's own collection
  (``--own-dataset``, :mod:`common.runner.own_dataset`; ``<collection>`` is the folder's
  :func:`common.datasets.own_collection.folder_label`): its fold records and splits, and one
  folder per caps label (``full-protocol`` when uncapped) holding the table. Never canonical.

So a quick run never touches canonical results, and a full run's records are reused by a later
run with fewer folds or schemes (the table of a subset run shows every scheme whose matching
records exist).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common.runner.identity import fingerprint

#: Label of the partial-results folder of a full-protocol run that has not finished yet.
UNFINISHED_LABEL = "full-protocol-unfinished"

#: Label of the table folder of an uncapped run on a user's own collection (never canonical).
OWN_FULL_LABEL = "full-protocol"

#: Folder (under ``<results>/<paper>/``) of the runs on users' own collections.
OWN_FOLDER = "own"


def scheme_folder_label(name: str) -> str:
    """A row name in a safe, distinct folder-name form (ASCII letters, digits, ``.`` and ``-``).

    A name already of that form is kept (``"SmallCNN"``); any other has every run of other
    characters turned into ``-`` and 8 hex digits of its fingerprint appended, so that names
    differing only in such characters keep different folders: ``"My CNN + LSTM"`` reads
    ``"My-CNN-LSTM-<8 hex>"``, ``"My-CNN-LSTM"`` stays itself.

    Args:
        name: a row's name as written (a scheme module's ``SCHEME_NAME``).

    Returns:
        the label (non-empty for a name holding a letter or digit).
    """
    safe = re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-")
    return safe if safe == name else f"{safe}-{fingerprint(name)[:8]}".lstrip("-")


@dataclass(frozen=True)
class RunCaps:
    """What a run was asked to do, against the full protocol.

    Attributes:
        folds_run: folds requested (the first ``folds_run`` of the protocol's splits).
        folds_in_protocol: the protocol's number of folds.
        epochs: epoch cap, or None for the schemes' own settings.
        schemes: the trainable schemes selected, or None for all of them.
        group_duplicates: the split keeps identical audio within one part of every fold
            (``--group-duplicates``): a variant of the protocol, never the paper's table.
        scheme_module: name of a row added from a user's scheme module (``--scheme-module``), or
            None. That row is no part of the paper's protocol, so a run with it is always capped:
            its table goes to a partial folder labelled ``...scheme-module-<name>`` (the name's
            :func:`scheme_folder_label`) and never replaces the canonical one. (Its records live
            where the run's epoch cap puts them, beside the paper's, so the paper's rows of
            matching records appear in its table.)
        split: another split than the paper's (``--split``: ``"fault-filtered"``, GTZAN's
            fault-filtered split, :mod:`common.evaluation.gtzan_fault_filtered`), or None for the
            paper's: a variant of the protocol, never the paper's table.
        own_dataset: the label of a user's own collection the run used instead of the table's
            dataset (``--own-dataset``; :func:`common.datasets.own_collection.folder_label`), or
            None: such a run is never the paper's table; its files go under ``own/`` (:class:`RunLayout`).
    """

    folds_run: int
    folds_in_protocol: int
    epochs: int | None = None
    schemes: tuple[str, ...] | None = None
    group_duplicates: bool = False
    scheme_module: str | None = None
    split: str | None = None
    own_dataset: str | None = None

    @property
    def capped(self) -> bool:
        """True when the run is not the paper's full protocol (fewer folds, epoch cap, scheme subset, variant,
        own dataset)."""
        return (self.folds_run < self.folds_in_protocol or self.epochs is not None or self.schemes is not None
                or self.variant is not None or self.scheme_module is not None or self.own_dataset is not None)

    def paper_schemes(self) -> tuple[str, ...] | None:
        """The selected schemes without the scheme module's row (None: all; empty: none of the paper's)."""
        if self.schemes is None:
            return None
        return tuple(s for s in self.schemes if s != self.scheme_module)

    @property
    def variant(self) -> str | None:
        """How the run departs from the paper's protocol other than by caps (``"group-aware split"``,
        ``"fault-filtered split"``), or None."""
        if self.split is not None:
            return f"{self.split} split"
        return "group-aware split" if self.group_duplicates else None

    def describe(self) -> str:
        """Human-readable caps, e.g. ``"2/10 folds, epochs <= 2, schemes R0, R4"``; ``"full protocol"``."""
        parts = []
        if self.folds_run < self.folds_in_protocol:
            parts.append(f"{self.folds_run}/{self.folds_in_protocol} folds")
        if self.epochs is not None:
            parts.append(f"epochs <= {self.epochs}")
        if self.paper_schemes():
            parts.append("schemes " + ", ".join(self.paper_schemes()))
        if self.variant is not None:
            parts.append(self.variant)
        if self.scheme_module is not None:
            parts.append(f"scheme module {self.scheme_module}")
        return ", ".join(parts) or "full protocol"

    def label(self) -> str:
        """Folder name of a capped run's partial results, e.g. ``"folds-2of10_epochs-2"``."""
        parts = []
        if self.folds_run < self.folds_in_protocol:
            parts.append(f"folds-{self.folds_run}of{self.folds_in_protocol}")
        if self.epochs is not None:
            parts.append(f"epochs-{self.epochs}")
        if self.paper_schemes():
            parts.append("schemes-" + "+".join(re.sub(r"[^A-Za-z0-9.-]+", "-", s).strip("-")
                                               for s in self.paper_schemes()))
        if self.variant is not None:
            parts.append(re.sub(r"[^A-Za-z0-9.-]+", "-", self.variant))
        if self.scheme_module is not None:
            parts.append("scheme-module-" + scheme_folder_label(self.scheme_module))
        label = "_".join(parts) or (OWN_FULL_LABEL if self.own_dataset is not None else UNFINISHED_LABEL)
        return label if len(label) <= 120 else label[:100] + "-" + fingerprint(label)[:8]

    def as_dict(self) -> dict:
        """JSON-able caps for the manifest."""
        return {"folds_run": self.folds_run, "folds_in_protocol": self.folds_in_protocol,
                "epochs": self.epochs, "schemes": list(self.schemes) if self.schemes else None,
                "capped": self.capped, "description": self.describe(),
                **({"group_duplicates": True} if self.group_duplicates else {}),
                **({"split": self.split} if self.split is not None else {}),
                **({"own_dataset": self.own_dataset} if self.own_dataset is not None else {}),
                **({"scheme_module": self.scheme_module} if self.scheme_module is not None else {})}


@dataclass(frozen=True)
class RunLayout:
    """Paths of one table's outputs in one results folder and one work folder.

    Args:
        results_dir: root of the results (``results``).
        work_dir: root of caches and checkpoints (``work``).
        paper: paper package name.
        table_id: table name.
        caps: the run's caps.
    """

    results_dir: Path
    work_dir: Path
    paper: str
    table_id: str
    caps: RunCaps

    @property
    def paper_dir(self) -> Path:
        """``<results_dir>/<paper>``: the canonical tables' folder."""
        return Path(self.results_dir) / self.paper

    @property
    def own_dir(self) -> Path | None:
        """``own/<table>/<collection label>``: every file of a run on a user's own collection; None for others."""
        if self.caps.own_dataset is None:
            return None
        return self.paper_dir / OWN_FOLDER / self.table_id / self.caps.own_dataset

    @property
    def records_root(self) -> Path:
        """Folder of this run's fold records and splits (epoch-capped and variant units live under ``partial/``,
        a run on an own collection's under ``own/<table>/<collection>/``)."""
        if self.own_dir is not None:
            return self.own_dir
        if self.caps.epochs is None and self.caps.variant is None:
            return self.paper_dir / self.table_id
        return self.paper_dir / "partial" / self.table_id

    @property
    def partial_dir(self) -> Path:
        """``partial/<table>/<label>``: where this run's table goes while it is not canonical
        (``own/<table>/<collection>/<label>`` for a run on an own collection)."""
        if self.own_dir is not None:
            return self.own_dir / self.caps.label()
        return self.paper_dir / "partial" / self.table_id / self.caps.label()

    def outputs(self, folder: Path) -> dict[str, Path]:
        """The table's files in ``folder``: ``csv``, ``folds_csv``, ``figure``, ``manifest``."""
        stem = Path(folder) / self.table_id
        return {"csv": stem.with_suffix(".csv"), "folds_csv": Path(f"{stem}_folds.csv"),
                "figure": stem.with_suffix(".png"), "manifest": Path(f"{stem}_manifest.json")}

    @property
    def cache_dir(self) -> Path:
        """``<work_dir>/cache``: feature caches and content hashes, shared by every table."""
        return Path(self.work_dir) / "cache"

    def unit_work_dir(self, scheme: str, fold: int, identity: str) -> Path:
        """Scratch folder of one unit: ``<work>/<paper>/<table>/<scheme>/fold_<k>-<identity>``."""
        return Path(self.work_dir) / self.paper / self.table_id / scheme / f"fold_{fold:02d}-{identity}"

    def published_dir(self, scheme: str, fold: int) -> Path:
        """``<work>/<paper>/<table>/<scheme>/fold_<k>``: the last full-training unit's checkpoint is copied here."""
        return Path(self.work_dir) / self.paper / self.table_id / scheme / f"fold_{fold:02d}"


def check_writable(folder: str | os.PathLike) -> None:
    """Make ``folder`` (and its parents) and prove a file can be created, written and removed in it.

    Raises:
        OSError: the folder cannot be created or written (read-only file system, permissions,
            disk full); the exception names the path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-", suffix=".tmp")
    try:
        os.write(fd, b"0")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(probe)


def remove_stale_temporaries(layout: RunLayout) -> list[Path]:
    """Delete the ``.*.tmp`` files interrupted atomic writes left among one table's results.

    Looks at the table's own files in ``<paper>/`` and below ``<paper>/<table>/`` and
    ``<paper>/partial/<table>/``; other tables' files are left alone. Only call this while holding
    the table's lock (no other writer of these files then).

    Returns:
        the paths removed.
    """
    removed = []
    candidates = []
    for output in layout.outputs(layout.paper_dir).values():
        candidates.extend(layout.paper_dir.glob(f".{output.name}.*.tmp"))
    for folder in (layout.paper_dir / layout.table_id, layout.paper_dir / "partial" / layout.table_id,
                   *([layout.own_dir] if layout.own_dir is not None else [])):
        if folder.is_dir():
            candidates.extend(folder.rglob(".*.tmp"))
    for path in candidates:
        try:
            if path.is_file():
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed
