"""Encoder-decoder model, decoding, training and export."""
from nmt_tfx.components.model import keras_tracing

# Before any model of this package is traced, in every process that uses it.
keras_tracing.do_not_autograph_tf_keras()
