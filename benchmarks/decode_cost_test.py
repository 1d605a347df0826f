"""The decoding-cost benchmark measures a real model and prints its table."""
import argparse

from benchmarks import decode_cost


def test_measures_each_configuration_and_compares_to_the_first():
  args = argparse.Namespace(batch=2, beam=2, source_length=3, steps=2,
                            vocab_size=50, repeats=1)
  rows = [decode_cost.measure(name, args.vocab_size, args.batch, args.beam,
                              args.source_length, args.steps, args.repeats)
          for name in ('smoke', 'default')]
  assert [r['config'] for r in rows] == ['smoke', 'default']
  assert all(r['batch_ms'] > 0 and r['params'] > 0 for r in rows)
  assert rows[0]['sentence_ms'] == rows[0]['batch_ms'] / 2
  table = decode_cost.format_table(rows, args).splitlines()
  assert table[0].startswith('batch 2 x beam 2, source 3 tokens, 2 decode')
  assert table[4].startswith('| smoke |') and table[4].endswith('| 1.00x |')
  assert table[5].startswith('| default | ')
