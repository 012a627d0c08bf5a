"""The parameter counts in papers/lstm_segment/README.md are what the builders produce (545 inputs, 6 genres)."""

import re
from pathlib import Path

from papers.lstm_segment.config import LSTMS
from papers.lstm_segment.models import build_lstm

README = Path(__file__).resolve().parents[3] / "papers" / "lstm_segment" / "README.md"


def test_readme_lstm_parameter_counts_match_the_builders():
    text = README.read_text()
    stated = {name: float(m) for name, m in re.findall(r"\| (LSTM\([0-9-]+\)), ([0-9.]+) M", text)}
    assert len(stated) == 4, stated
    for config in LSTMS:
        _, inference = build_lstm(config, 545, 6)
        name = next(n for n in stated if n.replace("525", "545") == config.name.replace("525", "545"))
        assert round(inference.count_params() / 1e6, 2) == stated[name], (config.name, inference.count_params())
