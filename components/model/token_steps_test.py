"""Training on real target tokens only: the same loss, gradients and
metrics as projecting every position and masking, and the same variable
names."""
import numpy as np
import pytest
import tensorflow as tf

from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model.hparams import HParams

SMALL = dict(embedding_dim=16, encoder_units=8, decoder_units=12,
             attention_units=10, dropout=0.0, transformer_layers=1,
             transformer_heads=2, transformer_dim=8, transformer_ff_dim=16)
FEATURES = {'source_ids': tf.constant([[5, 6, 7, 0], [8, 9, 0, 0],
                                       [3, 4, 5, 6]], tf.int64),
            'target_in': tf.constant([[2, 5, 6, 7], [2, 7, 0, 0],
                                      [2, 3, 3, 0]], tf.int64)}
LABELS = tf.constant([[5, 6, 7, 1], [7, 1, 0, 0], [3, 3, 1, 0]], tf.int64)


def _model(name, **kwargs):
  tf.keras.utils.set_random_seed(3)
  return trainer.build_model(30, 40, HParams(model=name, **SMALL, **kwargs))


@pytest.mark.parametrize('name', ['lstm', 'transformer'])
def test_real_token_loss_and_gradients_equal_the_masked_full_ones(name):
  model = _model(name, label_smoothing=0.1)
  with tf.GradientTape(persistent=True) as tape:
    full_logits = model(FEATURES)
    full = model.compiled_loss(LABELS, full_logits)
    logits, labels = model.real_token_logits(FEATURES, LABELS, training=False)
    real = model.compiled_loss(labels, logits)
  # The 9 non-PAD labels of the 12 positions, in row-major order.
  np.testing.assert_array_equal(labels, [5, 6, 7, 1, 7, 1, 3, 3, 1])
  np.testing.assert_allclose(logits, tf.boolean_mask(full_logits, LABELS > 0),
                             atol=1e-6)
  np.testing.assert_allclose(real, full, rtol=1e-6)
  for want, got in zip(tape.gradient(full, model.trainable_variables),
                       tape.gradient(real, model.trainable_variables)):
    np.testing.assert_allclose(tf.convert_to_tensor(got),
                               tf.convert_to_tensor(want), atol=1e-6)


def test_fit_and_evaluate_report_the_masked_loss_and_accuracy():
  model = _model('lstm')
  batch = tf.data.Dataset.from_tensors((FEATURES, LABELS))
  model.fit(batch, epochs=1, verbose=0)
  logits = model(FEATURES)
  loss, accuracy = model.evaluate(batch, verbose=0)
  np.testing.assert_allclose(
      loss, seq2seq.masked_cross_entropy(LABELS, logits), rtol=1e-5)
  np.testing.assert_allclose(
      accuracy, seq2seq.masked_accuracy(LABELS, logits), rtol=1e-6)


@pytest.mark.parametrize('name', ['lstm', 'transformer'])
def test_fit_names_variables_as_calling_the_model_does(name):
  """Warm starts match variables by name (warm_start.py)."""
  called = _model(name)
  called(FEATURES)
  fitted = _model(name)
  fitted.fit(tf.data.Dataset.from_tensors((FEATURES, LABELS)), epochs=1,
             verbose=0)
  names = sorted(v.name for v in fitted.variables)
  assert names == sorted(v.name for v in called.variables)
  if name == 'lstm':
    assert 'seq2seq/decoder/logits/kernel:0' in names
    assert 'seq2seq/encoder/bilstm/forward_lstm/lstm_cell/kernel:0' in names
