"""CRNN-TF's own layers: the eight-direction scanner (Sec. III-C, Fig. 3) and a 2-D Grid LSTM
(Kalchbrenner, Danihelka & Graves 2015, "Grid Long Short-Term Memory", Sec. 2-3).

Orientation of a feature map ``(B, H, W, C)``: rows ``H`` are mel-frequency (row 0 is the lowest
band, the first row of the array), columns ``W`` are time (column 0 is the earliest frame). The
scanner names follow Fig. 3, with the vertices of the *array*: A = top-left (row 0, column 0),
B = top-right, C = bottom-left, D = bottom-right; ``r`` = row-wise, ``c`` = column-wise:

============  ==========  ==============  ===========
scanner       E (rows)    F (columns)     G
============  ==========  ==============  ===========
``Ar``        top-down    left-to-right   row-wise
``Ac``        top-down    left-to-right   column-wise
``Br``        top-down    right-to-left   row-wise
``Bc``        top-down    right-to-left   column-wise
``Cr``        bottom-up   left-to-right   row-wise
``Cc``        bottom-up   left-to-right   column-wise
``Dr``        bottom-up   right-to-left   row-wise
``Dc``        bottom-up   right-to-left   column-wise
============  ==========  ==============  ===========

(Sec. III-C: "A_r ... (E=top-down, F=left-to-right, G=row-wise)" and "C_c ... (E=bottom-up,
F=left-to-right, G=column-wise)"; B and D follow.) A row-wise scan reads a whole row in its F
direction, then the next row in its E direction (a raster scan, not a zig-zag); a column-wise scan
reads a whole column in its E direction, then the next column in its F direction. On a spectrogram
*image* high frequencies are usually drawn at the top; then A/C and B/D swap names. All eight
together are the same either way; only the naming of single scanners in the Fig. 5 ablation
depends on it.

Two readings of a scan as a sequence (:data:`READINGS`), both visiting the positions in the order
above:

- ``"raster"`` (the default; the Grid LSTM row): one step per map position, ``H * W`` steps of
  ``C`` values (CRNN-TF's 6 x 6 x 128 map: 36 steps of 128).
- ``"whole_row"``: one step per whole row (row-wise scanners: ``H`` steps of ``W * C`` values) or
  whole column (column-wise: ``W`` steps of ``H * C``); 6 steps of 768 on the paper's map, the
  reading of the authors' notebook (``FishInMedi/CRNN-TF`` ``1.ipynb`` cell 11 L74-103). In this
  reading the within-row direction (F of a row-wise scanner, E of a column-wise one) only
  permutes the values inside each step, which a recurrent layer's input projection absorbs:
  ``Ar``/``Br``, ``Cr``/``Dr``, ``Ac``/``Cc`` and ``Bc``/``Dc`` then feed the same function class.
"""

from __future__ import annotations

import math

import keras
from keras import ops

#: The eight scanners in the order of CRNN-TF Eq. (1).
DIRECTIONS = ("Ar", "Ac", "Br", "Bc", "Cr", "Cc", "Dr", "Dc")

#: How a scan is cut into sequence steps: one map position per step, or one whole row / column.
READINGS = ("raster", "whole_row")

#: scanner -> (bottom_up, right_to_left, column_wise)
_SCAN = {"Ar": (False, False, False), "Ac": (False, False, True),
         "Br": (False, True, False), "Bc": (False, True, True),
         "Cr": (True, False, False), "Cc": (True, False, True),
         "Dr": (True, True, False), "Dc": (True, True, True)}


def scan_order(direction: str, height: int, width: int) -> list[tuple[int, int]]:
    """The (row, column) positions a scanner visits, in order (a plain-Python reference).

    Raises:
        ValueError: unknown scanner name.
    """
    if direction not in _SCAN:
        raise ValueError(f"unknown scanner {direction!r}; use one of {DIRECTIONS}")
    bottom_up, right_to_left, column_wise = _SCAN[direction]
    rows = list(range(height))[::-1] if bottom_up else list(range(height))
    cols = list(range(width))[::-1] if right_to_left else list(range(width))
    if column_wise:
        return [(r, c) for c in cols for r in rows]
    return [(r, c) for r in rows for c in cols]


def _check_scan(direction: str, reading: str) -> None:
    if direction not in _SCAN:
        raise ValueError(f"unknown scanner {direction!r}; use one of {DIRECTIONS}")
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}; use one of {READINGS}")


def scan_steps(direction: str, height: int, width: int, reading: str = "raster") -> list[list[tuple[int, int]]]:
    """The (row, column) positions each sequence step holds, steps in order (a plain-Python reference).

    ``"raster"``: one position per step (:func:`scan_order`); ``"whole_row"``: the positions of
    :func:`scan_order` grouped by whole rows (row-wise scanners, ``width`` per step) or whole
    columns (column-wise scanners, ``height`` per step).

    Raises:
        ValueError: unknown scanner name or reading.
    """
    _check_scan(direction, reading)
    order = scan_order(direction, height, width)
    if reading == "raster":
        return [[position] for position in order]
    size = height if _SCAN[direction][2] else width
    return [order[i:i + size] for i in range(0, len(order), size)]


@keras.saving.register_keras_serializable(package="crnn_tf")
class DirectionalScan(keras.layers.Layer):
    """Turn a feature map into the sequence one scanner reads (CRNN-TF Sec. III-C, Fig. 3).

    Args:
        direction: one of :data:`DIRECTIONS`.
        reading: ``"raster"`` (one position per step) or ``"whole_row"`` (one whole row / column per
            step), see the module docstring.

    Call arguments:
        feature_map: tensor ``(B, H, W, C)`` (H frequency rows, W time columns).

    Returns:
        ``"raster"``: tensor ``(B, H * W, C)``: the map's ``C``-vectors in the scanner's order
        (:func:`scan_order`). ``"whole_row"``: ``(B, H, W * C)`` for a row-wise scanner, ``(B, W,
        H * C)`` for a column-wise one: step ``t`` holds the ``C``-vectors of :func:`scan_steps`
        ``[t]``, concatenated in that order.

    Raises:
        ValueError: unknown direction or reading.
    """

    def __init__(self, direction: str, reading: str = "raster", **kwargs):
        _check_scan(direction, reading)
        super().__init__(**kwargs)
        self.direction = direction
        self.reading = reading

    def call(self, feature_map):
        bottom_up, right_to_left, column_wise = _SCAN[self.direction]
        x = feature_map
        if bottom_up:
            x = ops.flip(x, axis=1)
        if right_to_left:
            x = ops.flip(x, axis=2)
        if column_wise:
            x = ops.transpose(x, (0, 2, 1, 3))
        if self.reading == "whole_row":
            return ops.reshape(x, (-1, x.shape[1], x.shape[2] * x.shape[3]))
        return ops.reshape(x, (-1, x.shape[1] * x.shape[2], x.shape[3]))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        if self.reading == "raster":
            return (batch, height * width, channels)
        if _SCAN[self.direction][2]:
            return (batch, width, height * channels)
        return (batch, height, width * channels)

    def get_config(self):
        return {**super().get_config(), "direction": self.direction, "reading": self.reading}


@keras.saving.register_keras_serializable(package="crnn_tf")
class MultiDirectionalScan(keras.layers.Layer):
    """Several scanners at once, step-aligned: the input of side-by-side recurrent blocks.

    Args:
        directions: scanner names (a non-empty subset of :data:`DIRECTIONS`, in output order).
        reading: ``"raster"`` or ``"whole_row"`` (see :class:`DirectionalScan`).

    Call arguments:
        feature_map: tensor ``(B, H, W, C)``.

    Returns:
        ``"raster"``: tensor ``(B, H * W, D * C)`` with ``D = len(directions)``: step ``t`` holds, for
        every scanner ``d`` in order, the ``C``-vector that scanner reads at its step ``t``
        (``out[:, t, d*C:(d+1)*C] == DirectionalScan(directions[d])(map)[:, t]``).
        ``"whole_row"``: ``(B, S, D * S' * C)`` likewise, with ``S`` steps of ``S' * C`` values per
        scanner.

    Raises:
        ValueError: no or unknown scanners, unknown reading; with ``"whole_row"``, row-wise and
        column-wise scanners on a map that is not square (their steps differ in number and size).
    """

    def __init__(self, directions, reading: str = "raster", **kwargs):
        directions = tuple(directions)
        if not directions or any(d not in _SCAN for d in directions):
            raise ValueError(f"directions must be a non-empty subset of {DIRECTIONS}, got {directions}")
        _check_scan(directions[0], reading)
        super().__init__(**kwargs)
        self.directions = directions
        self.reading = reading
        self._scanners = [DirectionalScan(d, reading) for d in directions]

    def build(self, input_shape):
        shapes = {tuple(scan.compute_output_shape(input_shape)[1:]) for scan in self._scanners}
        if len(shapes) > 1:
            raise ValueError(f"scanners {self.directions} give sequences of different shapes {sorted(shapes)} "
                             f"on a map of {tuple(input_shape[1:])}: they cannot run side by side")
        super().build(input_shape)

    def call(self, feature_map):
        return ops.concatenate([scan(feature_map) for scan in self._scanners], axis=-1)

    def compute_output_shape(self, input_shape):
        batch, steps, size = self._scanners[0].compute_output_shape(input_shape)
        return (batch, steps, len(self.directions) * size)

    def get_config(self):
        return {**super().get_config(), "directions": list(self.directions), "reading": self.reading}


@keras.saving.register_keras_serializable(package="crnn_tf")
class BlockGlorotUniform(keras.initializers.RandomUniform):
    """Glorot (Xavier) uniform initialisation of a stack of independent matrices.

    A weight of shape ``(..., fan_in, fan_out)`` (leading axes: independent blocks, e.g. one per
    scanner in :class:`GridLSTMCell`) is drawn from ``U(-l, l)`` with
    ``l = sqrt(6 / (fan_in + fan_out))`` computed from the *last two* axes, so that every block
    starts at the scale Glorot uniform gives one ``(fan_in, fan_out)`` matrix alone (standard
    deviation ``l / sqrt(3)``), whatever the number of blocks. Keras' ``glorot_uniform`` instead
    multiplies both fans by the product of the leading axes (it reads them as a convolution's
    receptive field), which would shrink the scale by ``sqrt(blocks)``.

    Source: Glorot & Bengio 2010, Eq. (16) (the Keras default of recurrent kernels' input weights,
    used here per block).

    Args:
        seed: int or ``keras.random.SeedGenerator`` (as every Keras random initialiser).

    Call arguments:
        shape: at least 2-D; dtype: float dtype (default: Keras' floatx).

    Returns:
        tensor of ``shape``.

    Raises:
        ValueError: ``shape`` has fewer than two axes.
    """

    def __init__(self, seed=None):
        super().__init__(minval=-1.0, maxval=1.0, seed=seed)

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"BlockGlorotUniform needs a weight of at least 2 axes, got shape {tuple(shape)}")
        limit = math.sqrt(6.0 / (shape[-2] + shape[-1]))
        return keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=self.seed)

    def get_config(self):
        config = super().get_config()
        return {"seed": config["seed"]}


@keras.saving.register_keras_serializable(package="crnn_tf")
class GridLSTMCell(keras.layers.Layer):
    """One step of ``blocks`` independent 2-D Grid LSTM blocks along a sequence (time x depth).

    Kalchbrenner et al. 2015, Eq. (1)-(2): a grid block receives the hidden and memory vectors
    of both dimensions, concatenates the hidden vectors into ``H = [h_time, h_depth]`` and updates
    each dimension with its own LSTM transform (own weights) of ``H``::

        [i, f, g, o] = H @ W_d + b_d                         (d = time or depth)
        m_d' = sigmoid(f) * m_d + sigmoid(i) * tanh(g)
        h_d' = tanh(sigmoid(o) * m_d')                        (output_form="grid", Eq. (1))
        h_d' = sigmoid(o) * tanh(m_d')                        (output_form="standard")

    Along the sequence, step ``t`` of layer ``l`` gets ``(h_time, m_time)`` from step ``t - 1`` of
    the same layer and ``(h_depth, m_depth)`` from layer ``l - 1`` at step ``t``. At the bottom,
    ``h_depth`` is the input projected to ``units`` (``x @ W_in``, Sec. 3.3 of the Grid LSTM
    paper) and ``m_depth`` is zero. A block's output is its top layer's ``h_depth'``.

    ``blocks`` blocks with *separate* weights run side by side on separate slices of the input
    (CRNN-TF: one block per scanner); computing them together (batched matrix products) is the
    same as ``blocks`` separate layers, with one recurrent loop instead of ``blocks``.

    Args:
        units: size of every hidden and memory vector of a block (CRNN-TF: 32).
        depth: number of stacked grid layers along the depth dimension (CRNN-TF does not say; 1).
        blocks: number of independent blocks.
        output_form: ``"grid"`` (Kalchbrenner Eq. (1), ``tanh(o * m)``) or ``"standard"``
            (``o * tanh(m)``, the form of ``tf.contrib.rnn.GridLSTMCell``).
        kernel_regularizer, bias_regularizer: applied to every kernel / bias (CRNN-TF: L2 1e-6).

    Call arguments:
        inputs: ``(B, blocks * input_dim)`` (block ``k`` reads slice ``k``); states:
        ``[h_time_1, m_time_1, ..., h_time_L, m_time_L]``, each ``(B, blocks * units)``.

    Returns:
        ``(output (B, blocks * units), new_states)``; block ``k``'s output is slice ``k``.

    Weights (leading axis: block): ``input_kernel (blocks, input_dim, units)``; per layer ``l``:
    ``time_kernel_l, depth_kernel_l (blocks, 2 units, 4 units)`` and ``time_bias_l, depth_bias_l
    (blocks, 4 units)``, gate order i, f, g, o; forget-gate biases start at 1 (as Keras' LSTM
    ``unit_forget_bias``). Kernels start Glorot-uniform *per block* (:class:`BlockGlorotUniform`):
    the initial scale of a block does not depend on how many blocks run side by side.
    """

    def __init__(self, units: int, depth: int = 1, blocks: int = 1, output_form: str = "grid",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        if output_form not in ("grid", "standard"):
            raise ValueError(f"output_form must be 'grid' or 'standard', not {output_form!r}")
        if units < 1 or depth < 1 or blocks < 1:
            raise ValueError("units, depth and blocks must be positive")
        super().__init__(**kwargs)
        self.units = units
        self.depth = depth
        self.blocks = blocks
        self.output_form = output_form
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.state_size = [blocks * units] * (2 * depth)
        self.output_size = blocks * units

    def build(self, input_shape):
        units, blocks = self.units, self.blocks
        if input_shape[-1] % blocks:
            raise ValueError(f"input size {input_shape[-1]} is not a multiple of blocks={blocks}")
        self.input_dim = input_shape[-1] // blocks

        def forget_bias(shape, dtype=None):
            one = ops.concatenate([ops.zeros((units,)), ops.ones((units,)), ops.zeros((2 * units,))])
            return ops.tile(one[None], (blocks, 1))

        self.input_kernel = self.add_weight(shape=(blocks, self.input_dim, units), initializer=BlockGlorotUniform(),
                                            regularizer=self.kernel_regularizer, name="input_kernel")
        self.time_kernels, self.depth_kernels, self.time_biases, self.depth_biases = [], [], [], []
        for layer in range(self.depth):
            for dim, kernels, biases in (("time", self.time_kernels, self.time_biases),
                                         ("depth", self.depth_kernels, self.depth_biases)):
                kernels.append(self.add_weight(shape=(blocks, 2 * units, 4 * units), initializer=BlockGlorotUniform(),
                                               regularizer=self.kernel_regularizer,
                                               name=f"{dim}_kernel_{layer}"))
                biases.append(self.add_weight(shape=(blocks, 4 * units), initializer=forget_bias,
                                              regularizer=self.bias_regularizer, name=f"{dim}_bias_{layer}"))

    def _lstm(self, hidden, memory, kernel, bias):
        z = ops.einsum("bki,kij->bkj", hidden, kernel) + bias
        i, f, g, o = ops.split(z, 4, axis=-1)
        memory = ops.sigmoid(f) * memory + ops.sigmoid(i) * ops.tanh(g)
        if self.output_form == "grid":
            return ops.tanh(ops.sigmoid(o) * memory), memory
        return ops.sigmoid(o) * ops.tanh(memory), memory

    def call(self, inputs, states, training=False):
        blocks, units = self.blocks, self.units
        x = ops.reshape(inputs, (-1, blocks, self.input_dim))
        h_depth = ops.einsum("bki,kij->bkj", x, self.input_kernel)
        m_depth = ops.zeros_like(h_depth)
        new_states = []
        for layer in range(self.depth):
            h_time = ops.reshape(states[2 * layer], (-1, blocks, units))
            m_time = ops.reshape(states[2 * layer + 1], (-1, blocks, units))
            grid_hidden = ops.concatenate([h_time, h_depth], axis=-1)
            h_time, m_time = self._lstm(grid_hidden, m_time, self.time_kernels[layer], self.time_biases[layer])
            h_depth, m_depth = self._lstm(grid_hidden, m_depth, self.depth_kernels[layer],
                                          self.depth_biases[layer])
            new_states += [ops.reshape(h_time, (-1, blocks * units)), ops.reshape(m_time, (-1, blocks * units))]
        return ops.reshape(h_depth, (-1, blocks * units)), new_states

    def get_config(self):
        return {**super().get_config(), "units": self.units, "depth": self.depth, "blocks": self.blocks,
                "output_form": self.output_form,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer)}


@keras.saving.register_keras_serializable(package="crnn_tf")
class GridLSTM(keras.layers.RNN):
    """``blocks`` side-by-side 2-D Grid LSTM blocks over a sequence (a Keras RNN of
    :class:`GridLSTMCell`).

    Args:
        units, depth, blocks, output_form, kernel_regularizer, bias_regularizer: see
            :class:`GridLSTMCell`.
        return_sequences: return the output of every step instead of the last one.

    Call arguments:
        sequence: ``(B, T, blocks * input_dim)``; ``mask``: optional bool ``(B, T)``.

    Returns:
        ``(B, blocks * units)``: every block's top-layer depth output after the last step, blocks in
        order; or ``(B, T, blocks * units)`` with ``return_sequences``.
    """

    def __init__(self, units: int, depth: int = 1, blocks: int = 1, output_form: str = "grid",
                 kernel_regularizer=None, bias_regularizer=None, return_sequences: bool = False, **kwargs):
        kwargs.pop("cell", None)
        cell = GridLSTMCell(units, depth, blocks, output_form, kernel_regularizer, bias_regularizer,
                            name="grid_lstm_cell")
        super().__init__(cell, return_sequences=return_sequences, **kwargs)
        self._grid = {"units": units, "depth": depth, "blocks": blocks, "output_form": output_form,
                      "kernel_regularizer": keras.regularizers.serialize(cell.kernel_regularizer),
                      "bias_regularizer": keras.regularizers.serialize(cell.bias_regularizer)}

    @property
    def units(self) -> int:
        """Hidden size of one block."""
        return self.cell.units

    def get_config(self):
        config = super().get_config()
        config.pop("cell", None)
        return {**config, **self._grid}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
