"""FCN builder (Choi et al. 2016): FCN-5 shapes and parameter count, reusable blocks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from common.errors import ConfigError
from common.models.fcn import (FCN4_FILTERS, FCN4_POOLS, FCN5_FILTERS, FCN5_POOLS, FCNConfig, build_fcn, conv_block,
                        fcn_parameter_count)


def test_fcn5_layer_shapes_and_parameter_count():
    model = build_fcn(50)
    assert model.input_shape == (None, 96, 1366)
    assert model.output_shape == (None, 50)
    # Choi et al. 2016, Table 2: 48x341x128, 24x85x256, 12x21x512, 4x4x1024, 1x1x2048
    shapes = [model.get_layer(f"block{i}_pool").output.shape[1:] for i in range(1, 6)]
    assert shapes == [(48, 341, 128), (24, 85, 256), (12, 21, 512), (4, 4, 1024), (1, 1, 2048)]
    assert model.count_params() == fcn_parameter_count(50, FCNConfig()) == 25_191_346
    # the count by hand: convs with bias, 4 numbers per batch-norm channel, input BN, sigmoid layer
    convs = sum((9 * c + 1) * f for c, f in zip((1, 128, 256, 512, 1024), FCN5_FILTERS))
    assert 25_191_346 == convs + 4 * sum(FCN5_FILTERS) + 4 * 96 + (2048 + 1) * 50


def test_blocks_are_conv_bn_elu_maxpool():
    model = build_fcn(50)
    names = [layer.name for layer in model.layers]
    i = names.index("block1_conv")
    assert names[i:i + 4] == ["block1_conv", "block1_bn", "block1_act", "block1_pool"]
    assert model.get_layer("block1_act").activation.__name__ == "elu"
    assert model.get_layer("block3_pool").pool_size == FCN5_POOLS[2]
    assert model.get_layer("tags").activation.__name__ == "sigmoid"
    assert model.get_layer("tags").dtype_policy.compute_dtype == "float32"


def test_tiny_fcn_predicts_probabilities():
    config = FCNConfig(filters=(2, 2, 4, 4, 4))
    model = build_fcn(7, config)
    assert model.count_params() == fcn_parameter_count(7, config)
    x = np.random.default_rng(0).normal(size=(2, 96, 1366)).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == (2, 7) and np.all((y > 0) & (y < 1))


def test_conv_block_reused_for_a_crnn_style_four_layer_cnn():
    """Choi et al. 2017 CRNN: four 64/128/128/128-filter blocks with (2,4)-style pools."""
    config = FCNConfig(filters=(64, 128, 128, 128), pools=((2, 2), (3, 3), (4, 4), (4, 4)))
    inputs = keras.Input((96, 1366, 1))
    x = inputs
    for i, (filters, pool) in enumerate(zip(config.filters, config.pools), start=1):
        x = conv_block(x, filters, pool, name=f"crnn{i}")
    assert tuple(x.shape[1:]) == (1, 14, 128)
    assert config.output_size() == (1, 14)


def test_pools_too_large_for_the_input_raise_config_error():
    with pytest.raises(ConfigError, match="reduce a 96 x 100 input"):
        FCNConfig(n_frames=100)
    with pytest.raises(ConfigError, match="filter counts but"):
        FCNConfig(filters=(1, 2), pools=((2, 2),))


def test_fcn4_shapes_and_parameter_count():
    """Choi et al. 2016, Table 1: FCN-4 96x1366 -> 48x341x128 -> 12x68x384 -> 4x8x768 -> 1x1x2048."""
    config = FCNConfig(filters=FCN4_FILTERS, pools=FCN4_POOLS)
    model = build_fcn(50, config)
    shapes = [model.get_layer(f"block{i}_pool").output.shape[1:] for i in range(1, 5)]
    assert shapes == [(48, 341, 128), (12, 68, 384), (4, 8, 768), (1, 1, 2048)]
    convs = sum((9 * c + 1) * f for c, f in zip((1, 128, 384, 768), FCN4_FILTERS))
    assert model.count_params() == fcn_parameter_count(50, config) == convs + 4 * sum(FCN4_FILTERS) + 4 * 96 + 2049 * 50


def test_block_dropout_and_softmax_output():
    config = FCNConfig(n_mels=16, n_frames=32, filters=(2, 3), pools=((2, 4), (2, 4)), block_dropout=0.5)
    model = build_fcn(4, config, activation="softmax")
    assert [model.get_layer(f"block{i}_dropout").rate for i in (1, 2)] == [0.5, 0.5]
    y = model.predict(np.random.default_rng(1).normal(size=(3, 16, 32)).astype(np.float32), verbose=0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert model.count_params() == fcn_parameter_count(4, config)  # dropout adds no weights
    with pytest.raises(ValueError, match="output activation"):
        build_fcn(4, config, activation="relu")


def test_conv_block_options_same_pooling_and_regularizer():
    inputs = keras.Input((96, 1360, 1))
    x = conv_block(inputs, 4, (2, 4), name="b", pool_padding="same", batch_norm=False,
                   regularizer=keras.regularizers.L2(1e-6))
    assert tuple(x.shape[1:]) == (48, 340, 4)
    y = conv_block(x, 4, (4, 8), name="c", pool_padding="same")
    assert tuple(y.shape[1:]) == (12, 43, 4)                 # ceil(340 / 8) = 43; 'valid' gives 42
    model = keras.Model(inputs, y)
    names = [layer.name for layer in model.layers]
    assert "b_bn" not in names and "c_bn" in names
    assert model.get_layer("b_conv").kernel_regularizer is not None
    assert model.get_layer("c_conv").kernel_regularizer is None
