"""A compact tagging CNN on MsE-CNN Table 1's clip spectrograms (an example scheme module).

Run it under Table 1's protocol (MagnaTagATune standard split: folders 0-b train, c validation,
d-f test; one 96 x 1366 log-mel spectrogram per 29.12 s clip; binary cross-entropy, Adam 1e-4,
batch 32, 50 epochs, the checkpoint of the lowest validation loss; macro ROC-AUC and PR-AUC over
the 50 tags)::

    make msecnn-table1-mtat SCHEME_MODULE=examples/msecnn_tagging_cnn.py
    make msecnn-table1-mtat SCHEME_MODULE=examples/msecnn_tagging_cnn.py EPOCHS=2      # a quick try
    python -m common.cli run msecnn.table1_mtat --scheme-module examples/msecnn_tagging_cnn.py

Its row ``TaggingCNN`` goes to ``results/msecnn/partial/table1_mtat/<caps>scheme-module-TaggingCNN/``
beside the paper's rows of matching records.

Not a model of the paper: a plain example of the interface (README, "Evaluate your own model").
With a GPU the table trains under mixed float16, so the sigmoid layer is given ``dtype="float32"``.
"""

import keras
from keras import layers

SCHEME_NAME = "TaggingCNN"

#: Overrides of the table's TrainingConfig (papers/msecnn/config.py); here: stop after 10 epochs
#: without a better validation loss instead of running all 50.
TRAINING = {"patience": 10}


def build_model(input_shape, n_outputs):
    """Batch-normalised input, four conv/pool blocks, global max pooling and 50 sigmoids.

    Args:
        input_shape: ``(96, 1366)``: one clip's log-mel spectrogram, mel bands x frames (float32).
        n_outputs: number of tags (50).

    Returns:
        an uncompiled Keras model ``(B, 96, 1366) -> (B, n_outputs)`` tag probabilities.
    """
    clip = keras.Input(shape=input_shape, name="clip")
    x = layers.Reshape((*input_shape, 1))(clip)
    x = layers.BatchNormalization(axis=1)(x)  # per mel band, as the table's FCN-5 / MsE-CNN
    for filters, pool in ((32, (2, 4)), (64, (2, 4)), (64, (2, 4)), (128, (3, 5))):
        x = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("elu")(x)
        x = layers.MaxPooling2D(pool)(x)
    x = layers.GlobalMaxPooling2D()(x)
    probabilities = layers.Dense(n_outputs, activation="sigmoid", dtype="float32")(x)
    return keras.Model(clip, probabilities, name="tagging_cnn")
