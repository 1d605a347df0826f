"""Measuring helpers for the benchmarks: memory, matmul peak, model FLOPs,
timings taken in turn, and where the time goes (TensorFlow profiler trace,
summed by op type)."""
import collections
import glob
import os
import resource
import statistics
import time
from typing import Callable, Dict, List, NamedTuple, Sequence, Tuple

import tensorflow as tf

from nmt_tfx.components.data import features
from nmt_tfx.components.model.hparams import HParams


def peak_rss_gib() -> float:
  """Peak resident memory of this process (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def matmul_peak_gflops(dtype=tf.float32, n: int = 2048, chain: int = 10,
                       repeats: int = 5) -> float:
  """Best sustained square-matmul GFLOP/s that TensorFlow reaches here."""
  a = tf.cast(tf.random.normal([n, n]), dtype)
  b = tf.cast(tf.random.normal([n, n]), dtype) * 0.01

  @tf.function
  def chained(x):
    for _ in range(chain):
      x = tf.matmul(x, b)
    return x
  chained(a).numpy()
  best = 0.0
  for _ in range(repeats):
    start = time.perf_counter()
    chained(a).numpy()
    best = max(best, 2 * n ** 3 * chain / (time.perf_counter() - start) / 1e9)
  return best


class InTurn(NamedTuple):
  """One callable's times, and against the first callable's."""
  median_s: float              # seconds a call, median over rounds
  ratio: float                 # median over rounds of this / the first
  ratio_range: Tuple[float, float]
  slower_rounds: int           # rounds where it took longer than the first


def time_in_turn(calls: Sequence[Callable[[], object]],
                 repeats: int) -> List[InTurn]:
  """Times each call once a round, in turn, for `repeats` rounds (call each
  once beforehand to trace it). A change in the machine's speed, large on
  shared cores, then reaches all of them alike: the ratios to the first
  call, taken round by round, hold where the seconds drift."""
  times = [[] for _ in calls]
  for _ in range(repeats):
    for call_times, call in zip(times, calls):
      start = time.perf_counter()
      call()
      call_times.append(time.perf_counter() - start)
  results = []
  for call_times in times:
    ratios = [t / f for t, f in zip(call_times, times[0])]
    results.append(InTurn(statistics.median(call_times),
                          statistics.median(ratios),
                          (min(ratios), max(ratios)),
                          sum(r > 1 for r in ratios)))
  return results


def in_turn_table(title: str, columns: Sequence[str], rows: Sequence[Dict],
                  cells: Callable[[Dict], Sequence[str]],
                  repeats: int) -> str:
  """A markdown table of `time_in_turn` figures, one row a configuration:
  config, params, the given `columns` (`cells(row)` fills them), then the
  median ratio to the first row (range) and the rounds it was slower."""
  header = ['config', 'params', *columns,
            f'vs {rows[0]["config"]}, same round: median (range)',
            'rounds slower']
  lines = [title, '', '| ' + ' | '.join(header) + ' |',
           '| ' + ' | '.join(['---'] * len(header)) + ' |']
  for r in rows:
    low, high = r['ratio_range']
    lines.append('| ' + ' | '.join([
        r['config'], f"{r['params'] / 1e6:.1f}M", *cells(r),
        f"{r['ratio']:.2f}x ({low:.2f}-{high:.2f})",
        f"{r['slower_rounds']} of {repeats}"]) + ' |')
  return '\n'.join(lines)


def lengths(inputs, labels) -> Tuple[tf.Tensor, tf.Tensor]:
  """Non-padding source and target tokens per sentence ([B] each); the
  target counts the tokens the loss sees (words + EOS)."""
  src = tf.reduce_sum(tf.cast(inputs[features.SOURCE_IDS] > 0, tf.int64), 1)
  tgt = tf.reduce_sum(tf.cast(labels > 0, tf.int64), 1)
  return src, tgt


def training_flops(src_len, tgt_len, hparams: HParams,
                   target_vocab_size: int) -> float:
  """Model FLOPs of one training step of the attention LSTM on real tokens:
  matmuls only (2 per multiply-add), backward = 2 x forward."""
  e, u, d, a = (hparams.embedding_dim, hparams.encoder_units,
                hparams.decoder_units, hparams.attention_units)
  s = float(tf.reduce_sum(src_len))
  t = float(tf.reduce_sum(tgt_len))
  st = float(tf.reduce_sum(src_len * tgt_len))
  forward = (
      s * 2 * 2 * (e + u) * 4 * u          # bidirectional encoder LSTM
      + s * 2 * 2 * u * a                  # attention keys
      + t * 2 * (e + d) * 4 * d            # decoder LSTM
      + t * 2 * d * a                      # attention query
      + st * 2 * (a + 2 * u)               # scores and context
      + t * 2 * (d + 2 * u) * d            # attentional hidden
      + t * 2 * d * target_vocab_size)     # output projection
  return 3 * forward


class OpProfile(NamedTuple):
  by_type: List[Tuple[str, float]]   # (op type, share of op time), largest first
  ops: int                           # op executions traced
  seconds: float                     # op time, summed over threads


def op_time_by_type(logdir: str) -> OpProfile:
  """Sums the op executions of a profiler trace (host threads) by op type."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  paths = glob.glob(os.path.join(logdir, 'plugins', 'profile', '*', '*.xplane.pb'))
  if not paths:
    raise FileNotFoundError(f'no profiler trace under {logdir}')
  space = xplane_pb2.XSpace()
  with open(max(paths, key=os.path.getmtime), 'rb') as f:
    space.ParseFromString(f.read())
  totals: Dict[str, float] = collections.defaultdict(float)
  ops = 0
  for plane in space.planes:
    if not plane.name.startswith('/host:CPU'):
      continue
    names = {k: v.name for k, v in plane.event_metadata.items()}
    for line in plane.lines:
      if not line.name.startswith('tf_Compute'):
        continue
      for event in line.events:
        name = names.get(event.metadata_id, '')
        if ':' not in name or '::' in name:   # executor bookkeeping
          continue
        # TF ops are traced as "<node name>:<op type>".
        totals[name.rsplit(':', 1)[1].lstrip('_')] += event.duration_ps / 1e12
        ops += 1
  overall = sum(totals.values()) or 1.0
  return OpProfile(sorted(((k, v / overall) for k, v in totals.items()),
                          key=lambda kv: -kv[1]), ops, overall)

