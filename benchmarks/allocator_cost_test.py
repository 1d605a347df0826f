"""The allocator benchmark steps a worker process per allocator in turn."""
import argparse

from benchmarks import allocator_cost


def test_times_both_allocators_in_their_own_processes():
  args = argparse.Namespace(config='smoke', vocab_size=50, source_length=3,
                            target_length=4, repeats=2)
  rows = allocator_cost.measure(args)
  assert [r['allocator'] for r in rows] == ['default', 'bfc']
  assert all(r['update_ms'] > 0 and r['faults'] >= 0 for r in rows)
  assert rows[0]['ratio'] == 1 and rows[0]['slower_rounds'] == 0
  table = allocator_cost.format_table(rows, args).splitlines()
  assert table[0].startswith('`smoke`, source 3 tokens, target 4')
  assert table[4].startswith('| default | ')
  assert table[5].startswith('| bfc | ')
