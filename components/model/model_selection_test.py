"""Weight selection by validation BLEU: best epoch, averaging, early stop."""
import numpy as np
import tensorflow as tf

from nmt_tfx.components.model import model_selection

REFERENCE = ('a man in a blue shirt rides a red bike down the hill '
             'next to the river')


def _model():
  model = tf.keras.Sequential([tf.keras.layers.Dense(1, use_bias=False)])
  model.build([None, 1])
  return model


def _translate(model):
  """The closer the single weight is to 1, the longer the correct prefix."""
  def translate():
    w = float(model.get_weights()[0][0, 0])
    words = REFERENCE.split()
    return [' '.join(words[:max(1, len(words) - round(10 * abs(w - 1.0)))])]
  return translate


def _run(weights, **kwargs):
  model = _model()
  callback = model_selection.ValidationBleu(_translate(model), [REFERENCE],
                                            **kwargs)
  callback.set_model(model)
  logs_seen = []
  for epoch, w in enumerate(weights):
    model.set_weights([np.array([[w]], np.float32)])
    logs = {}
    callback.on_epoch_end(epoch, logs)
    logs_seen.append(logs[model_selection.VAL_BLEU])
    if model.stop_training:
      break
  callback.on_train_end()
  return model, callback, logs_seen


def test_restores_the_best_epoch():
  model, callback, bleus = _run([0.7, 0.8, 1.3, 0.5])
  assert bleus[1] == max(bleus) and bleus[1] > bleus[0] > 0
  assert callback.best_epoch == 1
  assert float(model.get_weights()[0][0, 0]) == np.float32(0.8)
  assert callback.selection['exported'] == 'epoch 2'


def test_keeps_the_average_when_it_scores_better():
  # Snapshots 0.8, 1.2, 1.3 average to 1.1: better than any one of them.
  model, callback, _ = _run([0.8, 1.2, 1.3], average_last=3)
  np.testing.assert_allclose(model.get_weights()[0][0, 0], 1.1, rtol=1e-6)
  assert callback.selection['exported'] == 'average of the last 3 epochs'
  assert callback.selection['averaged_bleu'] > callback.best_bleu


def test_keeps_the_best_epoch_when_the_average_is_worse():
  model, callback, _ = _run([1.0, 0.5, 0.4], average_last=3)
  assert float(model.get_weights()[0][0, 0]) == 1.0
  assert callback.selection['exported'] == 'epoch 1'


def test_stops_after_patience_epochs_without_improvement():
  _, callback, bleus = _run([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], patience=2)
  assert len(bleus) == 3 and callback.best_epoch == 0
