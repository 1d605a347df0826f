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
