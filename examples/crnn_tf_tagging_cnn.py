"""A compact tagging CNN on CRNN-TF Table I's clip spectrograms (an example scheme module).

Run it under Table I's protocol (MagnaTagATune folders 0-b train, c validation, d-f test; one
96 x 1360 log-mel spectrogram per clip, the first 29 s at 12 kHz in dB, not scaled; binary
cross-entropy, Adam 1e-3 decayed by 0.9 per epoch, batch 32, early stopping with patience 10 on the
validation loss and the best validation checkpoint kept; macro ROC-AUC over the 50 tags, Recall@k,
NDCG@50, JSC, each also as the best epoch on the test split, the authors' selection)::

    make crnn_tf-table1-mtat SCHEME_MODULE=examples/crnn_tf_tagging_cnn.py
    make crnn_tf-table1-mtat SCHEME_MODULE=examples/crnn_tf_tagging_cnn.py EPOCHS=2   # a quick try
    make crnn_tf-fig5-mtat SCHEME_MODULE=examples/crnn_tf_tagging_cnn.py              # beside Fig. 5's bars
    python -m common.cli run crnn_tf.table1_mtat --scheme-module examples/crnn_tf_tagging_cnn.py

Its row ``TagCNN`` goes to
``results/crnn_tf/partial/table1_mtat/<caps>_scheme-module-TagCNN/`` beside the
paper's rows of matching records, and the row's per-tag AUCs join ``table1_mtat_per_tag_auc.csv``.
For the genre tables (II, III) see ``examples/crnn_tf_genre_cnn.py``: there the model ends in a softmax.

Not a model of the paper: a plain example of the interface (README, "Evaluate your own model").
"""

import keras
from keras import layers

#: The row's name in the table (default: the file's name).
SCHEME_NAME = "TagCNN"

#: Overrides of the table's TrainingConfig (papers/crnn_tf/config.py TRAINING: Adam 1e-3 x 0.9 per
#: epoch, batch 32 clips, at most 100 epochs, patience 10); here: at most 60 epochs.
TRAINING = {"epochs": 60}


def build_model(input_shape, n_outputs):
    """A fixed input scaling, four conv/BN/pool blocks, global max pooling and one sigmoid per tag.

    The input is in dB (about -100 to +40) and not scaled by the table: ``(x + 40) / 20`` brings it
    near unit range (a fixed scaling, not an input batch normalisation, whose moving statistics
    would start far from the dB values and need many steps to get there).

    Args:
        input_shape: ``(96, 1360)``: one clip's log-mel spectrogram, mel bands x frames (float32, dB).
        n_outputs: number of tags (50).

    Returns:
        an uncompiled Keras model ``(B, 96, 1360) -> (B, n_outputs)`` tag probabilities.
    """
    clip = keras.Input(shape=input_shape, name="clip")
    x = layers.Reshape((*input_shape, 1))(clip)
    x = layers.Rescaling(1 / 20, offset=2.0)(x)  # (dB + 40) / 20
    for filters, pool in ((32, (2, 4)), (64, (2, 4)), (64, (2, 4)), (128, (3, 5))):
        x = layers.Conv2D(filters, (3, 3), padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("elu")(x)
        x = layers.MaxPooling2D(pool)(x)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dropout(0.5)(x)
    probabilities = layers.Dense(n_outputs, activation="sigmoid", dtype="float32")(x)
    return keras.Model(clip, probabilities, name="crnn_tf_tagging_cnn")
