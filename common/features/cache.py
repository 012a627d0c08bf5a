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

The pool's workers never outlive their run, and a run stops cleanly whatever happens to them:

- a worker ends within :data:`PARENT_POLL_SECONDS` of its parent's death (``kill -9`` of the main
  process included): a thread in each worker watches the parent's process id;
- workers ignore SIGINT and SIGTERM (Ctrl-C reaches the whole process group): the parent handles
  them, and a :meth:`FeatureCache.get_many` that stops early (an interrupt, an error) ends its
  workers at once;
- a worker that dies (killed, out of memory, a crash in a decoder) stops the run with one
  :class:`FeatureWorkerError` line naming the files the workers were computing; every finished
  entry is kept, so the same command resumes.

An entry's bytes do not depend on the process that computed it: every computation of an entry, in
this process or in a worker, runs with :data:`EXTRACTION_THREADS` BLAS / OpenMP thread(s)
(threadpoolctl), since a matrix product summed over another number of threads rounds differently
(GTZAN's hiphop.00009 looped to 4 minutes: up to 7.6e-6 dB between 1 and 2 threads, MCCLSTM's log-mel).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np
from tqdm.auto import tqdm

from common.atomic_files import atomic_write_bytes
from common.errors import AudioError, ReproError


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
    """Number of feature-extraction processes to use, at most :func:`available_cores`.

    A count above the usable cores is lowered to them with a one-line note on standard output
    (once per count in a process): more processes than cores only add memory (each worker holds
    ~300 MB) and never speed extraction up.

    Args:
        workers: an explicit count (>= 1), or None for ``$REPRO_FEATURE_WORKERS`` when set, else
            :func:`available_cores`.

    Returns:
        the count, between 1 and :func:`available_cores`.

    Raises:
        ConfigError: a count below 1, or ``$REPRO_FEATURE_WORKERS`` is not a positive integer.
    """
    from common.errors import ConfigError

    cores = available_cores()
    if workers is None:
        value = os.environ.get(WORKERS_ENVIRONMENT, "").strip()
        if not value:
            return cores
        try:
            workers = int(value)
        except ValueError:
            raise ConfigError(f"{WORKERS_ENVIRONMENT}={value!r}: the number of feature workers must be a "
                              f"positive integer") from None
    if workers < 1:
        raise ConfigError(f"the number of feature workers must be at least 1, not {workers}")
    if workers > cores:
        if (workers, cores) not in _CAPPED_NOTED:
            _CAPPED_NOTED.add((workers, cores))
            print(f"note: {workers} feature workers asked for (WORKERS / --workers), but this process may use "
                  f"{cores} core{'s' if cores > 1 else ''}: using {cores}", flush=True)
        return cores
    return workers


#: ``(asked, cores)`` pairs already noted by :func:`feature_workers` in this process.
_CAPPED_NOTED: set = set()


#: Seconds an idle extraction worker waits for more work before it ends.
WORKER_IDLE_SECONDS = 10

#: Expected seconds of extraction from which :meth:`FeatureCache.get_many` starts a pool (below: in
#: this process). A worker's start-up is ~3 s of CPU (importing NumPy, SciPy, librosa, numba).
POOL_AFTER_SECONDS = 20.0

#: The feature caches of a pool worker, by folder: an extractor is unpickled once per worker and
#: keeps what it builds on first use (FFT plans, kymatio filters).
_WORKER_CACHES: dict[str, "FeatureCache"] = {}


#: BLAS / OpenMP threads of every feature computation, in this process and in every pool worker
#: (see the module text): one, so that the pool's processes share the cores out without
#: oversubscribing them, and an entry's bytes are the same whichever process computed it.
EXTRACTION_THREADS = 1


def extraction_threads():
    """Context manager: the BLAS / OpenMP libraries loaded in this process use :data:`EXTRACTION_THREADS`.

    Every entry is computed inside it (:meth:`FeatureCache.get`), here and in the workers.
    threadpoolctl finds the libraries loaded when the context is entered (NumPy's BLAS, which the
    extractors' matrix products use, is loaded with NumPy); a pool worker also starts with the
    libraries' thread variables (:data:`BLAS_THREAD_VARIABLES`) at the same count. An extractor that
    computes in TensorFlow (a ``backend="tf"`` setting, used by no table) is not covered.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=EXTRACTION_THREADS)


class FeatureWorkerError(ReproError):
    """A feature-extraction worker process died (killed, out of memory, a crash in a decoder).

    Raised by :meth:`FeatureCache.get_many`, as one line naming the files the workers were
    computing and the entries kept; the same command resumes from them.
    """


def _compute_in_worker(cache: "FeatureCache", path: str, busy: str | None = None) -> tuple:
    """One file through a pool worker's copy of ``cache``.

    Args:
        cache: the parent's cache (one copy per worker and folder is kept and reused).
        path: the audio file (absolute).
        busy: a folder where the worker names the file it computes (``<busy>/<pid>``, removed when
            done) while it computes it, so that the parent can name it should the worker die; None:
            not named.

    Returns:
        ``(features or None, AudioError reason or None, (hits, computed, corrupt), warnings)``:
        the float32 array, or the reason the file cannot be used (an :class:`AudioError` is
        returned as its reason and rebuilt by the parent); the change of the worker's counters;
        ``[(message, category)]`` of the warnings raised, for the parent to re-issue in file order.
    """
    cache = _WORKER_CACHES.setdefault(str(cache.folder), cache)
    before = (cache.stats.hits, cache.stats.computed, cache.stats.corrupt)
    marker = Path(busy, str(os.getpid())) if busy else None
    try:
        if marker is not None:
            marker.write_text(path, encoding="utf-8")
    except OSError:  # the parent removed the folder (it stopped): the result is not awaited
        marker = None
    try:
        with warnings.catch_warnings(record=True) as caught:  # recorded under the worker's usual filters
            try:
                features, reason = cache.get(path), None
            except AudioError as exc:
                features, reason = None, exc.reason
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)
    after = (cache.stats.hits, cache.stats.computed, cache.stats.corrupt)
    return (features, reason, tuple(a - b for a, b in zip(after, before)),
            [(str(w.message), w.category) for w in caught])


#: Thread-count variables of the numerical libraries, set (to :data:`EXTRACTION_THREADS`) in every worker.
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: Seconds between a pool worker's checks that its parent process is alive.
PARENT_POLL_SECONDS = 0.5


def _start_worker(parent: int) -> None:
    """Initializer of every pool worker: leave signals to the parent, and end when the parent does.

    SIGINT (Ctrl-C reaches the whole process group) and SIGTERM are ignored: the parent handles
    them and ends its workers (no ``KeyboardInterrupt`` traceback from a worker). A daemon thread
    ends the worker (``os._exit``) within :data:`PARENT_POLL_SECONDS` once its parent process
    ``parent`` is gone (the worker is then re-parented, so ``os.getppid()`` changes), even if the
    parent was killed with SIGKILL and could not end it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def end_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=end_with_parent, name="end-with-parent", daemon=True).start()


def extraction_pool(workers: int):
    """The process pool of feature extraction: joblib's reusable loky executor with ``workers`` processes.

    See the module text for why loky (fresh interpreters, no main-module import, reused while busy).
    Each worker's BLAS / OpenMP thread pools get :data:`EXTRACTION_THREADS` thread(s) (the pool
    shares the cores out; an entry's bytes do not depend on the process that computed it), ignores
    SIGINT / SIGTERM and ends with this process (:func:`_start_worker`).

    Returns:
        a ``concurrent.futures.Executor``; not to be shut down by the caller (it is shared, and
        its workers end after :data:`WORKER_IDLE_SECONDS` idle).
    """
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers, timeout=WORKER_IDLE_SECONDS,
                                 env={name: str(EXTRACTION_THREADS) for name in BLAS_THREAD_VARIABLES},
                                 initializer=_start_worker, initargs=(os.getpid(),))


def _kill_workers(pool) -> None:
    """End the workers of ``pool`` (an :func:`extraction_pool`) at once, the files they compute included.

    The workers are killed (SIGKILL); the pool then counts as broken (its pending futures fail with
    ``TerminatedWorkerError``) and :func:`extraction_pool` starts a new one next time. Not
    ``pool.shutdown(kill_workers=True)``: with futures still queued, loky's manager thread then
    fails (``KeyError`` or ``InvalidStateError``) and the interpreter's exit waits on it.
    """
    from joblib.externals.loky.backend.utils import kill_process_tree  # what loky's own shutdown uses

    for process in list(getattr(pool, "_processes", {}).values()):
        try:
            kill_process_tree(process)
        except OSError:  # already gone
            continue


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

        A computation runs with :data:`EXTRACTION_THREADS` BLAS / OpenMP thread(s)
        (:func:`extraction_threads`), as in a pool worker: the entry's bytes do not depend on the
        process that computed it.

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
        with extraction_threads():  # the same thread count in every process: the same bytes
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
            FeatureWorkerError: a worker process died (see :meth:`_worker_died`); the other
                workers are ended, every finished entry stays.
            Whatever the extractor raises besides :class:`AudioError` (e.g. ``OSError`` writing).

        Stopped early (the caller closes the generator, an interrupt, an error), it ends its
        workers at once, the files being computed included.
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
        from concurrent.futures.process import BrokenProcessPool  # loky's TerminatedWorkerError is one

        ahead = max(1, ahead or 4 * workers)
        queue, in_flight = collections.deque(missing), {}
        busy = tempfile.mkdtemp(prefix="feature-workers-")  # <pid>: the file a worker computes
        pool = extraction_pool(min(workers, len(missing)))
        try:
            for i in range(first, len(paths)):
                path = paths[i]
                while queue and len(in_flight) < ahead:
                    j = queue.popleft()
                    in_flight[j] = pool.submit(_compute_in_worker, self, os.path.abspath(paths[j]), busy)
                if i not in in_flight:
                    yield path, self._get_or_error(path)
                    continue
                try:
                    features, reason, (hits, computed, corrupt), caught = in_flight[i].result()
                except BrokenProcessPool as exc:
                    raise self._worker_died(exc, Path(busy), paths) from None
                del in_flight[i]
                self.stats.hits += hits
                self.stats.computed += computed
                self.stats.corrupt += corrupt
                for message, category in caught:
                    warnings.warn(message, category, stacklevel=2)
                yield path, (AudioError(path, reason) if reason is not None else features)
        finally:
            if in_flight:  # stopped early (an interrupt, an error, a dead worker): end the workers now
                _kill_workers(pool)
            shutil.rmtree(busy, ignore_errors=True)

    def _worker_died(self, exc: BaseException, busy: Path, paths: list[str]) -> FeatureWorkerError:
        """The one-line error of a worker's death in :meth:`get_many`.

        Args:
            exc: the pool's ``BrokenProcessPool`` (loky's ``TerminatedWorkerError`` gives the
                workers' exit codes, e.g. ``SIGKILL(-9)``).
            busy: the folder where the workers name the files they compute.
            paths: every file of the call (the entries present among them are counted).
        """
        codes = re.search(r"exit codes of the workers are \{(.*?)\}", str(exc))
        how = codes.group(1) if codes else type(exc).__name__
        computing = []
        for marker in sorted(busy.glob("*")):
            try:
                computing.append(marker.read_text(encoding="utf-8"))
            except OSError:
                continue
        computing = sorted(name for name in computing if name)
        files = (", ".join(computing[:3]) + (f" and {len(computing) - 3} more" if len(computing) > 3 else "")
                 if computing else "the files in flight")
        unique = list(dict.fromkeys(paths))
        kept = sum(self.entry_path(path).exists() for path in unique)
        return FeatureWorkerError(
            f"a feature-extraction worker died ({how}) while the workers were computing {files}; the "
            f"{kept} of {len(unique)} cache entries finished are kept in {self.folder}; run the same command "
            f"to resume (SIGKILL is often the out-of-memory killer: fewer workers, e.g. WORKERS=1, use less memory)")

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
