"""Graph-building costs of tf-keras that this package opts out of.

AutoGraph: TensorFlow's conversion rules skip its own modules and `keras`,
but not `tf_keras`, the package that serves `tf.keras` under
TF_USE_LEGACY_KERAS=1 (TF 2.16). Every tf-keras function a traced step calls
(the LSTM, Model.train_step, the optimizer, ~180 functions) is then
source-converted by AutoGraph, which made the first training step of even a
tiny model take about a minute on 2 cores. tf-keras is written to run
unconverted, as Keras 2 inside TensorFlow always did, so it gets the same
rule as `keras`. Our own layers are still converted.

SavedModel traces: saving a module that holds a Keras model makes tf-keras
trace every layer's call functions so that `tf.keras.models.load_model` can
revive the layers. The Translator is loaded with `tf.saved_model.load` and
uses only its own functions and the variables, so the export saves no layer
traces (what `model.save(save_traces=False)` does for Keras models).

Both use tf-keras/TensorFlow internals pinned with the stack
(requirements.lock); keras_tracing_test.py checks they still exist.
"""
import contextlib

from tensorflow.python.autograph.core import config as autograph_config
from tf_keras.src.saving.legacy.saved_model import utils as keras_saved_model_utils

TF_KERAS = 'tf_keras'


def do_not_autograph_tf_keras() -> None:
  """Adds the rule that AutoGraph leaves tf-keras functions as they are."""
  rules = tuple(autograph_config.CONVERSION_RULES)
  if not any(isinstance(rule, autograph_config.DoNotConvert) and
             rule.matches(TF_KERAS) for rule in rules):
    autograph_config.CONVERSION_RULES = (
        autograph_config.DoNotConvert(TF_KERAS),) + rules


@contextlib.contextmanager
def without_layer_traces():
  """Within it, tf.saved_model.save saves Keras layers' variables but does
  not trace their call functions."""
  with keras_saved_model_utils.keras_option_scope(save_traces=False):
    yield
