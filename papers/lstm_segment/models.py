"""Keras models of the LSTM segment paper: baseline DNNs and LSTM RNNs with a recurrent projection.

- :func:`build_dnn`: frame classifier, sigmoid hidden layers, softmax (Sec. 3.2, Kaldi nnet1 DNN).
- :class:`ProjectedLSTMCell`: the LSTM memory block with peepholes and a recurrent projection
  layer of eqs. (3)-(9), as Kaldi nnet1's ``LstmProjectedStreams`` computes it; a Keras RNN cell.
- :class:`StreamingRNN`: runs an RNN over one window of ``S`` parallel streams, carrying the
  state from window to window (truncated back-propagation through time as Kaldi's
  ``nnet-train-lstm-streams``) and resetting a stream's state when it starts a new track.
- :func:`build_lstm`: the training model (streams) and the inference model (whole tracks, state
  reset per track as Kaldi's ``nnet-forward``), sharing their weights.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from papers.lstm_segment.config import DNNConfig, LSTMConfig


@keras.saving.register_keras_serializable(package="lstm_segment")
class ProjectedLSTMCell(layers.Layer):
    """LSTM memory block with peephole connections and a recurrent projection layer (LSTMP).

    With input ``x_t``, previous projection ``r_{t-1}`` and cell ``c_{t-1}`` (paper eqs. 3-9, in
    the form of Kaldi's ``LstmProjectedStreams``, which feeds the projection ``r`` back, as Sak et
    al. 2014; the paper's eqs. write ``m_{t-1}`` for it)::

        g_t = tanh(W_gx x_t + W_gr r_{t-1} + b_g)
        i_t = sigmoid(W_ix x_t + W_ir r_{t-1} + w_ic * c_{t-1} + b_i)
        f_t = sigmoid(W_fx x_t + W_fr r_{t-1} + w_fc * c_{t-1} + b_f)
        c_t = clip(f_t * c_{t-1} + i_t * g_t, -cell_clip, cell_clip)
        o_t = sigmoid(W_ox x_t + W_or r_{t-1} + w_oc * c_t + b_o)
        m_t = o_t * tanh(c_t)
        r_t = W_rm m_t                     (the cell's output and recurrent state)

    ``*`` is the element-wise product (diagonal peepholes). The output layer (eq. 5, softmax) is a
    separate Dense layer.

    Args:
        units: number of cells (cellDim: 800 or 1500 in the paper).
        projection_units: size of the recurrent projection ``r`` (512 or 1024 in the paper).
        cell_clip: bound of ``|c_t|`` (Kaldi: 50); None disables clipping.
        init_scale: all weights, biases and peepholes start uniform in ``[-init_scale,
            init_scale]`` (Kaldi ``<ParamScale>``, 0.01 in ``make_lstm_proto.py``).

    Call arguments:
        inputs: ``(B, D)`` float32.
        states: ``[r_{t-1} (B, projection_units), c_{t-1} (B, units)]``.

    Returns:
        ``(r_t, [r_t, c_t])``.

    Weights: ``kernel (D, 4U)``, ``recurrent_kernel (P, 4U)``, ``bias (4U,)`` in gate order
    g, i, f, o; ``peephole_i``, ``peephole_f``, ``peephole_o`` ``(U,)``; ``projection (U, P)``.
    """

    def __init__(self, units: int, projection_units: int, cell_clip: float | None = 50.0,
                 init_scale: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.projection_units = int(projection_units)
        self.cell_clip = cell_clip
        self.init_scale = float(init_scale)
        self.state_size = [self.projection_units, self.units]
        self.output_size = self.projection_units

    def build(self, input_shape):
        init = keras.initializers.RandomUniform(-self.init_scale, self.init_scale)
        u, p = self.units, self.projection_units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), initializer=init, name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(p, 4 * u), initializer=init, name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * u,), initializer=init, name="bias")
        self.peephole_i = self.add_weight(shape=(u,), initializer=init, name="peephole_i")
        self.peephole_f = self.add_weight(shape=(u,), initializer=init, name="peephole_f")
        self.peephole_o = self.add_weight(shape=(u,), initializer=init, name="peephole_o")
        self.projection = self.add_weight(shape=(u, p), initializer=init, name="projection")

    def call(self, inputs, states, training=None):
        r_prev, c_prev = states[0], states[1]
        z = ops.matmul(inputs, self.kernel) + ops.matmul(r_prev, self.recurrent_kernel) + self.bias
        z_g, z_i, z_f, z_o = ops.split(z, 4, axis=-1)
        g = ops.tanh(z_g)
        i = ops.sigmoid(z_i + self.peephole_i * c_prev)
        f = ops.sigmoid(z_f + self.peephole_f * c_prev)
        c = f * c_prev + i * g
        if self.cell_clip is not None:
            c = ops.clip(c, -self.cell_clip, self.cell_clip)
        o = ops.sigmoid(z_o + self.peephole_o * c)
        r = ops.matmul(o * ops.tanh(c), self.projection)
        return r, [r, c]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.projection_units), dtype=self.compute_dtype),
                ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "projection_units": self.projection_units,
                "cell_clip": self.cell_clip, "init_scale": self.init_scale}


@keras.saving.register_keras_serializable(package="lstm_segment")
class StreamingRNN(layers.Layer):
    """Run an RNN over one window of ``S`` streams, carrying its state to the next window.

    The state after the window is stored (non-trainable variables, one row per stream) and is the
    initial state of the next call, with no gradient through it: truncated back-propagation
    through time over the window. A stream whose ``reset`` flag is 1 starts from zeros (a new
    track begins on it). This is the multi-stream scheme of Kaldi's ``nnet-train-lstm-streams``.

    Args:
        rnn: a ``keras.layers.RNN`` with ``return_sequences=True, return_state=True``.
        n_streams: ``S``, the fixed batch size.

    Call arguments:
        sequence: ``(S, L, D)`` float32.
        reset: ``(S,)`` float32, 1 where a stream starts a new track at this window.

    Returns:
        ``(S, L, output_size)``.
    """

    def __init__(self, rnn, n_streams: int, **kwargs):
        super().__init__(**kwargs)
        self.rnn = rnn
        self.n_streams = int(n_streams)

    def build(self, sequence_shape, reset_shape=None):
        sizes = self.rnn.cell.state_size
        sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
        self.stream_states = [self.add_weight(shape=(self.n_streams, n), initializer="zeros", trainable=False,
                                              name=f"stream_state_{k}") for k, n in enumerate(sizes)]

    def call(self, sequence, reset):
        keep = 1.0 - ops.expand_dims(ops.cast(reset, sequence.dtype), -1)
        initial = [state * keep for state in self.stream_states]
        outputs = self.rnn(sequence, initial_state=initial)
        for variable, final in zip(self.stream_states, outputs[1:]):
            variable.assign(ops.stop_gradient(final))
        return outputs[0]

    def reset_streams(self):
        """Zero every stream's state (start of an epoch).

        ``ops.zeros(shape, dtype)``, not ``ops.zeros_like(variable)``: the JAX backend cannot read a
        Keras variable as an array there.
        """
        for variable in self.stream_states:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def compute_output_shape(self, sequence_shape, reset_shape=None):
        return (sequence_shape[0], sequence_shape[1], self.rnn.cell.output_size)


def kaldi_affine_initializers(n_in: int, n_out: int, config: DNNConfig, *, first: bool, last: bool):
    """Kaldi ``make_nnet_proto.py`` initialisation of one affine layer of a sigmoid DNN.

    Weights are Gaussian with std ``param_stddev_factor * 35 * sqrt(2 / (n_in + n_out))``, times
    ``sqrt(1/12)`` for the input layer; hidden biases uniform in ``hid_bias_mean -/+
    hid_bias_range / 2``; the output bias is zero.

    Returns:
        ``(kernel_initializer, bias_initializer)``.
    """
    stddev = config.param_stddev_factor * 35.0 * math.sqrt(2.0 / (n_in + n_out))
    if first:
        stddev *= math.sqrt(1.0 / 12.0)
    if last:
        return keras.initializers.RandomNormal(0.0, stddev), "zeros"
    half = config.hid_bias_range / 2.0
    return (keras.initializers.RandomNormal(0.0, stddev),
            keras.initializers.RandomUniform(config.hid_bias_mean - half, config.hid_bias_mean + half))


def build_dnn(config: DNNConfig, n_features: int, n_classes: int) -> keras.Model:
    """Baseline frame DNN (paper Sec. 3.2, Table 2): sigmoid hidden layers and a softmax.

    Args:
        config: layer sizes and initialisation.
        n_features: frame dimension (545 scattering coefficients here; 525 in the paper).
        n_classes: genres (6).

    Returns:
        uncompiled model: float32 ``(B, n_features)`` -> probabilities ``(B, n_classes)``.
    """
    frames = keras.Input((n_features,), name="frames")
    x, n_in = frames, n_features
    for k, units in enumerate(config.hidden_units):
        kernel, bias = kaldi_affine_initializers(n_in, units, config, first=k == 0, last=False)
        x = layers.Dense(units, activation="sigmoid", kernel_initializer=kernel, bias_initializer=bias,
                         name=f"hidden{k + 1}")(x)
        n_in = units
    kernel, bias = kaldi_affine_initializers(n_in, n_classes, config, first=not config.hidden_units, last=True)
    probs = layers.Dense(n_classes, activation="softmax", kernel_initializer=kernel, bias_initializer=bias,
                         name="softmax")(x)
    return keras.Model(frames, probs, name="dnn")


def build_lstm(config: LSTMConfig, n_features: int, n_classes: int) -> tuple[keras.Model, keras.Model]:
    """LSTM RNN of Tables 2 and 4: stacked LSTMP layers and a per-frame softmax (eq. 5).

    Args:
        config: layers ``(projection, cells)``, streams and window length.
        n_features: frame dimension.
        n_classes: genres (6).

    Returns:
        ``(training model, inference model)`` sharing all weights:

        - training: inputs ``{"frames": float32 (S, L, n_features), "reset": float32 (S,)}`` with
          ``S = num_streams``, ``L = bptt_length`` -> probabilities ``(S, L, n_classes)``; its
          :class:`StreamingRNN` layers carry the state between calls;
        - inference: ``float32 (B, T, n_features)`` -> ``(B, T, n_classes)``, every sequence
          starting from a zero state (one track per sequence; the recurrence is causal, so frames
          padded after a track's end do not change its outputs).
    """
    rnns = [layers.RNN(ProjectedLSTMCell(cells, projection, cell_clip=config.cell_clip,
                                         init_scale=config.init_scale, name=f"lstmp{k + 1}_cell"),
                       return_sequences=True, return_state=True, name=f"lstmp{k + 1}")
            for k, (projection, cells) in enumerate(config.layers)]
    head = layers.Dense(n_classes, activation="softmax", name="softmax",
                        kernel_initializer=keras.initializers.RandomNormal(0.0, config.output_stddev),
                        bias_initializer="zeros")

    tracks = keras.Input((None, n_features), name="frames")
    x = tracks
    for rnn in rnns:
        x = rnn(x)[0]
    inference = keras.Model(tracks, head(x), name="lstm_inference")

    s, window = config.num_streams, config.bptt_length
    frames = keras.Input(batch_shape=(s, window, n_features), name="frames")
    reset = keras.Input(batch_shape=(s,), name="reset")
    x = frames
    for k, rnn in enumerate(rnns):
        x = StreamingRNN(rnn, s, name=f"streams{k + 1}")(x, reset)
    training = keras.Model({"frames": frames, "reset": reset}, head(x), name="lstm_streams")
    return training, inference


def streaming_layers(model: keras.Model) -> list[StreamingRNN]:
    """The :class:`StreamingRNN` layers of a training model (to reset their states)."""
    return [layer for layer in model.layers if isinstance(layer, StreamingRNN)]
