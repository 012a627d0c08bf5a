"""On-disk feature cache: each (audio file, feature configuration) is computed once.

Layout: ``<root>/<kind>-<extractor fingerprint>/<sha1 of the file's absolute path>.npz``. An
entry stores the feature array and the source file's path, size and modification time. It is
reused by every scheme, fold and table that asks for the same file with the same extractor, and
recomputed when

- the extractor configuration changes (a different fingerprint means a different folder),
- the audio file changes (size or ``mtime_ns`` differ from the stored ones),
- the entry is unreadable or inconsistent (a truncated write, a foreign file): it is reported
  with a warning and recomputed.

Writes are atomic: a temporary file in the same folder is renamed over the entry, so an
interrupted run never leaves a half-written entry behind, and several processes may write the
same entry at once (the last rename wins; both wrote the same array).

Extraction over a process pool (:meth:`FeatureCache.get_many`, ``workers > 1``): the entries that
do not exist yet are computed by ``workers`` processes, and the results are handed back in the
order of the input, so progress bars, skip reports and the arrays are the same as with one
process. The pool is joblib's loky executor (a ``concurrent.futures`` executor): its workers are
fresh interpreters (fork + exec), so they never inherit a parent's TensorFlow or JAX threads
(forking after TensorFlow started its thread pools can deadlock), they import only what they
unpickle (this module and the extractor's module; no TensorFlow unless the extractor uses it),
they do not re-run the main script (no ``if __name__ == "__main__"`` guard needed), and they are
reused by the next extraction of the same process and end after 10 s idle.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np
from tqdm.auto import tqdm

from common.atomic_files import atomic_write_bytes
from common.errors import AudioError


class FeatureExtractor(Protocol):
    """What the cache needs from an extractor (e.g. :class:`common.features.logmel.LogMelExtractor`)."""

    kind: str

    def fingerprint(self) -> str: ...

    def describe(self) -> dict: ...

    def __call__(self, path: str | os.PathLike, *, band_limit_rate: int | None = None) -> np.ndarray: ...


@dataclass
class CacheStats:
    """Counters of one cache's activity: hits, computed entries, corrupt entries replaced."""

    hits: int = 0
    computed: int = 0
    corrupt: int = 0


@dataclass
class ExtractionReport:
    """Result of :meth:`FeatureCache.extract_all`.

    Attributes:
        features: ``{path: float32 array}`` for every file that could be used.
        failures: ``{path: reason}`` for every file skipped because of an :class:`AudioError`.
    """

    features: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)


#: Environment variable holding the number of feature-extraction processes (``--workers``, ``WORKERS=N``).
WORKERS_ENVIRONMENT = "REPRO_FEATURE_WORKERS"


def available_cores() -> int:
    """CPU cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count()`` where it is missing)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def feature_workers(workers: int | None = None) -> int:
    """Number of feature-extraction processes to use.

    Args:
        workers: an explicit count (>= 1), or None for ``$REPRO_FEATURE_WORKERS`` when set, else
            :func:`available_cores`.

    Returns:
        the count, >= 1.

    Raises:
        ConfigError: a count below 1, or ``$REPRO_FEATURE_WORKERS`` is not a positive integer.
    """
    from common.errors import ConfigError

    if workers is None:
        value = os.environ.get(WORKERS_ENVIRONMENT, "").strip()
        if not value:
            return available_cores()
        try:
            workers = int(value)
        except ValueError:
            raise ConfigError(f"{WORKERS_ENVIRONMENT}={value!r}: the number of feature workers must be a "
                              f"positive integer") from None
    if workers < 1:
        raise ConfigError(f"the number of feature workers must be at least 1, not {workers}")
    return workers


#: Seconds an idle extraction worker waits for more work before it ends.
WORKER_IDLE_SECONDS = 10

#: Expected seconds of extraction from which :meth:`FeatureCache.get_many` starts a pool (below: in
#: this process). A worker's start-up is ~3 s of CPU (importing NumPy, SciPy, librosa, numba).
POOL_AFTER_SECONDS = 20.0

#: The feature caches of a pool worker, by folder: an extractor is unpickled once per worker and
#: keeps what it builds on first use (FFT plans, kymatio filters).
_WORKER_CACHES: dict[str, "FeatureCache"] = {}


def _compute_in_worker(cache: "FeatureCache", path: str) -> tuple:
    """One file through a pool worker's copy of ``cache``.

    Returns:
        ``(features or None, AudioError reason or None, (hits, computed, corrupt), warnings)``:
        the float32 array, or the reason the file cannot be used (an :class:`AudioError` is
        returned as its reason and rebuilt by the parent); the change of the worker's counters;
        ``[(message, category)]`` of the warnings raised, for the parent to re-issue in file order.
    """
    cache = _WORKER_CACHES.setdefault(str(cache.folder), cache)
    before = (cache.stats.hits, cache.stats.computed, cache.stats.corrupt)
    with warnings.catch_warnings(record=True) as caught:  # recorded under the worker's usual filters
        try:
            features, reason = cache.get(path), None
        except AudioError as exc:
            features, reason = None, exc.reason
    after = (cache.stats.hits, cache.stats.computed, cache.stats.corrupt)
    return (features, reason, tuple(a - b for a, b in zip(after, before)),
            [(str(w.message), w.category) for w in caught])


#: Thread-count variables of the numerical libraries, set in every worker.
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def extraction_pool(workers: int):
    """The process pool of feature extraction: joblib's reusable loky executor with ``workers`` processes.

    See the module text for why loky (fresh interpreters, no main-module import, reused while busy).
    Each worker's BLAS / OpenMP thread pools get ``cores // workers`` threads (joblib's rule):
    ``workers`` processes with a full-size thread pool each oversubscribe the cores.

    Returns:
        a ``concurrent.futures.Executor``; not to be shut down by the caller (it is shared, and
        its workers end after :data:`WORKER_IDLE_SECONDS` idle).
    """
    from joblib.externals.loky import get_reusable_executor

    threads = str(max(1, available_cores() // workers))  # the cores shared out, as joblib does
    return get_reusable_executor(max_workers=workers, timeout=WORKER_IDLE_SECONDS,
                                 env={name: threads for name in BLAS_THREAD_VARIABLES})


class FeatureCache:
    """Cache of one extractor's outputs under ``root``.

    Args:
        root: cache folder (created on first write).
        extractor: callable ``path -> np.ndarray`` with ``kind``, ``fingerprint()`` and
            ``describe()`` (see :class:`FeatureExtractor`).
    """

    def __init__(self, root: str | os.PathLike, extractor: FeatureExtractor):
        self.extractor = extractor
        self.folder = Path(root) / f"{extractor.kind}-{extractor.fingerprint()}"
        self.stats = CacheStats()

    def __getstate__(self) -> dict:
        """Pickled (for a pool worker) with an absolute folder: a reused worker may have another working directory."""
        return {**self.__dict__, "folder": Path(os.path.abspath(self.folder))}

    def entry_path(self, audio_path: str | os.PathLike) -> Path:
        """Path of the cache entry of ``audio_path`` (whether or not it exists)."""
        key = hashlib.sha1(str(Path(audio_path).resolve()).encode()).hexdigest()
        return self.folder / f"{key}.npz"

    @staticmethod
    def source_stamp(audio_path: str | os.PathLike) -> dict:
        """What identifies an audio file's version: ``{"source": resolved path, "size", "mtime_ns"}``.

        Raises:
            OSError: the file cannot be stat'ed.
        """
        audio_path = Path(audio_path)
        stat = audio_path.stat()
        return {"source": str(audio_path.resolve()), "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns}

    def _read_entry(self, entry: Path, stamp: dict) -> np.ndarray | None:
        """The stored array if ``entry`` is valid and matches ``stamp``; None if stale.

        Raises:
            ValueError: the entry is corrupt (unreadable archive, missing or bad fields).
        """
        try:
            with np.load(entry, allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                features = archive["features"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ValueError(f"unreadable cache entry ({type(exc).__name__}: {exc})") from None
        if meta.get("fingerprint") != self.extractor.fingerprint():
            raise ValueError("cache entry written by another extractor configuration")
        if features.dtype != np.float32 or not np.all(np.isfinite(features)):
            raise ValueError("cache entry holds a non-float32 or non-finite array")
        if any(meta.get(k) != v for k, v in stamp.items()):
            return None
        return features

    def get(self, audio_path: str | os.PathLike) -> np.ndarray:
        """Features of one file, from the cache or computed (and stored).

        Returns:
            the extractor's float32 array (for log-mel: ``(n_mels, n_frames)``).

        Raises:
            AudioError: the audio cannot be used (nothing is written to the cache then).
        """
        audio_path = Path(audio_path)
        if not audio_path.is_file():
            raise AudioError(audio_path, "file does not exist")
        stamp = self.source_stamp(audio_path)
        entry = self.entry_path(audio_path)
        if entry.exists():
            try:
                cached = self._read_entry(entry, stamp)
            except ValueError as exc:
                warnings.warn(f"feature cache: {entry} for {audio_path} is corrupt ({exc}); recomputing",
                              stacklevel=2)
                self.stats.corrupt += 1
                cached = None
            if cached is not None:
                self.stats.hits += 1
                return cached
        features = np.asarray(self.extractor(audio_path), dtype=np.float32)
        meta = json.dumps({**stamp, "fingerprint": self.extractor.fingerprint(),
                           "extractor": self.extractor.describe()})
        atomic_write_bytes(entry, lambda handle: np.savez(handle, features=features, meta=np.array(meta)))
        self.stats.computed += 1
        return features

    def _get_or_error(self, path: str | os.PathLike) -> "np.ndarray | AudioError":
        try:
            return self.get(path)
        except AudioError as exc:
            return exc

    def get_many(self, paths: Iterable[str | os.PathLike], workers: int = 1, ahead: int | None = None,
                 pool_after_s: float | None = None) -> Iterator[tuple[str, "np.ndarray | AudioError"]]:
        """Features of many files, in the order of ``paths``, computed by up to ``workers`` processes.

        Files whose entry exists are read here (a stale or corrupt one is recomputed here too).
        The others are computed here until the time they are expected to take (the mean time of
        the ones computed so far, the first excluded, times the number left) reaches
        ``pool_after_s``, then by a process pool (:func:`extraction_pool`), whose workers write
        the entries (atomically): a pool's start-up (each worker imports NumPy, SciPy, librosa:
        ~3 s of CPU) costs more than it saves on a few seconds of work. At most ``ahead`` files
        are submitted beyond the one being handed back, so memory holds at most ``ahead``
        finished arrays however large the dataset. ``stats`` counts the workers' hits,
        computations and corrupt entries too, and their warnings are issued again here, in file
        order. The arrays and their order are the same whichever process computed them.

        Args:
            paths: audio files.
            workers: processes (1: everything in this process, no pool).
            ahead: files in flight (default ``4 * workers``).
            pool_after_s: seconds of expected work from which the pool is used (0: from the start;
                None: :data:`POOL_AFTER_SECONDS`).

        Yields:
            ``(str(path), features)`` with the extractor's float32 array, or ``(str(path),
            AudioError)`` for a file that cannot be used; one pair per path, in order.

        Raises:
            ValueError: ``workers`` < 1.
            Whatever the extractor raises besides :class:`AudioError` (e.g. ``OSError`` writing).
        """
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        paths = [str(path) for path in paths]
        missing = [i for i, path in enumerate(paths) if not self.entry_path(path).exists()]
        first = 0
        pool_after_s = POOL_AFTER_SECONDS if pool_after_s is None else pool_after_s
        if workers > 1 and pool_after_s > 0:  # here while the work left is too small for a pool
            timed, computed = [], 0
            while first < len(paths):
                is_missing = computed < len(missing) and missing[computed] == first
                if is_missing and len(timed) >= 1 and \
                        sum(timed) / len(timed) * (len(missing) - computed) >= pool_after_s:
                    break
                start = time.perf_counter()
                result = self._get_or_error(paths[first])
                if is_missing:
                    if computed:  # the first pays the start-up (imports, plans): not a rate
                        timed.append(time.perf_counter() - start)
                    computed += 1
                yield paths[first], result
                first += 1
            missing = missing[computed:]
        if workers == 1 or len(missing) < 2:
            for path in paths[first:]:
                yield path, self._get_or_error(path)
            return
        ahead = max(1, ahead or 4 * workers)
        queue, in_flight = collections.deque(missing), {}
        pool = extraction_pool(min(workers, len(missing)))
        try:
            for i in range(first, len(paths)):
                path = paths[i]
                while queue and len(in_flight) < ahead:
                    j = queue.popleft()
                    in_flight[j] = pool.submit(_compute_in_worker, self, os.path.abspath(paths[j]))
                if i not in in_flight:
                    yield path, self._get_or_error(path)
                    continue
                features, reason, (hits, computed, corrupt), caught = in_flight.pop(i).result()
                self.stats.hits += hits
                self.stats.computed += computed
                self.stats.corrupt += corrupt
                for message, category in caught:
                    warnings.warn(message, category, stacklevel=2)
                yield path, (AudioError(path, reason) if reason is not None else features)
        finally:
            for future in in_flight.values():  # stopped early: drop what has not started
                future.cancel()

    def extract_all(self, paths: Iterable[str | os.PathLike], *, desc: str = "features",
                    progress: bool = True, workers: int = 1) -> ExtractionReport:
        """Features of many files; files raising :class:`AudioError` are collected, not fatal.

        Args:
            paths: audio files.
            desc: label of the progress bar.
            progress: show a tqdm progress bar.
            workers: extraction processes (see :meth:`get_many`).

        Returns:
            :class:`ExtractionReport` with the features and the failures (path -> reason), in
            the order of ``paths`` whatever ``workers``.
        """
        report = ExtractionReport()
        paths = list(paths)
        results = self.get_many(paths, workers)
        for path, result in tqdm(results, total=len(paths), desc=desc, unit="track", disable=not progress,
                                 mininterval=1.0):
            if isinstance(result, AudioError):
                report.failures[path] = result.reason
            else:
                report.features[path] = result
        return report
