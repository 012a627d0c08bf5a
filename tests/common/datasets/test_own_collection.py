"""The own-collection loader: one folder per class, audio found recursively, every bad layout named."""

import pytest

from common.datasets import own_collection
from common.errors import DatasetError
from tests.audio_fixtures import write_audio, write_corrupt


def collection(root, classes=("blues", "hip hop", "jazz"), per_class=2, ext="wav"):
    """``per_class`` short tones per class folder (distinct content per file)."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_audio(root / name / f"{i:02d}.{ext}", seconds=0.2, sample_rate=8000, frequency=200.0 + 50 * c,
                        seed=10 * c + i)
    return root


def test_class_folders_with_spaces_non_ascii_and_an_album_subfolder_in_mixed_formats(tmp_path):
    root = tmp_path / "my music"
    write_audio(root / "hip hop" / "a.wav", 0.2, 8000, seed=1)
    write_audio(root / "hip hop" / "Album One (2001)" / "02 track.flac", 0.2, 8000, seed=2)
    write_audio(root / "hip hop" / "Album One (2001)" / "CD 2" / "03.ogg", 0.2, 8000, seed=3)
    write_audio(root / "Électro" / "x.MP3", 0.3, 8000, seed=4)
    write_audio(root / "Électro" / "y.au", 0.2, 8000, seed=5)
    index = own_collection.index(root)
    assert index.classes == ("hip hop", "Électro")  # sorted by code point
    assert [(t.track_id, t.label) for t in index.tracks] == [
        ("hip hop/Album One (2001)/02 track.flac", "hip hop"), ("hip hop/Album One (2001)/CD 2/03.ogg", "hip hop"),
        ("hip hop/a.wav", "hip hop"), ("Électro/x.MP3", "Électro"), ("Électro/y.au", "Électro")]
    assert index.tracks[0].path == (root / "hip hop" / "Album One (2001)" / "02 track.flac").resolve()
    assert index.label_indices().tolist() == [0, 0, 0, 1, 1]
    assert not index.problems and not index.unexpected and index.expected_counts == {}
    assert index.name == f"own_collection-{own_collection.folder_label(root)}"


def test_the_mp3_written_by_libsndfile_is_indexed_and_decodes(tmp_path):
    from common.audio.decoding import load_audio

    write_audio(tmp_path / "a" / "1.mp3", 1.0, 22050, seed=1)
    write_audio(tmp_path / "b" / "1.wav", 1.0, 22050, seed=2)
    index = own_collection.index(tmp_path)
    assert [t.track_id for t in index.tracks] == ["a/1.mp3", "b/1.wav"]
    assert load_audio(index.tracks[0].path, 22050).size > 0.9 * 22050


def test_hidden_entries_are_ignored_and_other_files_counted_and_listed(tmp_path):
    collection(tmp_path)
    (tmp_path / "jazz" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "jazz" / "notes.txt").write_text("liner notes")
    (tmp_path / "jazz" / ".DS_Store").write_bytes(b"x")
    write_audio(tmp_path / "jazz" / ".hidden album" / "x.wav", 0.2, 8000, seed=99)  # inside a hidden folder
    (tmp_path / ".git").mkdir()
    write_audio(tmp_path / ".trash" / "y.wav", 0.2, 8000, seed=98)  # a hidden "class" folder
    (tmp_path / "playlist.m3u").write_text("blues/00.wav")  # outside every class folder
    index = own_collection.index(tmp_path)
    assert index.classes == ("blues", "hip hop", "jazz") and len(index.tracks) == 6
    assert sorted(index.unexpected) == sorted(str(p) for p in (
        tmp_path / "playlist.m3u", tmp_path / "jazz" / "cover.jpg", tmp_path / "jazz" / "notes.txt"))
    assert index.notes["ignored_non_audio_files"] == 2 and index.notes["files_outside_class_folders"] == 1
    assert index.notes["ignored_hidden_entries"] == 4  # .git, .trash, .DS_Store, .hidden album


def test_an_undecodable_file_is_skipped_with_its_reason(tmp_path):
    collection(tmp_path)
    write_corrupt(tmp_path / "jazz" / "broken.wav")
    (tmp_path / "jazz" / "empty.flac").write_bytes(b"")
    index = own_collection.index(tmp_path)
    assert len(index.tracks) == 6 and index.notes["unusable_files"] == 2
    assert index.problems[str((tmp_path / "jazz" / "empty.flac").resolve())] == "file is empty (0 bytes)"
    assert "broken.wav" in " ".join(index.problems)


def test_a_class_with_no_usable_file_is_refused_naming_it(tmp_path):
    collection(tmp_path, classes=("a", "b"))
    write_corrupt(tmp_path / "c" / "only.wav")
    with pytest.raises(DatasetError, match=r"none of the 1 audio file\(s\) of class folder .*/c is usable"):
        own_collection.index(tmp_path)


def test_a_missing_folder_an_empty_name_and_a_file_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as err:
        own_collection.index(tmp_path / "absent")
    assert "<DATA_DIR>/<class name>/" in str(err.value)
    with pytest.raises(DatasetError, match="no folder given"):
        own_collection.describe_folder("")
    (tmp_path / "f.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="is not a folder"):
        own_collection.index(tmp_path / "f.wav")


@pytest.mark.parametrize("classes", [(), ("only",)])
def test_fewer_than_two_classes_are_refused(tmp_path, classes):
    collection(tmp_path, classes=classes)
    write_audio(tmp_path / "loose.wav", 0.2, 8000)
    with pytest.raises(DatasetError, match="at least two classes") as err:
        own_collection.index(tmp_path)
    assert ("one class folder, 'only'" if classes else "no class folder") in str(err.value)
    assert "1 audio file(s) directly in the folder belong to no class" in str(err.value)


def test_an_empty_class_folder_is_named(tmp_path):
    collection(tmp_path, classes=("a", "b"))
    (tmp_path / "empty one").mkdir()
    with pytest.raises(DatasetError, match=r"class folder .*/empty one holds no audio file \(it is empty\)"):
        own_collection.index(tmp_path)
    (tmp_path / "empty one" / "cover.jpg").write_bytes(b"x")
    (tmp_path / "empty one" / "sub").mkdir()
    with pytest.raises(DatasetError, match=r"holds no audio file \(it holds 1 other file \(cover.jpg\)\)"):
        own_collection.describe_folder(tmp_path)


def test_describe_folder_reads_names_only(tmp_path):
    collection(tmp_path, classes=("b", "a c"))
    found = own_collection.describe_folder(tmp_path)
    assert found.classes == ("a c", "b") and found.root == tmp_path.resolve()
    assert found.label == own_collection.folder_label(tmp_path)


def test_folder_label_is_safe_stable_and_tells_places_apart(tmp_path):
    one, two = tmp_path / "x" / "My Music (2024)", tmp_path / "y" / "My Music (2024)"
    assert own_collection.folder_label(one) == own_collection.folder_label(one)
    assert own_collection.folder_label(one) != own_collection.folder_label(two)
    assert own_collection.folder_label(one).startswith("My-Music-2024-")
    assert own_collection.folder_label(tmp_path / "Électro").startswith("lectro-")
    assert own_collection.folder_label(tmp_path / "日本").startswith("collection-")
