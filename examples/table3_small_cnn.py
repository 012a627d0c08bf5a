"""A small two-layer CNN on MCCLSTM Table 3's standardised log-mel chunks (an example scheme module).

Run it under Table 3's protocol (10-fold stratified 80/10/10 splits, 40-band log-mel chunks of
80 frames = 1.858 s standardised per band on each fold's training chunks, SGD with Nesterov
momentum, early stopping on the validation loss, track = mean of its chunks' softmax, accuracy)::

    make table3-gtzan SCHEME_MODULE=examples/table3_small_cnn.py            # the full protocol
    make table3-gtzan GTZAN_DIR=../shared/data/gtzan-mini SCHEME_MODULE=examples/table3_small_cnn.py \\
        FOLDS=2 EPOCHS=2                                                    # a quick try
    python -m common.cli run mcclstm.table3_gtzan --scheme-module examples/table3_small_cnn.py

Its row ``SmallCNN`` goes to ``results/mcclstm/partial/table3_gtzan/<caps>_scheme-module-SmallCNN/``
with the paper's rows of matching records (add ``SCHEMES=CNNs-3`` to train one of them beside it).
The same module runs under Tables 4 and 5 (``make table4-ballroom`` / ``make table5-soundtracks``):
``n_outputs`` is then 8 or 5.

Not a model of the paper: a plain example of the interface (README, "Evaluate your own model").
"""

import keras
from keras import layers

#: The row's name in the table (default: the file's name).
SCHEME_NAME = "SmallCNN"

#: Overrides of the table's chunk TrainingConfig (papers/mcclstm/config.py: SGD lr 0.01, momentum 0.9,
#: batch 32 chunks, at most 100 epochs, patience 10); anything not named keeps the table's value.
TRAINING = {"learning_rate": 0.005}


def build_model(input_shape, n_outputs):
    """Two conv/pool blocks, global average pooling and a softmax.

    Args:
        input_shape: ``(40, 80)``: one standardised chunk, mel bands x frames (float32).
        n_outputs: number of classes (10 genres for GTZAN).

    Returns:
        an uncompiled Keras model ``(B, 40, 80) -> (B, n_outputs)`` class probabilities.
    """
    chunk = keras.Input(shape=input_shape, name="chunk")
    x = layers.Reshape((*input_shape, 1))(chunk)
    for filters in (16, 32):
        x = layers.Conv2D(filters, (3, 3), padding="same", activation="relu")(x)
        x = layers.MaxPooling2D((2, 2))(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    probabilities = layers.Dense(n_outputs, activation="softmax", dtype="float32")(x)
    return keras.Model(chunk, probabilities, name="small_cnn")
