"""The fold-record store: one JSON file per (scheme, fold, run identity).

``<root>/folds/<scheme>/fold_<k>/<identity>.json`` holds what one unit of work computed:

``{"scheme", "fold", "identity", "identity_payload", "metrics": {name: value}, "details": {...},
"seconds", "finished", "work_dir"}``.

Records of different identities sit side by side; none overwrites another. A record is reused
only when its identity equals the one the current run computes (see :mod:`common.runner.identity`).
A record that cannot be read, is not a JSON object, or is inconsistent (another identity or unit,
no metrics) is reported and ignored, and the unit is run again.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from common.outputs.result_tables import write_json


class RecordStore:
    """Fold records under ``root`` (``results/<paper>/<table>`` or its ``partial`` twin).

    Args:
        root: the table's records folder.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, scheme: str, fold: int, identity: str) -> Path:
        """``<root>/folds/<scheme>/fold_<k>/<identity>.json``."""
        return self.root / "folds" / scheme / f"fold_{fold:02d}" / f"{identity}.json"

    def load(self, scheme: str, fold: int, identity: str) -> dict | None:
        """The stored record of this unit and identity, or None when there is no valid one.

        A file that exists but is unusable is reported with a warning (and later replaced).
        """
        path = self.path(scheme, fold, identity)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            warnings.warn(f"fold record {path} is unreadable ({exc}); the fold runs again", stacklevel=2)
            return None
        problem = self._problem(record, scheme, fold, identity)
        if problem:
            warnings.warn(f"fold record {path} {problem}; the fold runs again", stacklevel=2)
            return None
        return record

    @staticmethod
    def _problem(record, scheme: str, fold: int, identity: str) -> str | None:
        if not isinstance(record, dict):
            return f"is not a JSON object (found {type(record).__name__})"
        if record.get("identity") != identity or record.get("scheme") != scheme or record.get("fold") != fold:
            return "belongs to another unit or identity"
        if not isinstance(record.get("metrics"), dict):
            return "has no metrics"
        return None

    def save(self, record: dict) -> Path:
        """Write a record atomically at its path; returns the path."""
        path = self.path(record["scheme"], record["fold"], record["identity"])
        write_json(record, path)
        return path
