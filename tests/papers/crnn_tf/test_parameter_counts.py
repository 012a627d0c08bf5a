"""The parameter counts stated in papers/crnn_tf/README.md are those the builders produce."""

import re
from dataclasses import replace
from pathlib import Path

import pytest

from papers.crnn_tf import models
from papers.crnn_tf.config import (CRNN_AUTHORS_CHANGES, DIRECTIONS, FIG5_AUTHORS_CHANGES, FIG5_AUTHORS_DROPOUT,
                                   GRU_ROW_CHANGES, GRU_ROW_FMA_CHANGES, CRNNConfig, CRNNTFConfig)

README = Path(__file__).resolve().parents[3] / "papers" / "crnn_tf" / "README.md"

#: README row name -> builder(n_outputs) of the model it describes.
BUILDERS = {
    "CRNN-TF, Grid LSTM": lambda n: models.build_crnn_tf(n, "genres"),
    "CRNN-TF (GRU) row": lambda n: models.build_crnn_tf(n, "genres", replace(CRNNTFConfig(), **GRU_ROW_CHANGES)),
    "CRNN (Choi et al.)": lambda n: models.build_crnn(n, "genres"),
    "FCN-4 (Choi et al. 2016)": lambda n: models.build_fcn_baseline(n, "genres"),
    "Timbre CNN": lambda n: models.build_timbre_cnn(n, "genres"),
    "End-to-end": lambda n: models.build_end_to_end(n, "genres"),
    "FCN, authors' notebook": lambda n: models.build_fcn_authors(n, "genres"),
    "CRNN, authors' notebook": lambda n: models.build_crnn(n, "genres", replace(CRNNConfig(), **CRNN_AUTHORS_CHANGES)),
    "Timbre CNN, authors' notebook": lambda n: models.build_timbre_cnn_authors(n, "genres"),
    "End-to-end, authors' notebook": lambda n: models.build_end_to_end_authors(n, "genres"),
}

#: Parameter counts the authors' notebooks print (``FishInMedi/CRNN-TF`` at ``bf37708``, the ``Total params``
#: line of each cell's ``model.summary()``): ``{name: ({n_outputs: count}, builder)}``.
NOTEBOOK_COUNTS = {
    # 1.ipynb cell 11 (MTAT, 50 tags) and cell 16 (FMA, 16 genres: no L2, same shapes)
    "CRNN-TF (GRU) row": ({50: 1_006_322},
                          lambda n: models.build_crnn_tf(n, "tags", replace(CRNNTFConfig(), **GRU_ROW_CHANGES))),
    "CRNN-TF (GRU) row, FMA": ({16: 1_004_112}, lambda n: models.build_crnn_tf(
        n, "genres", replace(CRNNTFConfig(), **{**GRU_ROW_CHANGES, **GRU_ROW_FMA_CHANGES}))),
    # 1.ipynb cell 3 (MTAT) and cell 13 (FMA)
    "FCN": ({50: 17_372_594, 16: 17_302_928}, lambda n: models.build_fcn_authors(n)),
    # 1.ipynb cell 5 (MTAT) and cell 15 (FMA)
    "Timbre CNN": ({50: 1_823_706, 16: 1_820_272}, lambda n: models.build_timbre_cnn_authors(n)),
    # 1.ipynb cell 7 (MTAT) and cell 18 (FMA)
    "End-to-end": ({50: 1_705_054, 16: 1_701_620}, lambda n: models.build_end_to_end_authors(n)),
    # 1.ipynb cell 9 (MTAT) and cell 19 (FMA)
    "CRNN": ({50: 394_802, 16: 393_680},
             lambda n: models.build_crnn(n, "genres", replace(CRNNConfig(), **CRNN_AUTHORS_CHANGES))),
    # 2.ipynb (Fig. 5): cell 2 (one GRU), cell 10 (two), cell 14 (four), cell 1 (all eight)
    **{f"Fig. 5 (authors), {k} scanner(s)": (
        {50: count}, lambda n, k=k: models.build_crnn_tf(n, "tags", replace(
            CRNNTFConfig(), **FIG5_AUTHORS_CHANGES, directions=DIRECTIONS[:k], dropout=FIG5_AUTHORS_DROPOUT[k])))
       for k, count in ((1, 453_714), (2, 532_658), (4, 690_546), (8, 1_006_322))},
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


@pytest.mark.parametrize("name", list(NOTEBOOK_COUNTS))
def test_authors_variants_have_the_notebooks_parameter_counts(name):
    counts, build = NOTEBOOK_COUNTS[name]
    for n_outputs, printed in counts.items():
        assert build(n_outputs).count_params() == printed, (name, n_outputs)
