"""Every trainable scheme of every paper builds and trains under Keras' JAX backend.

Keras fixes its backend when it is first imported, so the check runs in a separate process with
``KERAS_BACKEND=jax``: :mod:`tests.jax_backend_check` builds every scheme, compiles it with its own
loss and optimiser and runs one ``train_on_batch`` on random inputs of its real input shapes, then
runs one fold of MCCLSTM's Table 3 (R2, MCCLSTM, one epoch) through the real runner, tf.data
pipelines feeding the JAX model through :func:`common.training.trainer.train`.

Skipped, saying so, when jax is not installed (``pip install -e .[dev]`` installs it).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def expected_schemes() -> dict[str, list[str]]:
    """The scheme names the check must report, by paper, read from the papers' own configurations."""
    from papers.crnn_tf import config as crnn_tf_config
    from papers.crnn_tf.tables import table2_schemes, table3_schemes
    from papers.lstm_segment.config import DNNS, LSTMS
    from papers.mcclstm.config import SCHEMES
    from papers.msecnn.config import MODEL_NAMES
    from tests.jax_backend_check import FIG5_ROWS
    from tests.papers.crnn_tf.tiny_settings import tiny_settings

    networks = [s.name for s in table2_schemes(tiny_settings())]
    crnn_tf = ["Table I CRNN-TF"] + [f"Table II {n}" for n in networks if n != "CRNN-TF"]
    assert set(FIG5_ROWS) <= set(crnn_tf_config.FIG5_SUBSETS)
    crnn_tf += [f"Fig. 5 {n}" for n in FIG5_ROWS]
    crnn_tf += [f"Table III {s.name}" for s in table3_schemes(tiny_settings()) if s.name != "MFCC + SVM"]
    return {"mcclstm": [s.name for s in SCHEMES], "msecnn": list(MODEL_NAMES), "crnn_tf": crnn_tf,
            "lstm_segment": [c.name for c in DNNS] + [f"{c.name} (units / 64)" for c in LSTMS]}


@pytest.mark.e2e
def test_every_scheme_trains_under_jax(tmp_path):
    pytest.importorskip("jax", exc_type=ImportError, reason="jax is not importable: the JAX-backend check needs it "
                                                        "(pip install -e .[dev] installs jax[cpu])")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "2",
           # LLVM optimisation level 0: the many small train steps compile ~2.5x faster on a CPU
           "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tests.jax_backend_check", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    output = done.stdout + done.stderr
    print(output[-6000:], f"\njax backend check: {seconds:.0f} s")
    assert done.returncode == 0, output[-6000:]
    reported = {}
    for paper, name, params, loss in re.findall(r"^JAX-SCHEME (\S+) \| (.+?) \| params=(\d+) \| loss=(\S+) \|",
                                                done.stdout, flags=re.M):
        reported.setdefault(paper, []).append(name)
        assert int(params) > 0 and math.isfinite(float(loss)), (paper, name, params, loss)
    assert reported == expected_schemes()
    runner = dict(re.findall(r"^JAX-RUNNER (\S+) \| accuracy=(\S+)$", done.stdout, flags=re.M))
    assert sorted(runner) == ["MCCLSTM", "R2"] and all(0 <= float(v) <= 100 for v in runner.values())
    count = sum(map(len, reported.values()))
    assert done.stdout.strip().splitlines()[-1] == f"JAX-CHECK OK {count} schemes"
