"""Output shapes of CRNN-TF and the baselines; the CNN map size; L2; transfer helpers."""

from dataclasses import replace

import keras
import numpy as np
import pytest

from papers.crnn_tf import models
from papers.crnn_tf.config import (CLIP_FRAMES, FEATURES, FIG5_SUBSETS, GRU_ROW_CHANGES, PONS_CODE_FILTERS,
                                   CRNNConfig, CRNNTFConfig, EndToEndConfig, TimbreCNNConfig)
from papers.crnn_tf.layers import DIRECTIONS, GridLSTM

SMALL = CRNNTFConfig(n_mels=16, n_frames=64, conv_filters=(4, 6), rnn_units=5)


def test_paper_input_is_96_by_1360_for_29_seconds():
    assert (FEATURES.n_mels, CLIP_FRAMES) == (96, 1360)
    assert (FEATURES.sample_rate, FEATURES.n_fft, FEATURES.hop_length) == (12000, 512, 256)


def test_paper_cnn_map_is_6_by_6_by_128_with_same_pooling():
    model = models.build_crnn_tf(50, "tags")
    assert tuple(model.get_layer("cnn_block4_pool").output.shape[1:]) == (6, 6, 128)
    assert models.cnn_map_shape(CRNNTFConfig()) == (6, 6, 128)
    assert models.cnn_map_shape(CRNNTFConfig(pool_padding="valid")) == (6, 5, 128)
    rnn = model.get_layer("rnn_grid_lstm")
    assert isinstance(rnn, GridLSTM) and rnn.cell.blocks == 8 and rnn.units == 32
    assert model.get_layer("scan").directions == DIRECTIONS
    assert model.get_layer("dropout").output.shape[-1] == 8 * 32
    assert model.get_layer("output").activation.__name__ == "sigmoid"
    assert model.get_layer("dropout").rate == 0.5
    assert model.get_layer("cnn_block1_act").activation.__name__ == "elu"


@pytest.mark.parametrize("rnn", ["grid_lstm", "gru", "gru_row"])
def test_crnn_tf_maps_spectrograms_to_class_probabilities(rnn):
    config = replace(SMALL, **GRU_ROW_CHANGES) if rnn == "gru_row" else replace(SMALL, rnn=rnn)
    model = models.build_crnn_tf(7, "genres", config)
    probs = model.predict(np.random.default_rng(0).standard_normal((3, 16, 64)).astype("float32"), verbose=0)
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    if rnn == "gru_row":
        assert model.get_layer("fc_hidden").units == 64 and model.get_layer("concat").output.shape[-1] == 8 * 5
    elif rnn == "gru":
        assert all(isinstance(model.get_layer(f"rnn_{d}"), keras.layers.GRU) for d in DIRECTIONS)
        assert model.get_layer("concat").output.shape[-1] == 8 * 5
    else:
        assert model.get_layer("rnn_grid_lstm").output.shape[-1] == 8 * 5


def test_direction_subsets_for_fig5():
    assert len(FIG5_SUBSETS) == 15 and FIG5_SUBSETS["ABCDrc"] == DIRECTIONS
    model = models.build_crnn_tf(3, "tags", replace(SMALL, directions=FIG5_SUBSETS["Arc"]))
    assert model.get_layer("rnn_grid_lstm").output.shape[-1] == 2 * 5
    gru = models.build_crnn_tf(3, "tags", replace(SMALL, directions=FIG5_SUBSETS["Arc"], rnn="gru"))
    assert gru.get_layer("concat").output.shape[-1] == 2 * 5
    single = models.build_crnn_tf(3, "tags", replace(SMALL, directions=("Dc",)))
    assert single.get_layer("output").input.shape[-1] == 5
    with pytest.raises(ValueError):
        models.build_crnn_tf(3, "tags", replace(SMALL, directions=()))
    with pytest.raises(ValueError):
        models.build_crnn_tf(3, "moods", SMALL)


def test_l2_reaches_cnn_rnn_and_output_weights():
    model = models.build_crnn_tf(3, "genres", replace(SMALL, directions=("Ar",)))
    model(np.zeros((1, 16, 64), "float32"))
    # conv kernels + biases (2 layers), grid LSTM: input kernel, 2 kernels, 2 biases; output kernel + bias
    assert len(model.losses) == 4 + 5 + 2
    assert len(models.build_crnn_tf(3, "genres", replace(SMALL, l2=0.0)).losses) == 0



def test_gru_row_is_the_authors_model():
    # the CRNN-TF (GRU) row as FishInMedi/CRNN-TF 1.ipynb cell 11 builds it: 6 x 6 x 128 map -> 8 scanners of
    # 6 steps x 768 -> Keras 2 GRU(32) each (reset_after=False) -> 256 -> dropout -> Dense(64, ELU) -> output;
    # L2 1e-7 on the conv, GRU-input and Dense(64) kernels, none on the output layer (L139)
    model = models.build_crnn_tf(16, "genres", replace(CRNNTFConfig(), **GRU_ROW_CHANGES))
    for d in DIRECTIONS:
        assert tuple(model.get_layer(f"scan_{d}").output.shape[1:]) == (6, 6 * 128)
        assert model.get_layer(f"rnn_{d}").units == 32
        assert model.get_layer(f"rnn_{d}").cell.reset_after is False
    assert model.get_layer("concat").output.shape[-1] == 8 * 32
    hidden = model.get_layer("fc_hidden")
    assert hidden.units == 64 and hidden.activation.__name__ == "elu"
    assert model.get_layer("fc_hidden").input is model.get_layer("dropout").output
    # parameters by hand: CNN (conv + bias, BN 4 per channel), 8 GRUs (reset_after=False: 3 gates x
    # (input kernel + recurrent kernel + one bias)), hidden layer, output layer
    cnn = sum(3 * 3 * c_in * c_out + c_out + 4 * c_out for c_in, c_out in [(1, 64), (64, 128), (128, 128), (128, 128)])
    gru = 3 * (768 * 32 + 32 * 32 + 32)
    assert (cnn, gru) == (371_456, 76_896)  # 76,896 = the notebook's printed GRU size
    assert model.count_params() == cnn + 8 * gru + (256 * 64 + 64) + (64 * 16 + 16) == 1_004_112
    # kernels only: 4 conv kernels, 8 GRU input kernels, the hidden kernel; 1e-7 each; the output layer free
    assert len(model.losses) == 4 + 8 + 1
    assert model.get_layer("rnn_Ar").cell.recurrent_regularizer is None
    assert model.get_layer("cnn_block1_conv").bias_regularizer is None
    assert float(model.get_layer("fc_hidden").kernel_regularizer.l2) == pytest.approx(1e-7)
    assert model.get_layer("output").kernel_regularizer is None and model.get_layer("output").bias_regularizer is None
    # the paper's CRNN-TF keeps Keras 3's GRU and the penalised output layer unless asked
    assert CRNNTFConfig().gru_reset_after is True and CRNNTFConfig().output_l2 is True


def test_l2_scope_and_reading_are_checked():
    with pytest.raises(ValueError, match="l2_scope"):
        models.build_crnn_tf(3, "tags", replace(SMALL, l2_scope="biases"))
    with pytest.raises(ValueError, match="reading"):
        models.build_crnn_tf(3, "tags", replace(SMALL, sequence_reading="zigzag"))
    # whole-row Grid LSTM blocks need equal steps: fine for row scanners on a 4 x 8 x 6 map ...
    wide = replace(SMALL, n_frames=128, sequence_reading="whole_row")
    rows = models.build_crnn_tf(3, "tags", replace(wide, directions=("Ar", "Dr")))
    assert tuple(rows.get_layer("scan").output.shape[1:]) == (4, 2 * 8 * 6)
    # ... not for row and column scanners together; separate GRUs take both
    with pytest.raises(ValueError, match="different shapes"):
        models.build_crnn_tf(3, "tags", replace(wide, directions=("Ar", "Ac")))
    gru = models.build_crnn_tf(3, "tags", replace(wide, directions=("Ar", "Ac"), rnn="gru"))
    assert tuple(gru.get_layer("scan_Ac").output.shape[1:]) == (8, 4 * 6)

def test_paper_sized_baselines_have_the_published_shapes():
    crnn = models.build_crnn(50, "tags")
    assert tuple(crnn.get_layer("to_sequence").output.shape[1:]) == (15, 128)  # Choi et al.: 1 x 15 map
    assert 390_000 < crnn.count_params() < 400_000                           # the ~0.4 M CRNN
    timbre = models.build_timbre_cnn(50, "tags")
    # CRNN-TF Sec. V-B: frequency extents "{25, 50, 5, 100}", time extents "{1, 3, 5, 7}"
    assert {f for _, f, _ in TimbreCNNConfig().filters} == {5, 25, 50, 100}
    assert {t for t, _, _ in TimbreCNNConfig().filters} == {1, 3, 5, 7}
    assert len(TimbreCNNConfig().filters) == 16
    assert timbre.get_layer("conv_7x5").kernel.shape[:2] == (7, 5)
    assert tuple(timbre.get_layer("concat").output.shape[1:]) == (46, 1, 22 + 3 * 35)
    assert tuple(timbre.get_layer("pool2").output.shape[1:]) == (9, 1, 32)
    pons = models.build_timbre_cnn(50, "tags", TimbreCNNConfig(filters=PONS_CODE_FILTERS))
    assert tuple(pons.get_layer("concat").output.shape[1:]) == (46, 1, 92)   # Pons et al.'s code: 100/75/25
    fcn = models.build_fcn_baseline(50, "tags")      # FCN-4 of Choi et al. 2016 on the 96 x 1360 input
    assert [tuple(fcn.get_layer(f"block{i}_pool").output.shape[1:]) for i in range(1, 5)] == \
        [(48, 340, 128), (12, 68, 384), (4, 8, 768), (1, 1, 2048)]
    assert fcn.count_params() == 17_372_978 and fcn.get_layer("block2_dropout").rate == 0.5
    e2e = models.build_end_to_end(50, "tags")
    assert tuple(e2e.get_layer("strided_conv").output.shape[1:]) == (187, 128)
    assert tuple(e2e.get_layer("pool2").output.shape[1:]) == (9, 32)


@pytest.mark.parametrize("builder,config,shape", [
    (models.build_crnn, CRNNConfig(n_mels=16, n_frames=48, pad_to=0, conv_filters=(4, 4), pools=((2, 2), (2, 2)),
                                   gru_units=(3, 3)), (16, 48)),
    (models.build_timbre_cnn, TimbreCNNConfig(n_mels=20, patch_frames=24, filters=((1, 16, 2), (3, 5, 2)),
                                              conv2_time=2, pool_time=2, dense_units=6), (20, 24)),
    (models.build_end_to_end, EndToEndConfig(window_samples=2048, frontend_filters=8, frontend_length=16,
                                             frontend_stride=16, conv_length=4, dense_units=6), (2048,)),
])
def test_baselines_map_inputs_to_probabilities(builder, config, shape):
    model = builder(5, "genres", config)
    probs = model.predict(np.random.default_rng(1).standard_normal((2, *shape)).astype("float32"), verbose=0)
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model.layers[-1].name == "output"


def test_transfer_copies_all_but_the_output_and_freezes_by_part():
    source = models.build_crnn_tf(6, "tags", SMALL)
    target = models.build_crnn_tf(3, "genres", SMALL)
    copied = models.transfer_weights(source, target)
    assert "output" not in copied and "cnn_block1_conv" in copied and "rnn_grid_lstm" in copied and "cnn_block2_bn" in copied
    for name in copied:
        for a, b in zip(source.get_layer(name).get_weights(), target.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    frozen = models.freeze(target, ("cnn_",))
    assert set(frozen) >= {"cnn_block1_conv", "cnn_block1_bn", "cnn_block2_conv"} and not any(n.startswith("rnn_") for n in frozen)
    trainable = {w.path.split("/")[0] for w in target.trainable_weights}
    assert not any(n.startswith("cnn_") for n in trainable) and "output" in trainable
    with pytest.raises(ValueError, match="not the same architecture"):
        models.transfer_weights(models.build_crnn(3, "genres", CRNNConfig(n_mels=16, n_frames=48, pad_to=0,
                                                                          conv_filters=(4, 4),
                                                                          pools=((2, 2), (2, 2)),
                                                                          gru_units=(3, 3))), target)


def test_fcn_baseline_outputs_per_task():
    from common.models.fcn import FCNConfig

    small = FCNConfig(n_mels=16, n_frames=48, filters=(3, 4), pools=((2, 4), (2, 4)), block_dropout=0.5)
    x = np.random.default_rng(2).standard_normal((2, 16, 48)).astype("float32")
    genres = models.build_fcn_baseline(5, "genres", small).predict(x, verbose=0)
    np.testing.assert_allclose(genres.sum(axis=1), 1.0, atol=1e-5)
    tags = models.build_fcn_baseline(5, "tags", small).predict(x, verbose=0)
    assert tags.shape == (2, 5) and not np.allclose(tags.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="task"):
        models.build_fcn_baseline(5, "moods", small)
