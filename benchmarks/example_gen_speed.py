"""ExampleGen throughput (pairs/s) on a generated WMT-like corpus.

  .venv/bin/python benchmarks/example_gen_speed.py make --out /tmp/eg_corpus
  .venv/bin/python benchmarks/example_gen_speed.py run --data /tmp/eg_corpus \
      --stem train --workers 2

`make` writes about 300k distinct pairs (Multi30k train lines joined 2-3 at a
time, each with a counter word) both as one file pair ``train.{en,de}`` and as
8 shards ``train-00{0..7}.{en,de}``. `run` times the executor's Beam pipeline
(read, deduplicate, write the TFRecords) on the DirectRunner.
"""
import argparse
import gzip
import json
import os
import tempfile
import time
from typing import Optional

LANGS = ('en', 'de')


def _multi30k(data_dir: str, lang: str):
  with gzip.open(os.path.join(data_dir, f'train.{lang}.gz'), 'rt',
                 encoding='utf-8') as f:
    return [line.rstrip('\n') for line in f]


def make_corpus(multi30k_dir: str, out: str, pairs: int, shards: int) -> None:
  """Writes `pairs` distinct pairs as one file pair and as `shards` shards."""
  lines = {lang: _multi30k(multi30k_dir, lang) for lang in LANGS}
  size = len(lines['en'])
  os.makedirs(out, exist_ok=True)
  whole = {lang: open(os.path.join(out, f'train.{lang}'), 'w',
                      encoding='utf-8') for lang in LANGS}
  parts = {(s, lang): open(os.path.join(out, f'train-{s:03d}.{lang}'), 'w',
                           encoding='utf-8')
           for s in range(shards) for lang in LANGS}
  for i in range(pairs):
    width = 2 + i % 2
    for lang in LANGS:
      text = ' '.join(lines[lang][(i + k) % size] for k in range(width))
      row = f'{text} {i}\n'
      whole[lang].write(row)
      parts[(i % shards, lang)].write(row)
  for f in (*whole.values(), *parts.values()):
    f.close()


def time_example_gen(data_dir: str, stem: str, workers: int,
                     lines_per_range: Optional[int]) -> dict:
  """Runs the executor once on split `stem`; returns pairs and seconds."""
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import example_gen  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  out = tempfile.mkdtemp(prefix='eg_bench_')
  examples = standard_artifacts.Examples()
  examples.uri = out
  split = example_gen_pb2.Input.Split(
      name='train', pattern=example_gen.split_pattern(stem))
  exec_properties = {
      'input_base': data_dir,
      'input_config': json_format.MessageToJson(
          example_gen_pb2.Input(splits=[split])),
      'output_config': json_format.MessageToJson(example_gen_pb2.Output()),
      'custom_config': (json_format.MessageToJson(
          example_gen.make_custom_config(*LANGS, lines_per_range))
                        if lines_per_range else example_gen.language_pair(*LANGS)),
      'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE,
  }
  mode = 'multi_processing' if workers > 1 else 'in_memory'
  executor = example_gen.Executor(example_gen.Executor.Context(
      beam_pipeline_args=[f'--direct_running_mode={mode}',
                          f'--direct_num_workers={workers}']))
  start = time.time()
  executor.Do({}, {'examples': [examples]}, exec_properties)
  seconds = time.time() - start
  records = sum(1 for path in tf.io.gfile.glob(f'{out}/Split-train/*')
                for _ in tf.data.TFRecordDataset(path, 'GZIP'))
  return {'stem': stem, 'workers': workers, 'pairs': records,
          'lines_per_range': lines_per_range, 'seconds': round(seconds, 1),
          'pairs_per_second': round(records / seconds)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  sub = parser.add_subparsers(dest='command', required=True)
  make = sub.add_parser('make')
  make.add_argument('--multi30k', default=os.environ.get(
      'NMT_MULTI30K_DIR', '/work/shared/data/multi30k'))
  make.add_argument('--out', required=True)
  make.add_argument('--pairs', type=int, default=300_000)
  make.add_argument('--shards', type=int, default=8)
  run = sub.add_parser('run')
  run.add_argument('--data', required=True)
  run.add_argument('--stem', default='train')
  run.add_argument('--workers', type=int, default=1)
  run.add_argument('--lines-per-range', type=int,
                   help='default: the executor\'s')
  args = parser.parse_args()
  if args.command == 'make':
    make_corpus(args.multi30k, args.out, args.pairs, args.shards)
  else:
    print(json.dumps(time_example_gen(args.data, args.stem, args.workers,
                                      args.lines_per_range)))


if __name__ == '__main__':
  main()
