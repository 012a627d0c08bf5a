"""Ballroom loader on generated folders in the archive's layout (BallroomData/<Style>/*.wav)."""

import pytest

from common.datasets import ballroom
from common.errors import DatasetError
from tests.audio_fixtures import write_audio, write_corrupt
from tests.common.datasets.generated_trees import write_ballroom


def test_folder_to_class_mapping_covers_the_papers_eight_classes():
    assert len(ballroom.FOLDER_CLASSES) == 10
    assert set(ballroom.FOLDER_CLASSES.values()) == set(ballroom.CLASSES)
    assert [f for f, c in ballroom.FOLDER_CLASSES.items() if c == "rumba"] == [
        "Rumba-American", "Rumba-International", "Rumba-Misc"]
    assert ballroom.FOLDER_CLASSES["Waltz"] == "slow waltz"
    assert ballroom.FOLDER_CLASSES["VienneseWaltz"] == "viennese waltz"
    assert sum(ballroom.EXPECTED_COUNTS.values()) == 698
    assert tuple(ballroom.EXPECTED_COUNTS) == ballroom.CLASSES


def test_index_maps_folders_to_classes_and_ids_to_stems(tmp_path):
    data = write_ballroom(tmp_path, {"ChaChaCha": 2, "Jive": 1, "Quickstep": 1, "Rumba-American": 1,
                                     "Rumba-International": 2, "Rumba-Misc": 1, "Samba": 1, "Tango": 1,
                                     "VienneseWaltz": 1, "Waltz": 3})
    idx = ballroom.index(tmp_path)  # the folder holding BallroomData
    assert idx.root == data.resolve() and idx.classes == ballroom.CLASSES
    assert idx.class_counts() == {"cha-cha-cha": 2, "jive": 1, "quickstep": 1, "rumba": 4, "samba": 1, "tango": 1,
                                  "viennese waltz": 1, "slow waltz": 3}
    by_id = {t.track_id: t for t in idx.tracks}
    assert by_id["Albums-Gen_Rumba-Misc-00"].label == "rumba"
    assert by_id["Albums-Gen_Waltz-02"].label == "slow waltz"
    viennese = "Albums-Gen_VienneseWaltz-00"
    assert by_id[viennese].path == data.resolve() / "VienneseWaltz" / f"{viennese}.wav"
    assert [t.track_id for t in idx.tracks] == sorted(by_id)
    assert idx.problems == {} and idx.unexpected == []
    assert idx.notes["folder_counts"]["Rumba-International"] == 2 and idx.notes["folder_counts"]["Waltz"] == 3
    # BallroomData itself is accepted too, with the same result
    same = ballroom.index(data)
    assert [t.track_id for t in same.tracks] == [t.track_id for t in idx.tracks]
    assert list(idx.label_indices()[:2]) == [ballroom.CLASSES.index(idx.tracks[0].label),
                                             ballroom.CLASSES.index(idx.tracks[1].label)]


def test_published_counts_give_no_difference(tmp_path):
    # per-class counts as published; the split of the 98 rumba clips over the 3 folders is arbitrary here
    counts = {"ChaChaCha": 111, "Jive": 60, "Quickstep": 82, "Rumba-American": 7, "Rumba-International": 51,
              "Rumba-Misc": 40, "Samba": 86, "Tango": 86, "VienneseWaltz": 65, "Waltz": 110}
    write_ballroom(tmp_path, counts, seconds=(0.01,))
    idx = ballroom.index(tmp_path)
    assert len(idx.tracks) == 698
    assert idx.class_counts() == ballroom.EXPECTED_COUNTS
    assert idx.count_differences() == {}


def test_count_differences_are_reported_not_hidden(tmp_path):
    write_ballroom(tmp_path, 2)
    idx = ballroom.index(tmp_path)
    diffs = idx.count_differences()
    assert diffs["rumba"] == (6, 98) and diffs["jive"] == (2, 60) and len(diffs) == 8
    summary = idx.summary()
    assert summary["count_differences_from_published"]["slow waltz"] == {"found": 2, "published": 110}


def test_missing_folder_says_where_to_put_the_data(tmp_path):
    with pytest.raises(DatasetError, match="BALLROOM_DIR") as err:
        ballroom.index(tmp_path / "nowhere")
    assert "BallroomData/<Style>" in str(err.value) and "data1.tar.gz" in str(err.value)


def test_folder_without_style_folders_is_rejected(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(DatasetError, match="no dance style folder"):
        ballroom.index(tmp_path)


def test_class_without_any_folder_is_an_error(tmp_path):
    counts = {s: 1 for s in ballroom.FOLDER_CLASSES if s != "Jive"}
    write_ballroom(tmp_path, counts)
    with pytest.raises(DatasetError, match="jive.*Jive"):
        ballroom.index(tmp_path)


def test_missing_rumba_subfolder_is_recorded(tmp_path):
    counts = {s: 1 for s in ballroom.FOLDER_CLASSES if s != "Rumba-American"}
    data = write_ballroom(tmp_path, counts)
    idx = ballroom.index(tmp_path)
    assert idx.class_counts()["rumba"] == 2
    assert "style folder missing" in idx.problems[str(data.resolve() / "Rumba-American")]


def test_unreadable_empty_listed_missing_duplicate_and_stray_files(tmp_path):
    data = write_ballroom(tmp_path, 1, file_list=True).resolve()
    (data / "Samba" / "empty.wav").write_bytes(b"")
    write_corrupt(data / "Tango" / "broken.wav")
    write_audio(data / "Jive" / "Albums-Gen_Waltz-00.wav", 0.1, 8000)  # same stem as a Waltz clip
    (data / "Jive" / "notes.txt").write_text("x")
    (data / "Jive" / ".DS_Store").write_bytes(b"\0")
    (data / "README").write_text("x")
    (data / "Extra").mkdir()
    (data / "Waltz" / "Albums-Gen_Waltz-00.wav").unlink()  # listed in allBallroomFiles, now absent
    idx = ballroom.index(tmp_path)
    assert idx.problems[str(data / "Samba" / "empty.wav")] == "file is empty (0 bytes)"
    assert idx.problems[str(data / "Tango" / "broken.wav")].startswith("cannot read audio header")
    assert "listed in allBallroomFiles but missing" == idx.problems[str(data / "Waltz" / "Albums-Gen_Waltz-00.wav")]
    # with the Waltz clip gone the Jive copy is the only one of that stem: it counts as jive
    assert {t.track_id: t.label for t in idx.tracks}["Albums-Gen_Waltz-00"] == "jive"
    assert set(idx.unexpected) == {str(data / "Jive" / "notes.txt"), str(data / "Jive" / ".DS_Store"),
                                   str(data / "README"), str(data / "Extra")}
    assert str(data / ballroom.FILE_LIST) not in idx.unexpected
    assert len(idx.tracks) == 10


def test_no_readable_clip_is_an_error(tmp_path):
    for style in ballroom.FOLDER_CLASSES:
        write_corrupt(tmp_path / "BallroomData" / style / "x.wav")
    with pytest.raises(DatasetError, match="no readable excerpt"):
        ballroom.index(tmp_path)


def test_download_checks_the_archive_hash_and_unpacks_it(tmp_path, monkeypatch):
    import tarfile

    import pooch

    from common.cli import main

    source = write_ballroom(tmp_path / "src", 1)
    archive = tmp_path / "data1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="BallroomData")
    calls = []

    def fake_retrieve(url, known_hash, **kwargs):
        calls.append((url, known_hash))
        return str(archive)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    assert main(["download", "ballroom", "--dest", str(tmp_path / "dest")]) == 0
    assert calls == [(ballroom.ARCHIVE_URL, f"md5:{ballroom.ARCHIVE_MD5}")]
    assert len(ballroom.index(tmp_path / "dest").tracks) == 10


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    import pooch

    def unreachable(url, known_hash, **kwargs):
        raise ConnectionError("host unreachable")

    monkeypatch.setattr(pooch, "retrieve", unreachable)
    with pytest.raises(DatasetError, match="download failed.*host unreachable") as err:
        ballroom.download(tmp_path)
    assert ballroom.ARCHIVE_MD5 in str(err.value) and "BALLROOM_DIR" in str(err.value)


def test_same_file_name_in_folders_of_two_classes_leaves_both_out(tmp_path):
    # the label of that excerpt is ambiguous: neither copy is used, both are recorded
    data = write_ballroom(tmp_path, 1).resolve()
    copy = write_audio(data / "Waltz" / "Albums-Gen_ChaChaCha-00.wav", 0.1, 8000)
    original = data / "ChaChaCha" / "Albums-Gen_ChaChaCha-00.wav"
    idx = ballroom.index(tmp_path)
    assert "Albums-Gen_ChaChaCha-00" not in {t.track_id for t in idx.tracks}
    for path, other in ((original, copy), (copy, original)):
        reason = idx.problems[str(path)]
        assert reason.startswith("same file name as") and str(other) in reason and "ambiguous" in reason
    assert len(idx.tracks) == 9


def test_same_file_name_in_two_folders_of_one_class_keeps_the_first(tmp_path):
    data = write_ballroom(tmp_path, 1).resolve()
    copy = write_audio(data / "Rumba-Misc" / "Albums-Gen_Rumba-American-00.wav", 0.1, 8000)
    idx = ballroom.index(tmp_path)
    kept = {t.track_id: t for t in idx.tracks}["Albums-Gen_Rumba-American-00"]
    assert kept.path == data / "Rumba-American" / "Albums-Gen_Rumba-American-00.wav" and kept.label == "rumba"
    assert idx.problems[str(copy)] == (f"duplicate of {kept.path}: same track id 'Albums-Gen_Rumba-American-00' "
                                       f"(Ballroom keeps the first in folder order)")
    assert len(idx.tracks) == 10


def test_mirdata_layout_is_accepted_at_every_level(tmp_path):
    """mirdata unpacks data1.tar.gz's BallroomData into <data_home>/B_1.0/audio/<Style>/."""
    archive = write_ballroom(tmp_path / "archive", 1)
    reference = [t.track_id for t in ballroom.index(archive).tracks]
    audio = tmp_path / "mir_datasets" / "ballroom" / "B_1.0" / "audio"
    audio.parent.mkdir(parents=True)
    archive.rename(audio)
    for root in (audio, audio.parent, audio.parent.parent, audio.parent.parent.parent):
        idx = ballroom.index(root)
        assert idx.root == audio.resolve(), root
        assert [t.track_id for t in idx.tracks] == reference and idx.problems == {} and idx.unexpected == []
        assert idx.tracks[0].path.parent.parent == audio.resolve()


def test_layout_message_names_the_mirdata_layout(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(DatasetError, match=r"B_1\.0/audio/<Style>"):
        ballroom.index(tmp_path)
