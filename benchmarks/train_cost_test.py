"""The training-cost benchmark updates real models and prints its table."""
import argparse

from benchmarks import train_cost


def test_measures_each_configuration_and_compares_to_the_first():
  args = argparse.Namespace(source_length=3, target_length=4, vocab_size=50,
                            repeats=3)
  rows = train_cost.measure(['smoke', 'default'], args.vocab_size,
                            args.source_length, args.target_length,
                            args.repeats)
  assert [r['config'] for r in rows] == ['smoke', 'default']
  assert all(r['update_ms'] > 0 and r['params'] > 0 for r in rows)
  # The configuration's token budget over the padded length.
  assert [r['sentences'] for r in rows] == [1060 // 4, 4096 // 4]
  assert rows[0]['ratio'] == 1 and rows[0]['slower_rounds'] == 0
  low, high = rows[1]['ratio_range']
  assert low <= rows[1]['ratio'] <= high
  table = train_cost.format_table(rows, args).splitlines()
  assert table[0].startswith('source 3 tokens, target 4, vocabulary 50')
  assert '| vs smoke, same round' in table[2]
  assert table[4].startswith('| smoke | ') and table[4].endswith(
      '| 1.00x (1.00-1.00) | 0 of 3 |')
  assert table[5].startswith('| default | ')


def test_the_autodiff_baseline_computes_the_products_loss():
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import seq2seq  # pylint: disable=g-import-not-at-top
  logits = tf.random.stateless_normal([3, 4, 11], seed=[7, 8])
  labels = tf.constant([[4, 5, 0, 0], [6, 1, 2, 0], [3, 0, 0, 0]])
  for smoothing in (0.0, 0.1):
    np.testing.assert_allclose(
        train_cost.autodiff_cross_entropy(labels, logits, smoothing),
        seq2seq.masked_cross_entropy(labels, logits, smoothing), rtol=1e-6)
  rows = train_cost.measure(['smoke' + train_cost.AUTODIFF, 'smoke'], 50, 3,
                            4, 2)
  assert [r['config'] for r in rows] == ['smoke (autodiff loss)', 'smoke']
  assert rows[0]['params'] == rows[1]['params']


def test_updates_share_one_iterator_as_fit_does(monkeypatch):
  # A new iterator an update (Model.train_on_batch's way) sometimes leaves
  # the process idle for about a second when it is torn down: the timings
  # then fall in two modes. Updates are fed from one iterator, as in fit.
  from tf_keras.src.engine import data_adapter  # pylint: disable=g-import-not-at-top

  def no_iterator_an_update(*args, **kwargs):
    raise AssertionError('an iterator made for one update')
  monkeypatch.setattr(data_adapter, 'single_batch_iterator',
                      no_iterator_an_update)
  update, _, _ = train_cost.build_update('smoke', 50, 3, 4)
  losses = [update()['loss'] for _ in range(3)]
  assert all(isinstance(loss, float) for loss in losses)
  assert len(set(losses)) == 3   # each call is an update on the same batch


def test_profiles_where_an_updates_op_time_goes():
  rows = train_cost.measure(['smoke', 'default'], 50, 3, 4, 1,
                            profile_updates=2)
  for row in rows:
    assert row['op_ms'] and all(ms > 0 for ms in row['op_ms'].values())
    assert any('MatMul' in op for op in row['op_ms'])
  table = train_cost.format_profile(rows, top=3).splitlines()
  assert table[2] == '| op type | smoke | default |'
  assert len(table) == 4 + 3 + 1
  smoke_ms = sorted(rows[0]['op_ms'].values(), reverse=True)
  assert [float(line.split('|')[2]) for line in table[4:7]] == [
      round(ms) for ms in smoke_ms[:3]]
  assert table[-1].startswith('| all ops | ')


def test_a_configuration_takes_overrides_as_the_cli_merges_them():
  import pytest  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  config = train_cost.pipeline_config(
      'long{"hparams": {"output_matmul_dtype": "bfloat16"}, '
      '"train_steps": 10}')
  assert config.hparams.output_matmul_dtype == 'bfloat16'
  assert config.train_steps == 10
  assert config.hparams.batch_tokens == configs.CONFIGS['long'].hparams.batch_tokens
  assert train_cost.pipeline_config('long') is configs.CONFIGS['long']
  with pytest.raises(SystemExit, match="unknown configuration 'lon'"):
    train_cost.pipeline_config('lon')
  with pytest.raises(SystemExit, match='not JSON'):
    train_cost.pipeline_config('long{hparams}')
  with pytest.raises(configs.ConfigError, match='unknown colour'):
    train_cost.pipeline_config('long{"colour": 1}')
