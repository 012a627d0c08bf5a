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
