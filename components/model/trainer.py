"""TFX Trainer `run_fn`: builds the model under MirroredStrategy, trains it with
teacher forcing on length-bucketed batches, and exports the Translator."""
import functools
import json
import os
import time
from typing import Dict, List, Optional, Tuple

from absl import logging
import tensorflow as tf
import tensorflow_transform as tft

from nmt_tfx.components.model import distribution
from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import export
from nmt_tfx.components.model import model_selection
from nmt_tfx.components.model import models
from nmt_tfx.components.model import schedules
from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model import warm_start
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.components.text import codecs

MODEL_FEATURES = ('source_ids', 'target_in')
LABEL = 'target_out'
TRAINING_SUMMARY = 'training_summary.json'  # in the Trainer's model_run dir


def _trim_batch(batch: Dict[str, tf.Tensor]):
  """Cuts the fixed-length padding down to the longest sentence in the batch."""
  src_len = tf.maximum(tf.reduce_max(batch['source_length']), 1)
  tgt_len = tf.maximum(tf.reduce_max(batch['target_length']), 1)
  features = {'source_ids': batch['source_ids'][:, :src_len],
              'target_in': batch['target_in'][:, :tgt_len]}
  return features, batch[LABEL][:, :tgt_len]


def make_dataset(file_pattern, tf_transform_output, hparams: HParams,
                 global_batch_size: int, training: bool) -> tf.data.Dataset:
  """Transformed TFRecords -> (features, labels) batches of similar lengths."""
  spec = {k: v for k, v in tf_transform_output.transformed_feature_spec().items()
          if k != 'target_text'}
  patterns = file_pattern if isinstance(file_pattern, list) else [file_pattern]
  files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
  if not files:
    raise ValueError(f'no transformed examples match {file_pattern}')
  ds = tf.data.TFRecordDataset(files, compression_type='GZIP')
  ds = ds.map(lambda r: tf.io.parse_single_example(r, spec),
              num_parallel_calls=tf.data.AUTOTUNE).cache()
  if training:
    ds = ds.shuffle(hparams.shuffle_buffer, reshuffle_each_iteration=True)
  ds = ds.repeat()
  boundaries = list(hparams.length_buckets)
  ds = ds.bucket_by_sequence_length(
      lambda x: tf.cast(tf.maximum(x['source_length'], x['target_length']),
                        tf.int32),
      bucket_boundaries=boundaries,
      bucket_batch_sizes=[global_batch_size] * (len(boundaries) + 1))
  return ds.map(_trim_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
      tf.data.AUTOTUNE)


def make_validation_batches(file_pattern, tf_transform_output,
                            batch_size: int
                            ) -> Tuple[List[Tuple[tf.Tensor, tf.Tensor]],
                                       List[str]]:
  """Transformed examples -> ((source_ids, source_length) batches, raw
  target texts), in file order, for decoding and scoring with BLEU."""
  spec = tf_transform_output.transformed_feature_spec()
  spec = {k: spec[k] for k in ('source_ids', 'source_length', 'target_text')}
  patterns = file_pattern if isinstance(file_pattern, list) else [file_pattern]
  files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
  ds = tf.data.TFRecordDataset(files, compression_type='GZIP').map(
      lambda r: tf.io.parse_single_example(r, spec)).batch(batch_size)
  batches, references = [], []
  for batch in ds:
    length = tf.maximum(tf.reduce_max(batch['source_length']), 1)
    batches.append((batch['source_ids'][:, :length], batch['source_length']))
    references.extend(t.decode('utf-8') for t in batch['target_text'].numpy())
  return batches, references


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
      train_steps)
  loss = functools.partial(seq2seq.masked_cross_entropy,
                           label_smoothing=hparams.label_smoothing)
  loss.__name__ = 'masked_cross_entropy'
  model.compile(
      optimizer=tf.keras.optimizers.Adam(learning_rate,
                                         clipnorm=hparams.clip_norm),
      loss=loss, metrics=[seq2seq.masked_accuracy])
  return model


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
  preprocessing = PreprocessingConfig.from_dict(config.pop('preprocessing', {}))
  warm_start_from = config.pop(warm_start.CONFIG_KEY, None)
  hparams = HParams.from_dict(config)
  tf.keras.utils.set_random_seed(hparams.seed)
  tf_transform_output = tft.TFTransformOutput(transform_output)
  strategy = strategy or distribution.make_strategy()
  replicas = strategy.num_replicas_in_sync
  global_batch = hparams.batch_size * replicas
  logging.info('Training on %d replica(s), global batch %d', replicas,
               global_batch)

  train_ds = make_dataset(train_files, tf_transform_output, hparams,
                          global_batch, training=True)
  eval_ds = make_dataset(eval_files, tf_transform_output, hparams,
                         global_batch, training=False)
  codec = codecs.load(tf_transform_output, preprocessing)
  with strategy.scope():
    model = build_model(codec.source_vocab_size, codec.target_vocab_size,
                        hparams, train_steps)
  warm_start.maybe_restore(model, warm_start_from, transform_output,
                           train_ds.element_spec[0])

  steps_per_epoch = max(1, min(hparams.steps_per_epoch, train_steps))
  epochs = max(1, train_steps // steps_per_epoch)
  callbacks = [_LogLearningRate()]
  selection = None
  if hparams.validation_bleu:
    batches, references = make_validation_batches(
        eval_files, tf_transform_output, global_batch)
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
                 'replicas': replicas, 'global_batch': global_batch,
                 'selection': selection.selection if selection else None,
                 'history': history.history}, f, indent=1)
  translator = export.Translator(model, tf_transform_output, hparams, codec)
  with distribution.export_dir(serving_model_dir, strategy) as target:
    export.export(translator, target)
  return history


def run_fn(fn_args) -> None:
  """Entry point for `tfx.components.Trainer(run_fn=...)`."""
  train_and_export(
      train_files=fn_args.train_files, eval_files=fn_args.eval_files,
      transform_output=fn_args.transform_output,
      serving_model_dir=fn_args.serving_model_dir,
      log_dir=fn_args.model_run_dir, train_steps=fn_args.train_steps,
      eval_steps=fn_args.eval_steps, custom_config=fn_args.custom_config)
