"""The README renders: its tables are tables (CommonMark + GFM tables, as GitHub shows them)."""

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def tables_by_section():
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders the README")
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(README.read_text())
    section, rows, found = None, 0, {}
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            section = tokens[i + 1].content
        elif token.type == "table_open":
            rows = 0
        elif token.type == "tr_open":
            rows += 1
        elif token.type == "table_close":
            found.setdefault(section, []).append(rows - 1)  # body rows
    return found


def test_the_datasets_table_renders_as_one_table_with_every_dataset():
    assert tables_by_section()["Datasets"] == [6]


def test_every_pipe_row_of_the_readme_belongs_to_a_rendered_table():
    rendered = sum(rows + 2 for counts in tables_by_section().values() for rows in counts)  # header + rule
    pipe_rows = sum(1 for line in README.read_text().splitlines() if line.startswith("| "))
    assert pipe_rows == rendered
