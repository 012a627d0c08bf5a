import numpy as np
import pytest

from papers.mcclstm.config import SCHEMES, MCCLSTMConfig
from papers.mcclstm.models import build_chunk_encoder, build_model

SPECS = {s.name: s for s in SCHEMES}


@pytest.mark.parametrize("name", [s.name for s in SCHEMES])
def test_every_scheme_maps_its_input_to_class_probabilities(name):
    model = build_model(name, n_classes=10)
    if SPECS[name].lstm:
        x = {"chunks": np.random.rand(2, 5, 40, 80).astype("float32"), "n_chunks": np.array([3, 5], "int32")}
    else:
        x = np.random.rand(4, 40, 80).astype("float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (len(x["n_chunks"]) if SPECS[name].lstm else 4, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name,descriptor", [("R0", 21 * 32), ("R2", 200), ("R3", 400), ("R4", 200),
                                             ("MCCLSTM", 400), ("CNNs-3", 200), ("R1", 3200)])
def test_descriptor_sizes_follow_the_paper(name, descriptor):
    # Sec. 3: FC 200 for two channels, 400 for three; R0 uses the T channel directly
    encoder = build_chunk_encoder(SPECS[name], MCCLSTMConfig())
    assert encoder.output.shape[-1] == descriptor


def test_channel_maps_follow_table_1():
    encoder = build_chunk_encoder(SPECS["MCCLSTM"], MCCLSTMConfig(channel_filters=4))
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in encoder.layers if layer.name.endswith("_pool")}
    # valid convolutions: P (32,1) -> 9x80, pool (1,80) -> 9x1; T (1,60) -> 40x21, pool (40,1) -> 1x21;
    # B (13,9) -> 28x72, pool (4,4) -> 7x18
    assert shapes == {"P_pool": (9, 1, 4), "T_pool": (1, 21, 4), "B_pool": (7, 18, 4)}


def test_lstm_sizes():
    assert build_model("R4", 10).get_layer("lstm").units == 100
    assert build_model("MCCLSTM", 10).get_layer("lstm").units == 200


def test_paper_initialisation_is_gaussian_with_unit_variance():
    model = build_model("R2", 10, MCCLSTMConfig(init_stddev=1.0))
    kernel = model.get_layer("R2_encoder").get_layer("P_conv").kernel.numpy()
    assert 0.8 < kernel.std() < 1.2


@pytest.mark.parametrize("name", ["R2", "MCCLSTM", "CNNs-3"])
def test_paper_initialisation_only_on_cnn_and_lstm_layers(name):
    # Sec. 3: "The weights for all CNN and LSTM layers are randomly initialized to be Gaussian, with a
    # variance of 1": the FC layer and the softmax keep the Keras default (Glorot uniform)
    model = build_model(name, 10, MCCLSTMConfig(init_stddev=1.0))
    encoder = model.get_layer(f"{name.replace('-', '')}_encoder") if not SPECS[name].lstm else \
        model.get_layer("chunk_encoder").inner
    for layer in encoder.layers:
        if "conv" in layer.name:
            assert 0.8 < layer.kernel.numpy().std() < 1.2, layer.name
    if SPECS[name].lstm:
        lstm = model.get_layer("lstm")
        assert 0.8 < lstm.cell.kernel.numpy().std() < 1.2
        assert 0.8 < lstm.cell.recurrent_kernel.numpy().std() < 1.2
    for dense in (encoder.get_layer("fc"), model.get_layer("softmax")):
        fan_in, fan_out = dense.kernel.shape
        glorot_std = (2.0 / (fan_in + fan_out)) ** 0.5
        assert dense.kernel.numpy().std() < 2 * glorot_std, dense.name


def test_bass_kernel_orientation_option():
    from papers.mcclstm.config import BASS_KERNEL_TIME_WIDE
    from papers.mcclstm.tables import TABLES, bass_time_wide

    assert MCCLSTMConfig().bass_kernel == (13, 9)  # Table 1, (frequency, time)
    config = bass_time_wide(MCCLSTMConfig(channel_filters=4))
    assert config.bass_kernel == BASS_KERNEL_TIME_WIDE == (9, 13)
    encoder = build_chunk_encoder(SPECS["MCCLSTM"], config)
    assert tuple(encoder.get_layer("B_conv").output.shape[1:]) == (32, 68, 4)  # 9 bands x 13 frames, valid
    assert tuple(encoder.get_layer("B_pool").output.shape[1:]) == (8, 17, 4)
    assert TABLES["table3_gtzan_bass_time_wide"]().schemes[-1].config["model"]["bass_kernel"] == (9, 13)


def test_fused_sizes_with_valid_padding():
    # 32 filters: P 9 x 1, T 1 x 21, B 7 x 18 positions -> 288 + 672 + 4032 = 4992 fused values
    encoder = build_chunk_encoder(SPECS["MCCLSTM"], MCCLSTMConfig())
    assert tuple(encoder.get_layer("fusion").output.shape[1:]) == (4992,)
    assert tuple(build_chunk_encoder(SPECS["R2"], MCCLSTMConfig()).get_layer("fusion").output.shape[1:]) == (960,)


#: the parameter counts stated in papers/mcclstm/README.md ("Model shapes"), 10 classes
README_PARAMETERS = {"CNNs-3": 933_890, "R0": 8_682, "R1": 1_321_410, "R2": 197_218, "R3": 2_007_994,
                     "R4": 316_618, "MCCLSTM": 2_486_794}
README_PARAMETERS_BASS_TIME_WIDE = {"R3": 2_135_994, "MCCLSTM": 2_614_794}


@pytest.mark.parametrize("name", list(README_PARAMETERS))
def test_parameter_counts_stated_in_the_readme(name):
    from papers.mcclstm.tables import bass_time_wide

    assert build_model(name, 10).count_params() == README_PARAMETERS[name]
    if name in README_PARAMETERS_BASS_TIME_WIDE:
        assert build_model(name, 10, bass_time_wide()).count_params() == README_PARAMETERS_BASS_TIME_WIDE[name]
