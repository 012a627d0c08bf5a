"""TensorFlow's start-up noise is dropped; other messages on standard error are kept."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

SCRIPT = """
import os, sys
from common.training.tensorflow_logging import import_tensorflow_quietly
os.write(2, b"before import: kept\\n")
import_tensorflow_quietly()
import tensorflow as tf
tf.get_logger().warning("5 out of the last 5 calls to <function f> triggered tf.function retracing.")
tf.get_logger().warning("a real warning: kept")
"""


def test_startup_noise_is_dropped_and_real_messages_are_kept():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "before import: kept" in done.stderr and "a real warning: kept" in done.stderr
    for noise in ("cuInit", "Could not find cuda drivers", "absl::InitializeLog", "retracing"):
        assert noise not in done.stderr, done.stderr
