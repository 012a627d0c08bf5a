"""Soundtracks loader on generated folders and rating files in the OSF release's layout and format."""

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from common.datasets import soundtracks
from common.errors import DatasetError
from tests.audio_fixtures import write_audio, write_corrupt
from tests.common.datasets.generated_trees import (SET1_HEADER, rating_values, write_ratings,
                                                   write_soundtracks)

CLASSES = soundtracks.CLASSES


def ratings(anger, fear, happy, sad, tender):
    return {"anger": anger, "fear": fear, "happy": happy, "sad": sad, "tender": tender}


# --- the label rule --------------------------------------------------------------------------------

def test_label_is_the_highest_discrete_rating_not_the_target_column(tmp_path):
    rows = [(1, ratings(6.2, 3.0, 1.0, 1.0, 1.0), "SURPRISE"),
            (2, ratings(1.0, 7.5, 1.0, 1.0, 1.0), "HIGH TENSION"),
            (3, ratings(1.0, 1.0, 7.33, 1.0, 1.0), "SAD"),  # selected as SAD, rated happy
            (4, ratings(1.17, 1.0, 1.0, 7.67, 3.5), "SAD"),
            (5, ratings(1.0, 1.0, 5.83, 2.0, 7.83), "TENDER")]
    frame = soundtracks.read_ratings(write_ratings(tmp_path / "mean_ratings_set1.csv", rows, "set1"))
    labels, ties = soundtracks.discrete_labels(frame)
    assert labels.to_dict() == {1: "anger", 2: "fear", 3: "happiness", 4: "sadness", 5: "tenderness"}
    assert ties == []


def test_ties_go_to_the_files_column_order_and_are_reported(tmp_path):
    # the nine ties of the published files are of these kinds (e.g. Set 1 excerpts 054, 060, 135, 286)
    rows = [(54, ratings(1.0, 1.0, 1.83, 4.0, 4.0), "SAD"),        # sad = tender -> sadness
            (60, ratings(1.0, 1.0, 5.0, 1.0, 5.0), "SAD"),         # happy = tender -> happiness
            (135, ratings(5.8, 5.8, 1.0, 1.6, 1.0), "ANGER"),      # anger = fear -> anger
            (286, ratings(1.0, 3.2, 1.0, 3.6, 3.6), "LOW ENERGY"),  # sad = tender -> sadness
            (322, ratings(2.17, 2.83, 1.67, 2.83, 1.0), "HIGH TENSION"),  # fear = sad -> fear
            (7, ratings(1.0, 1.0, 1.0, 1.0, 6.0), "TENDER")]
    frame = soundtracks.read_ratings(write_ratings(tmp_path / "r.csv", rows, "set1"))
    labels, ties = soundtracks.discrete_labels(frame)
    assert labels.to_dict() == {54: "sadness", 60: "happiness", 135: "anger", 286: "sadness", 322: "fear",
                                7: "tenderness"}
    assert ties == [54, 60, 135, 286, 322]


def test_rule_reproduces_the_paper_counts_when_the_ratings_do(tmp_path):
    # 470 generated rows (360 + 110) whose rule labels have the paper's per-class counts
    rng = np.random.default_rng(3)
    labels = [c for c, n in soundtracks.EXPECTED_COUNTS.items() for _ in range(n)]
    rng.shuffle(labels)
    set1 = [(k + 1, rating_values(c, rng), "HAPPY") for k, c in enumerate(labels[:360])]
    set2 = [(k + 1, rating_values(c, rng), "ANGER_HIGH") for k, c in enumerate(labels[360:])]
    found = Counter()
    for name, rows in (("set1", set1), ("set2", set2)):
        frame = soundtracks.read_ratings(write_ratings(tmp_path / f"mean_ratings_{name}.csv", rows, name))
        found.update(soundtracks.discrete_labels(frame)[0])
    assert dict(found) == soundtracks.EXPECTED_COUNTS
    assert sum(found.values()) == 470


@pytest.mark.skipif(not os.environ.get("SOUNDTRACKS_DIR") or not Path(os.environ.get("SOUNDTRACKS_DIR", ""),
                                                                       "mean_ratings_set1.csv").is_file(),
                    reason="needs the real rating files in $SOUNDTRACKS_DIR")
def test_published_rating_files_give_exactly_the_papers_counts():
    root = Path(os.environ["SOUNDTRACKS_DIR"])
    found, ties = Counter(), []
    for name in soundtracks.SETS:
        labels, tied = soundtracks.discrete_labels(soundtracks.read_ratings(root / soundtracks.RATING_FILES[name]))
        found.update(labels)
        ties += tied
    assert dict(found) == soundtracks.EXPECTED_COUNTS and len(ties) == 9


# --- rating files ----------------------------------------------------------------------------------

def test_both_headers_and_an_older_copy_with_empty_columns_are_read(tmp_path):
    rows = [(1, ratings(6.0, 1.0, 1.0, 1.0, 1.0), "ANGER_HIGH"), (2, ratings(1.0, 1.0, 1.0, 1.0, 6.0), "TENDER_HIGH")]
    set2 = soundtracks.read_ratings(write_ratings(tmp_path / "s2.csv", rows, "set2"))
    assert list(set2.index) == [1, 2]
    assert {"valence", "beauty", "liking", "target", "soundtrack", "link"} <= set(set2.columns)
    assert set2["anger"].dtype == np.float64 and set2.loc[1, "anger"] == 6.0
    old = write_ratings(tmp_path / "s1.csv", rows, "set1", trailing_empty=True)
    old.write_text(old.read_text().replace("number,", "Number,", 1).replace("TARGET\n", "TARGET,,\n", 1))
    set1 = soundtracks.read_ratings(old)
    assert list(set1.columns) == ["valence", "energy", "tension", "anger", "fear", "happy", "sad", "tender", "target"]
    assert set1.loc[2, "tender"] == 6.0


@pytest.mark.parametrize("text, message", [
    ("number,valence,anger,fear,happy,sad\n001,5,1,1,1,1\n", "column.*tender.*missing"),
    (SET1_HEADER + "\n001,5,5,5,1,1,6,1,1,HAPPY\n002,5,5,5,1,1,x,1,1,HAPPY\n", "excerpt 002: rating happy='x'"),
    (SET1_HEADER + "\n001,5,5,5,1,1,6,1,1,HAPPY\n001,5,5,5,1,1,6,1,1,HAPPY\n", r"\[1\] appear more than once"),
    (SET1_HEADER + "\nabc,5,5,5,1,1,6,1,1,HAPPY\n", "line 2: excerpt number 'abc'"),
    (SET1_HEADER + "\n001,5,5,5,1,1,,1,1,HAPPY\n", "rating happy=nan"),
    ("", "cannot read the rating file"),
])
def test_malformed_rating_files_name_the_file_and_row(tmp_path, text, message):
    path = tmp_path / "mean_ratings_set1.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as err:
        soundtracks.read_ratings(path)
    assert str(path) in str(err.value)


# --- layouts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["osf", "nested", "jyu"])
def test_index_finds_both_sets_in_each_layout(tmp_path, layout):
    set1 = ["anger", "fear", "sadness", "happiness", "tenderness", "fear"]
    set2 = ["tenderness", "anger", "happiness"]
    made = write_soundtracks(tmp_path, set1, set2, layout=layout)
    idx = soundtracks.index(tmp_path)
    assert idx.classes == CLASSES and idx.problems == {} and idx.unexpected == []
    assert [t.track_id for t in idx.tracks] == [f"set1_{k:03d}" for k in range(1, 7)] + \
        [f"set2_{k:03d}" for k in range(1, 4)]
    assert [t.label for t in idx.tracks] == set1 + set2
    assert idx.tracks[6].path == made["set2"].resolve() / "001.mp3"
    assert idx.class_counts() == {"anger": 2, "fear": 2, "sadness": 1, "happiness": 2, "tenderness": 2}
    assert idx.count_differences()["fear"] == (2, 116)
    assert idx.notes["label_rule"] == soundtracks.LABEL_RULE
    assert idx.notes["sets"]["set1"]["found"] == 6 and idx.notes["sets"]["set1"]["published"] == 360
    assert idx.notes["sets"]["set2"]["audio_folder"] == str(made["set2"].resolve())
    assert idx.summary()["notes"]["tied_excerpts"] == []


def test_rating_file_beside_the_audio_is_found(tmp_path):
    made = write_soundtracks(tmp_path, ["anger"], ["fear"])
    made["ratings_set1"].rename(made["set1"] / "mean_ratings_set1.csv")
    idx = soundtracks.index(tmp_path)
    assert len(idx.tracks) == 2 and idx.unexpected == []


# --- bad input -------------------------------------------------------------------------------------

def test_missing_folder_says_where_to_put_the_data(tmp_path):
    with pytest.raises(DatasetError, match="SOUNDTRACKS_DIR") as err:
        soundtracks.index(tmp_path / "nowhere")
    assert "osf.io/p6vkg" in str(err.value) and "Set1/001.mp3" in str(err.value)


def test_missing_set_folder_or_rating_file_is_an_error(tmp_path):
    made = write_soundtracks(tmp_path, ["anger"], ["fear"])
    made["ratings_set2"].rename(tmp_path / "mean_ratings_set2.xls")
    with pytest.raises(DatasetError, match="mean_ratings_set2.csv not found.*xls"):
        soundtracks.index(tmp_path)
    (tmp_path / "mean_ratings_set2.xls").rename(made["ratings_set2"])
    for path in made["set2"].iterdir():
        path.unlink()
    with pytest.raises(DatasetError, match="no audio folder for set2"):
        soundtracks.index(tmp_path)


def test_two_audio_folders_for_one_set_are_ambiguous(tmp_path):
    write_soundtracks(tmp_path, ["anger"], ["fear"])
    write_audio(tmp_path / "copy" / "Set1" / "001.mp3", 0.3, 8000)
    with pytest.raises(DatasetError, match="several audio folders for set1"):
        soundtracks.index(tmp_path)


def test_rating_row_without_audio_and_audio_without_rating_row(tmp_path):
    made = write_soundtracks(tmp_path, ["anger", "fear", "sadness"], ["happiness", "tenderness"])
    set1, set2 = made["set1"].resolve(), made["set2"].resolve()
    (set1 / "002.mp3").unlink()
    write_audio(set2 / "003.mp3", 0.3, 8000)
    idx = soundtracks.index(tmp_path)
    assert [t.track_id for t in idx.tracks] == ["set1_001", "set1_003", "set2_001", "set2_002"]
    assert "has a row for excerpt 002 but" in idx.problems[str(set1 / "002.mp3")]
    assert "no rating row for excerpt 003" in idx.problems[str(set2 / "003.mp3")]
    assert idx.notes["sets"]["set1"]["found"] == 2


def test_unreadable_empty_duplicate_and_stray_files(tmp_path):
    made = write_soundtracks(tmp_path, ["anger", "fear", "sadness", "happiness"], ["tenderness"])
    set1 = made["set1"].resolve()
    (set1 / "001.mp3").write_bytes(b"")
    write_corrupt(set1 / "002.mp3")
    write_audio(set1 / "003.wav", 0.3, 8000)  # second file for excerpt 003
    (set1 / "set1_tracklist.csv").write_text("x")
    (set1 / "cover.jpg").write_bytes(b"\xff\xd8")
    idx = soundtracks.index(tmp_path)
    assert idx.problems[str(set1 / "001.mp3")] == "file is empty (0 bytes)"
    assert idx.problems[str(set1 / "002.mp3")].startswith("cannot read audio header")
    assert idx.problems[str(set1 / "003.wav")] == (f"duplicate of {set1 / '003.mp3'}: same track id 'set1_003' "
                                                   f"({soundtracks.DUPLICATE_RULE})")
    assert set(idx.unexpected) == {str(set1 / "set1_tracklist.csv"), str(set1 / "cover.jpg")}
    assert [t.track_id for t in idx.tracks] == ["set1_003", "set1_004", "set2_001"]
    assert idx.tracks[0].path.name == "003.mp3"


def test_no_usable_excerpt_is_an_error(tmp_path):
    made = write_soundtracks(tmp_path, ["anger"], ["fear"])
    write_corrupt(made["set1"] / "001.mp3")
    write_corrupt(made["set2"] / "001.mp3")
    with pytest.raises(DatasetError, match="no excerpt with both audio and ratings"):
        soundtracks.index(tmp_path)


def test_unusable_file_of_an_excerpt_gives_way_to_its_usable_second_file(tmp_path):
    made = write_soundtracks(tmp_path, ["anger", "fear"], ["tenderness"])
    set1 = made["set1"].resolve()
    write_corrupt(set1 / "002.mp3")
    wav = write_audio(set1 / "002.wav", 0.3, 8000)
    idx = soundtracks.index(tmp_path)
    assert {t.track_id: t.path for t in idx.tracks}["set1_002"] == wav
    assert idx.problems[str(set1 / "002.mp3")].startswith("cannot read audio header")
