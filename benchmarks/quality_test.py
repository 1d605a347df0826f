"""The quality benchmark's table, from a finished run's numbers."""
import json
import os

from benchmarks import quality


def test_table_has_one_row_per_run_with_greedy_and_beam_scores():
  row = {'pair': 'en-de', 'config': 'quality', 'seed': 2, 'params': 9_600_000,
         'wall_s': 1500, 'fit_s': 1200, 'steps': 3000, 'epochs': 6,
         'gflops_before': 210.4, 'gflops_after': 80.2,
         'val_bleu': 35.04, 'signature': 'nrefs:1|case:mixed',
         'beam1': {'bleu': 33.1, 'bleu_lowercase': 33.5, 'chrf': 60.0},
         'beam5': {'bleu': 34.26, 'bleu_lowercase': 34.61, 'chrf': 61.23}}
  table = quality.format_table([row, {**row, 'pair': 'en-fr'}])
  lines = table.splitlines()
  assert lines[2] == ('| en-de | quality | 2 | 9.6M | 25.0 min | 20.0 min '
                      '| 3,000 (6) | 400 | 210, 80 | 35.04 | 33.10 | 33.50 '
                      '| 34.26 | 34.61 | 61.2 |')
  assert lines[3].startswith('| en-fr |')
  assert 'nrefs:1|case:mixed' in table


def test_a_reused_run_without_timing_still_gets_a_row():
  row = {'pair': 'en-de', 'config': 'default', 'params': 2_500_000,
         'fit_s': 600, 'steps': 1600, 'epochs': 8, 'val_bleu': 32.0,
         'signature': 's',
         'beam1': {'bleu': 31.0, 'bleu_lowercase': 31.3, 'chrf': 56.0},
         'beam5': {'bleu': 32.5, 'bleu_lowercase': 32.8, 'chrf': 57.0}}
  line = quality.format_table([row]).splitlines()[2]
  assert '| nan min | 10.0 min | 1,600 (8) | 375 | nan, nan | 32.00 |' in line


def test_machine_stage_measures_the_matmul_rate_in_a_fresh_process():
  # The stage the driver runs before and after each pipeline run.
  assert quality._machine_gflops() > 1  # pylint: disable=protected-access


def test_every_run_gets_the_extra_hyperparameters_beside_its_seed(
    tmp_path, monkeypatch):
  commands = []

  def fake_pipeline(cmd, check):  # stands in for a whole nmt-tfx run
    commands.append(cmd)
    os.makedirs(tmp_path / 'long-seed2' / 'nmt-en-de')

  monkeypatch.setattr(quality.subprocess, 'run', fake_pipeline)
  monkeypatch.setattr(quality, '_machine_gflops', lambda: 100.0)
  args = quality.argparse.Namespace(
      data_dir='/data', runs_dir=str(tmp_path), train_steps=None,
      hparams={'lr_final_fraction': 0.1, 'seed': 7})
  quality.run_pipeline(args, 'en-de', 'long', 2)
  hparams = commands[0][commands[0].index('--hparams') + 1]
  assert json.loads(hparams) == {'lr_final_fraction': 0.1, 'seed': 2}
  assert commands[0][commands[0].index('--runs-dir') + 1] == str(
      tmp_path / 'long-seed2')
