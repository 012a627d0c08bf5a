"""FMA medium loader: real-format tracks.csv (two-row header) and real mp3 audio written here."""

import pandas as pd
import pytest

from common.datasets import fma
from common.errors import DatasetError
from tests.audio_fixtures import write_corrupt
from tests.fma_fixtures import tiny_fma, write_tracks_csv


def test_generated_metadata_has_the_real_header(tmp_path):
    root = tiny_fma(tmp_path, genres=("Rock",), per_split=(1, 0, 0), seconds=0.2)
    lines = (root / "fma_metadata" / "tracks.csv").read_text().splitlines()
    assert lines[0].startswith(",album,album,") and lines[1].startswith(",comments,date_created,")
    assert lines[2].startswith("track_id,,,")
    assert len(lines[0].split(",")) == 53


def test_index_selects_medium_with_genres_and_official_split(tmp_path):
    root = tiny_fma(tmp_path, per_split=(3, 1, 2), seconds=0.3)
    index = fma.index(root)
    assert index.classes == fma.GENRES and len(fma.GENRES) == 16
    assert len(index.tracks) == 3 * 6  # the large-only track is not listed
    assert fma.split_sizes(index) == {"training": 9, "validation": 3, "test": 6}
    first = index.tracks[0]
    assert first.track_id == "000002" and first.label == "Blues" and first.subset == "training"
    assert first.path == root / "fma_medium" / "000" / "000002.mp3"
    assert index.problems == {} and index.unexpected == []
    assert set(index.label_indices().tolist()) == {0, 1, 2}


def test_audio_path_layout():
    assert str(fma.audio_path("/d", 123456)) == "/d/fma_medium/123/123456.mp3"
    assert str(fma.audio_path("/d", 2)) == "/d/fma_medium/000/000002.mp3"


def test_broken_missing_and_stray_audio_are_reported(tmp_path):
    root = tiny_fma(tmp_path, per_split=(2, 1, 1), seconds=0.3)
    write_corrupt(fma.audio_path(root, 2))
    fma.audio_path(root, 3).unlink()
    fma.audio_path(root, 4).write_bytes(b"")
    stray = root / "fma_medium" / "155" / "155066.mp3"
    stray.parent.mkdir()
    stray.write_bytes(fma.audio_path(root, 5).read_bytes())
    index = fma.index(root)
    problems = {p.split("/")[-1]: why for p, why in index.problems.items()}
    assert "cannot read audio header" in problems["000002.mp3"]
    assert "does not exist" in problems["000003.mp3"]
    assert "empty" in problems["000004.mp3"]
    assert index.unexpected == [str(stray)]
    assert len(index.tracks) == 12 - 3


def test_missing_or_malformed_metadata_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="FMA not found"):
        fma.index(tmp_path / "absent")
    (tmp_path / "fma_medium").mkdir()
    with pytest.raises(DatasetError, match="tracks.csv does not exist"):
        fma.index(tmp_path)
    # a one-row header (e.g. a re-saved spreadsheet) lacks the two-level columns
    (tmp_path / "fma_metadata").mkdir()
    pd.DataFrame({"track_id": [2], "genre_top": ["Rock"]}).to_csv(tmp_path / "fma_metadata" / "tracks.csv",
                                                                  index=False)
    with pytest.raises(DatasetError, match="set/subset"):
        fma.index(tmp_path)


def test_unknown_genre_or_split_is_a_dataset_error(tmp_path):
    path = tmp_path / "fma_metadata" / "tracks.csv"
    (tmp_path / "fma_medium").mkdir()
    write_tracks_csv(path, [{"track_id": 2, "subset": "medium", "split": "training", "genre_top": "Polka"}])
    with pytest.raises(DatasetError, match="Polka"):
        fma.index(tmp_path)
    write_tracks_csv(path, [{"track_id": 2, "subset": "medium", "split": "train", "genre_top": "Rock"}])
    with pytest.raises(DatasetError, match="'train'"):
        fma.index(tmp_path)


def test_track_id_listed_twice_in_tracks_csv_is_a_dataset_error(tmp_path):
    root = tiny_fma(tmp_path, genres=("Rock", "Pop"), per_split=(1, 0, 0), seconds=0.2)
    path = root / "fma_metadata" / "tracks.csv"
    lines = path.read_text().splitlines()
    first = next(line for line in lines if line.startswith("2,"))
    path.write_text("\n".join(lines + [first.replace("Rock", "Pop")]) + "\n")  # track 2 again, other genre
    with pytest.raises(DatasetError, match=r"tracks\.csv: track id\(s\) \[2\] listed more than once"):
        fma.index(root)
