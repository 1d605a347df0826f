"""Training cost per update of named configurations' models, side by side.

  .venv/bin/python -m benchmarks.train_cost --configs default transformer_tiny

One update as the Trainer makes it (the compiled Keras model of
`trainer.build_model`: forward, loss on the real tokens, backward, Adam with
clipping; its train function fed from one iterator, as `Model.fit` does) on
a batch of the configuration's token budget: `batch_tokens` //
the padded length sentences, random ids of one source and one target
length. Random data and weights, so the configurations are compared at
equal batches. Each configuration is timed once a round, in turn
(`measure.time_in_turn`), so the ratios to the first hold on a machine whose
speed drifts. Prints a markdown table: milliseconds an update (median over
--repeats rounds, after one traced update) and each configuration's cost
against the first one's in the same round.

`--profile-updates K` then profiles K updates of each configuration
(`tf.profiler`) and prints where their op time goes, by op type.

A configuration is a name from `pipeline/configs.py`, optionally followed
by overrides as JSON, merged as the CLI's are (`configs.merge`):
`'long{"hparams": {"output_matmul_dtype": "bfloat16"}}'`.

`--autodiff-loss` puts before each configuration the same model compiled
with the same loss whose gradient autodiff derives (log-sum-exp minus the
label's logit), the baseline of the closed-form gradient that
`seq2seq.masked_cross_entropy` has.
"""
import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
from typing import Dict

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


AUTODIFF = ' (autodiff loss)'


def autodiff_cross_entropy(labels, logits, label_smoothing: float = 0.0):
  """`seq2seq.masked_cross_entropy`'s value, its gradient left to autodiff."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  logits = tf.cast(logits, tf.float32)
  labels = tf.reshape(tf.cast(labels, tf.int32), tf.shape(logits)[:-1])
  mask = tf.cast(tf.not_equal(labels, 0), logits.dtype)
  log_normalizer = tf.reduce_logsumexp(logits, axis=-1)
  losses = log_normalizer - tf.gather(logits, labels,
                                      batch_dims=len(logits.shape) - 1)
  if label_smoothing:
    uniform = log_normalizer - tf.reduce_mean(logits, axis=-1)
    losses = (1.0 - label_smoothing) * losses + label_smoothing * uniform
  return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def pipeline_config(spec: str):
  """The configuration a spec names: 'NAME' or 'NAME{overrides JSON}'."""
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  name, brace, overrides = spec.partition('{')
  if name not in configs.CONFIGS:
    raise SystemExit(f'unknown configuration {name!r} in {spec!r}; known: '
                     f'{", ".join(configs.CONFIGS)}')
  if not brace:
    return configs.CONFIGS[name]
  try:
    overrides = json.loads(brace + overrides)
  except json.JSONDecodeError as e:
    raise SystemExit(f'{spec!r}: the overrides are not JSON: {e}') from e
  return configs.merge(configs.CONFIGS[name], overrides, where=spec)


def build_update(config_name: str, vocab_size: int, source_length: int,
                 target_length: int):
  """-> (update, sentences, parameters): update() makes one training update
  of the configuration's model, traced once. A name ending in AUTODIFF: the
  configuration's model with `autodiff_cross_entropy`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import features  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import seq2seq  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import vocabulary  # pylint: disable=g-import-not-at-top
  autodiff = config_name.endswith(AUTODIFF)
  config = pipeline_config(config_name.removesuffix(AUTODIFF))
  hparams = config.hparams
  model = trainer.build_model(vocab_size, vocab_size, hparams,
                              config.train_steps)
  if autodiff:
    model.compile(optimizer=model.optimizer,
                  loss=functools.partial(
                      autodiff_cross_entropy,
                      label_smoothing=hparams.label_smoothing),
                  metrics=[seq2seq.masked_accuracy])
  sentences = hparams.batch_tokens // max(source_length, target_length)

  def ids(length, seed):
    return tf.random.uniform([sentences, length], vocabulary.EOS_ID + 1,
                             vocab_size, tf.int64, seed=seed)

  inputs = {features.SOURCE_IDS: ids(source_length, 1),
            features.TARGET_IN: ids(target_length, 2)}
  labels = ids(target_length, 3)
  # One iterator for every update, as `Model.fit` keeps one for an epoch.
  # `train_on_batch` makes an iterator a call, and tearing it down sometimes
  # leaves the process idle for about a second (tf.data), which made the
  # medians of earlier tables land on either of two modes.
  batches = iter(tf.data.Dataset.from_tensors((inputs, labels)).repeat())
  train_function = model.make_train_function()

  def update():
    return {name: float(value)
            for name, value in train_function(batches).items()}

  update()   # traced once
  params = sum(int(tf.size(v)) for v in model.trainable_variables)
  return update, sentences, params


def op_ms_by_type(update, updates: int) -> Dict[str, float]:
  """Op type -> milliseconds an update, from a profiler trace of `updates`
  updates (op time summed over TensorFlow's threads)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from benchmarks import measure as measure_lib  # pylint: disable=g-import-not-at-top
  logdir = tempfile.mkdtemp(prefix='nmt-train-cost-')
  try:
    tf.profiler.experimental.start(logdir)
    for _ in range(updates):
      update()
    tf.profiler.experimental.stop()
    profile = measure_lib.op_time_by_type(logdir)
  finally:
    shutil.rmtree(logdir, ignore_errors=True)
  return {op: 1000 * share * profile.seconds / updates
          for op, share in profile.by_type}


def measure(config_names, vocab_size: int, source_length: int,
            target_length: int, repeats: int,
            profile_updates: int = 0) -> list:
  """One row per configuration: milliseconds an update (median), and its
  cost against the first configuration's in the same round; with
  `profile_updates`, also where an update's op time goes ('op_ms')."""
  from benchmarks import measure as measure_lib  # pylint: disable=g-import-not-at-top
  updates = [build_update(name, vocab_size, source_length, target_length)
             for name in config_names]
  timed = measure_lib.time_in_turn([u for u, _, _ in updates], repeats)
  rows = [{'config': name, 'params': params, 'sentences': sentences,
           'update_ms': 1000 * t.median_s, 'ratio': t.ratio,
           'ratio_range': t.ratio_range, 'slower_rounds': t.slower_rounds}
          for name, t, (_, sentences, params) in zip(config_names, timed,
                                                     updates)]
  if profile_updates:
    for row, (update, _, _) in zip(rows, updates):
      row['op_ms'] = op_ms_by_type(update, profile_updates)
  return rows


def format_table(rows, args) -> str:
  from benchmarks import measure as measure_lib  # pylint: disable=g-import-not-at-top
  return measure_lib.in_turn_table(
      f'source {args.source_length} tokens, target {args.target_length}, '
      f'vocabulary {args.vocab_size} ({args.repeats} rounds, each '
      'configuration once a round)',
      ['sentences an update', 'ms an update (median)'], rows,
      lambda r: [str(r['sentences']), f"{r['update_ms']:.0f}"],
      args.repeats)


def format_profile(rows, top: int) -> str:
  """A markdown table: the op types that take most of the first
  configuration's update, ms an update for each configuration."""
  ops = sorted(rows[0]['op_ms'], key=lambda op: -rows[0]['op_ms'][op])[:top]
  lines = ['op time an update, ms, summed over threads (profiler)', '',
           '| op type | ' + ' | '.join(r['config'] for r in rows) + ' |',
           '| --- |' + ' --- |' * len(rows)]
  for op in ops + ['all ops']:
    cells = [(sum(r['op_ms'].values()) if op == 'all ops'
              else r['op_ms'].get(op, 0.0)) for r in rows]
    lines.append(f'| {op} | ' + ' | '.join(f'{c:.0f}' for c in cells) + ' |')
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--configs', nargs='+',
                      default=['default', 'transformer_tiny'])
  parser.add_argument('--vocab-size', type=int, default=10000)
  parser.add_argument('--source-length', type=int, default=15)
  parser.add_argument('--target-length', type=int, default=16)
  parser.add_argument('--repeats', type=int, default=15, help='rounds')
  parser.add_argument('--autodiff-loss', action='store_true',
                      help='time each configuration after its model with '
                      'the autodiff-gradient loss')
  parser.add_argument('--profile-updates', type=int, default=0,
                      help='also profile this many updates of each '
                      'configuration and print op time by op type')
  parser.add_argument('--profile-top', type=int, default=15,
                      help='op types in that table')
  args = parser.parse_args(argv)
  names = args.configs
  if args.autodiff_loss:
    names = [n for name in names for n in (name + AUTODIFF, name)]
  rows = measure(names, args.vocab_size, args.source_length,
                 args.target_length, args.repeats, args.profile_updates)
  print(format_table(rows, args))
  if args.profile_updates:
    print()
    print(format_profile(rows, args.profile_top))
  return 0


if __name__ == '__main__':
  sys.exit(main())
