import numpy as np
import pytest

from common.evaluation.metrics import accuracy_percent, mean_std, track_probabilities


def test_accuracy_percent():
    assert accuracy_percent([0, 1, 2, 2], [0, 1, 1, 2]) == 75.0
    with pytest.raises(ValueError):
        accuracy_percent([], [])


def test_track_probabilities_average_each_tracks_own_chunks():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8], [0.6, 0.4]])
    out = track_probabilities(probs, np.array([0, 0, 1, 1]), 2)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.4, 0.6]])
    with pytest.raises(ValueError, match="without chunks"):
        track_probabilities(probs, np.array([0, 0, 0, 0]), 2)


def test_mean_std_is_sample_std():
    assert mean_std([80.0, 90.0]) == pytest.approx((85.0, np.std([80, 90], ddof=1)))
    assert mean_std([70.0]) == (70.0, 0.0)
