"""Loading an exported SavedModel, with a one-line reason when it cannot be.

A version in the serving directory can be unloadable: a truncated
`saved_model.pb`, a missing `variables/` directory or data file, a graph that
uses an op this process does not have. Readers of the model in production
(warm start, the Evaluator's comparison) then carry on without it instead of
failing every run; `load` turns any such failure into `UnloadableModelError`.
"""
from typing import Any, Callable

import tensorflow as tf
# The TF Text ops a WordPiece model's graph uses must be registered before
# the graph is loaded, or every such model looks unloadable.
import tensorflow_text  # pylint: disable=unused-import

# Longest reason kept: TensorFlow's messages run to many lines of advice.
MAX_REASON_CHARS = 300


class UnloadableModelError(Exception):
  """`str()` is '<path> cannot be loaded: <reason>'."""

  def __init__(self, path: str, reason: str):
    super().__init__(f'{path} cannot be loaded: {reason}')
    self.path, self.reason = path, reason


def reason_of(error: BaseException) -> str:
  """'<ErrorType>: <first line of its message>', at most MAX_REASON_CHARS."""
  lines = str(error).strip().splitlines()
  reason = f'{type(error).__name__}: {lines[0] if lines else ""}'.rstrip(': ')
  return (reason if len(reason) <= MAX_REASON_CHARS else
          reason[:MAX_REASON_CHARS - 3] + '...')


def load(export_dir: str,
         loader: Callable[[str], Any] = tf.saved_model.load) -> Any:
  """`loader(export_dir)` (by default tf.saved_model.load); any failure is
  raised as UnloadableModelError."""
  try:
    return loader(export_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise UnloadableModelError(export_dir, reason_of(e)) from e
