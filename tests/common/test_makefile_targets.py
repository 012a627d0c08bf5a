"""Every table's Makefile target exists, and `make help` names it."""

import re
from pathlib import Path

from common.registry import available_tables

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def test_every_table_has_a_make_target_listed_in_help():
    text = MAKEFILE.read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", text, flags=re.M))
    help_text = text[text.index("help:"):text.index("$(VENV)/.installed:")]
    for name, factory in available_tables().items():
        target = factory().make_target
        assert target in targets, f"{name}: no Makefile target {target}"
        assert target in help_text, f"{name}: `make help` does not list {target}"
