"""Quiet TensorFlow start-up on machines where its messages are not the user's business.

Importing TensorFlow on a CPU-only machine prints, before its logging is even set up (so
``TF_CPP_MIN_LOG_LEVEL`` cannot hide them), "Could not find cuda drivers", "failed call to cuInit
... (303)" and CPU-instruction notices, some of them twice; and Keras' repeated predictions log
"triggered tf.function retracing" warnings. :func:`import_tensorflow_quietly` imports TensorFlow
with the process's standard error captured, then prints every captured line except those known
start-up notices, and filters the retracing warnings from TensorFlow's Python logger. Any other
message, warning or error still reaches the user.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from pathlib import Path

#: Start-up lines that say nothing the user must act on (matched anywhere in a line). The CUDA
#: lines are dropped only on a machine without an NVIDIA device (:data:`CUDA_NOISE`).
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|cpu_feature_guard\.cc.*This TensorFlow binary is optimized"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered")

#: CUDA probing messages: noise on a machine with no NVIDIA device, a real problem on one with a GPU.
CUDA_NOISE = re.compile(r"cudart_stub\.cc.*Could not find cuda drivers|cuda_platform\.cc.*failed call to cuInit"
                        r"|cuda_executor\.cc.*could not find cuda drivers")


class _DropRetracing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (if installed and not yet imported) without its known start-up noise.

    Lines TensorFlow writes to standard error while importing and probing for GPUs are captured;
    those matching :data:`STARTUP_NOISE` (and :data:`CUDA_NOISE` where ``/dev`` has no NVIDIA
    device) are dropped, every other line is written to standard error as it came. Does nothing when TensorFlow is not installed or is already imported.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        except ImportError:
            tf = None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        no_gpu_device = not any(Path("/dev").glob("nvidia[0-9]*"))
        for line in capture.read().decode("utf-8", errors="replace").splitlines():
            if not line.strip() or STARTUP_NOISE.search(line) or (no_gpu_device and CUDA_NOISE.search(line)):
                continue
            print(line, file=sys.stderr)
    if tf is not None:
        tf.get_logger().addFilter(_DropRetracing())
