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
interrupted run never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np
from tqdm.auto import tqdm

from common.atomic_files import atomic_write_bytes
from common.errors import AudioError


class FeatureExtractor(Protocol):
    """What the cache needs from an extractor (e.g. :class:`common.features.logmel.LogMelExtractor`)."""

    kind: str

    def fingerprint(self) -> str: ...

    def describe(self) -> dict: ...

    def __call__(self, path: str | os.PathLike) -> np.ndarray: ...


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

    def extract_all(self, paths: Iterable[str | os.PathLike], *, desc: str = "features",
                    progress: bool = True) -> ExtractionReport:
        """Features of many files; files raising :class:`AudioError` are collected, not fatal.

        Args:
            paths: audio files.
            desc: label of the progress bar.
            progress: show a tqdm progress bar.

        Returns:
            :class:`ExtractionReport` with the features and the failures (path -> reason).
        """
        report = ExtractionReport()
        paths = list(paths)
        for path in tqdm(paths, desc=desc, unit="track", disable=not progress, mininterval=1.0):
            try:
                report.features[str(path)] = self.get(path)
            except AudioError as exc:
                report.failures[str(path)] = exc.reason
        return report
