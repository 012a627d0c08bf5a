"""Training: the training configuration and loop with atomic best-weights checkpoints (:mod:`.trainer`),
tf.data input pipelines (:mod:`.pipeline`), a quiet TensorFlow import (:mod:`.tensorflow_logging`) and
the check that stops a unit whose loss, weights or outputs become non-finite (:mod:`.divergence`).
"""
