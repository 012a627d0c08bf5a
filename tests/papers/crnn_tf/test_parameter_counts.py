"""The parameter counts stated in papers/crnn_tf/README.md are those the builders produce."""

import re
from dataclasses import replace
from pathlib import Path

import pytest

from papers.crnn_tf import models
from papers.crnn_tf.config import GRU_ROW_CHANGES, CRNNTFConfig

README = Path(__file__).resolve().parents[3] / "papers" / "crnn_tf" / "README.md"

#: README row name -> builder(n_outputs) of the model it describes.
BUILDERS = {
    "CRNN-TF, Grid LSTM": lambda n: models.build_crnn_tf(n, "genres"),
    "CRNN-TF (GRU) row": lambda n: models.build_crnn_tf(n, "genres", replace(CRNNTFConfig(), **GRU_ROW_CHANGES)),
    "CRNN (Choi et al.)": lambda n: models.build_crnn(n, "genres"),
    "FCN-4 (Choi et al. 2016)": lambda n: models.build_fcn_baseline(n, "genres"),
    "Timbre CNN": lambda n: models.build_timbre_cnn(n, "genres"),
    "End-to-end": lambda n: models.build_end_to_end(n, "genres"),
}


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def readme_counts() -> dict:
    """``{model: {n_outputs: parameters}}`` from the README's "Parameter counts" table."""
    text = README.read_text()
    table = text[text.index("## Parameter counts"):]
    counts = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            if counts:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        match = re.match(r"([\d,]+) / ([\d,]+)", cells[1])
        if not match:
            continue
        row = {16: _number(match.group(1)), 50: _number(match.group(2))}
        extra = re.search(r"10 genres[^\d]*([\d,]+)", cells[1])
        if extra:
            row[10] = _number(extra.group(1))
        counts[cells[0]] = row
    return counts


def test_readme_lists_every_model():
    assert set(readme_counts()) == set(BUILDERS)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_readme_parameter_count_matches_the_builder(name):
    for n_outputs, stated in readme_counts()[name].items():
        assert BUILDERS[name](n_outputs).count_params() == stated, (name, n_outputs)
