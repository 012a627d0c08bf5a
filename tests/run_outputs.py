"""Find a table's outputs in a results folder, wherever the run's caps put them (see common.runner.layout)."""

from __future__ import annotations

import json
from pathlib import Path


def table_folder(results: Path, paper: str, table_id: str) -> Path:
    """The folder holding ``<table_id>.csv``: canonical when present, else the only partial folder.

    Raises:
        AssertionError: no table, or several partial tables (the caller must then be explicit).
    """
    canonical = Path(results) / paper
    if (canonical / f"{table_id}.csv").is_file():
        return canonical
    found = sorted((canonical / "partial" / table_id).glob(f"*/{table_id}.csv"))
    assert len(found) == 1, f"expected one table {table_id} under {canonical}, found {found}"
    return found[0].parent


def fold_record(results: Path, paper: str, table_id: str, scheme: str, fold: int = 0) -> dict:
    """The only stored record of (scheme, fold), with or without an epoch cap.

    Raises:
        AssertionError: none or several identities are stored.
    """
    base = Path(results) / paper
    found = [*(base / table_id / "folds" / scheme / f"fold_{fold:02d}").glob("*.json"),
             *(base / "partial" / table_id / "folds" / scheme / f"fold_{fold:02d}").glob("*.json")]
    assert len(found) == 1, f"expected one record of {scheme} fold {fold}, found {found}"
    return json.loads(found[0].read_text())


def splits_file(results: Path, paper: str, table_id: str) -> Path:
    """The only splits file of a table (with or without an epoch cap)."""
    base = Path(results) / paper
    found = [*(base / table_id / "splits").glob("*.json"), *(base / "partial" / table_id / "splits").glob("*.json")]
    assert len(found) == 1, f"expected one splits file, found {found}"
    return found[0]
