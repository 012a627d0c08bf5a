import os
import time

import numpy as np
import pytest

from common.features.cache import FeatureCache
from common.errors import AudioError
from common.features.logmel import LogMelConfig, LogMelExtractor
from tests.audio_fixtures import write_audio, write_corrupt

CONFIG = LogMelConfig(sample_rate=22050, n_fft=512, hop_length=256, window="hann", n_mels=16)


class CountingExtractor(LogMelExtractor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def __call__(self, path):
        self.calls += 1
        return super().__call__(path)


def test_computed_once_and_reused(tmp_path):
    audio = write_audio(tmp_path / "a.wav", seconds=1.0)
    extractor = CountingExtractor(CONFIG)
    cache = FeatureCache(tmp_path / "cache", extractor)
    first = cache.get(audio)
    second = FeatureCache(tmp_path / "cache", extractor).get(audio)  # a new cache object, same folder
    assert extractor.calls == 1
    np.testing.assert_array_equal(first, second)
    assert cache.stats.computed == 1


def test_invalidated_when_the_audio_or_the_config_changes(tmp_path):
    audio = write_audio(tmp_path / "a.wav", seconds=1.0)
    extractor = CountingExtractor(CONFIG)
    cache = FeatureCache(tmp_path / "cache", extractor)
    before = cache.get(audio)
    time.sleep(0.01)
    write_audio(audio, seconds=2.0, frequency=880.0)
    os.utime(audio, ns=(time.time_ns(), time.time_ns()))
    after = cache.get(audio)
    assert extractor.calls == 2 and after.shape[1] > before.shape[1]
    other = CountingExtractor(LogMelConfig(**{**CONFIG.__dict__, "n_mels": 8}))
    assert FeatureCache(tmp_path / "cache", other).get(audio).shape[0] == 8
    assert other.calls == 1


def test_corrupt_entry_is_detected_and_recomputed(tmp_path):
    audio = write_audio(tmp_path / "a.wav", seconds=1.0)
    extractor = CountingExtractor(CONFIG)
    cache = FeatureCache(tmp_path / "cache", extractor)
    good = cache.get(audio)
    cache.entry_path(audio).write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(UserWarning, match="corrupt"):
        again = cache.get(audio)
    np.testing.assert_array_equal(good, again)
    assert extractor.calls == 2 and cache.stats.corrupt == 1


def test_no_temporary_files_left_and_bad_audio_not_cached(tmp_path):
    good = write_audio(tmp_path / "good.wav", seconds=1.0)
    bad = write_corrupt(tmp_path / "bad.wav")
    cache = FeatureCache(tmp_path / "cache", LogMelExtractor(CONFIG))
    report = cache.extract_all([good, bad], progress=False)
    assert list(report.features) == [str(good)]
    assert "cannot decode" in report.failures[str(bad)]
    files = os.listdir(cache.folder)
    assert len(files) == 1 and files[0].endswith(".npz")
    with pytest.raises(AudioError):
        cache.get(bad)


@pytest.fixture
def pool_from_the_start(monkeypatch):
    """Tiny test files are seconds of work: make get_many use its pool anyway."""
    monkeypatch.setattr("common.features.cache.POOL_AFTER_SECONDS", 0.0)


def test_two_workers_write_the_same_entries_and_report_in_file_order(tmp_path, pool_from_the_start):
    paths = [write_audio(tmp_path / f"{k}.wav", seconds=0.5, frequency=200.0 + 50 * k, seed=k) for k in range(6)]
    paths.insert(2, write_corrupt(tmp_path / "bad.wav"))
    one = FeatureCache(tmp_path / "one", LogMelExtractor(CONFIG))
    two = FeatureCache(tmp_path / "two", LogMelExtractor(CONFIG))
    serial = one.extract_all(paths, progress=False, workers=1)
    pooled = two.extract_all(paths, progress=False, workers=2)
    assert list(pooled.features) == list(serial.features) and pooled.failures == serial.failures
    assert "cannot decode" in pooled.failures[str(paths[2])]
    assert [(p, type(r).__name__) for p, r in two.get_many(paths, workers=2)] == \
        [(str(p), "AudioError" if p.name == "bad.wav" else "ndarray") for p in paths]
    for path in paths:
        if path.name != "bad.wav":
            with np.load(one.entry_path(path)) as a, np.load(two.entry_path(path)) as b:
                np.testing.assert_array_equal(a["features"], b["features"])
                assert str(a["meta"]) == str(b["meta"])
    assert (two.stats.computed, one.stats.computed) == (6, 6) and two.stats.hits == 6  # get_many re-read them
    assert sorted(p.suffix for p in two.folder.iterdir()) == [".npz"] * 6  # no temporary files left


def test_a_corrupt_entry_is_replaced_and_counted_with_workers_too(tmp_path, pool_from_the_start):
    paths = [write_audio(tmp_path / f"{k}.wav", seconds=0.5, seed=k) for k in range(3)]
    cache = FeatureCache(tmp_path / "cache", LogMelExtractor(CONFIG))
    good = cache.extract_all(paths, progress=False).features
    # entries read in this process: a corrupt one is replaced here; files without an entry go to the workers
    cache.entry_path(paths[0]).write_bytes(b"PK\x03\x04 truncated")
    for path in paths[1:]:
        cache.entry_path(path).unlink()
    fresh = FeatureCache(tmp_path / "cache", LogMelExtractor(CONFIG))
    with pytest.warns(UserWarning, match="corrupt"):
        again = dict(fresh.get_many(paths, workers=2))
    assert (fresh.stats.corrupt, fresh.stats.computed) == (1, 3)
    for path in paths:
        np.testing.assert_array_equal(again[str(path)], good[str(path)])


def test_the_pool_takes_over_once_the_work_left_is_long_enough(tmp_path):
    paths = [write_audio(tmp_path / f"{k}.wav", seconds=0.5, frequency=200.0 + 50 * k, seed=k) for k in range(6)]
    serial = FeatureCache(tmp_path / "one", LogMelExtractor(CONFIG)).extract_all(paths, progress=False).features
    cache = FeatureCache(tmp_path / "two", LogMelExtractor(CONFIG))
    extractor_calls_here = []
    original = cache.extractor.__class__.__call__
    cache.extractor.__class__ = type("Watched", (LogMelExtractor,), {
        "__call__": lambda self, path: extractor_calls_here.append(path) or original(self, path)})
    # the first file pays the start-up, the second is timed: 4 left x its time >= 1 ns starts the pool
    handed = list(cache.get_many(paths, workers=2, pool_after_s=1e-9))
    assert [p for p, _ in handed] == [str(p) for p in paths] and len(extractor_calls_here) == 2
    for path, features in handed:
        np.testing.assert_array_equal(features, serial[path])
    assert cache.stats.computed == 6
    # a long threshold: everything here
    extractor_calls_here.clear()
    cache = FeatureCache(tmp_path / "three", cache.extractor)
    list(cache.get_many(paths, workers=2, pool_after_s=1e9))
    assert len(extractor_calls_here) == 6


def test_a_workers_warnings_and_counts_travel_back_with_its_result(tmp_path):
    from common.features.cache import _compute_in_worker

    audio = write_audio(tmp_path / "a.wav", seconds=0.5)
    cache = FeatureCache(tmp_path / "cache", LogMelExtractor(CONFIG))
    good = cache.get(audio)
    cache.entry_path(audio).write_bytes(b"PK\x03\x04 truncated")
    features, reason, counts, caught = _compute_in_worker(cache, str(audio))
    np.testing.assert_array_equal(features, good)
    assert reason is None and counts == (0, 1, 1)
    assert len(caught) == 1 and "corrupt" in caught[0][0] and caught[0][1] is UserWarning
    features, reason, counts, caught = _compute_in_worker(cache, str(write_corrupt(tmp_path / "bad.wav")))
    assert features is None and "cannot decode" in reason and counts == (0, 0, 0) and not caught


def test_the_number_of_workers(monkeypatch):
    from common.errors import ConfigError
    from common.features.cache import WORKERS_ENVIRONMENT, available_cores, feature_workers

    monkeypatch.delenv(WORKERS_ENVIRONMENT, raising=False)
    assert feature_workers() == available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setattr("common.features.cache.available_cores", lambda: 4)
    monkeypatch.setenv(WORKERS_ENVIRONMENT, "3")
    assert feature_workers() == 3 and feature_workers(1) == 1
    for bad in ("0", "two"):
        monkeypatch.setenv(WORKERS_ENVIRONMENT, bad)
        with pytest.raises(ConfigError, match=WORKERS_ENVIRONMENT if bad == "two" else "at least 1"):
            feature_workers()
    with pytest.raises(ValueError):
        next(FeatureCache("unused", LogMelExtractor(CONFIG)).get_many(["a.wav"], workers=0))


def test_more_workers_than_cores_are_capped_with_a_one_line_note(monkeypatch, capsys):
    from common.features.cache import WORKERS_ENVIRONMENT, feature_workers

    monkeypatch.setattr("common.features.cache.available_cores", lambda: 2)
    monkeypatch.setattr("common.features.cache._CAPPED_NOTED", set())
    monkeypatch.setenv(WORKERS_ENVIRONMENT, "64")
    assert feature_workers() == 2 and feature_workers(64) == 2 and feature_workers(2) == 2
    note = capsys.readouterr().out.splitlines()
    assert len(note) == 1 and "64 feature workers" in note[0] and "using 2" in note[0]  # once per count
    assert feature_workers(3) == 2 and "3 feature workers" in capsys.readouterr().out


def test_every_tables_extractor_crosses_to_a_worker_process():
    import pickle

    from common.registry import available_tables

    for name, factory in available_tables().items():
        extractor = factory().extractor()
        copy = pickle.loads(pickle.dumps(extractor))
        assert type(copy) is type(extractor) and copy.fingerprint() == extractor.fingerprint(), name
