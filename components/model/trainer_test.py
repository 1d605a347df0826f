"""The precision switch: the GPU (float16) and CPU (bfloat16) paths, checked
on CPU without a GPU."""
import numpy as np
import tensorflow as tf

from nmt_tfx.components.model import trainer
from nmt_tfx.components.model.hparams import HParams

SMALL = dict(embedding_dim=16, encoder_units=8, decoder_units=12,
             attention_units=10, dropout=0.0)
BATCH = ({'source_ids': tf.constant([[5, 6, 7, 0], [8, 9, 0, 0]], tf.int64),
          'target_in': tf.constant([[2, 5, 6], [2, 7, 0]], tf.int64)},
         tf.constant([[5, 6, 3], [7, 3, 0]], tf.int64))


def test_float16_computes_in_half_precision_with_loss_scaling():
  model = trainer.build_model(30, 40, HParams(precision='mixed_float16', **SMALL))
  assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
  assert model.decoder.project.compute_dtype == 'float16'
  assert model.decoder.project.variable_dtype == 'float32'   # master weights
  # The policy applies to this model only, not to models built later.
  assert tf.keras.mixed_precision.global_policy().name == 'float32'
  assert trainer.build_model(30, 40, HParams(**SMALL)).decoder.project.compute_dtype == 'float32'


def test_adams_second_moment_decay_comes_from_the_hyperparameters():
  assert trainer.build_model(30, 40, HParams(**SMALL)).optimizer.beta_2 == 0.999
  model = trainer.build_model(30, 40, HParams(adam_beta2=0.98, **SMALL))
  assert model.optimizer.beta_2 == 0.98


def test_bfloat16_trains_and_decodes_with_float32_losses_and_scores():
  model = trainer.build_model(30, 40, HParams(precision='mixed_bfloat16', **SMALL))
  assert model.decoder.project.compute_dtype == 'bfloat16'
  losses = [float(model.train_on_batch(*BATCH)[0]) for _ in range(30)]
  assert np.isfinite(losses).all() and losses[-1] < losses[0]
  encoded, keys = model.encode(BATCH[0]['source_ids'])
  log_probs, _, _ = model.decode_step(tf.constant([2, 2], tf.int64),
                                      encoded.state, encoded, keys)
  assert log_probs.dtype == tf.float32
  np.testing.assert_allclose(tf.reduce_logsumexp(log_probs, -1).numpy(), 0.0,
                             atol=1e-3)


def test_a_run_whose_loss_diverges_exports_nothing(tiny_transform, tmp_path):
  import pytest  # pylint: disable=g-import-not-at-top
  from conftest import train_tiny  # pylint: disable=g-import-not-at-top
  export_dir = tmp_path / 'export'
  with pytest.raises(trainer.TrainingDiverged,
                     match=r'loss became NaN or infinite at step \d+; nothing '
                     'was exported'):
    train_tiny(tiny_transform, export_dir, train_steps=40,
               learning_rate=float('inf'))
  assert not export_dir.exists()   # so the Pusher has nothing to push


def test_steps_that_are_not_whole_epochs_are_refused_before_any_work(
    tiny_transform, tmp_path):
  """Keras trains whole epochs: 30 steps in epochs of 20 would stop at 20,
  with the learning-rate schedule planned for 30 not yet at its end."""
  import pytest  # pylint: disable=g-import-not-at-top
  from conftest import train_tiny  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='train_steps 30 is not a whole number '
                     'of epochs of steps_per_epoch 20: set train_steps to 20 '
                     'or 40, or change steps_per_epoch'):
    train_tiny(tiny_transform, tmp_path / 'export', train_steps=30)
  assert not (tmp_path / 'export').exists()
  assert HParams(steps_per_epoch=20).epochs(40) == (2, 20)
  assert HParams(steps_per_epoch=20).epochs(7) == (1, 7)   # one short epoch
