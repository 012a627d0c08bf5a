"""A tiny MagnaTagATune run of CRNN-TF's Table I, shared by the Table I and Table III end-to-end tests.

Table III's transfer rows start from the CRNN-TF checkpoint Table I keeps; running Table I once
per session lets the Table III test use exactly those weights, as ``make crnn_tf-table3-gtzan``
does after ``make crnn_tf-table1-mtat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from common.runner import run_table
from tests.run_outputs import fold_record
from papers.crnn_tf.tables import table1_mtat
from tests.mtat_fixtures import Clip, write_mtat_tree
from tests.papers.crnn_tf.tiny_settings import tiny_settings

#: The generated annotation file's tag columns: five used tags, then 47 that no clip has.
TAGS = ["guitar", "classical", "slow", "techno", "strings"] + [f"tag{i:02d}" for i in range(47)]


def tiny_mtat_clips() -> list[Clip]:
    """14 clips of 1.5 s over the 0-f folders (8 train, 2 validation, 4 test), plus bad input:
    an empty mp3 (index problem) and an undecodable one (skipped at extraction)."""
    plan = [("0", {"guitar", "slow"}), ("1", {"classical", "strings"}), ("2", {"guitar", "techno"}),
            ("5", {"classical"}), ("7", {"techno", "strings"}), ("9", {"slow"}), ("a", {"guitar"}),
            ("b", {"techno", "slow"}),
            ("c", {"guitar"}), ("c", {"classical", "slow"}),
            ("d", {"guitar", "slow"}), ("d", {"classical"}), ("e", {"guitar", "techno"}), ("f", {"strings", "slow"})]
    clips = [Clip(str(i + 1), folder, tags, seconds=1.5, frequency=220.0 * (1 + ("guitar" in tags)) + 50 * i)
             for i, (folder, tags) in enumerate(plan)]
    return clips + [Clip("90", "3", {"guitar"}, audio="empty"), Clip("91", "4", {"guitar"}, audio="corrupt")]


@dataclass
class Table1Run:
    """Outputs of the session's tiny Table I run."""

    frame: pd.DataFrame
    results: Path
    work: Path
    data: Path

    @property
    def crnn_tf_weights(self) -> Path:
        """The checkpoint Table III starts from (the runner's layout, as ``DEFAULT_WEIGHTS``)."""
        record = fold_record(self.results, "crnn_tf", "table1_mtat", "CRNN-TF")
        return Path(record["work_dir"]) / "best.weights.h5"


@pytest.fixture(scope="session")
def table1_run(tmp_path_factory) -> Table1Run:
    """Table I through the real runner on a tiny generated MTAT tree (tiny models, 1 epoch)."""
    root = tmp_path_factory.mktemp("crnn_tf_table1")
    data = write_mtat_tree(root / "mtat", tiny_mtat_clips(), TAGS, sample_rate=8000)
    results, work = root / "results", root / "work"
    frame = run_table(table1_mtat(tiny_settings()), data, results_dir=results, work_dir=work, epochs=1, verbose=0,
                      progress=False)
    return Table1Run(frame=frame, results=results, work=work, data=data)
