"""The papers' clip-model inference adapters: MsE-CNN / FCN-5 (tags) and CRNN-TF (genres), with tiny models.

The fold's checkpoint is written here from a freshly built tiny model (what predict loads is what
was saved); the run's manifest and records are laid out as the runner does (tests.common.inference.test_predict).
"""

from __future__ import annotations

import json
from pathlib import Path
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from common.models.fcn import FCNConfig
from common.inference.command import predict_files
from common.inference.preparation import prepare_file
from tests.audio_fixtures import write_audio
from tests.common.inference.test_predict import QUICK, fake_run

MTAT_TAGS = ["guitar", "classical", "slow", "techno", "strings"] + [f"tag{i:02d}" for i in range(45)]


def _save_checkpoint(spec, scheme, results, work, build):
    """Build the model as the protocol does and save its (initial) weights as the fold's checkpoint."""
    [unit] = (Path(work) / spec.paper / spec.table_id / scheme).glob("fold_00-*")  # made by fake_run, no checkpoint yet
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    model = build()
    model.save_weights(str(unit / "best.weights.h5"))
    return model


@pytest.mark.parametrize("scheme", ["MsE-CNN", "FCN-5"])
def test_msecnn_tags_of_a_clip(tmp_path, scheme):
    from papers.msecnn.models import build_model
    from papers.msecnn.tables import table1_mtat

    tiny = FCNConfig(filters=(4, 4, 8, 8, 8))
    spec = table1_mtat(model_config=tiny)
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {scheme: [0]}, QUICK, checkpoint=False, classes=None, details={"tags": MTAT_TAGS})
    model = _save_checkpoint(spec, scheme, results, work, lambda: build_model(scheme, 50, tiny))
    audio = write_audio(tmp_path / "clip.wav", seconds=29.5, sample_rate=16000, frequency=440.0)
    result = predict_files(spec, scheme, [audio], results_dir=results, work_dir=work, export_dir=tmp_path / "export",
                           log=lambda line: None)
    item = result.files[0]
    assert result.outputs == "tags" and result.classes == MTAT_TAGS and item.probabilities.shape == (50,)
    clip = prepare_file(spec, audio).astype(np.float32)[None]          # float16 store values, as trained
    np.testing.assert_allclose(item.probabilities, model.predict(clip, verbose=0)[0], atol=1e-6)
    assert item.input == "one clip of 96 x 1366"
    loaded = keras.models.load_model(tmp_path / "export" / "model.keras")
    np.testing.assert_allclose(loaded.predict(clip, verbose=0)[0], item.probabilities, atol=1e-5)
    description = json.loads((tmp_path / "export" / "preprocessing.json").read_text())
    assert description["output_activation"] == "sigmoid" and description["classes"] == MTAT_TAGS
    assert description["audio"]["sample_rate"] == 12000 and description["features"]["clip_seconds"] == 29.12
    assert description["custom_layer_modules"] == []


def test_msecnn_refuses_clips_shorter_than_the_protocol_accepts(tmp_path):
    from papers.msecnn.models import build_model
    from papers.msecnn.tables import table1_mtat

    tiny = FCNConfig(filters=(4, 4, 8, 8, 8))
    spec = table1_mtat(model_config=tiny)
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"FCN-5": [0]}, QUICK, checkpoint=False, classes=None, details={"tags": MTAT_TAGS})
    _save_checkpoint(spec, "FCN-5", results, work, lambda: build_model("FCN-5", 50, tiny))
    short = write_audio(tmp_path / "short.wav", seconds=5.0, sample_rate=16000)
    result = predict_files(spec, "FCN-5", [short], results_dir=results, work_dir=work, log=lambda line: None)
    assert result.files[0].probabilities is None and "too short" in result.files[0].error


STANDALONE = r'''
import importlib.abc, json, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("common", "papers", "tests"):
            raise ImportError(f"{name} must not be needed")
sys.meta_path.insert(0, Refuse())
import keras, numpy as np
export = sys.argv[1]
sys.path.insert(0, export)
pre = json.load(open(f"{export}/preprocessing.json"))
for module in pre["custom_layer_modules"]:
    __import__(module[:-3])
model = keras.models.load_model(f"{export}/model.keras")
x = np.load(sys.argv[2])
print("PROBABILITIES " + json.dumps([float(v) for v in model.predict(x, verbose=0)[0]]))
'''


@pytest.mark.e2e
def test_crnn_tf_genres_of_a_clip_and_its_export(tmp_path):
    from papers.crnn_tf import models
    from papers.crnn_tf.tables import table3_gtzan
    from tests.papers.crnn_tf.tiny_settings import tiny_settings

    spec = table3_gtzan(tiny_settings())
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"CRNN-TF": [0]}, QUICK, checkpoint=False)
    config = {s.name: s for s in spec.trainable()}["CRNN-TF"].run_fold.args[3]
    model = _save_checkpoint(spec, "CRNN-TF", results, work, lambda: models.build_crnn_tf(10, "genres", config))
    audio = write_audio(tmp_path / "song.ogg", seconds=1.0, sample_rate=22050, frequency=300.0)
    export = tmp_path / "export"
    result = predict_files(spec, "CRNN-TF", [audio], results_dir=results, work_dir=work, export_dir=export,
                           log=lambda line: None)
    item = result.files[0]
    assert result.outputs == "classes" and item.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    clip = prepare_file(spec, audio).astype(np.float16).astype(np.float32)[None]   # the float16 stores
    np.testing.assert_allclose(item.probabilities, model.predict(clip, verbose=0)[0], atol=1e-6)
    description = json.loads((export / "preprocessing.json").read_text())
    assert description["custom_layer_modules"] == ["crnn_tf_layers.py"]        # the Grid LSTM blocks
    assert description["custom_layer_requirements"] == "keras only"
    np.save(tmp_path / "clip.npy", clip)
    (tmp_path / "standalone.py").write_text(STANDALONE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(tmp_path / "standalone.py"), str(export), str(tmp_path / "clip.npy")],
                          capture_output=True, text=True, cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBABILITIES "))
    np.testing.assert_allclose(json.loads(line[len("PROBABILITIES "):]), item.probabilities, atol=1e-5)
