"""MagnaTagATune loader: annotation format, top-tag rule, folder split, bad input."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from common.datasets import magnatagatune as mtat
from common.errors import DatasetError
from tests.mtat_fixtures import Clip, quoted_row, write_annotations, write_mtat_tree

TAGS = [f"tag{i:02d}" for i in range(55)]


def _clips():
    """Clips whose tag counts make tag00..tag49 the top 50: tagK is on 55-K clips... capped below."""
    clips = []
    folders = "0123456789abcdef"
    for i in range(32):
        # every clip gets tag00; clip i also gets the tags tag01..tag49 whose index divides into i
        tags = {"tag00"} | {f"tag{k:02d}" for k in range(1, 50) if (i + k) % 7 == 0}
        clips.append(Clip(str(i + 2), folders[i % 16], tags, seconds=0.5))
    # clips with only tags outside the top 50 (tag50..tag54 are each on one clip) are removed
    clips.append(Clip("100", "3", {"tag50"}, seconds=0.5))
    clips.append(Clip("101", "d", {"tag51", "tag52"}, seconds=0.5))
    clips.append(Clip("102", "c", set(), seconds=0.5))
    return clips


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtat")
    clips = _clips()
    clips.append(Clip("200", "0", {"tag00"}, audio="empty"))
    clips.append(Clip("201", "e", {"tag00"}, audio="missing"))
    clips.append(Clip("202", "1", {"tag00"}, audio="corrupt"))
    return write_mtat_tree(root, clips, TAGS)


def test_read_annotations_parses_the_quoted_tab_separated_release_format(tmp_path):
    path = tmp_path / "annotations_final.csv"
    path.write_text(quoted_row(["clip_id", "no voice", "singer", "mp3_path"]) +
                    quoted_row(["2", "0", "1", "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3"]) +
                    quoted_row(["6", "1", "0", "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-117-146.mp3"]))
    frame = mtat.read_annotations(path)
    assert list(frame.columns) == ["clip_id", "no voice", "singer", "mp3_path"]
    assert frame["clip_id"].tolist() == ["2", "6"]
    assert frame["singer"].tolist() == [1, 0]
    assert frame["mp3_path"].iloc[0] == "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3"


def test_top_tags_are_the_most_frequent_with_ties_in_column_order(tmp_path):
    clips = [Clip("1", "0", {"b", "c"}), Clip("2", "0", {"c", "a"}), Clip("3", "0", {"d", "b"})]
    frame = mtat.read_annotations(write_annotations(tmp_path / "a.csv", clips, ["a", "b", "c", "d"]))
    # counts: a 1, b 2, c 2, d 1 -> b, c (tie, column order), then a, d (tie, column order)
    assert mtat.top_tags(frame, 3) == ("b", "c", "a")
    with pytest.raises(DatasetError, match="fewer than the 5 requested"):
        mtat.top_tags(frame, 5)


def test_index_keeps_top50_tags_removes_untagged_clips_and_splits_by_folder(tree):
    index = mtat.index(tree)
    assert len(index.classes) == 50
    assert index.classes[0] == "tag00"
    assert set(index.classes) == {f"tag{k:02d}" for k in range(50)}
    ids = {t.track_id for t in index.tracks}
    assert {"100", "101", "102"}.isdisjoint(ids)            # no top-50 tag: removed by the rule
    assert index.notes["clips_without_top_tag_removed"] == {"test": 1, "train": 1, "validation": 1}
    for track in index.tracks:
        folder = track.path.parent.name
        expected = "train" if folder in "0123456789ab" else "validation" if folder == "c" else "test"
        assert track.subset == expected
        assert track.tags and set(track.tags) <= set(index.classes)
    counts = index.notes["clips_per_subset"]
    assert counts == {s: sum(t.subset == s for t in index.tracks) for s in ("train", "validation", "test")}
    assert counts["train"] > 0 and counts["validation"] > 0 and counts["test"] > 0
    # tag matrix rows agree with the annotation file
    frame = mtat.read_annotations(tree / "annotations_final.csv").set_index("clip_id")
    matrix = index.tag_matrix()
    for row, track in enumerate(index.tracks):
        assert [bool(frame.loc[track.track_id, tag]) for tag in index.classes] == matrix[row].astype(bool).tolist()


def test_index_records_empty_and_missing_clips_as_problems(tree):
    index = mtat.index(tree)
    problems = {Path(p).name.split("-")[0]: reason for p, reason in index.problems.items()}
    assert "empty (0 bytes)" in problems["artist_200"]
    assert "file is missing" in problems["artist_201"]
    ids = {t.track_id for t in index.tracks}
    assert "200" not in ids and "201" not in ids
    assert "202" in ids   # undecodable: refused at feature extraction (AudioError), not while indexing
    summary = index.summary()
    assert summary["notes"]["top_tags"] == list(index.classes)
    assert index.without({"202"}, {"202": "cannot decode"}).notes == index.notes


def test_index_finds_clips_in_an_mp3_subfolder(tmp_path):
    clips = [Clip(str(i), f, {"x"}, seconds=0.3) for i, f in enumerate("0cd", start=1)]
    root = write_mtat_tree(tmp_path / "mtat", clips, ["x", "y"], audio_subfolder="mp3")
    index = mtat.index(root, n_tags=1)
    assert [t.subset for t in index.tracks] == ["train", "validation", "test"]
    assert index.notes["audio_root"] == str(root / "mp3")


def test_missing_folder_or_annotations_raise_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="MTAT_DIR"):
        mtat.index(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="annotations_final.csv"):
        mtat.index(tmp_path / "empty")


@pytest.mark.parametrize("header, row, message", [
    (["id", "a", "mp3_path"], ["1", "0", "0/x.mp3"], "expected"),
    (["clip_id", "a", "path"], ["1", "0", "0/x.mp3"], "expected"),
    (["clip_id", "a", "mp3_path"], ["1", "2", "0/x.mp3"], "must be 0 or 1"),
    (["clip_id", "a", "mp3_path"], ["1", "", "0/x.mp3"], "must be 0 or 1"),
    (["clip_id", "a", "a", "mp3_path"], ["1", "0", "1", "0/x.mp3"], "repeats tag"),
])
def test_malformed_annotations_raise_dataset_error(tmp_path, header, row, message):
    (tmp_path / "annotations_final.csv").write_text(quoted_row(header) + quoted_row(row))
    with pytest.raises(DatasetError, match=message):
        mtat.index(tmp_path, n_tags=1)


def test_repeated_clip_id_raises_dataset_error(tmp_path):
    clips = [Clip("1", "0", {"a"}), Clip("1", "d", {"a"})]
    write_annotations(tmp_path / "annotations_final.csv", clips, ["a"])
    with pytest.raises(DatasetError, match="more than once"):
        mtat.index(tmp_path, n_tags=1)


def test_no_clip_present_raises_dataset_error(tmp_path):
    write_annotations(tmp_path / "annotations_final.csv", [Clip("1", "0", {"a"})], ["a"])
    with pytest.raises(DatasetError, match="none of the 1 clips"):
        mtat.index(tmp_path, n_tags=1)


def test_clip_outside_the_16_folders_is_a_problem(tmp_path):
    clips = [Clip("1", "0", {"a"}, seconds=0.3), Clip("2", "g", {"a"}, seconds=0.3)]
    root = write_mtat_tree(tmp_path, clips, ["a"])
    index = mtat.index(root, n_tags=1)
    assert [t.track_id for t in index.tracks] == ["1"]
    assert any("no split" in reason for reason in index.problems.values())


def test_download_joins_the_zip_parts_and_unpacks(tmp_path, monkeypatch):
    import pooch

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("0/a-1.mp3", b"fake")
        archive.writestr("d/b-2.mp3", b"fake")
    payload = buffer.getvalue()
    third = len(payload) // 3 + 1
    sources = tmp_path / "server"
    sources.mkdir()
    for i, name in enumerate(("mp3.zip.001", "mp3.zip.002", "mp3.zip.003")):
        (sources / name).write_bytes(payload[i * third:(i + 1) * third])
    (sources / "annotations_final.csv").write_text("x")
    (sources / "clip_info_final.csv").write_text("x")
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append(url)
        target = Path(path) / fname
        target.write_bytes((sources / fname).read_bytes())
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    dest = mtat.download(tmp_path / "dest")
    assert (dest / "0" / "a-1.mp3").read_bytes() == b"fake"
    assert (dest / "d" / "b-2.mp3").is_file()
    assert not (dest / "mp3.zip").exists()
    assert len(calls) == 5 and all(c.startswith(mtat.BASE_URLS[0]) for c in calls)


def test_download_failure_raises_dataset_error_with_instructions(tmp_path, monkeypatch):
    import pooch

    def failing(*args, **kwargs):
        raise OSError("unreachable")

    monkeypatch.setattr(pooch, "retrieve", failing)
    with pytest.raises(DatasetError, match="download failed") as error:
        mtat.download(tmp_path)
    assert "unreachable" in str(error.value) and "cat mp3.zip" in str(error.value)


def test_two_rows_naming_one_mp3_give_one_track_and_a_recorded_problem(tmp_path):
    clips = [Clip("1", "0", {"a"}, seconds=0.3), Clip("2", "d", {"a"}, seconds=0.3), Clip("3", "0", {"a"}, seconds=0.3)]
    root = write_mtat_tree(tmp_path, clips, ["a"])
    path = root / clips[0].mp3_path
    text = (root / "annotations_final.csv").read_text().replace(clips[2].mp3_path, clips[0].mp3_path)
    (root / "annotations_final.csv").write_text(text)  # clip 3's row now names clip 1's file
    index = mtat.index(root, n_tags=1)
    assert [t.track_id for t in index.tracks] == ["1", "2"]
    assert index.problems[str(path)] == (f"clip 3: {clips[0].mp3_path!r} is also the file of clip 1 "
                                         f"(line 2 of {mtat.ANNOTATIONS_FILE}); clip 3 is left out")
