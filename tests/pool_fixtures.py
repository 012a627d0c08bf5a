"""The toy table with its features extracted by a pool of workers that wait on demand.

Runnable as a command, so that tests can interrupt, kill and resume a real run in its extraction::

    python -m tests.pool_fixtures DATA RESULTS WORK HOLD

runs the toy table of :mod:`tests.runner_fixtures` (``common.cli``'s error handling) with 2
extraction workers from the first file on. While the file ``<HOLD>/release`` does not exist, each
worker writes ``<HOLD>/<pid>`` (holding the path of the audio file it computes) and waits in its
first file (at most 120 s), so a test can act while every worker is busy: kill the main process,
kill a worker, send a signal.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from common.features.logmel import LogMelExtractor

#: Seconds a holding worker waits for ``<HOLD>/release`` at most.
HOLD_SECONDS = 120.0


class HoldingExtractor(LogMelExtractor):
    """A log-mel extractor that waits, in each process, before its first file while ``<hold>/release`` is absent.

    Args:
        config: the :class:`~common.features.logmel.LogMelConfig`.
        hold: the folder of the ``<pid>`` markers and the ``release`` file.
    """

    def __init__(self, config, hold):
        super().__init__(config)
        self.hold = str(hold)
        self._held = False

    def __call__(self, path, **kwargs):
        hold = Path(self.hold)
        if not self._held and not (hold / "release").exists():
            self._held = True
            (hold / str(os.getpid())).write_text(str(path))
            deadline = time.time() + HOLD_SECONDS
            while not (hold / "release").exists() and time.time() < deadline:
                time.sleep(0.05)
        return super().__call__(path, **kwargs)


def main(argv=None) -> int:
    """Run the toy table with 2 holding extraction workers (see the module text); returns the exit status."""
    import argparse
    import dataclasses

    import common.features.cache as cache
    from common.cli import guarded
    from common.runner import run_table
    from tests.runner_fixtures import FEATURES, MajorityScheme, toy_spec

    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("results")
    parser.add_argument("work")
    parser.add_argument("hold")
    args = parser.parse_args(argv)
    cache.POOL_AFTER_SECONDS = 0.0  # tiny files: the pool from the first file on
    cores = cache.available_cores()
    cache.available_cores = lambda: max(2, cores)  # two workers on a one-core machine too
    os.environ[cache.WORKERS_ENVIRONMENT] = "2"
    spec = dataclasses.replace(toy_spec(MajorityScheme()), extractor=lambda: HoldingExtractor(FEATURES, args.hold))

    def run() -> int:
        run_table(spec, args.data, results_dir=args.results, work_dir=args.work, progress=False)
        return 0

    return guarded(run)


if __name__ == "__main__":
    sys.exit(main())
