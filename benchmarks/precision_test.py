"""The precision benchmark on a real (tiny) Transform output."""
import argparse
import dataclasses
import math

import numpy as np

from benchmarks import precision
from nmt_tfx.pipeline import configs


def _run_dir(tiny_transform, tmp_path):
  """tiny_transform laid out as a pipeline run's Transform artifacts."""
  transform = tmp_path / 'run' / 'root' / 'Transform'
  (transform / 'transform_graph').mkdir(parents=True)
  (transform / 'transform_graph' / '1').symlink_to(tiny_transform / 'transform')
  examples = transform / 'transformed_examples' / '1'
  for split in ('Split-train', 'Split-eval'):
    (examples / split).mkdir(parents=True)
    for data in tiny_transform.glob('data-*.gz'):
      (examples / split / data.name).symlink_to(data)
  return tmp_path / 'run'


def test_trains_in_both_precisions_and_runs_float32_weights_in_bfloat16(
    tiny_transform, tmp_path):
  args = argparse.Namespace(run_dir=str(_run_dir(tiny_transform, tmp_path)),
                            config='smoke', steps=3)
  rows = precision.run(args)
  assert [(r['trained'], r['evaluated']) for r in rows] == [
      ('float32', 'float32'), ('mixed_bfloat16', 'mixed_bfloat16'),
      ('float32', 'mixed_bfloat16')]
  assert rows[0]['fit_s'] > 0 and rows[1]['fit_s'] > 0
  assert all(math.isfinite(r['val_loss']) for r in rows)
  assert abs(rows[2]['val_loss'] - rows[0]['val_loss']) < 0.05
  table = precision.format_table(rows, 'smoke', 3).splitlines()
  assert table[0] == '`smoke`, 3 steps from the same seed'
  assert table[4].startswith('| float32 | float32 | ') and '| 1.00x |' in table[4]
  assert table[6].startswith('| float32 | mixed_bfloat16 |  |  | ')


def test_the_bfloat16_model_gets_the_float32_weights(tiny_transform, tmp_path):
  hparams = configs.CONFIGS['smoke'].hparams
  setup = precision.Setup(str(_run_dir(tiny_transform, tmp_path)), hparams)
  trained, _ = precision.train(setup, hparams, 2)
  bf16 = dataclasses.replace(hparams, precision='mixed_bfloat16')
  model = precision.with_weights_of(trained, setup, bf16)
  assert model.compute_dtype == 'bfloat16'
  for ours, theirs in zip(model.get_weights(), trained.get_weights()):
    np.testing.assert_array_equal(ours, theirs)
