"""A table's protocol on a user's own collection: which tables and rows, the layout, the checks before features."""

import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest

from common.datasets import own_collection
from common.errors import ConfigError, DatasetError
from common.runner import run_table
from common.runner.coverage import dataset_coverage
from common.runner.layout import RunCaps, RunLayout
from common.runner.own_dataset import OWN_COLUMNS, own_dataset_table, rows_left_out, supported_tables
from tests.audio_fixtures import write_audio
from tests.runner_fixtures import MajorityScheme, toy_spec

SUPPORTED = ["mcclstm.table3_gtzan", "mcclstm.table3_gtzan_paper_init", "mcclstm.table3_gtzan_bass_time_wide",
             "mcclstm.table4_ballroom", "mcclstm.table5_soundtracks", "crnn_tf.table3_gtzan"]


def collection(root, classes=("blues", "hip hop", "jazz"), per_class=4, seconds=0.5):
    """A collection of 8 kHz tones, ``per_class`` per class folder (the last class's in an album sub-folder)."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            where = root / name / ("Album 1" if c == len(classes) - 1 else "") / f"{name} {i:02d}.wav"
            write_audio(where, seconds=seconds, sample_rate=8000, frequency=100.0 * (c + 1), seed=i)
    return root


def toy_on(root, scheme=None, n_folds=3):
    """The toy table (paper ``toy``, which has no own-dataset adapter) with the collection put in by hand,
    as :func:`own_dataset_table` does for a supported table."""
    spec = toy_spec(scheme or MajorityScheme(), n_folds=n_folds)
    found = own_collection.describe_folder(root)
    dataset = replace(spec.dataset, name=own_collection.NAME, index=own_collection.index, dir_variable="DATA_DIR",
                      default_dir=str(found.root), own_collection=found)
    return replace(spec, dataset=dataset, reference={}, schemes=spec.trainable())


def test_the_class_tables_are_supported_and_the_others_refused_with_the_list(tmp_path):
    from common.registry import available_tables

    assert supported_tables() == SUPPORTED
    collection(tmp_path)
    for name in ("msecnn.table1_mtat", "crnn_tf.table1_mtat", "crnn_tf.table2_fma", "lstm_segment.table2_ismir2004"):
        with pytest.raises(ConfigError, match="does not run on an own collection") as err:
            own_dataset_table(available_tables()[name](), tmp_path)
        assert ", ".join(SUPPORTED) in str(err.value)


def test_an_mcclstm_table_keeps_its_seven_rows_without_paper_numbers(tmp_path):
    from papers.mcclstm.tables import table3_gtzan

    collection(tmp_path)
    spec = own_dataset_table(table3_gtzan(), tmp_path)
    assert [s.name for s in spec.schemes] == ["CNNs-3", "R0", "R1", "R2", "R3", "R4", "MCCLSTM"]  # no [14], [21]
    assert spec.reference == {} and spec.dataset.own_collection.classes == ("blues", "hip hop", "jazz")
    assert spec.dataset.index is own_collection.index and spec.dataset.default_dir == str(tmp_path.resolve())
    assert spec.make_target == f"own-dataset TABLE=mcclstm.table3_gtzan DATA_DIR={tmp_path.resolve()}"
    assert spec.protocol == table3_gtzan().protocol
    assert spec.extractor().fingerprint() == table3_gtzan().extractor().fingerprint()


def test_crnn_tf_table3_runs_its_from_scratch_rows_and_refuses_the_transfer_rows_by_name(tmp_path):
    from papers.crnn_tf.tables import table3_gtzan

    collection(tmp_path)
    spec = own_dataset_table(table3_gtzan(), tmp_path)
    assert [s.name for s in spec.schemes] == ["MFCC + SVM", "CRNN-TF"]
    assert sorted(rows_left_out(table3_gtzan())) == ["Fine-tune CRNN-TF", "Freeze CNN + Fine-tune RNN",
                                                     "Freeze CRNN-TF"]
    with pytest.raises(ConfigError, match="'Freeze CRNN-TF' starts from the CRNN-TF weights trained on MagnaTagATune") \
            as err:
        own_dataset_table(table3_gtzan(), tmp_path, ["CRNN-TF", "Freeze CRNN-TF"])
    assert "The rows that run on an own collection: MFCC + SVM, CRNN-TF" in str(err.value)


def test_a_scheme_module_gets_one_output_per_class_folder(tmp_path):
    # before the fix the MCCLSTM adapter sized the output by a constant per dataset name: an own
    # collection was refused ("does not take a scheme module"), never given its class count
    from papers.mcclstm.tables import table3_gtzan
    from papers.mcclstm.user_scheme import table_input

    collection(tmp_path, classes=("a", "b", "c", "d"))
    spec = own_dataset_table(table3_gtzan(), tmp_path)
    assert table_input(spec).n_outputs == 4
    assert table_input(table3_gtzan()).n_outputs == 10


def test_caps_and_layout_of_an_own_collection_never_reach_the_canonical_files(tmp_path):
    caps = RunCaps(folds_run=10, folds_in_protocol=10, own_dataset="my-music-1a2b3c4d")
    assert caps.capped and caps.label() == "full-protocol" and caps.as_dict()["own_dataset"] == "my-music-1a2b3c4d"
    layout = RunLayout(tmp_path, tmp_path / "work", "mcclstm", "table3_gtzan", caps)
    own = tmp_path / "mcclstm" / "own" / "table3_gtzan" / "my-music-1a2b3c4d"
    assert layout.records_root == own and layout.partial_dir == own / "full-protocol"
    capped = replace(caps, folds_run=2, epochs=2, schemes=("R0",))
    assert RunLayout(tmp_path, tmp_path, "mcclstm", "table3_gtzan", capped).partial_dir == \
        own / "folds-2of10_epochs-2_schemes-R0"
    assert RunLayout(tmp_path, tmp_path, "mcclstm", "table3_gtzan", replace(caps, own_dataset=None)).own_dir is None


def test_the_status_names_the_collection(tmp_path):
    collection(tmp_path)
    spec = toy_on(tmp_path)
    coverage = dataset_coverage(own_collection.index(tmp_path), spec.dataset)
    assert coverage.status() == "own dataset: 3 classes, 12 tracks" == coverage.describe()


def test_a_run_writes_only_under_own_with_no_paper_columns(tmp_path, capsys):
    data = collection(tmp_path / "my music")
    (data / "jazz" / "cover.jpg").write_bytes(b"x")
    spec = toy_on(data)
    label = own_collection.folder_label(data)
    results = tmp_path / "results"
    frame = run_table(spec, data, results_dir=results, work_dir=tmp_path / "work", folds=2, progress=False)
    out = results / "toy" / "own" / "table_toy" / label / "folds-2of3"
    table = pd.read_csv(out / "table_toy.csv")
    assert list(table.columns) == OWN_COLUMNS == list(frame.columns)
    assert table["status"].tolist() == ["own dataset: 3 classes, 12 tracks, partial: 2/3 folds"]
    written = sorted(p.name for p in (results / "toy").iterdir() if not p.name.startswith("."))  # not the lock
    assert written == ["own"]  # nothing canonical, nothing in partial/
    assert (out / "table_toy_confusion.csv").is_file() and (out / "table_toy.png").is_file()
    confusion = pd.read_csv(out / "table_toy_confusion.csv")
    assert set(confusion["true"]) == {"blues", "hip hop", "jazz"}
    manifest = json.loads((out / "table_toy_manifest.json").read_text())
    assert manifest["caps"]["own_dataset"] == label and "verdict" not in manifest["comparison"]
    assert manifest["dataset"]["class_counts"] == {"blues": 4, "hip hop": 4, "jazz": 4}
    assert manifest["dataset"]["unexpected_files"] == [str((data / "jazz" / "cover.jpg").resolve())]
    printed = capsys.readouterr().out
    assert "own dataset: 3 classes, 12 tracks: blues 4, hip hop 4, jazz 4" in printed
    assert "own dataset: ignored 1 non-audio file" in printed
    full = run_table(spec, data, results_dir=results, work_dir=tmp_path / "work", progress=False)  # reuses 2 folds
    assert full["status"].tolist() == ["own dataset: 3 classes, 12 tracks"]
    assert (results / "toy" / "own" / "table_toy" / label / "full-protocol" / "table_toy.csv").is_file()
    assert not (results / "toy" / "table_toy.csv").exists()


def test_a_class_with_fewer_tracks_than_folds_is_named_before_any_feature_work(tmp_path):
    data = collection(tmp_path / "data", per_class=4)
    for extra in ("hip hop 02.wav", "hip hop 03.wav"):
        (data / "hip hop" / extra).unlink()
    scheme = MajorityScheme()
    with pytest.raises(DatasetError) as err:
        run_table(toy_on(data, scheme), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work",
                  folds=1, progress=False)
    message = str(err.value)
    assert f"class 'hip hop' ({data.resolve() / 'hip hop'}) has 2 usable tracks" in message
    assert "3-fold stratified cross-validation" in message and "FOLDS=N runs only the first N" in message
    assert not scheme.calls and not list((tmp_path / "work" / "cache").glob("logmel*"))  # no feature computed


def test_identical_audio_in_two_classes_is_refused_and_listed_before_any_feature_work(tmp_path):
    data = collection(tmp_path / "data")
    shutil.copyfile(data / "blues" / "blues 00.wav", data / "jazz" / "Album 1" / "copy.wav")
    shutil.copyfile(data / "blues" / "blues 01.wav", data / "blues" / "same class copy.wav")  # kept: one class
    with pytest.raises(DatasetError, match="identical audio in two classes: 1 group") as err:
        run_table(toy_on(data), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work", progress=False)
    assert (f"    blues/blues 00.wav ({data.resolve() / 'blues' / 'blues 00.wav'}) = jazz/Album 1/copy.wav "
            f"({data.resolve() / 'jazz' / 'Album 1' / 'copy.wav'})  [labelled blues, jazz]") in str(err.value)
    assert not list((tmp_path / "work" / "cache").glob("logmel*"))
    (data / "jazz" / "Album 1" / "copy.wav").unlink()
    table = run_table(toy_on(data), data, results_dir=tmp_path / "results", work_dir=tmp_path / "work", folds=1,
                      progress=False)
    assert table["folds_run"].tolist() == [1]


def test_a_table_made_for_one_collection_is_not_run_on_another(tmp_path):
    spec = toy_on(collection(tmp_path / "one"))
    with pytest.raises(ConfigError, match="made for the own collection"):
        run_table(spec, collection(tmp_path / "two"), results_dir=tmp_path / "r", work_dir=tmp_path / "w")


def test_cli_refusals(tmp_path, capsys):
    from common.cli import main

    data = collection(tmp_path / "data")
    assert main(["run", "crnn_tf.table1_mtat", "--own-dataset", str(data)]) == 2
    assert "does not run on an own collection" in capsys.readouterr().err
    assert main(["run", "mcclstm.table3_gtzan", "--own-dataset", str(data), "--data-dir", str(data)]) == 2
    assert "leave --data-dir out" in capsys.readouterr().err
    assert main(["all-results", "--own-dataset", str(data)]) == 2
    assert "not all-results" in capsys.readouterr().err
    assert main(["run", "mcclstm.table3_gtzan", "--own-dataset", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", "crnn_tf.table3_gtzan", "--own-dataset", str(data), "--schemes", "Fine-tune CRNN-TF"]) == 2
    assert "the paper's transfer experiment" in capsys.readouterr().err


def test_predict_finds_the_run_on_the_collection_and_the_report_gives_it_its_own_section(tmp_path):
    from common.inference.runs import NoTrainedRunError, find_run, named_run
    from common.outputs.report import build_report
    from common.runner import Scheme
    from tests.runner_fixtures import KerasScheme

    data = collection(tmp_path / "data")
    own = toy_on(data)
    own = replace(own, schemes=(*own.schemes, Scheme("keras", KerasScheme(), "a small network")))
    results, work = tmp_path / "results", tmp_path / "work"
    run_table(own, data, results_dir=results, work_dir=work, folds=1, epochs=1, schemes=["keras"], progress=False,
              verbose=0)
    folder = results / "toy" / "own" / "table_toy" / own_collection.folder_label(data) / "folds-1of3_epochs-1_schemes-keras"
    run = find_run(own, "keras", results, work)
    assert run.manifest_path == folder / "table_toy_manifest.json" and not run.canonical
    assert run.caps.own_dataset == own_collection.folder_label(data) and run.folds("keras")
    plain = replace(toy_spec(MajorityScheme()), schemes=own.schemes)  # the table on its own dataset: no such run
    with pytest.raises(NoTrainedRunError, match="no trained run"):
        find_run(plain, "keras", results, work)
    named = named_run(plain, "keras", folder, work)  # --run names the folder: the caps in its manifest lead there
    assert named.layout.records_root == folder.parent and named.folds("keras") == run.folds("keras")

    report = build_report(results, known_tables=[])
    own_section = report[report.index("## Own collections"):]
    assert "### toy.table_toy" in own_section and "| Scheme | Metric | Ours | Folds | Status |" in own_section
    assert "| keras | accuracy |" in own_section and "own dataset: 3 classes, 12 tracks, partial: 1/3 folds" in own_section
    assert "toy.table_toy" not in report[report.index("## Partial results"):report.index("## Own collections")]
