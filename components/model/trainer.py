"""TFX Trainer `run_fn`: builds the model under MirroredStrategy, trains it with
teacher forcing on token-budget, length-bucketed batches (inputs.py), and
exports the Translator."""
import functools
import json
import os
import time
from typing import Dict, Optional

from absl import logging
import tensorflow as tf
import tensorflow_transform as tft

from nmt_tfx.components.model import distribution
from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import export
from nmt_tfx.components.model import inputs
from nmt_tfx.components.model import model_config
from nmt_tfx.components.model import model_selection
from nmt_tfx.components.model import models
from nmt_tfx.components.model import native_bfloat16
from nmt_tfx.components.model import schedules
from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model import warm_start
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components import preprocessing as preprocessing_lib
from nmt_tfx.components.text import codecs

TRAINING_SUMMARY = 'training_summary.json'  # in the Trainer's model_run dir


def build_model(source_vocab_size: int, target_vocab_size: int,
                hparams: HParams, train_steps: int = 0) -> tf.keras.Model:
  # Layers take the global dtype policy when they are created.
  previous = tf.keras.mixed_precision.global_policy()
  tf.keras.mixed_precision.set_global_policy(hparams.precision)
  try:
    model = models.create(source_vocab_size, target_vocab_size, hparams,
                          name='seq2seq')
  finally:
    tf.keras.mixed_precision.set_global_policy(previous)
  learning_rate = schedules.WarmupSchedule(
      hparams.learning_rate, hparams.warmup_steps, hparams.lr_schedule,
      train_steps, final_fraction=hparams.lr_final_fraction)
  loss = functools.partial(seq2seq.masked_cross_entropy,
                           label_smoothing=hparams.label_smoothing)
  loss.__name__ = 'masked_cross_entropy'
  model.compile(
      optimizer=tf.keras.optimizers.Adam(learning_rate,
                                         beta_2=hparams.adam_beta2,
                                         clipnorm=hparams.clip_norm),
      loss=loss, metrics=[seq2seq.masked_accuracy])
  return model


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite: nothing is exported."""


class _StopOnNaN(tf.keras.callbacks.TerminateOnNaN):
  """Keras's TerminateOnNaN, remembering the step where the loss diverged."""

  def __init__(self):
    super().__init__()
    self.diverged_at = None

  def on_train_batch_end(self, batch, logs=None):
    super().on_train_batch_end(batch, logs)
    if self.model.stop_training and self.diverged_at is None:
      self.diverged_at = int(self.model.optimizer.iterations.numpy())


class _LogLearningRate(tf.keras.callbacks.Callback):
  """Adds the current learning rate to the logs as `lr`."""

  def on_epoch_end(self, epoch, logs=None):
    optimizer = self.model.optimizer
    schedule = getattr(optimizer, 'inner_optimizer', optimizer).learning_rate
    if logs is not None and callable(schedule):
      logs['lr'] = float(schedule(optimizer.iterations))


def train_and_export(*, train_files, eval_files, transform_output: str,
                     serving_model_dir: str, log_dir: Optional[str],
                     train_steps: int, eval_steps: int,
                     custom_config: Optional[Dict] = None,
                     strategy: Optional[tf.distribute.Strategy] = None):
  """Trains on transformed examples and writes the serving SavedModel.

  Returns the Keras History.
  """
  config = dict(custom_config or {})
  # What Transform ran with, recorded in its graph (not told again here).
  preprocessing = preprocessing_lib.load_config(transform_output)
  warm_start_from = config.pop(warm_start.CONFIG_KEY, None)
  hparams = HParams.from_dict(config)
  epochs, steps_per_epoch = hparams.epochs(train_steps)  # before any work
  tf.keras.utils.set_random_seed(hparams.seed)
  tf_transform_output = tft.TFTransformOutput(transform_output)
  strategy = strategy or distribution.make_strategy()
  replicas = strategy.num_replicas_in_sync
  plan = inputs.plan_batches(train_files, hparams, preprocessing, replicas)
  logging.info('Training on %d replica(s), %d tokens a batch: length buckets '
               '%s, sentences a batch %s; %.2f%% of %d sampled pairs are over '
               'the length caps and dropped', replicas, plan.batch_tokens,
               plan.boundaries, plan.batch_sizes, 100 * plan.over_cap,
               plan.sampled)
  workers = max(1, distribution.num_workers())
  train_ds = inputs.make_dataset(train_files, tf_transform_output, hparams,
                                 preprocessing, plan, training=True,
                                 workers=workers)
  eval_ds = inputs.make_dataset(eval_files, tf_transform_output, hparams,
                                preprocessing, plan, training=False,
                                workers=workers)
  codec = codecs.load(tf_transform_output, preprocessing)
  with strategy.scope():
    model = build_model(codec.source_vocab_size, codec.target_vocab_size,
                        hparams, train_steps)
  warm_start.maybe_restore(model, warm_start_from, transform_output,
                           train_ds.element_spec[0])

  diverged = _StopOnNaN()
  callbacks = [diverged, _LogLearningRate()]
  selection = None
  if hparams.validation_bleu:
    batches, references = inputs.make_validation_batches(
        eval_files, tf_transform_output, hparams, preprocessing,
        plan.batch_tokens)
    max_length = functools.partial(decoding.max_output_length_for,
                                   hparams=hparams)
    selection = model_selection.ValidationBleu(
        model_selection.Translations(model, batches, codec.decode, max_length),
        references, average_last=hparams.average_last_checkpoints,
        patience=hparams.early_stopping_patience)
    callbacks.append(selection)
  if log_dir:   # after the callbacks that add to the logs
    callbacks.append(tf.keras.callbacks.TensorBoard(log_dir=log_dir,
                                                    update_freq=50))
  start = time.time()
  history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                      validation_data=eval_ds, validation_steps=eval_steps,
                      callbacks=callbacks, verbose=2)
  if log_dir:
    tf.io.gfile.makedirs(log_dir)
    with tf.io.gfile.GFile(os.path.join(log_dir, TRAINING_SUMMARY), 'w') as f:
      json.dump({'fit_seconds': time.time() - start,
                 'steps': len(history.epoch) * steps_per_epoch,
                 'epochs': len(history.epoch), 'planned_epochs': epochs,
                 'replicas': replicas, 'batches': plan.to_dict(),
                 'output_matmul_dtype': native_bfloat16.resolve(
                     hparams.output_matmul_dtype),
                 'selection': selection.selection if selection else None,
                 'history': history.history}, f, indent=1)
  if diverged.diverged_at is not None:
    raise TrainingDiverged(
        f'the training loss became NaN or infinite at step '
        f'{diverged.diverged_at}; nothing was exported (lower learning_rate '
        'or clip_norm, or check the data)')
  translator = export.Translator(model, tf_transform_output, hparams, codec,
                                 preprocessing)
  config = model_config.ModelConfig(
      hparams=hparams, preprocessing=preprocessing,
      source_vocab_size=codec.source_vocab_size,
      target_vocab_size=codec.target_vocab_size, train_steps=train_steps,
      training_data=model_config.files_fingerprint(
          inputs.list_files(train_files)))
  with distribution.export_dir(serving_model_dir, strategy) as target:
    export.export(translator, target, config)
  return history


def run_fn(fn_args) -> None:
  """Entry point for `tfx.components.Trainer(run_fn=...)`."""
  train_and_export(
      train_files=fn_args.train_files, eval_files=fn_args.eval_files,
      transform_output=fn_args.transform_output,
      serving_model_dir=fn_args.serving_model_dir,
      log_dir=fn_args.model_run_dir, train_steps=fn_args.train_steps,
      eval_steps=fn_args.eval_steps, custom_config=fn_args.custom_config)
