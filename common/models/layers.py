"""Small Keras layers shared by several papers' models."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="common")
class SequenceMask(keras.layers.Layer):
    """Boolean step mask from true sequence lengths, for padded batches of chunk sequences.

    Call arguments:
        sequence: tensor ``(B, L, ...)`` (only its step count ``L`` is used).
        lengths: int tensor ``(B,)``: number of real steps of each sequence.

    Returns:
        bool tensor ``(B, L)``, True on real steps (``step < length``). Pass it as ``mask=`` to a
        recurrent layer so padded steps never affect its output.
    """

    def call(self, sequence, lengths):
        steps = ops.arange(ops.shape(sequence)[1], dtype="int32")
        return ops.less(ops.expand_dims(steps, 0), ops.expand_dims(ops.cast(lengths, "int32"), 1))

    def compute_output_shape(self, sequence_shape, lengths_shape):
        return (sequence_shape[0], sequence_shape[1])


@keras.saving.register_keras_serializable(package="common")
class PerStep(keras.layers.Layer):
    """Apply a model to every step of a sequence by folding the steps into the batch.

    Like ``keras.layers.TimeDistributed``, but as one reshape -> model -> reshape, so the inner
    model sees a single batch of ``B * L`` items (fast on a GPU). Keras 3.15's TimeDistributed with
    an unknown number of steps maps the steps with ``vectorized_map``, which on TensorFlow gave
    outputs for real steps that depended on the padded steps beside them; this layer does not.

    Args:
        inner: a Keras model or layer mapping ``(N, *item_shape)`` to ``(N, D)``.

    Call arguments:
        sequence: tensor ``(B, L, *item_shape)``.

    Returns:
        tensor ``(B, L, D)``.
    """

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, sequence):
        shape = ops.shape(sequence)
        items = ops.reshape(sequence, (-1, *sequence.shape[2:]))
        encoded = self.inner(items)
        return ops.reshape(encoded, (shape[0], shape[1], encoded.shape[-1]))

    def compute_output_shape(self, input_shape):
        inner_shape = self.inner.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], inner_shape[-1])

    def get_config(self):
        return {**super().get_config(), "inner": keras.saving.serialize_keras_object(self.inner)}

    @classmethod
    def from_config(cls, config):
        config["inner"] = keras.saving.deserialize_keras_object(config["inner"])
        return cls(**config)
