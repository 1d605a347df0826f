"""The decoding-cost benchmark measures a real model and prints its table."""
import argparse

from benchmarks import decode_cost


def test_measures_each_configuration_and_compares_to_the_first():
  args = argparse.Namespace(batch=2, beam=2, source_length=3, steps=2,
                            vocab_size=50, repeats=3)
  rows = decode_cost.measure(['smoke', 'default'], args.vocab_size,
                             args.batch, args.beam, args.source_length,
                             args.steps, args.repeats)
  assert [r['config'] for r in rows] == ['smoke', 'default']
  assert all(r['batch_ms'] > 0 and r['params'] > 0 for r in rows)
  assert rows[0]['sentence_ms'] == rows[0]['batch_ms'] / 2
  # Ratios are taken round by round: the first configuration against itself.
  assert rows[0]['ratio'] == 1 and rows[0]['slower_rounds'] == 0
  low, high = rows[1]['ratio_range']
  assert low <= rows[1]['ratio'] <= high
  table = decode_cost.format_table(rows, args).splitlines()
  assert table[0].startswith('batch 2 x beam 2, source 3 tokens, 2 decode')
  assert '| vs smoke, same round' in table[2]
  assert table[4].startswith('| smoke |')
  assert table[4].endswith('| 1.00x (1.00-1.00) | 0 of 3 |')
  assert table[5].startswith('| default | ')
