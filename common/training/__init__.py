"""Training: the training configuration and loop with atomic best-weights checkpoints (:mod:`.trainer`),
tf.data input pipelines (:mod:`.pipeline`) and a quiet TensorFlow import (:mod:`.tensorflow_logging`).
"""
