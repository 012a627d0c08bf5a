"""predict and --export of a scheme module's row with a custom layer: non-finite models and outputs, a standalone export.

The module's model (a layer of its own, not registered with Keras, then a softmax) is saved as the
fold's checkpoint of a run laid out as the runner writes it (:func:`tests.common.inference.test_predict.fake_run`),
with the identity standardisation, so predict runs the real adapter (:func:`papers.mcclstm.user_scheme.fold_model`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import soundfile as sf

from common import cli
from common.inference.preparation import prepare_file
from common.runner.layout import RunCaps
from common.runner.scheme_module import add_scheme_module, load_scheme_module
from papers.mcclstm.protocol import STANDARDIZATION_FILE
from papers.mcclstm.tables import table3_gtzan
from tests.audio_fixtures import write_audio
from tests.common.inference.test_predict import fake_run

#: The row "Mine": ``Guard`` (a custom layer) passes a chunk through, but gives NaN for a chunk whose
#: largest value is below -90 dB: a silent file's log-mel (-100 dB everywhere); random checks pass.
MODULE = '''"""A test model with a custom layer."""
import keras
from keras import layers, ops

SCHEME_NAME = "Mine"


class Guard(keras.layers.Layer):
    """Identity, except NaN for an example whose values all lie below -90."""

    def call(self, x):
        silent = ops.max(x, axis=(1, 2), keepdims=True) < -90.0
        return ops.where(silent, ops.full_like(x, float("nan")), x)


def build_model(input_shape, n_outputs):
    chunk = keras.Input(shape=input_shape)
    x = layers.Flatten()(Guard()(chunk))
    return keras.Model(chunk, layers.Dense(n_outputs, activation="softmax")(x))
'''

CAPS = RunCaps(folds_run=1, folds_in_protocol=10, epochs=2, scheme_module="Mine")


def _trained(tmp_path, nan_weights=False):
    """``(module file, results, work)`` of a run of the row whose fold 0 checkpoint is the module's model."""
    module = tmp_path / "mine.py"
    module.write_text(MODULE)
    spec = add_scheme_module(table3_gtzan(), str(module))
    row = spec.scheme_module_rows()[0]
    results, work = tmp_path / "results", tmp_path / "work"
    fake_run(results, work, spec, {"Mine": [0]}, CAPS, checkpoint=False, configs={"Mine": row.config},
             details={"scheme_module": str(module)})
    [unit] = (work / "mcclstm" / "table3_gtzan" / "Mine").glob("fold_00-*")
    np.savez(unit / STANDARDIZATION_FILE, mean=np.zeros(40, np.float32), std=np.ones(40, np.float32))
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    model = load_scheme_module(str(module)).build_model((40, 80), 10)
    if nan_weights:
        kernel = model.layers[-1].kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    model.save_weights(str(unit / "best.weights.h5"))
    return module, results, work


def _predict(module, results, work, *files, extra=()):
    return cli.main(["predict", "mcclstm.table3_gtzan", "Mine", *map(str, files), "--results-dir", str(results),
                     "--work-dir", str(work), "--scheme-module", str(module), "--top", "10", *extra])


def test_a_model_with_nan_weights_predicts_and_exports_nothing(tmp_path, capsys):
    # before: every file printed "1. blues  nan" (or another class) and the exit status was 0
    module, results, work = _trained(tmp_path, nan_weights=True)
    song = write_audio(tmp_path / "song.wav", seconds=3.0)
    status = _predict(module, results, work, song, extra=("--export", str(tmp_path / "export")))
    out, err = capsys.readouterr()
    assert status == 2 and not re.search(r"\bnan\b", out, re.I) and "top" not in out
    assert err.startswith("error: mcclstm.table3_gtzan Mine fold 0: the checkpoint ")
    kernel = 40 * 80 * 10                                   # the Dense kernel, set to NaN; its bias stays finite
    assert f"holds {kernel} non-finite weights (NaN or infinite) of {kernel + 10}" in err
    assert "its training diverged" in err
    assert not (tmp_path / "export" / "model.keras").exists()


def test_a_file_with_non_finite_outputs_gets_no_prediction(tmp_path, capsys):
    # before: the silent file printed ten classes with probability nan, exit status 0
    module, results, work = _trained(tmp_path)
    song = write_audio(tmp_path / "song.wav", seconds=3.0)
    silence = tmp_path / "silence.wav"
    sf.write(str(silence), np.zeros(3 * 22050, np.float32), 22050)
    status = _predict(module, results, work, silence, song)
    out, err = capsys.readouterr()
    assert status == 2 and not re.search(r"\bnan\b", out, re.I)
    assert f"{song} (1 chunk of 1.858 s): top 10 classes" in out and str(silence) not in out
    assert (f"error: {silence}: mcclstm.table3_gtzan Mine fold 0 gives non-finite outputs for this file "
            f"(10 NaN of 10): no prediction") in err


#: Follows preprocessing.json's "load" text in a fresh Python that cannot import this repository.
STANDALONE = r'''
import importlib.abc, json, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("common", "papers", "tests"):
            raise ImportError(f"{name} must not be needed")
sys.meta_path.insert(0, Refuse())
import numpy as np
export = sys.argv[1]
pre = json.load(open(f"{export}/preprocessing.json"))
scope = {}
exec(pre["load"].replace("<this folder>", export), scope)
model = scope["model"]
print("LAYERS " + json.dumps([type(layer).__name__ for layer in model.layers]))
print("PROBABILITIES " + json.dumps([float(v) for v in model.predict(np.load(sys.argv[2]), verbose=0)[0]]))
'''


def test_an_export_with_a_modules_custom_layer_loads_by_its_own_instructions(tmp_path, capsys):
    # before: "load" said to import the copied module, which does not register Guard: load_model failed
    module, results, work = _trained(tmp_path)
    song = write_audio(tmp_path / "song.wav", seconds=3.0)
    export = tmp_path / "my export"
    assert _predict(module, results, work, song, extra=("--export", str(export))) == 0
    out = capsys.readouterr().out
    description = json.loads((export / "preprocessing.json").read_text())
    [copied] = description["custom_layer_modules"]
    assert (export / copied).read_text() == MODULE and (export / "load_export.py").is_file()
    line = next(x for x in out.splitlines() if x.strip().startswith("1. "))
    top_class, top_probability = line.split()[1], float(line.split()[2])
    chunk = prepare_file(table3_gtzan(), song).astype(np.float32)           # one chunk; identity standardisation
    np.save(tmp_path / "chunk.npy", chunk)
    (tmp_path / "standalone.py").write_text(STANDALONE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(tmp_path / "standalone.py"), str(export), str(tmp_path / "chunk.npy")],
                          capture_output=True, text=True, cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {x.split(" ", 1)[0]: json.loads(x.split(" ", 1)[1]) for x in done.stdout.splitlines()
             if x.startswith(("LAYERS ", "PROBABILITIES "))}
    assert "Guard" in lines["LAYERS"]
    probabilities = np.array(lines["PROBABILITIES"])
    assert description["classes"][int(probabilities.argmax())] == top_class
    assert abs(probabilities.max() - top_probability) < 1e-4
