"""Fan-out of a table's units of work: deterministic shards for any scheduler, and Ray tasks.

The unit of work is one (scheme, fold). Its result is a fold record keyed by the unit's run
identity (:mod:`common.runner.identity`), so it does not matter which process computes a unit:
the record is the same as in a sequential run with the same seed (up to the hardware's
non-determinism in training), and any later run or ``collect`` assembles the table from the
records present.

- **Shards** (``--shard I/N``, ``SHARD=I/N``): :func:`shard_units` gives shard ``I`` every
  ``N``-th unit of the sequential order, starting at ``I``. A shard trains its units (each under
  its unit lock; a unit another process is training is skipped) and writes records only; a SLURM
  job array or a Kubernetes indexed job runs the N shards, then ``collect`` writes the table.
  The results and work folders must be on storage every shard sees.
- **Ray** (``--ray``; ``RAY_ADDRESS`` for a cluster): :func:`run_units_on_ray` sends each unit
  that has no record yet to a Ray task (one GPU per task where the cluster has GPUs), which
  rebuilds the plan from the feature cache (no re-extraction) and trains that one unit; the
  driver then writes the table. Ray is an optional extra (``pip install -e ".[ray]"``).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from common.errors import ConfigError


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``.

    Raises:
        ConfigError: not of that form.
    """
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: want I/N, e.g. 0/4 (shards are numbered from 0)") from None
    if not (count >= 1 and 0 <= index < count):
        raise ConfigError(f"--shard {text!r}: want I/N with 0 <= I < N")
    return index, count


def shard_units(units: list, index: int, count: int) -> list:
    """The units of shard ``index`` of ``count``: ``units[index::count]`` (deterministic, disjoint, covering)."""
    return list(units[index::count])


def run_units_on_ray(plan, unit_task: Callable[[Any, str, int], dict | None]) -> list[dict]:
    """Run every unit of ``plan`` that has no record yet (a result or a diverged one) as a Ray task; wait for all.

    The fan-out sits above the unit runner and knows nothing of it: ``unit_task(request, scheme,
    fold)`` is the task body each worker runs (:func:`common.runner.execution.run_unit_in_worker`:
    rebuild the plan, run one unit, write its record), given by the caller.

    Connects to ``RAY_ADDRESS`` when set (a cluster), else starts a local Ray with this machine's
    CPUs and GPUs. Each task asks for one GPU when the cluster has GPUs, else one CPU.

    Returns:
        ``[{"scheme", "fold", "metrics"}, ...]`` of the units computed by tasks.

    Raises:
        ConfigError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError('--ray needs Ray: pip install -e ".[ray]" (or pip install "ray>=2.9")') from None
    todo = [(s, f) for s, f in plan.units() if plan.store.load_any(s, f, plan.identities[s, f]) is None]
    print(f"  Ray: {len(todo)} of {len(plan.units())} units to run", flush=True)
    if not todo:
        return []
    started_here = not ray.is_initialized()
    if started_here:
        runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}}
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            # each worker imports TensorFlow as the CLI does, without its CPU-machine start-up noise
            runtime_env["worker_process_setup_hook"] = "common.training.tensorflow_logging.import_tensorflow_quietly"
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=True,
                 runtime_env=runtime_env)
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_retries=0)(unit_task)
        t0 = time.time()
        refs = [task.remote(plan.request, scheme, fold) for scheme, fold in todo]
        done = [r for r in ray.get(refs) if r is not None]
        print(f"  Ray: {len(done)} units in {time.time() - t0:.0f} s", flush=True)
        return done
    finally:
        if started_here:
            ray.shutdown()
