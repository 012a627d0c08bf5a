"""Feature preparation: every track's cached features, prepared for the schemes, before any training.

Tracks that cannot be used (unreadable, empty, too short) are found here, skipped and recorded,
so the splits are made from usable tracks only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from common.features.cache import FeatureCache, feature_workers
from common.datasets.base import Track
from common.errors import AudioError, DatasetError


def _log(message: str) -> None:
    print(message, flush=True)


class PreparedFeatures(Mapping):
    """``{track_id: prepared features}``, held in memory up to a budget, re-read from the cache beyond it.

    Small datasets (GTZAN: ~200 MB of chunks) stay in memory; a large one (MagnaTagATune: ~13 GB
    of float32 spectrograms) is read back from the feature cache track by track on access, so a run
    never needs the whole dataset in RAM.

    Args:
        cache: the feature cache the arrays came from.
        prepare: the table's ``(features, track) -> prepared`` function.
        budget_bytes: bytes of prepared arrays to hold in memory.
    """

    def __init__(self, cache: FeatureCache, prepare: Callable, budget_bytes: int):
        self._cache, self._prepare, self._budget = cache, prepare, budget_bytes
        self._tracks: dict[str, Track] = {}
        self._held: dict[str, Any] = {}
        self.bytes_held = 0

    def add(self, track: Track, prepared) -> None:
        """Register a usable track and hold its prepared features if the budget allows."""
        self._tracks[track.track_id] = track
        size = int(getattr(prepared, "nbytes", 0))
        if self.bytes_held + size <= self._budget:
            self._held[track.track_id] = prepared
            self.bytes_held += size

    @property
    def all_in_memory(self) -> bool:
        """True when every track's features are held in memory."""
        return len(self._held) == len(self._tracks)

    def __getitem__(self, track_id: str):
        if track_id in self._held:
            return self._held[track_id]
        track = self._tracks[track_id]
        return self._prepare(self._cache.get(track.path), track)

    def __iter__(self):
        return iter(self._tracks)

    def __len__(self) -> int:
        return len(self._tracks)


#: Default memory budget for prepared features (GiB); environment variable REPRO_FEATURE_MEMORY_GB.
FEATURE_MEMORY_GB = 4.0


def prepare_features(spec, index, cache_dir: Path, progress: bool = True, workers: int | None = None):
    """Cached features of every track, prepared for the schemes; unusable tracks are skipped.

    Every file is extracted once (or found in the cache) and prepared once here, so that a track
    that cannot be used is known before any training. Files not in the cache yet are extracted by
    ``workers`` processes (:meth:`common.features.cache.FeatureCache.get_many`); the results come
    back in track order, so the progress bar, the skip reports and the features do not depend on
    ``workers``.

    Args:
        spec: the table (:class:`~common.runner.spec.TableSpec`): its extractor and ``prepare``.
        index: the dataset index.
        cache_dir: root of the feature caches.
        progress: show a progress bar.
        workers: extraction processes; None: ``$REPRO_FEATURE_WORKERS`` (``--workers``,
            ``WORKERS=N``), else the cores this process may use
            (:func:`common.features.cache.feature_workers`).

    Returns:
        ``(usable index, PreparedFeatures, {track_id: reason} skipped, cache)``.

    Raises:
        DatasetError: no track at all is usable.
        ConfigError: ``workers`` (or ``$REPRO_FEATURE_WORKERS``) is not a positive integer.
    """
    cache = FeatureCache(cache_dir, spec.extractor())
    budget = float(os.environ.get("REPRO_FEATURE_MEMORY_GB", FEATURE_MEMORY_GB)) * 2 ** 30
    features, skipped = PreparedFeatures(cache, spec.prepare, int(budget)), {}
    def add(track, result):
        try:
            if isinstance(result, AudioError):
                raise result
            features.add(track, spec.prepare(result, track))
        except AudioError as exc:
            skipped[track.track_id] = exc.reason

    tracks = list(index.tracks)
    results = cache.get_many([track.path for track in tracks], feature_workers(workers))
    try:
        if tracks:
            add(tracks[0], next(results)[1])  # the first track pays the start-up costs (imports, FFT plans,
            #                                   worker processes): kept out of the rate
        with tqdm(total=len(tracks), initial=min(1, len(tracks)), desc=f"{spec.dataset.name} features",
                  unit="track", disable=not progress, mininterval=1.0, smoothing=0.1) as bar:
            for track, (_, result) in zip(tracks[1:], results):
                add(track, result)
                bar.update(1)
    finally:
        results.close()  # ends the worker processes
    usable = index.without(set(skipped), skipped) if skipped else index
    if not usable.tracks:
        reasons = sorted(set(skipped.values()))[:3]
        raise DatasetError(f"{index.name} at {index.root}: none of the {len(index.tracks)} tracks is usable "
                           f"(e.g. {'; '.join(reasons)})")
    for track_id, reason in sorted(skipped.items()):
        _log(f"  skipped {track_id}: {reason}")
    if not features.all_in_memory:
        _log(f"  features beyond {budget / 2 ** 30:.1f} GiB are read back from the cache when needed "
             f"(REPRO_FEATURE_MEMORY_GB)")
    return usable, features, skipped, cache
