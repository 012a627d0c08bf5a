"""The table registry: which papers and tables exist, found by importing ``papers/<paper>/tables.py``.

Each paper's ``tables.py`` has a ``TABLES`` dict of table factories; a table's name is
``<paper>.<table>`` (``mcclstm.table3_gtzan``). The CLI and the report both ask here.
"""

from __future__ import annotations

import importlib

#: Paper packages, in the order ``all-results`` runs them.
PAPERS = ("mcclstm", "msecnn", "crnn_tf", "lstm_segment")


def paper_modules(submodule: str):
    """``(paper, module)`` for ``papers.<paper>.<submodule>`` of every paper in :data:`PAPERS` that has it.

    A paper package or submodule that does not exist is passed over; any other import error
    (a bug inside the module) is raised.
    """
    for paper in PAPERS:
        try:
            module = importlib.import_module(f"papers.{paper}.{submodule}")
        except ModuleNotFoundError as exc:
            if exc.name in (f"papers.{paper}", f"papers.{paper}.{submodule}"):
                continue
            raise
        yield paper, module


def available_tables() -> dict:
    """``{"<paper>.<table>": factory}`` for every table of every paper package present."""
    tables = {}
    for paper, module in paper_modules("tables"):
        for name, factory in getattr(module, "TABLES", {}).items():
            tables[f"{paper}.{name}"] = factory
    return tables
