"""DatasetIndex invariants that hold whatever loader built the index."""

from pathlib import Path

import pytest

from common.datasets.base import DatasetIndex, Track
from common.errors import DatasetError


def _tracks(*pairs):
    return [Track(track_id, Path(path), label="a") for track_id, path in pairs]


def test_a_track_id_used_twice_is_refused_naming_both_files():
    tracks = _tracks(("x.00000", "/d/x.00000.au"), ("x.00001", "/d/x.00001.au"), ("x.00000", "/d/x.00000.wav"))
    with pytest.raises(DatasetError) as err:
        DatasetIndex("toy", Path("/d"), ("a",), tracks)
    message = str(err.value)
    assert "'x.00000'" in message and "/d/x.00000.au" in message and "/d/x.00000.wav" in message


def test_one_file_under_two_track_ids_is_refused():
    tracks = _tracks(("first", "/d/clip.mp3"), ("second", "/d/clip.mp3"))
    with pytest.raises(DatasetError, match=r"/d/clip\.mp3.*'first'.*'second'"):
        DatasetIndex("toy", Path("/d"), ("a",), tracks)


def test_unique_ids_and_files_are_accepted_and_survive_without():
    index = DatasetIndex("toy", Path("/d"), ("a",), _tracks(("1", "/d/1.wav"), ("2", "/d/2.wav")))
    smaller = index.without({"1"}, {"1": "excluded for a test"})
    assert [t.track_id for t in smaller.tracks] == ["2"]
    assert smaller.problems == {"/d/1.wav": "excluded for a test"}
