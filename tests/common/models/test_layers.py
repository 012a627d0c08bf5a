import keras
import numpy as np

from common.models.layers import PerStep, SequenceMask


def test_per_step_equals_applying_the_model_to_each_step():
    inner = keras.Sequential([keras.Input((3, 2)), keras.layers.Flatten(), keras.layers.Dense(5)])
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 2)).astype("float32")
    out = PerStep(inner)(x).numpy()
    assert out.shape == (2, 4, 5)
    np.testing.assert_allclose(out[1, 2], inner(x[1:2, 2]).numpy()[0], atol=1e-6)


def test_sequence_mask():
    mask = SequenceMask()(np.zeros((3, 4, 1), "float32"), np.array([0, 2, 4])).numpy()
    assert mask.tolist() == [[False] * 4, [True, True, False, False], [True] * 4]
