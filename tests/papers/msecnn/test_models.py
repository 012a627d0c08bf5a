"""MsE-CNN and FCN-5 builders (Sec. 2, Figs. 1-2): shapes, parameter counts, multi-scale links."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from common.errors import ConfigError
from common.fcn import FCNConfig, fcn_parameter_count
from papers.msecnn import config as cfg
from papers.msecnn.models import build_model, build_msecnn, msecnn_channels, msecnn_parameter_count


def test_full_msecnn_shapes_and_parameter_count():
    model = build_msecnn()
    assert model.input_shape == (None, 96, 1366) and model.output_shape == (None, 50)
    concat_shapes = [model.get_layer(f"block{i}_concat").output.shape[1:] for i in range(1, 6)]
    assert concat_shapes == [(48, 341, 129), (24, 85, 385), (12, 21, 897), (4, 4, 1921), (1, 1, 3969)]
    assert msecnn_channels(cfg.MODEL) == (129, 385, 897, 1921, 3969)
    # by hand: conv k sees 1 + F_1 + ... + F_{k-1} channels; the sigmoid layer sees 3969 features
    convs = sum((9 * c + 1) * f for c, f in zip((1, 129, 385, 897, 1921), (128, 256, 512, 1024, 2048)))
    by_hand = convs + 4 * 3968 + 4 * 96 + (3969 + 1) * 50
    assert model.count_params() == msecnn_parameter_count(50, cfg.MODEL) == by_hand == 45_965_796


def test_full_fcn5_through_build_model():
    model = build_model("FCN-5")
    assert model.output_shape == (None, 50)
    assert model.count_params() == fcn_parameter_count(50, cfg.MODEL) == 25_191_346


def test_each_level_concatenates_the_max_pooled_block_input():
    config = FCNConfig(filters=(3, 4, 2, 2, 2))
    model = build_msecnn(5, config)
    probe = keras.Model(model.input, [model.get_layer("bn_input_freq").output] +
                        [model.get_layer(f"block{i}_concat").output for i in range(1, 6)] +
                        [model.get_layer(f"block{i}_pool").output for i in range(1, 6)])
    x = np.random.default_rng(1).normal(-30, 15, (2, 96, 1366)).astype(np.float32)
    outputs = probe.predict(x, verbose=0)
    levels, blocks = outputs[:6], outputs[6:]
    for k, pool in enumerate(config.pools):
        before, after, block = levels[k], levels[k + 1], blocks[k]
        c = before.shape[-1]
        h, w = after.shape[1:3]
        pooled = before[:, :h * pool[0], :w * pool[1]].reshape(2, h, pool[0], w, pool[1], c).max(axis=(2, 4))
        np.testing.assert_allclose(after[..., :c], pooled, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(after[..., c:], block, rtol=1e-6, atol=1e-6)
    assert model.count_params() == msecnn_parameter_count(5, config)


def test_unknown_model_name_raises_config_error():
    with pytest.raises(ConfigError, match="FCN-5"):
        build_model("FCN-7")
