"""Runner hooks: a scheme's preflight check runs before any work; folds get the shared cache folder."""

import pytest

from common.errors import ConfigError
from common.runner import FoldOutcome, Scheme, run_table
from tests.runner_fixtures import tiny_gtzan, toy_spec


def test_preflight_runs_first_and_only_for_selected_schemes(tmp_path):
    from dataclasses import replace

    def refuse():
        raise ConfigError("weights missing")

    seen = []

    def record(context):
        seen.append(context.cache_dir)
        return FoldOutcome({"accuracy": 0.0})

    spec = toy_spec(record, n_folds=2)
    spec = replace(spec, schemes=spec.schemes + (Scheme("needs-weights", record, preflight=refuse),))
    with pytest.raises(ConfigError, match="weights missing"):
        run_table(spec, tmp_path / "absent", results_dir=tmp_path / "r", work_dir=tmp_path / "w", progress=False)
    assert not (tmp_path / "r").exists()
    data = tiny_gtzan(tmp_path / "data", per_genre=4)
    run_table(spec, data, results_dir=tmp_path / "r", work_dir=tmp_path / "w", folds=1, schemes=["majority"],
              progress=False)
    assert seen == [tmp_path / "w" / "cache"]


def test_make_name_overrides_the_target():
    from dataclasses import replace

    spec = toy_spec(None)
    assert spec.make_target == "table-toy"
    assert replace(spec, make_name="toy-table-one").make_target == "toy-table-one"
