"""Training updates with TensorFlow's default CPU allocator against its BFC
allocator, each in its own process, timed in turn.

  .venv/bin/python -m benchmarks.allocator_cost --configs long --repeats 20

TensorFlow's default CPU allocator hands each tensor to the C library, which
maps every block over 32 MB afresh from the kernel and unmaps it when freed:
each training step then faults in, and the kernel zeroes, the pages of its
largest tensors again (the [N, V] logits and their gradient: 330 MB each at
8,192 tokens and a vocabulary of 10,000). The BFC allocator
(TF_CPU_ALLOCATOR_USE_BFC, which `nmt_tfx` sets for its processes) keeps
freed blocks for the next step. The allocator is chosen when a process
starts, so each configuration and allocator gets a worker process making
the configuration's training update (`train_cost.build_update`; a name
ending in " (autodiff loss)" takes the loss whose gradient autodiff
derives); the parent asks each for one update a round, in turn, so the
ratios hold on a machine whose speed drifts. Prints a markdown table, a row
a worker: ms an update (median), the ratio to the first row's in the same
round, and per update the kernel's CPU time and the page faults.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ALLOCATORS = {'default': 'false', 'bfc': 'true'}


def worker(config: str, vocab_size: int, source_length: int,
           target_length: int) -> int:
  """Serves `step` lines on stdin: one update each, a JSON line back."""
  from benchmarks import train_cost  # pylint: disable=g-import-not-at-top
  update, _, _ = train_cost.build_update(config, vocab_size, source_length,
                                         target_length)
  update()   # the allocator's pools fill on the first updates
  print('ready', flush=True)
  for line in sys.stdin:
    if line.strip() != 'step':
      break
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    update()
    after, end = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    print(json.dumps({'wall_s': end - start,
                      'sys_s': after.ru_stime - before.ru_stime,
                      'faults': after.ru_minflt - before.ru_minflt}),
          flush=True)
  return 0


class _Worker:
  """A worker process: one configuration on one allocator."""

  def __init__(self, config: str, allocator: str, args):
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC=ALLOCATORS[allocator])
    self.process = subprocess.Popen(
        [sys.executable, '-m', 'benchmarks.allocator_cost', '--worker',
         '--configs', config, '--vocab-size', str(args.vocab_size),
         '--source-length', str(args.source_length),
         '--target-length', str(args.target_length)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    self.steps = []

  def wait_ready(self):
    for line in self.process.stdout:
      if line.strip() == 'ready':
        return
    raise RuntimeError(f'worker exited with {self.process.wait()}')

  def step(self):
    self.process.stdin.write('step\n')
    self.process.stdin.flush()
    self.steps.append(json.loads(self.process.stdout.readline()))

  def close(self):
    self.process.stdin.close()
    self.process.wait()


def measure(args) -> list:
  """A row per configuration and allocator, the default allocator first."""
  from benchmarks import measure as measure_lib  # pylint: disable=g-import-not-at-top
  runs = [(config, allocator) for config in args.configs
          for allocator in ALLOCATORS]
  workers = [_Worker(config, allocator, args) for config, allocator in runs]
  try:
    for w in workers:
      w.wait_ready()
    timed = measure_lib.time_in_turn([w.step for w in workers], args.repeats)
  finally:
    for w in workers:
      w.close()
  return [{'config': config, 'allocator': allocator,
           'update_ms': 1000 * t.median_s,
           'ratio': t.ratio, 'ratio_range': t.ratio_range,
           'slower_rounds': t.slower_rounds,
           'sys_ms': 1000 * statistics.median(s['sys_s'] for s in w.steps),
           'faults': statistics.median(s['faults'] for s in w.steps)}
          for (config, allocator), w, t in zip(runs, workers, timed)]


def format_table(rows, args) -> str:
  first = f"{rows[0]['config']}, {rows[0]['allocator']}"
  lines = [f'source {args.source_length} tokens, target '
           f'{args.target_length}, vocabulary {args.vocab_size} '
           f'({args.repeats} rounds, each worker once a round)', '',
           '| config | CPU allocator | ms an update (median) | '
           f'vs {first}, same round: median (range) | rounds slower | '
           'kernel CPU ms an update | page faults an update |',
           '| --- | --- | --- | --- | --- | --- | --- |']
  for r in rows:
    low, high = r['ratio_range']
    lines.append(f"| {r['config']} | {r['allocator']} | "
                 f"{r['update_ms']:.0f} | "
                 f"{r['ratio']:.2f}x ({low:.2f}-{high:.2f}) | "
                 f"{r['slower_rounds']} of {args.repeats} | "
                 f"{r['sys_ms']:.0f} | {r['faults']:,.0f} |")
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--configs', nargs='+', default=['long'])
  parser.add_argument('--vocab-size', type=int, default=10000)
  parser.add_argument('--source-length', type=int, default=15)
  parser.add_argument('--target-length', type=int, default=16)
  parser.add_argument('--repeats', type=int, default=15, help='rounds')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker:
    return worker(args.configs[0], args.vocab_size, args.source_length,
                  args.target_length)
  print(format_table(measure(args), args))
  return 0


if __name__ == '__main__':
  sys.exit(main())
