"""The allocator benchmark steps a worker process per allocator in turn."""
import argparse

from benchmarks import allocator_cost


def test_times_each_configuration_on_both_allocators_in_turn():
  args = argparse.Namespace(configs=['smoke (autodiff loss)', 'smoke'],
                            vocab_size=50, source_length=3, target_length=4,
                            repeats=2)
  rows = allocator_cost.measure(args)
  assert [(r['config'], r['allocator']) for r in rows] == [
      ('smoke (autodiff loss)', 'default'), ('smoke (autodiff loss)', 'bfc'),
      ('smoke', 'default'), ('smoke', 'bfc')]
  assert all(r['update_ms'] > 0 and r['faults'] >= 0 for r in rows)
  assert rows[0]['ratio'] == 1 and rows[0]['slower_rounds'] == 0
  table = allocator_cost.format_table(rows, args).splitlines()
  assert table[0].startswith('source 3 tokens, target 4, vocabulary 50')
  assert '| vs smoke (autodiff loss), default, same round' in table[2]
  assert table[4].startswith('| smoke (autodiff loss) | default | ')
  assert table[7].startswith('| smoke | bfc | ')
