"""The table runner: executes any :class:`TableSpec` end to end, resumably, one writer at a time.

One job per module:

- :mod:`~common.runner.spec`: what a table is (dataset, features, protocol, schemes, paper numbers);
- :mod:`~common.runner.identity`: run identity (settings, split, epochs, seed, code, audio content);
- :mod:`~common.runner.records`: the fold-record store, one file per (scheme, fold, identity);
- :mod:`~common.runner.layout`: where outputs go (canonical vs partial) and the run's caps;
- :mod:`~common.runner.locking`: one writer per table and results folder, one per unit of work;
- :mod:`~common.runner.preparation`: features of every track, unusable tracks skipped and recorded;
- :mod:`~common.runner.assembly`: the table, per-fold table and figure from the records;
- :mod:`~common.runner.manifest`: versions, hardware, git commit for the manifest;
- :mod:`~common.runner.execution`: :func:`run_table`, which ties them together.
"""

from common.runner.execution import run_table, unit_seed
from common.runner.layout import RunCaps, RunLayout
from common.runner.locking import RunLockedError
from common.runner.preparation import FEATURE_MEMORY_GB, PreparedFeatures, prepare_features
from common.runner.spec import DatasetSpec, FoldContext, FoldOutcome, Scheme, TableSpec, reference_table

__all__ = ["DatasetSpec", "FoldContext", "FoldOutcome", "Scheme", "TableSpec", "reference_table", "run_table",
           "unit_seed", "RunCaps", "RunLayout", "RunLockedError", "PreparedFeatures", "prepare_features",
           "FEATURE_MEMORY_GB"]
