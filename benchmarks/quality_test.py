"""The quality benchmark's table, from a finished run's numbers."""
from benchmarks import quality


def test_table_has_one_row_per_run_with_greedy_and_beam_scores():
  row = {'pair': 'en-de', 'config': 'quality', 'seed': 2, 'params': 9_600_000,
         'wall_s': 1500, 'fit_s': 1200, 'steps': 3000, 'epochs': 6,
         'val_bleu': 35.04, 'signature': 'nrefs:1|case:mixed',
         'beam1': {'bleu': 33.1, 'bleu_lowercase': 33.5, 'chrf': 60.0},
         'beam5': {'bleu': 34.26, 'bleu_lowercase': 34.61, 'chrf': 61.23}}
  table = quality.format_table([row, {**row, 'pair': 'en-fr'}])
  lines = table.splitlines()
  assert lines[2] == ('| en-de | quality | 2 | 9.6M | 25.0 min | 20.0 min '
                      '| 3,000 (6) | 35.04 | 33.10 | 33.50 | 34.26 | 34.61 '
                      '| 61.2 |')
  assert lines[3].startswith('| en-fr |')
  assert 'nrefs:1|case:mixed' in table
