"""The repository's docs and tests speak for themselves: no internal tracker numbers ("issue 21")."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACKER_REFERENCE = re.compile(r"\b(?:issue|task|ticket)s?\s*#?\d+", re.IGNORECASE)


def test_no_internal_tracker_numbers_in_docs_code_or_tests():
    found = []
    for path in sorted(ROOT.rglob("*")):
        parts = path.relative_to(ROOT).parts
        if not path.is_file() or parts[0] in (".venv", ".git", "work") or parts[0].endswith(".egg-info") or path.suffix not in (".md", ".py", ".cfg", ".toml", "") :
            continue
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(errors="replace")
        found += [f"{path.relative_to(ROOT)}: {match.group(0)}" for match in TRACKER_REFERENCE.finditer(text)]
    assert not found, "internal tracker numbers: " + "; ".join(found)
