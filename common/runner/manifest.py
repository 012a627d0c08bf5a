"""The run manifest: what a reader needs to know how a table was computed.

Dataset path and per-class counts, skipped files and why, feature and model configuration,
protocol, caps, library versions, seed, git commit, hardware, wall time, and which fold records
(identities) make up the table.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path


def library_versions() -> dict:
    """``{library: version}`` of Python and the numerical / audio libraries that are importable."""
    versions = {"python": sys.version.split()[0]}
    for name in ("tensorflow", "keras", "jax", "numpy", "scipy", "librosa", "soundfile", "soxr", "sklearn",
                 "pandas", "kymatio", "filelock"):
        if name == "jax" and "jax" not in sys.modules:
            continue
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except Exception:  # noqa: BLE001 - an optional library that is absent or broken is just not listed
            continue
    try:
        import keras

        versions["keras_backend"] = keras.backend.backend()
    except Exception:  # noqa: BLE001
        pass
    return versions


def hardware() -> dict:
    """Platform, processor, CPU count, load average and the GPUs TensorFlow sees."""
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count()}
    try:
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    try:
        import tensorflow as tf

        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001
        info["gpus"] = "unknown"
    return info


def git_commit() -> str | None:
    """The repository's HEAD commit, with ``+dirty`` when tracked code files differ from it; None outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=root)
        commit = head.stdout.strip() or None
        if commit:
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "common",
                                     "papers"], capture_output=True, text=True, timeout=5, cwd=root)
            if status.stdout.strip():
                commit += "+dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None


def run_with_same_records(path: str | os.PathLike, manifest: dict) -> dict | None:
    """The complete run's manifest at ``path`` when it names exactly ``manifest``'s fold records.

    A later run that computes nothing new (every unit reused, or ``collect``) reassembles the
    same table; its manifest would only replace the provenance of the run that trained the
    records (start time, commit, wall time, hardware) with its own. The caller keeps the stored
    manifest instead.

    Args:
        path: the canonical manifest (``results/<paper>/<table>_manifest.json``); may be absent.
        manifest: the new manifest, with ``records`` (``{"<scheme>/fold_NN": identity}``) and ``code_version``.

    Returns:
        the stored manifest (a dict) when its status is ``complete`` and its ``records`` and
        ``code_version`` equal the new ones; None otherwise (absent, unreadable, different).
    """
    import json

    try:
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (isinstance(stored, dict) and stored.get("status") == "complete"
            and stored.get("records") == manifest.get("records")
            and stored.get("code_version") == manifest.get("code_version")):
        return stored
    return None


def refresh_comparison(stored: dict, manifest: dict) -> dict:
    """A kept manifest (:func:`run_with_same_records`) with what the new run read off the same records.

    The provenance of the run that trained the records stays (start, commit, command, dataset
    path as that run was given it, hardware, wall time); the dataset's size against the published
    one (``dataset.coverage``) and the comparison with the paper (``comparison``: the dataset status
    and the Holm-corrected verdict) are taken from ``manifest``: they are computed from the same
    records and dataset, and a manifest written by older code may lack them.

    Returns:
        a new dict (``stored`` is not changed).
    """
    refreshed = dict(stored)
    coverage = (manifest.get("dataset") or {}).get("coverage")
    if coverage is not None:
        refreshed["dataset"] = {**(refreshed.get("dataset") or {}), "coverage": coverage}
    if "comparison" in manifest:
        refreshed["comparison"] = manifest["comparison"]
    return refreshed
