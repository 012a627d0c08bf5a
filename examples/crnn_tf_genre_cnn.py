"""A small genre CNN on CRNN-TF's clip spectrograms, for Tables II and III (an example scheme module).

Run it under Table III's protocol (GTZAN, 10 stratified folds, 10 % of the tracks held out from
training for validation; one 96 x 1360 log-mel spectrogram per track, the first 29 s at 12 kHz
in dB, not scaled; categorical cross-entropy, Adam 1e-3 decayed by 0.9 per epoch, batch 32, early
stopping with patience 10 and the best validation checkpoint kept; accuracy over the folds), from
scratch as the table's ``CRNN-TF`` row, or under Table II's (FMA medium, 16 genres)::

    make crnn_tf-table3-gtzan SCHEME_MODULE=examples/crnn_tf_genre_cnn.py
    make crnn_tf-table3-gtzan GTZAN_DIR=../shared/data/gtzan-mini SCHEME_MODULE=examples/crnn_tf_genre_cnn.py \\
        FOLDS=1 EPOCHS=1                                                   # a quick try
    make crnn_tf-table2-fma SCHEME_MODULE=examples/crnn_tf_genre_cnn.py
    python -m common.cli run crnn_tf.table3_gtzan --scheme-module examples/crnn_tf_genre_cnn.py

Its row ``GenreCNN`` goes to ``results/crnn_tf/partial/<table>/<caps>_scheme-module-GenreCNN/``
beside the paper's rows of matching records (Table III's transfer rows need the Table I
checkpoint; the module's row does not). For the tagging tables (I, Fig. 5) see
``examples/crnn_tf_tagging_cnn.py``.

Not a model of the paper: a plain example of the interface (README, "Evaluate your own model").
"""

import keras
from keras import layers

SCHEME_NAME = "GenreCNN"


def build_model(input_shape, n_outputs):
    """A fixed input scaling, three conv/pool blocks, global average pooling and a softmax.

    The input is in dB (about -100 to +40) and not scaled by the table: ``(x + 40) / 20`` brings it
    near unit range. No batch normalisation: on a few dozen tracks its moving statistics are far
    from converged after a few epochs, and inference would then see another scale than training.

    Args:
        input_shape: ``(96, 1360)``: one track's log-mel spectrogram, mel bands x frames (float32, dB).
        n_outputs: number of genres (10 for GTZAN, 16 for FMA medium).

    Returns:
        an uncompiled Keras model ``(B, 96, 1360) -> (B, n_outputs)`` genre probabilities.
    """
    clip = keras.Input(shape=input_shape, name="clip")
    x = layers.Reshape((*input_shape, 1))(clip)
    x = layers.Rescaling(1 / 20, offset=2.0)(x)  # (dB + 40) / 20
    for filters, pool in ((16, (2, 4)), (32, (4, 4)), (64, (4, 4))):
        x = layers.Conv2D(filters, (3, 3), padding="same", activation="elu")(x)
        x = layers.MaxPooling2D(pool)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    probabilities = layers.Dense(n_outputs, activation="softmax", dtype="float32")(x)
    return keras.Model(clip, probabilities, name="crnn_tf_genre_cnn")
