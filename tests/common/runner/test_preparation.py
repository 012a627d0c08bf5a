"""Feature preparation over a process pool: the same features, skips, reports and cache entries as one process."""

from __future__ import annotations

import numpy as np

from common.datasets import gtzan
from tests.audio_fixtures import write_audio, write_corrupt
from tests.runner_fixtures import MajorityScheme, tiny_gtzan, toy_spec


def _tree_with_problems(root):
    """A tiny GTZAN tree plus a clip too short for one chunk and one that cannot be decoded."""
    data = tiny_gtzan(root, per_genre=3, seconds=0.3)
    write_audio(data / "genres" / "rock" / "rock.00007.wav", seconds=0.05, sample_rate=8000)
    write_corrupt(data / "genres" / "blues" / "blues.00008.wav")
    return data


def test_two_workers_prepare_exactly_what_one_does(tmp_path, capsys, monkeypatch):
    from common.runner import prepare_features

    monkeypatch.setattr("common.features.cache.POOL_AFTER_SECONDS", 0.0)  # a pool even for tiny files
    data = _tree_with_problems(tmp_path / "data")
    spec = toy_spec(MajorityScheme())
    index = gtzan.index(data)
    runs = {}
    for workers in (1, 2):
        capsys.readouterr()
        usable, features, skipped, cache = prepare_features(spec, index, tmp_path / f"cache{workers}",
                                                            progress=False, workers=workers)
        runs[workers] = (usable, features, skipped, cache, capsys.readouterr().out)
    (usable1, features1, skipped1, cache1, out1), (usable2, features2, skipped2, cache2, out2) = runs[1], runs[2]
    assert "rock.00007" in skipped1 and len(skipped1) >= 1
    assert skipped2 == skipped1 and list(skipped2) == list(skipped1) and out2 == out1
    assert [t.track_id for t in usable2.tracks] == [t.track_id for t in usable1.tracks]
    assert list(features2) == list(features1)
    for track_id in features1:
        np.testing.assert_array_equal(features2[track_id], features1[track_id])
        assert features2[track_id].dtype == features1[track_id].dtype
    assert (cache2.stats.computed, cache2.stats.hits) == (cache1.stats.computed, cache1.stats.hits)
    for track in index.tracks:  # every entry the workers wrote holds the same array and metadata
        entry1, entry2 = cache1.entry_path(track.path), cache2.entry_path(track.path)
        assert entry1.exists() == entry2.exists()
        if entry1.exists():
            with np.load(entry1) as a, np.load(entry2) as b:
                np.testing.assert_array_equal(a["features"], b["features"])
                assert str(a["meta"]) == str(b["meta"])
    assert not [p for p in cache2.folder.iterdir() if p.suffix != ".npz"]  # no temporary files left


def test_a_second_run_over_workers_reads_the_cache(tmp_path, monkeypatch):
    from common.runner import prepare_features

    monkeypatch.setattr("common.features.cache.POOL_AFTER_SECONDS", 0.0)
    data = tiny_gtzan(tmp_path / "data", per_genre=2, seconds=0.3)
    spec = toy_spec(MajorityScheme(), n_folds=2)
    index = gtzan.index(data)
    prepare_features(spec, index, tmp_path / "cache", progress=False, workers=2)
    _, _, _, cache = prepare_features(spec, index, tmp_path / "cache", progress=False, workers=2)
    assert (cache.stats.hits, cache.stats.computed) == (20, 0)


def test_the_workers_option_reaches_the_extraction(tmp_path, capsys, monkeypatch):
    from common import cli
    from common.features.cache import WORKERS_ENVIRONMENT, feature_workers

    monkeypatch.delenv(WORKERS_ENVIRONMENT, raising=False)
    monkeypatch.setattr("common.features.cache.available_cores", lambda: 4)
    code = cli.main(["run", "mcclstm.table3_gtzan", "--data-dir", str(tmp_path / "absent"), "--results-dir",
                     str(tmp_path / "r"), "--work-dir", str(tmp_path / "w"), "--workers", "0"])
    assert code == 2 and "--workers must be at least 1" in capsys.readouterr().err
    monkeypatch.setenv(WORKERS_ENVIRONMENT, "1")
    cli.main(["run", "mcclstm.table3_gtzan", "--data-dir", str(tmp_path / "absent"), "--results-dir",
              str(tmp_path / "r"), "--work-dir", str(tmp_path / "w"), "--workers", "3"])
    assert feature_workers() == 3
