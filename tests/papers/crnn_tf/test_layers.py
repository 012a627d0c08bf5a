"""CRNN-TF scanners (exact orders, Fig. 3) and the Grid LSTM layer (shapes, a step by hand, gradients)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from papers.crnn_tf.layers import (DIRECTIONS, DirectionalScan, GridLSTM, GridLSTMCell, MultiDirectionalScan,
                                   scan_order, scan_steps)

# a 2 x 3 map (rows = frequency, columns = time) whose values name their position
#   row 0:  0 1 2        A . B
#   row 1:  3 4 5        C . D
MAP = np.arange(6, dtype="float32").reshape(1, 2, 3, 1)

EXPECTED = {
    "Ar": [0, 1, 2, 3, 4, 5],   # from A: top-down, left-to-right, row by row
    "Ac": [0, 3, 1, 4, 2, 5],   # from A: column by column
    "Br": [2, 1, 0, 5, 4, 3],   # from B (top-right)
    "Bc": [2, 5, 1, 4, 0, 3],
    "Cr": [3, 4, 5, 0, 1, 2],   # from C (bottom-left)
    "Cc": [3, 0, 4, 1, 5, 2],
    "Dr": [5, 4, 3, 2, 1, 0],   # from D (bottom-right)
    "Dc": [5, 2, 4, 1, 3, 0],
}


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_scanner_reads_the_map_in_its_exact_order(direction):
    sequence = np.asarray(DirectionalScan(direction)(MAP))
    assert sequence.shape == (1, 6, 1)
    assert sequence[0, :, 0].astype(int).tolist() == EXPECTED[direction]
    # the plain-Python reference agrees
    assert [3 * r + c for r, c in scan_order(direction, 2, 3)] == EXPECTED[direction]


def test_scanners_keep_channel_vectors_whole_and_batch_items_apart():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype("float32")
    for direction in DIRECTIONS:
        seq = np.asarray(DirectionalScan(direction)(x))
        for step, (r, c) in enumerate(scan_order(direction, 3, 4)):
            np.testing.assert_array_equal(seq[:, step], x[:, r, c])


def test_multi_directional_scan_aligns_the_scanners_steps():
    x = np.random.default_rng(4).standard_normal((2, 3, 2, 4)).astype("float32")
    both = np.asarray(MultiDirectionalScan(("Dc", "Ar"))(x))
    assert both.shape == (2, 6, 8)
    np.testing.assert_array_equal(both[..., :4], np.asarray(DirectionalScan("Dc")(x)))
    np.testing.assert_array_equal(both[..., 4:], np.asarray(DirectionalScan("Ar")(x)))
    with pytest.raises(ValueError):
        MultiDirectionalScan(())


def test_eight_scans_are_distinct_permutations():
    orders = {tuple(EXPECTED[d]) for d in DIRECTIONS}
    assert len(orders) == 8 and all(sorted(o) == list(range(6)) for o in orders)
    with pytest.raises(ValueError):
        DirectionalScan("Er")


# whole-row reading of the same 2 x 3 map: one step per row (row-wise) or per column (column-wise)
EXPECTED_WHOLE_ROW = {
    "Ar": [[0, 1, 2], [3, 4, 5]], "Br": [[2, 1, 0], [5, 4, 3]],
    "Cr": [[3, 4, 5], [0, 1, 2]], "Dr": [[5, 4, 3], [2, 1, 0]],
    "Ac": [[0, 3], [1, 4], [2, 5]], "Bc": [[2, 5], [1, 4], [0, 3]],
    "Cc": [[3, 0], [4, 1], [5, 2]], "Dc": [[5, 2], [4, 1], [3, 0]],
}


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_whole_row_reading_gives_one_step_per_row_or_column(direction):
    sequence = np.asarray(DirectionalScan(direction, reading="whole_row")(MAP))
    assert sequence[0].astype(int).tolist() == EXPECTED_WHOLE_ROW[direction]
    assert [[3 * r + c for r, c in step] for step in scan_steps(direction, 2, 3, "whole_row")] == \
        EXPECTED_WHOLE_ROW[direction]
    assert [[3 * r + c for r, c in step] for step in scan_steps(direction, 2, 3)] == \
        [[v] for v in EXPECTED[direction]]
    # channels stay whole: step t is the concatenation of the C-vectors of its positions
    x = np.random.default_rng(6).standard_normal((2, 2, 3, 4)).astype("float32")
    seq = np.asarray(DirectionalScan(direction, reading="whole_row")(x))
    steps = scan_steps(direction, 2, 3, "whole_row")
    assert seq.shape == (2, len(steps), 4 * len(steps[0]))
    for t, step in enumerate(steps):
        np.testing.assert_array_equal(seq[:, t], np.concatenate([x[:, r, c] for r, c in step], axis=-1))
    assert tuple(DirectionalScan(direction, reading="whole_row").compute_output_shape((None, 2, 3, 4))) == \
        (None, len(steps), 4 * len(steps[0]))


def test_whole_row_reading_turns_the_within_row_direction_into_a_permutation():
    # Ar and Br read the same rows in the same order; only the values inside a step are permuted
    x = np.random.default_rng(7).standard_normal((1, 6, 6, 2)).astype("float32")
    a = np.asarray(DirectionalScan("Ar", reading="whole_row")(x))
    b = np.asarray(DirectionalScan("Br", reading="whole_row")(x))
    assert a.shape == (1, 6, 12)
    assert not np.array_equal(a, b)
    perm = np.array([(5 - c) * 2 + k for c in range(6) for k in range(2)])  # reverse columns, keep channels
    np.testing.assert_array_equal(a[..., perm], b)


def test_multi_directional_whole_row_scan_needs_equal_steps():
    square = np.random.default_rng(8).standard_normal((2, 3, 3, 2)).astype("float32")
    out = np.asarray(MultiDirectionalScan(("Ar", "Dc"), reading="whole_row")(square))
    assert out.shape == (2, 3, 2 * 6)
    np.testing.assert_array_equal(out[..., 6:], np.asarray(DirectionalScan("Dc", reading="whole_row")(square)))
    wide = np.zeros((1, 2, 3, 2), "float32")
    assert np.asarray(MultiDirectionalScan(("Ar", "Dr"), reading="whole_row")(wide)).shape == (1, 2, 12)
    with pytest.raises(ValueError, match="different shapes"):
        MultiDirectionalScan(("Ar", "Ac"), reading="whole_row")(wide)
    with pytest.raises(ValueError, match="reading"):
        DirectionalScan("Ar", reading="zigzag")
    layer = MultiDirectionalScan(("Ar",), reading="whole_row")
    assert MultiDirectionalScan.from_config(layer.get_config()).reading == "whole_row"

def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _numpy_lstm(hidden, memory, kernel, bias, form):
    z = hidden @ kernel + bias
    i, f, g, o = np.split(z, 4, axis=-1)
    m = _sigmoid(f) * memory + _sigmoid(i) * np.tanh(g)
    h = np.tanh(_sigmoid(o) * m) if form == "grid" else _sigmoid(o) * np.tanh(m)
    return h, m


@pytest.mark.parametrize("form", ["grid", "standard"])
def test_grid_lstm_step_matches_a_hand_computation(form):
    # two blocks side by side, each checked on its own slice with its own weights
    units, depth, blocks, batch, n_in = 3, 2, 2, 2, 4
    cell = GridLSTMCell(units, depth=depth, blocks=blocks, output_form=form)
    cell.build((batch, blocks * n_in))
    rng = np.random.default_rng(1)
    for w in cell.weights:  # random weights, biases included
        w.assign(rng.standard_normal(w.shape).astype("float32") * 0.5)
    x = rng.standard_normal((batch, blocks * n_in)).astype("float32")
    states = [rng.standard_normal((batch, blocks * units)).astype("float32") for _ in range(2 * depth)]
    out, new_states = cell(x, states)

    w = {v.name: v.numpy() for v in cell.weights}
    for k in range(blocks):
        own = slice(k * units, (k + 1) * units)
        h_depth = x[:, k * n_in:(k + 1) * n_in] @ w["input_kernel"][k]
        m_depth = np.zeros((batch, units))
        for layer in range(depth):
            grid = np.concatenate([states[2 * layer][:, own], h_depth], axis=1)
            h_time, m_time = _numpy_lstm(grid, states[2 * layer + 1][:, own], w[f"time_kernel_{layer}"][k],
                                         w[f"time_bias_{layer}"][k], form)
            h_depth, m_depth = _numpy_lstm(grid, m_depth, w[f"depth_kernel_{layer}"][k],
                                           w[f"depth_bias_{layer}"][k], form)
            np.testing.assert_allclose(np.asarray(new_states[2 * layer])[:, own], h_time, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(np.asarray(new_states[2 * layer + 1])[:, own], m_time, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(out)[:, own], h_depth, rtol=1e-5, atol=1e-6)


def test_grid_lstm_forget_bias_starts_at_one():
    cell = GridLSTMCell(2, blocks=2)
    cell.build((1, 6))
    assert cell.time_biases[0].numpy().tolist() == [[0, 0, 1, 1, 0, 0, 0, 0]] * 2
    with pytest.raises(ValueError, match="multiple"):
        GridLSTMCell(2, blocks=2).build((1, 5))


def test_side_by_side_blocks_equal_separate_layers():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 2 * 3)).astype("float32")
    together = GridLSTM(4, blocks=2)
    together(x)
    for w in together.weights:
        w.assign(rng.standard_normal(w.shape).astype("float32") * 0.3)
    out = np.asarray(together(x))
    for k in range(2):
        alone = GridLSTM(4)
        alone(x[..., 3 * k:3 * (k + 1)])
        for a, b in zip(alone.weights, together.weights):
            a.assign(b.numpy()[k:k + 1])
        np.testing.assert_allclose(np.asarray(alone(x[..., 3 * k:3 * (k + 1)])), out[:, 4 * k:4 * (k + 1)],
                                   rtol=1e-5, atol=1e-6)


def test_grid_lstm_layer_shapes_mask_and_serialisation():
    x = np.random.default_rng(2).standard_normal((3, 7, 5)).astype("float32")
    layer = GridLSTM(4, depth=2, kernel_regularizer=keras.regularizers.L2(1e-6),
                     bias_regularizer=keras.regularizers.L2(1e-6))
    assert tuple(layer(x).shape) == (3, 4)
    assert len(layer.losses) == 1 + 2 * 2 * 2  # input kernel + (kernel, bias) x (time, depth) x layers
    assert tuple(GridLSTM(4, return_sequences=True)(x).shape) == (3, 7, 4)
    # a masked tail does not change the output
    mask = np.ones((3, 7), bool)
    mask[0, 4:] = False
    changed = x.copy()
    changed[0, 4:] = 100.0
    np.testing.assert_allclose(np.asarray(layer(x, mask=mask))[0], np.asarray(layer(changed, mask=mask))[0],
                               rtol=1e-5)
    model = keras.Sequential([keras.Input((7, 5)), layer])
    clone = keras.Sequential.from_config(model.get_config())
    assert clone.layers[0].cell.depth == 2 and clone.layers[0].units == 4
    assert tuple(GridLSTM(4, blocks=5)(x).shape) == (3, 20)


def test_gradients_reach_every_grid_lstm_weight():
    x = tf.constant(np.random.default_rng(3).standard_normal((2, 6, 3)).astype("float32"))
    layer = GridLSTM(4, depth=2)
    layer(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x)))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(grads) == 1 + 4 * 2
    for weight, grad in zip(layer.trainable_weights, grads):
        assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0, weight.name


@pytest.mark.parametrize("blocks", [1, 2, 4, 8])
def test_grid_lstm_initial_weights_do_not_depend_on_the_number_of_blocks(blocks):
    # Glorot uniform of one block's (in, out) matrix: U(-l, l), l = sqrt(6 / (in + out)), std l / sqrt(3).
    # CRNN-TF's blocks: 128 inputs, 32 units -> input kernel (128, 32): l = 0.1936; kernels (64, 128): l = 0.1768.
    keras.utils.set_random_seed(0)
    n_in, units = 128, 32
    cell = GridLSTMCell(units, blocks=blocks)
    cell.build((None, blocks * n_in))
    kernels = [cell.input_kernel, cell.time_kernels[0], cell.depth_kernels[0]]
    for kernel in kernels:
        values = kernel.numpy()
        fan_in, fan_out = values.shape[1:]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        for block in values:  # every block on its own has the single-block Glorot scale
            assert np.abs(block).max() <= limit + 1e-7
            assert np.abs(block).max() > 0.99 * limit, (kernel.name, np.abs(block).max(), limit)
            assert block.std() == pytest.approx(limit / np.sqrt(3), rel=0.05), kernel.name


def test_block_glorot_uniform_round_trips_and_rejects_vectors():
    from papers.crnn_tf.layers import BlockGlorotUniform

    init = BlockGlorotUniform(seed=3)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    np.testing.assert_array_equal(np.asarray(init((2, 5, 7))), np.asarray(clone((2, 5, 7))))
    with pytest.raises(ValueError, match="2 axes"):
        init((4,))
