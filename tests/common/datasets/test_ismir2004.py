"""ISMIR 2004 loader: tracklist parsing, layouts, counts, and every bad input it handles."""

from __future__ import annotations

import shutil

import pytest

from common.datasets import ismir2004
from common.errors import DatasetError
from tests.audio_fixtures import write_audio, write_corrupt
from tests.ismir2004_fixtures import write_ismir2004_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Two training and one development track per class, mp3 as in the real collection."""
    return write_ismir2004_tree(tmp_path_factory.mktemp("ismir") / "ismir04_genre",
                                {"training": 2, "development": 1}, seconds=0.5)


def test_read_tracklist_real_format(tmp_path):
    path = tmp_path / "tracklist.csv"
    path.write_text('"classical","Jeff Wahl","Guitarscapes","Spanish Steps","1",'
                    '"classical/jeff_wahl/guitarscapes/1-spanish_steps.mp3"\n'
                    '"world","A, B","C","D ""quoted""","12","world/a_b/c/12-d.mp3"\n', encoding="utf-8")
    rows = ismir2004.read_tracklist(path)
    assert [r["class"] for r in rows] == ["classical", "world"]
    assert rows[1]["artist"] == "A, B" and rows[1]["track"] == 'D "quoted"'
    assert rows[0]["file_path"] == "classical/jeff_wahl/guitarscapes/1-spanish_steps.mp3"
    assert rows[1]["track_number"] == "12" and rows[1]["line"] == 2


def test_read_tracklist_tolerates_header(tmp_path):
    path = tmp_path / "tracklist.csv"
    path.write_text("class,artist,album,track,track_number,file_path\n"
                    "jazz_blues,a,b,c,1,jazz_blues/a/b/1-c.mp3\n", encoding="utf-8")
    assert len(ismir2004.read_tracklist(path)) == 1


@pytest.mark.parametrize("line, message", [
    ('"pop","a","b","c","1","pop/x.mp3"', "not one of"),
    ('"world","a","b"', "expected 6 columns"),
    ('"world","a","b","c","1",""', "empty file path"),
])
def test_read_tracklist_rejects_bad_rows(tmp_path, line, message):
    path = tmp_path / "tracklist.csv"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=message) as info:
        ismir2004.read_tracklist(path)
    assert "tracklist.csv, line 1" in str(info.value)


def test_index_generated_tree(tree):
    index = ismir2004.index(tree)
    assert index.classes == ismir2004.CLASSES
    assert len(index.tracks) == 6 * 3
    assert {t.subset for t in index.tracks} == {"training", "development"}
    track = next(t for t in index.tracks if t.subset == "training" and t.label == "metal_punk")
    assert track.track_id.startswith("training/metal_punk/") and track.path.suffix == ".mp3"
    assert track.path.is_file()
    counts = ismir2004.subset_class_counts(index)
    assert counts["training"] == {name: 2 for name in ismir2004.CLASSES}
    assert counts["development"] == {name: 1 for name in ismir2004.CLASSES}
    # the published counts (Table 1) summed over both subsets, compared per class
    assert index.expected_counts["classical"] == 640 and index.expected_counts["electronic"] == 229
    assert index.count_differences()["jazz_blues"] == (3, 52)
    assert not index.problems and not index.unexpected


def test_index_parent_folder_and_flat_layout(tree, tmp_path):
    assert len(ismir2004.index(tree.parent).tracks) == 18  # the folder holding ismir04_genre/
    flat = tmp_path / "flat"
    for subset in ("training", "development"):
        shutil.copytree(tree / "audio" / subset, flat / subset)
        shutil.copy(tree / "metadata" / subset / "tracklist.csv", flat / subset / "tracklist.csv")
    assert len(ismir2004.index(flat).tracks) == 18


def test_index_only_requested_subsets(tree):
    index = ismir2004.index(tree, subsets=("training",))
    assert len(index.tracks) == 12 and index.expected_counts["classical"] == 320
    with pytest.raises(DatasetError, match="evaluation"):
        ismir2004.index(tree, subsets=("evaluation",))
    with pytest.raises(DatasetError, match="unknown"):
        ismir2004.index(tree, subsets=("test",))


def test_missing_folder_names_variable(tmp_path):
    with pytest.raises(DatasetError, match="ISMIR2004_DIR"):
        ismir2004.index(tmp_path / "nowhere")


def test_bad_files_are_recorded_not_dropped(tree, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tree, root)
    audio = root / "audio" / "training"
    rows = ismir2004.read_tracklist(root / "metadata" / "training" / "tracklist.csv")
    missing, corrupt, empty = (audio / rows[i]["file_path"] for i in (0, 2, 4))
    missing.unlink()
    write_corrupt(corrupt)
    empty.write_bytes(b"")
    stray = write_audio(audio / "rock_pop" / "stray.wav", 0.2)
    index = ismir2004.index(root)
    assert len(index.tracks) == 18 - 3
    assert "not found" in index.problems[str(missing)]
    assert "cannot read audio header" in index.problems[str(corrupt)]
    assert index.problems[str(empty)] == "file is empty (0 bytes)"
    assert str(stray) in index.unexpected


def test_listed_name_matched_after_folding(tree, tmp_path):
    root = tmp_path / "renamed"
    shutil.copytree(tree, root)
    audio = root / "audio" / "development"
    row = ismir2004.read_tracklist(root / "metadata" / "development" / "tracklist.csv")[0]
    listed = audio / row["file_path"]
    listed.rename(listed.with_name(listed.name.replace("-", "_")))  # on disk "1_song..." vs listed "1-song..."
    index = ismir2004.index(root)
    assert len(index.tracks) == 18 and not index.problems


def test_audio_folder_missing(tree, tmp_path):
    root = tmp_path / "noaudio"
    shutil.copytree(tree / "metadata", root / "metadata")
    with pytest.raises(DatasetError, match="audio folder"):
        ismir2004.index(root)


def test_duplicate_listing_rejected(tree, tmp_path):
    root = tmp_path / "dup"
    shutil.copytree(tree, root)
    tracklist = root / "metadata" / "training" / "tracklist.csv"
    first = tracklist.read_text().splitlines()[0]
    tracklist.write_text(tracklist.read_text() + first + "\n")
    with pytest.raises(DatasetError, match="listed twice"):
        ismir2004.index(root)


def test_two_listed_names_of_one_file_give_one_track(tree, tmp_path):
    # the second name is missing on disk and matches the first one's file after folding
    root = tmp_path / "twonames"
    shutil.copytree(tree, root)
    tracklist = root / "metadata" / "training" / "tracklist.csv"
    rows = ismir2004.read_tracklist(tracklist)
    first = rows[0]["file_path"]
    alias = first.replace("-song", "'song")
    with tracklist.open("a", encoding="utf-8") as handle:
        handle.write(f'"{rows[0]["class"]}","a","b","c","1","{alias}"\n')
    index = ismir2004.index(root)
    paths = [t.path for t in index.tracks]
    assert len(paths) == len(set(paths)) == 18
    audio = root / "audio" / "training"
    assert index.problems[str(audio / alias)] == (
        f"listed in {tracklist} (line {len(rows) + 1}) as {alias!r}, which is the file of line 1 "
        f"({audio / first}); left out")
