"""Shared layer of the reproduction suite.

Audio loading (:mod:`common.audio.decoding`), feature extraction (:mod:`common.features.logmel`), the feature
cache (:mod:`common.features.cache`), dataset loaders (:mod:`common.datasets`), evaluation protocols
(:mod:`common.evaluation.splits`), tf.data pipelines (:mod:`common.training.pipeline`), training
(:mod:`common.training.trainer`), metrics (:mod:`common.evaluation.metrics`), result tables and figures
(:mod:`common.outputs.result_tables`), the table runner (:mod:`common.runner`) and the command line
(:mod:`common.cli`). Paper subpackages under ``papers/`` build on this layer and never on each
other.
"""
