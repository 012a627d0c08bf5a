"""Shared layer of the reproduction suite.

Audio loading (:mod:`common.audio`), feature extraction (:mod:`common.features`), the feature
cache (:mod:`common.cache`), dataset loaders (:mod:`common.datasets`), evaluation protocols
(:mod:`common.splits`), tf.data pipelines (:mod:`common.pipeline`), training
(:mod:`common.training`), metrics (:mod:`common.metrics`), result tables and figures
(:mod:`common.results`), the table runner (:mod:`common.runner`) and the command line
(:mod:`common.cli`). Paper subpackages under ``papers/`` build on this layer and never on each
other.
"""
