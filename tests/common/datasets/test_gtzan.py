import pytest

from common.datasets import gtzan
from common.errors import DatasetError
from tests.audio_fixtures import truncate, write_audio, write_corrupt


def make_tree(root, per_genre=2, folder="genres", ext="au"):
    for genre in gtzan.GENRES:
        for i in range(per_genre):
            write_audio(root / folder / genre / f"{genre}.{i:05d}.{ext}", seconds=0.2, sample_rate=8000)
    return root


@pytest.mark.parametrize("folder,ext", [("genres", "au"), ("genres", "wav"), ("genres_original", "wav"),
                                        ("Data/genres_original", "wav"),
                                        ("gtzan_genre/genres", "wav")])  # mirdata: <data_home>/gtzan_genre/genres
def test_layouts(tmp_path, folder, ext):
    make_tree(tmp_path, folder=folder, ext=ext)
    index = gtzan.index(tmp_path)
    assert len(index.tracks) == 20
    assert index.classes == gtzan.GENRES
    assert index.tracks[0].track_id == "blues.00000" and index.tracks[0].label == "blues"
    assert index.count_differences()["rock"] == (2, 100)


def test_pointing_at_the_genres_folder_itself(tmp_path):
    make_tree(tmp_path)
    assert len(gtzan.index(tmp_path / "genres").tracks) == 20


def test_missing_folder_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetError, match="GTZAN_DIR") as err:
        gtzan.index(tmp_path / "absent")
    assert "genres/<genre>/<genre>.000NN.au" in str(err.value)


def test_wrong_layout_and_missing_genre(tmp_path):
    (tmp_path / "music").mkdir()
    with pytest.raises(DatasetError, match="layout not recognised"):
        gtzan.index(tmp_path)
    make_tree(tmp_path / "x")
    import shutil

    shutil.rmtree(tmp_path / "x" / "genres" / "jazz")
    with pytest.raises(DatasetError, match="missing: jazz"):
        gtzan.index(tmp_path / "x")


def test_bad_and_unexpected_files_are_reported_not_dropped(tmp_path):
    make_tree(tmp_path)
    genres = tmp_path / "genres"
    (genres / "jazz" / "jazz.00054.wav").write_bytes(b"")
    write_corrupt(genres / "pop" / "pop.00099.wav")
    (genres / "rock" / "notes.txt").write_text("x")
    (genres / "bextract_single.mf").write_text("x")
    index = gtzan.index(tmp_path)
    assert len(index.tracks) == 20
    assert "empty" in index.problems[str(genres / "jazz" / "jazz.00054.wav")]
    assert "cannot read audio header" in index.problems[str(genres / "pop" / "pop.00099.wav")]
    assert str(genres / "rock" / "notes.txt") in index.unexpected
    assert str(genres / "bextract_single.mf") in index.unexpected
    summary = index.summary()
    assert summary["n_tracks"] == 20 and len(summary["problems"]) == 2


def test_gtzan_mini(gtzan_mini):
    index = gtzan.index(gtzan_mini)
    assert len(index.tracks) == 100
    assert set(index.class_counts().values()) == {10}
    assert not index.problems


def test_download_failure_explains_what_to_do(tmp_path, monkeypatch):
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DatasetError, match="5b3d6dddb579ab49814ab86dba69e7c7"):
        gtzan.download(tmp_path)


def test_au_and_wav_of_one_clip_give_one_track_the_official_au(tmp_path):
    make_tree(tmp_path)  # .au clips
    genres = tmp_path / "genres"
    wav = write_audio(genres / "classical" / "classical.00000.wav", seconds=0.2, sample_rate=8000)
    index = gtzan.index(tmp_path)
    ids = [t.track_id for t in index.tracks]
    assert len(ids) == len(set(ids)) == 20
    kept = next(t for t in index.tracks if t.track_id == "classical.00000")
    assert kept.path == genres / "classical" / "classical.00000.au"
    assert index.problems[str(wav)] == (f"duplicate of {kept.path}: same track id 'classical.00000' "
                                        f"(GTZAN keeps the official .au)")


def test_unusable_au_gives_way_to_a_usable_wav_of_the_same_clip(tmp_path):
    make_tree(tmp_path)
    genres = tmp_path / "genres"
    au = write_corrupt(genres / "jazz" / "jazz.00001.au")
    wav = write_audio(genres / "jazz" / "jazz.00001.wav", seconds=0.2, sample_rate=8000)
    index = gtzan.index(tmp_path)
    assert {t.track_id: t.path for t in index.tracks}["jazz.00001"] == wav
    assert index.problems[str(au)].startswith("cannot read audio header")
    assert len(index.tracks) == 20


def test_truncated_clip_is_a_problem_before_any_feature_work(tmp_path):
    make_tree(tmp_path, ext="wav")
    path = tmp_path / "genres" / "rock" / "rock.00001.wav"
    write_audio(path, seconds=2.0, sample_rate=8000)
    truncate(path)
    index = gtzan.index(tmp_path)
    assert "rock.00001" not in {t.track_id for t in index.tracks}
    assert index.problems[str(path)].startswith("truncated: the WAV 'data' chunk declares 2.000 s")
