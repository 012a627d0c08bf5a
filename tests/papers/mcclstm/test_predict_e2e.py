"""End to end: train MCCLSTM Table 3 schemes through the real runner, then predict / export (common.inference).

The run (2 of 10 folds, 1 epoch, schemes R2 and MCCLSTM) is made once per module on a generated
GTZAN tree: 10 clips per genre of 4 s at 22,050 Hz (2 chunks of 1.858 s each at 44.1 kHz).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common import cli
from common.datasets import gtzan
from common.inference.command import predict_files
from common.inference.fold_model import fold_source
from common.inference.runs import find_run
from common.runner import run_table
from papers.mcclstm.inference import load_standardizer, recompute_standardizer
from papers.mcclstm.tables import table3_gtzan
from tests.audio_fixtures import write_audio

SCHEMES = ["R2", "MCCLSTM"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(results, work, data)`` of a capped Table 3 run of R2 and MCCLSTM (2 folds, 1 epoch)."""
    root = tmp_path_factory.mktemp("predict")
    data = root / "gtzan"
    for g, genre in enumerate(gtzan.GENRES):
        for i in range(10):
            write_audio(data / "genres" / genre / f"{genre}.{i:05d}.wav", seconds=4.0, sample_rate=22050,
                        frequency=110.0 * (g + 1), seed=i)
    run_table(table3_gtzan(), data, results_dir=root / "results", work_dir=root / "work", folds=2, epochs=1,
              schemes=SCHEMES, verbose=0, progress=False)
    return root / "results", root / "work", data


@pytest.fixture(scope="module")
def own_audio(tmp_path_factory):
    """A 6 s stereo FLAC at 48 kHz (3 chunks) that is in no dataset."""
    return write_audio(tmp_path_factory.mktemp("mine") / "my song.flac", seconds=6.0, sample_rate=48000,
                       frequency=330.0, seed=7, channels=2)


def _test_files(data: Path, record: dict) -> list[Path]:
    return [data / "genres" / i.split(".")[0] / f"{i}.wav" for i in record["details"]["test_ids"]]


@pytest.mark.e2e
@pytest.mark.parametrize("scheme", SCHEMES)
def test_protocol_saves_the_folds_standardisation(trained, scheme):
    # before: the band standardisation fitted on the fold's training chunks was not kept anywhere
    results, work, _ = trained
    spec = table3_gtzan()
    run = find_run(spec, scheme, results, work)
    for fold in (0, 1):
        source = fold_source(spec, run, scheme, fold)
        saved = load_standardizer(source.unit_dir)
        assert saved is not None and saved.mean.shape == (40,) and saved.std.shape == (40,)
        again, note = recompute_standardizer(source)    # the fallback for runs that did not save it
        np.testing.assert_array_equal(saved.mean, again.mean)
        np.testing.assert_array_equal(saved.std, again.std)
        assert "from its 80 training tracks" in note


@pytest.mark.e2e
@pytest.mark.parametrize("scheme", SCHEMES)
def test_predict_reproduces_the_folds_test_predictions(trained, scheme):
    # the preprocessing, standardisation, model and chunk aggregation of predict are the protocol's:
    # applied to the fold's own test files, predict gives the classes the run recorded
    results, work, data = trained
    spec = table3_gtzan()
    record = fold_source(spec, find_run(spec, scheme, results, work), scheme, 0).record
    result = predict_files(spec, scheme, _test_files(data, record), results_dir=results, work_dir=work,
                           log=lambda line: None)
    assert [int(np.argmax(f.probabilities)) for f in result.files] == record["details"]["test_predictions"]
    assert result.classes == list(gtzan.GENRES) and result.folds == [0]
    for item in result.files:
        assert item.probabilities.shape == (10,) and item.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        assert item.input == "1 chunk of 1.858 s" or item.input == "2 chunks of 1.858 s"


@pytest.mark.e2e
def test_predict_command_prints_the_top_classes_and_the_partial_run(trained, own_audio, capsys):
    results, work, _ = trained
    status = cli.main(["predict", "mcclstm.table3_gtzan", "MCCLSTM", str(own_audio), "--results-dir", str(results),
                       "--work-dir", str(work), "--top", "3"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "note: this model comes from a partial/capped run (2/10 folds, epochs <= 1, schemes R2, MCCLSTM)" in out
    assert "make table3-gtzan" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(f"{own_audio} (3 chunks of 1.858 s): top 3"))
    ranked = [line.split() for line in lines[header + 1:header + 4]]
    assert [r[0] for r in ranked] == ["1.", "2.", "3."]
    assert all(r[1] in gtzan.GENRES for r in ranked)
    probabilities = [float(r[2]) for r in ranked]
    assert probabilities == sorted(probabilities, reverse=True)


@pytest.mark.e2e
def test_ensemble_averages_every_fold(trained, own_audio):
    results, work, _ = trained
    spec = table3_gtzan()
    quiet = {"results_dir": results, "work_dir": work, "log": lambda line: None}
    folds = [predict_files(spec, "R2", [own_audio], fold=k, **quiet).files[0].probabilities for k in (0, 1)]
    ensemble = predict_files(spec, "R2", [own_audio], ensemble=True, **quiet)
    assert ensemble.folds == [0, 1]
    np.testing.assert_allclose(ensemble.files[0].probabilities, (folds[0] + folds[1]) / 2, atol=1e-7)
    assert not np.allclose(folds[0], folds[1])      # two different models


#: Loads an exported model and predicts a file with soundfile, soxr, librosa, scipy and Keras only:
#: the repository's packages cannot be imported.
STANDALONE = r'''
import importlib.abc, json, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("common", "papers", "tests"):
            raise ImportError(f"{name} must not be needed")
sys.meta_path.insert(0, Refuse())
import keras, librosa, numpy as np, scipy.signal, soundfile as sf, soxr
out = {}
for export in sys.argv[2:]:
    sys.path.insert(0, export)
    pre = json.load(open(f"{export}/preprocessing.json"))
    for module in pre["custom_layer_modules"]:
        __import__(module[:-3])
    model = keras.models.load_model(f"{export}/{pre['model_file']}")
    f = pre["features"]
    y, sr = sf.read(sys.argv[1], dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    limit = pre["audio"]["band_limit_rate"]
    if limit and sr > limit:     # decode as the training audio sounded (recorded at `limit` Hz)
        y, sr = soxr.resample(y, sr, limit, quality="VHQ").astype(np.float32), limit
    y = soxr.resample(y, sr, f["sample_rate"], quality="VHQ").astype(np.float32)
    mel = librosa.feature.melspectrogram(
        y=y, sr=f["sample_rate"], n_fft=f["n_fft"], hop_length=f["hop_length"],
        window=scipy.signal.get_window(f["window"], f["n_fft"], fftbins=True), center=f.get("center", True),
        pad_mode="constant",
        power=f["power"], n_mels=f["n_mels"], fmin=f["fmin"], fmax=f["fmax"])
    x = librosa.power_to_db(mel, ref=1.0, amin=f["amin"], top_db=None).astype(np.float32)
    n = pre["chunking"]["chunk_frames"]
    k = x.shape[1] // n
    chunks = x[:, :k * n].reshape(x.shape[0], k, n).transpose(1, 0, 2)
    mean = np.array(pre["standardization"]["mean"], np.float32)
    std = np.array(pre["standardization"]["std"], np.float32)
    chunks = ((chunks - mean[None, :, None]) / std[None, :, None]).astype(np.float32)
    if "n_chunks" in pre["input"]:
        p = model.predict({"chunks": chunks[None], "n_chunks": np.array([k], np.int32)}, verbose=0)[0]
    else:
        p = model.predict(chunks, verbose=0).mean(axis=0)
    out[export] = [float(v) for v in p]
print("PROBABILITIES " + json.dumps(out))
'''


@pytest.mark.e2e
def test_export_loads_with_plain_keras_and_gives_predicts_probabilities(trained, own_audio, tmp_path):
    results, work, _ = trained
    spec = table3_gtzan()
    expected, folders = {}, []
    for scheme, fold in (("R2", 0), ("MCCLSTM", 1)):
        folder = tmp_path / scheme
        result = predict_files(spec, scheme, [own_audio], results_dir=results, work_dir=work, fold=fold,
                               export_dir=folder, log=lambda line: None)
        expected[str(folder)] = result.files[0].probabilities
        folders.append(str(folder))
        description = json.loads((folder / "preprocessing.json").read_text())
        assert description["classes"] == list(gtzan.GENRES) and description["fold"] == fold
        assert description["identity"] == result.identities[fold]
        assert description["run"]["canonical"] is False
        assert description["features"]["sample_rate"] == 44100 and description["features"]["n_mels"] == 40
        assert description["chunking"]["chunk_frames"] == 80
        assert len(description["standardization"]["mean"]) == 40
        assert description["audio"]["band_limit_rate"] == 22050     # the generated tree is at 22,050 Hz
        assert [p.name for p in result.exported][:2] == ["model.keras", "preprocessing.json"]
    # the sequence model needs its two custom layers, shipped beside it; the chunk model none
    assert json.loads((tmp_path / "MCCLSTM" / "preprocessing.json").read_text())["custom_layer_modules"] == \
        ["common_models_layers.py"]
    assert json.loads((tmp_path / "R2" / "preprocessing.json").read_text())["custom_layer_modules"] == []
    script = tmp_path / "standalone.py"
    script.write_text(STANDALONE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(script), str(own_audio), *folders], capture_output=True, text=True,
                          cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBABILITIES "))
    loaded = json.loads(line[len("PROBABILITIES "):])
    for folder in folders:
        np.testing.assert_allclose(loaded[folder], expected[folder], atol=1e-5)


@pytest.mark.e2e
def test_a_file_at_another_rate_and_bit_depth_gets_the_originals_prediction(trained, tmp_path):
    # before: a 16-bit 44.1 kHz copy of a 22,050 Hz training clip reached the model with quantisation
    # noise in the mel bands above 11,025 Hz, where the training audio held nothing, and standardised
    # to z of 10 or more there; now predict decodes it as a 22,050 Hz recording first
    import soundfile as sf
    import soxr

    results, work, data = trained
    spec = table3_gtzan()
    record = fold_source(spec, find_run(spec, "R2", results, work), "R2", 0).record
    assert record["training_audio"] == {"sample_rates": {"22050": 80}}
    original = _test_files(data, record)[0]
    y, sr = sf.read(original, dtype="float32")
    copies = [tmp_path / "copy 44k 16-bit ü.wav", tmp_path / "copy 48k float.wav"]
    sf.write(copies[0], soxr.resample(y, sr, 44100, quality="VHQ"), 44100, subtype="PCM_16")
    sf.write(copies[1], soxr.resample(y, sr, 48000, quality="VHQ"), 48000, subtype="FLOAT")
    lines = []
    result = predict_files(spec, "R2", [original, *copies], results_dir=results, work_dir=work, log=lines.append)
    assert any("recorded at 22050 Hz (80 training tracks at 22050 Hz" in line for line in lines), lines
    assert not any(line.startswith("warning:") for line in lines), lines
    probabilities = [f.probabilities for f in result.files]
    assert len({int(np.argmax(p)) for p in probabilities}) == 1
    for p in probabilities[1:]:
        np.testing.assert_allclose(p, probabilities[0], atol=0.02)
