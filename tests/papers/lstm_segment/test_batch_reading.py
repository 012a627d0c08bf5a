"""The two readings of Table 3's "batch size 60" (streams x frames per minibatch)."""

import numpy as np
import pytest

from papers.lstm_segment import config as cfg
from papers.lstm_segment.protocol import StreamBatches, stream_layout


def test_default_reading_is_60_streams_of_20_frames():
    assert cfg.DEFAULT_BATCH_SIZE_READING == "streams"
    for lstm in cfg.Settings().lstms:
        assert (lstm.num_streams, lstm.bptt_length) == (60, 20)


@pytest.mark.parametrize("reading,streams,frames", [("streams", 60, 20), ("kaldi", 4, 60)])
def test_reading_gives_the_expected_minibatch_shapes(reading, streams, frames):
    settings = cfg.settings_with_batch_size_reading(cfg.Settings(), reading)
    assert [m.name for m in settings.lstms] == [m.name for m in cfg.LSTMS]
    config = settings.lstms[0]
    assert (config.num_streams, config.bptt_length) == (streams, frames)
    assert config.layers == cfg.LSTMS[0].layers and config.schedule == cfg.LSTMS[0].schedule
    # 70 tracks of 130 frames, 3 features: minibatches (streams, frames, 3)
    lengths = [130] * 70
    index, reset = stream_layout(lengths, config.num_streams, config.bptt_length)
    batches = StreamBatches(np.zeros((sum(lengths), 3), np.float32), np.zeros(sum(lengths), np.int64), index, reset)
    inputs, labels, weights = batches[0]
    assert inputs["frames"].shape == (streams, frames, 3)
    assert inputs["reset"].shape == (streams,) and labels.shape == weights.shape == (streams, frames)
    assert int(weights.sum()) == streams * frames
    # every frame is used exactly once over the epoch
    assert sorted(index[index >= 0].tolist()) == list(range(sum(lengths)))


def test_kaldi_reading_keeps_fewer_frames_per_update_and_more_steps():
    lengths = [1370] * 60
    streams = cfg.with_batch_size_reading(cfg.LSTMS[0], "streams")
    kaldi = cfg.with_batch_size_reading(cfg.LSTMS[0], "kaldi")
    n_streams = len(stream_layout(lengths, streams.num_streams, streams.bptt_length)[0])
    n_kaldi = len(stream_layout(lengths, kaldi.num_streams, kaldi.bptt_length)[0])
    assert streams.num_streams * streams.bptt_length == 5 * kaldi.num_streams * kaldi.bptt_length
    assert n_streams == 69 and n_kaldi == 15 * 23  # ceil(1370/20) = 69; 15 rounds of ceil(1370/60) = 23


def test_unknown_reading_is_rejected():
    with pytest.raises(ValueError, match="unknown batch-size reading 'bptt'"):
        cfg.with_batch_size_reading(cfg.LSTMS[0], "bptt")
