"""MsE-CNN and FCN-5 builders (Sec. 2, Figs. 1-2): shapes, parameter counts, the multi-scale side path."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from common.errors import ConfigError
from common.models.fcn import FCNConfig, build_fcn, fcn_parameter_count
from papers.msecnn import config as cfg
from papers.msecnn.models import (build_model, build_msecnn, msecnn_feature_count, msecnn_parameter_count,
                                  msecnn_side_channels)


def test_full_msecnn_shapes_and_parameter_count():
    """Parameter count of the full-size MsE-CNN (FCN-5 widths, 50 tags), by hand:

    conv path = FCN-5's convs (3x3, with bias; inputs 1, 128, 256, 512, 1024 channels):
        (9*1 + 1)*128 + (9*128 + 1)*256 + (9*256 + 1)*512 + (9*512 + 1)*1024 + (9*1024 + 1)*2048
        = 1 280 + 295 168 + 1 180 160 + 4 719 616 + 18 876 416 = 25 072 640
    batch norms = 4 * (128 + 256 + 512 + 1024 + 2048) + 4 * 96 (input, per mel band)
        = 15 872 + 384 = 16 256
    side path = max-pools and concatenations only: 0
    sigmoid layer on 1 x 1 x (1 + 128 + 256 + 512 + 1024 + 2048) = 3969 features:
        (3969 + 1) * 50 = 198 500
    total = 25 072 640 + 16 256 + 198 500 = 25 287 396  (FCN-5: 25 191 346, i.e. + 1921 * 50).
    """
    model = build_msecnn()
    assert model.input_shape == (None, 96, 1366) and model.output_shape == (None, 50)
    # side path: the pooled input, then pool(concat(side, block k output)) after blocks 1-4
    side = [model.get_layer("multiscale_input_pool").output.shape[1:]]
    side += [model.get_layer(f"multiscale{k}_pool").output.shape[1:] for k in range(1, 5)]
    assert side == [(48, 341, 1), (24, 85, 129), (12, 21, 385), (4, 4, 897), (1, 1, 1921)]
    concats = [model.get_layer(f"multiscale{k}_concat").output.shape[1:] for k in range(1, 6)]
    assert concats == [(48, 341, 129), (24, 85, 385), (12, 21, 897), (4, 4, 1921), (1, 1, 3969)]
    assert model.get_layer("flatten").output.shape[1:] == (3969,) == (msecnn_feature_count(cfg.MODEL),)
    assert msecnn_side_channels(cfg.MODEL) == (1, 129, 385, 897, 1921, 3969)
    convs = 1_280 + 295_168 + 1_180_160 + 4_719_616 + 18_876_416
    by_hand = convs + 4 * (128 + 256 + 512 + 1024 + 2048) + 4 * 96 + (3969 + 1) * 50
    assert by_hand == 25_287_396
    assert model.count_params() == msecnn_parameter_count(50, cfg.MODEL) == by_hand
    assert by_hand - fcn_parameter_count(50, cfg.MODEL) == (3969 - 2048) * 50


def test_authors_widths_give_1985_features():
    """The authors' MsE_CNN_model.py widths 64, 128, 256, 512, 1024: 1 + 64 + ... + 1024 = 1985 features;
    (9+1)*64 + (9*64+1)*128 + (9*128+1)*256 + (9*256+1)*512 + (9*512+1)*1024 = 6 269 440 conv,
    4 * 1984 + 4 * 96 = 8 320 batch norm, (1985 + 1) * 50 = 99 300 sigmoid layer: 6 377 060."""
    config = FCNConfig(filters=(64, 128, 256, 512, 1024))
    model = build_msecnn(50, config)
    assert model.get_layer("flatten").output.shape[1:] == (1985,)
    assert model.count_params() == msecnn_parameter_count(50, config) == 6_269_440 + 8_320 + 99_300


def test_full_fcn5_through_build_model():
    model = build_model("FCN-5")
    assert model.output_shape == (None, 50)
    assert model.count_params() == fcn_parameter_count(50, cfg.MODEL) == 25_191_346


def _weights_by_layer(model, prefixes=("bn_input_freq", "block")):
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers
            if layer.name.startswith(prefixes)}


def test_conv_path_is_exactly_fcn5():
    """The side path never feeds a convolution: every conv / batch-norm layer has FCN-5's shapes, and
    with FCN-5's weights the conv path computes FCN-5's last feature map."""
    assert _weights_by_layer(build_msecnn()) == _weights_by_layer(build_fcn(50, cfg.MODEL))
    config = FCNConfig(filters=(3, 4, 2, 2, 2))
    msecnn, fcn = build_msecnn(5, config), build_fcn(5, config)
    assert _weights_by_layer(msecnn) == _weights_by_layer(fcn)
    for layer in fcn.layers:
        if layer.name.startswith(("bn_input_freq", "block")):
            msecnn.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(2).normal(-30, 15, (2, 96, 1366)).astype(np.float32)
    fcn_out = keras.Model(fcn.input, fcn.get_layer("block5_pool").output).predict(x, verbose=0)
    msecnn_out = keras.Model(msecnn.input, msecnn.get_layer("block5_pool").output).predict(x, verbose=0)
    np.testing.assert_allclose(msecnn_out, fcn_out, rtol=1e-6, atol=1e-6)


def _max_pool(x, pool):
    b, h, w, c = x.shape
    h, w = h // pool[0], w // pool[1]
    return x[:, :h * pool[0], :w * pool[1]].reshape(b, h, pool[0], w, pool[1], c).max(axis=(2, 4))


def test_side_path_concatenates_pooled_levels():
    """side_0 = pool_1(input); concat_k = [side_{k-1}, block k output]; side_k = pool_{k+1}(concat_k);
    the sigmoid layer sees concat_5 (numerical check on a small model)."""
    config = FCNConfig(filters=(3, 4, 2, 2, 2))
    model = build_msecnn(5, config)
    names = (["bn_input_freq"] + [f"block{k}_pool" for k in range(1, 6)]
             + [f"multiscale{k}_concat" for k in range(1, 6)] + ["flatten"])
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    x = np.random.default_rng(1).normal(-30, 15, (2, 96, 1366)).astype(np.float32)
    outputs = probe.predict(x, verbose=0)
    normalised, blocks, concats, flat = outputs[0], outputs[1:6], outputs[6:11], outputs[11]
    side = _max_pool(normalised, config.pools[0])
    for k in range(5):
        expected = np.concatenate([side, blocks[k]], axis=-1)
        np.testing.assert_allclose(concats[k], expected, rtol=1e-6, atol=1e-6)
        if k < 4:
            side = _max_pool(expected, config.pools[k + 1])
    np.testing.assert_allclose(flat, concats[4].reshape(2, -1), rtol=1e-6, atol=1e-6)
    assert flat.shape[1] == 1 + sum(config.filters) == msecnn_feature_count(config)
    assert model.count_params() == msecnn_parameter_count(5, config)


def test_unknown_model_name_raises_config_error():
    with pytest.raises(ConfigError, match="FCN-5"):
        build_model("FCN-7")
