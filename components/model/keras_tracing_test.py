"""The tf-keras internals keras_tracing relies on, and what it changes."""
import tensorflow as tf
from tensorflow.python.autograph.impl import conversion

from nmt_tfx.components.model import keras_tracing
from nmt_tfx.components.model import layers


def test_autograph_leaves_tf_keras_alone_and_converts_our_layers():
  keras_tracing.do_not_autograph_tf_keras()   # the package did it already
  keras_tracing.do_not_autograph_tf_keras()   # and it is idempotent
  assert conversion.is_allowlisted(tf.keras.layers.LSTM.call)
  assert conversion.is_allowlisted(tf.keras.Model.train_step)
  assert not conversion.is_allowlisted(layers.BahdanauAttention.call)
  rules = [r for r in conversion.config.CONVERSION_RULES
           if r.matches(keras_tracing.TF_KERAS)]
  assert len(rules) == 1


def test_without_layer_traces_saves_variables_and_no_layer_functions(tmp_path):
  module = tf.Module()
  module.model = tf.keras.Sequential([tf.keras.layers.Dense(3)])
  module.model.build([None, 2])
  module.model_variables = list(module.model.variables)
  module.f = tf.function(lambda x: module.model(x),
                         input_signature=[tf.TensorSpec([None, 2])])
  with keras_tracing.without_layer_traces():
    tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  x = tf.ones([1, 2])
  tf.debugging.assert_near(loaded.f(x), module.model(x))
  assert len(loaded.model_variables) == 2
  assert not hasattr(loaded.model, 'keras_api')
