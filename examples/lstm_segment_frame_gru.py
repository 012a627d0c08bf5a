"""A GRU frame model for the LSTM segment tables (ISMIR 2004, Tables 2 and 4; an example scheme module).

The model takes the place of the paper's LSTM RNN: it maps a sequence of standardised scattering
frames ``(B, T, 545)`` to a softmax over the 6 genres at every frame ``(B, T, 6)``, and is trained as
the LSTM rows are (windows of 20 frames from 60 streams per minibatch, summed frame cross-entropy,
SGD with momentum 0.8 at a per-frame rate of 2e-5, gradient values clipped to +-5, Kaldi's newbob
schedule on the held-out tracks, at most 50 epochs). Table 2 reports its frame accuracy and its
majority-vote segment accuracy; Table 4 builds the paper's segment features from its frame
posteriors (f_lstm: per-genre max, min, mean and share above k = 0.9; f_fusion: the mean
scattering frame and f_lstm) and reports a linear SVM's accuracy on them (LSeg, FSeg) beside the
majority vote (Seg), with Figure 3's curve over k::

    make lstm_segment-table2-ismir2004 SCHEME_MODULE=examples/lstm_segment_frame_gru.py
    make lstm_segment-table4-ismir2004 SCHEME_MODULE=examples/lstm_segment_frame_gru.py   # reuses its posteriors
    make lstm_segment-table2-ismir2004 SCHEME_MODULE=examples/lstm_segment_frame_gru.py EPOCHS=2   # a quick try

Its row ``FrameGRU`` goes to ``results/lstm_segment/partial/<table>/<caps>_scheme-module-FrameGRU/``.

Padding: zero frames fill the end of a track's last training window (no loss on them) and pad the
shorter tracks of a test batch (their outputs are dropped). A forward GRU never sees frames after
the one it is at, so they cannot change its outputs; the ``Masking`` layer makes that explicit and
would keep a bidirectional layer from reading them.

Not a model of the paper: a plain example of the interface (README, "Evaluate your own model").
"""

import keras
from keras import layers

SCHEME_NAME = "FrameGRU"


def build_model(input_shape, n_outputs):
    """Masking, one GRU over the frames and a per-frame softmax.

    Args:
        input_shape: ``(None, 545)``: a sequence of any length of standardised scattering frames (float32).
        n_outputs: number of genres (6).

    Returns:
        an uncompiled Keras model ``(B, T, 545) -> (B, T, n_outputs)``: class probabilities per frame.
    """
    frames = keras.Input(shape=input_shape, name="frames")
    x = layers.Masking(mask_value=0.0)(frames)
    x = layers.GRU(64, return_sequences=True)(x)
    probabilities = layers.Dense(n_outputs, activation="softmax", dtype="float32")(x)
    return keras.Model(frames, probabilities, name="frame_gru")
