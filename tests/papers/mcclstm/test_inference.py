"""MCCLSTM's inference adapter without training: the warning for input far outside the fold's training range."""

from __future__ import annotations

import numpy as np

from papers.mcclstm.inference import OUT_OF_RANGE_Z, out_of_range_bands


def test_input_far_outside_the_training_range_is_named():
    band_hz = np.linspace(50.0, 20000.0, 40)
    rng = np.random.default_rng(0)
    typical = rng.standard_normal((3, 40, 80)).astype(np.float32)
    assert out_of_range_bands(typical, band_hz) is None
    shifted = typical.copy()
    shifted[:, 34:] += 12.0                        # e.g. content where the training audio held nothing
    message = out_of_range_bands(shifted, band_hz)
    assert message is not None
    assert "in 6 of 40 mel bands" in message and "unreliable" in message
    assert f"~{band_hz[np.argmax(shifted.mean(axis=(0, 2)))]:.0f} Hz" in message
    just_inside = typical - typical.mean(axis=(0, 2), keepdims=True) + (OUT_OF_RANGE_Z - 0.5)
    assert out_of_range_bands(just_inside, band_hz) is None
