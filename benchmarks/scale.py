"""Scale benchmark: the data stages on WMT-like corpora of growing size.

  .venv/bin/python -m benchmarks.scale --data-dir ../shared/data/multi30k \\
      --sizes 100000,300000,1000000 --workers-at 1000000

For each size N it generates a WMT-like corpus of N pairs from Multi30k
(benchmarks/wmt_like.py: 8 train shards, Multi30k's own eval and test splits)
into a temporary directory and runs the real pipeline (LocalDagRunner, Beam
DirectRunner with the `local` profile's worker processes, SQLite ML Metadata;
configuration `--config`, WordPiece by default) one stage at a time, each
stage in a fresh process (a partial run: the stages before it are not run
again, their outputs are reused):

  ExampleGen     shards read, checked and deduplicated -> tf.Examples
  StatisticsGen  TFDV statistics (sketches)
  validation     schema import, ExampleValidator, the gate
  Transform      WordPiece vocabulary learned, then applied to every pair

For each stage: wall time (the component's own, from the run's log), pairs/s,
peak resident memory of the stage's process tree (the stage process and its
Beam workers, sampled every 0.2 s) and of its largest process, and bytes on
disk of the stage's outputs. Then, on the same corpus and cores, what NMT
users run instead: SentencePiece (Python bindings) trained on a sample of
1M sentences of both sides and encoding both sides, in a fresh process.
At `--workers-at` sizes the data stages run again with 1 Beam worker.
`--train-steps` adds the Trainer's input: training tokens/s of the default
model on the corpus's transformed examples against Multi30k's.

Prints markdown tables; `--json` keeps the raw results.
"""
import argparse
import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Dict, List

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from benchmarks import stages  # pylint: disable=g-import-not-at-top,wrong-import-position

STAGES: Dict[str, List[str]] = {   # stage -> the components it runs
    'ExampleGen': ['ParallelTextExampleGen'],
    'StatisticsGen': ['StatisticsGen'],
    'validation': ['ImportSchemaGen', 'ExampleValidator', 'DataValidationGate'],
    'Transform': ['Transform'],
}
SENTENCEPIECE_SAMPLE = 1_000_000


# ----------------------------------------------------- process measurement ---

class TreeMemory:
  """Peak resident memory of a process and its descendants, sampled."""

  def __init__(self, pid: int, interval: float = 0.2):
    import psutil  # pylint: disable=g-import-not-at-top
    self._root = psutil.Process(pid)
    self._interval = interval
    self.peak_tree = self.peak_process = 0
    self._done = threading.Event()
    self._thread = threading.Thread(target=self._sample, daemon=True)
    self._thread.start()

  def _sample(self):
    import psutil  # pylint: disable=g-import-not-at-top
    while not self._done.is_set():
      try:
        procs = [self._root] + self._root.children(recursive=True)
      except psutil.NoSuchProcess:
        return
      rss = []
      for proc in procs:
        try:
          rss.append(proc.memory_info().rss)
        except psutil.NoSuchProcess:
          pass
      if rss:
        self.peak_tree = max(self.peak_tree, sum(rss))
        self.peak_process = max(self.peak_process, max(rss))
      self._done.wait(self._interval)

  def stop(self):
    self._done.set()
    self._thread.join()


def run_measured(cmd: List[str], name: str) -> dict:
  """Runs a stage command; its RESULT plus the tree's peak memory (GiB)."""
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=stages.ROOT)
  memory = TreeMemory(proc.pid)
  out, err = proc.communicate()
  memory.stop()
  result = stages.result_of(proc.returncode, out, err, name)
  result.update(peak_tree_gib=memory.peak_tree / 2 ** 30,
                peak_process_gib=memory.peak_process / 2 ** 30)
  return result


def disk_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(path) for f in files)


# ------------------------------------------------------------------ stages ---

class _ComponentTimes(logging.Handler):
  """Seconds per component, from LocalDagRunner's running/finished lines."""

  _PATTERN = re.compile(r'^Component (\S+) is (running|finished)\.$')

  def __init__(self):
    super().__init__()
    self.started, self.seconds = {}, {}

  def emit(self, record):
    match = self._PATTERN.match(record.getMessage())
    if match:
      name, state = match.groups()
      if state == 'running':
        self.started[name] = record.created
      else:
        self.seconds[name] = record.created - self.started[name]


def stage_pipeline(args) -> dict:
  """Runs `args.stage`'s components of the pipeline (a partial run);
  returns their seconds and output bytes."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import pipeline as pipeline_py  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import beam_profiles  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import local_runner  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  beam_args = [a for a in beam_profiles.beam_pipeline_args('local')
               if not a.startswith('--direct_num_workers')]
  beam_args.append(f'--direct_num_workers={args.workers}')
  config = dataclasses.replace(
      configs.CONFIGS[args.config], data_dir=args.corpus,
      runs_dir=args.runs_dir, beam_pipeline_args=beam_args, enable_cache=False,
      **({'split_stems': json.loads(args.split_stems)}
         if args.split_stems else {}))
  full = pipeline_lib.create_pipeline(
      config, data_dir=config.data_dir, pipeline_root=config.pipeline_root,
      serving_dir=config.serving_dir,
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(config.metadata_path),
      beam_pipeline_args=beam_args + [f'--setup_file={local_runner.SETUP_PY}'])
  ran = STAGES[args.stage]
  # A partial run: the stage's components, with their inputs from the
  # previous (partial) run's outputs.
  partial = pipeline_py.RunOptions(from_nodes=ran, to_nodes=ran)
  times = _ComponentTimes()
  logging.getLogger().addHandler(times)
  logging.getLogger().setLevel(logging.INFO)
  tfx.orchestration.LocalDagRunner().run(full, run_options=partial)
  missing = [c for c in ran if c not in times.seconds]
  if missing:
    raise RuntimeError(f'{missing} did not run')
  return {'stage': args.stage,
          'seconds': sum(times.seconds[c] for c in ran),
          'bytes': sum(disk_bytes(os.path.join(config.pipeline_root, c))
                       for c in ran)}


def _corpus_lines(corpus: str, lang: str):
  """The train split's `lang` side (train.LANG[.gz] or train-*.LANG)."""
  import glob  # pylint: disable=g-import-not-at-top
  import gzip  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(corpus, f'train*.{lang}')) +
                 glob.glob(os.path.join(corpus, f'train*.{lang}.gz')))
  for path in paths:
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rt', encoding='utf-8') as f:
      for line in f:
        yield line.rstrip('\n')


def _line_batches(corpus: str, size: int = 20000):
  """Both sides of the train split, `size` lines at a time."""
  import itertools  # pylint: disable=g-import-not-at-top
  for lang in ('en', 'de'):
    lines = _corpus_lines(corpus, lang)
    while True:
      batch = list(itertools.islice(lines, size))
      if not batch:
        break
      yield batch


def stage_sentencepiece(args) -> dict:
  """SentencePiece as NMT users run it: trained on a sample of both sides'
  sentences, then encoding both sides (2 threads each)."""
  import itertools  # pylint: disable=g-import-not-at-top
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  model_dir = tempfile.mkdtemp(prefix='spm-')
  start = time.time()
  spm.SentencePieceTrainer.train(
      sentence_iterator=itertools.chain(_corpus_lines(args.corpus, 'en'),
                                        _corpus_lines(args.corpus, 'de')),
      model_prefix=os.path.join(model_dir, 'spm'), vocab_size=8000,
      input_sentence_size=SENTENCEPIECE_SAMPLE, shuffle_input_sentence=True,
      num_threads=2, character_coverage=1.0, minloglevel=2)
  trained = time.time()
  processor = spm.SentencePieceProcessor(
      model_file=os.path.join(model_dir, 'spm.model'))
  pieces = sum(sum(map(len, processor.encode(batch, num_threads=2)))
               for batch in _line_batches(args.corpus))
  shutil.rmtree(model_dir)
  return {'stage': 'sentencepiece', 'train_seconds': trained - start,
          'encode_seconds': time.time() - trained,
          'seconds': time.time() - start, 'pieces': pieces}


def stage_train(args) -> dict:
  """The Trainer's input on a run's transformed examples: batches/s of the
  streaming input pipeline alone, then training tokens/s of the default
  model through `fit` on that same stream (the median of three runs of
  `args.train_steps` steps, after as many for warm-up)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import features  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components import preprocessing as preprocessing_lib  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import inputs  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import codecs  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  root = os.path.join(args.runs_dir, '*', 'root', 'Transform')
  graph = stages.newest(f'{root}/transform_graph/*')
  output = tft.TFTransformOutput(graph)
  files = stages.newest(f'{root}/transformed_examples/*') + '/Split-train/*'
  preprocessing = preprocessing_lib.load_config(graph)  # what Transform ran with
  hparams = configs.CONFIGS['lstm'].hparams
  tf.keras.utils.set_random_seed(hparams.seed)
  start = time.time()
  plan = inputs.plan_batches(files, hparams, preprocessing)
  plan_seconds = time.time() - start
  dataset = inputs.make_dataset(files, output, hparams, preprocessing, plan,
                                training=True)
  batches = iter(dataset)
  for _ in range(args.train_steps):            # fill the buffers
    next(batches)
  tokens, start = [], time.time()
  for _ in range(5 * args.train_steps):
    batch, labels = next(batches)
    tokens.append(int(np.count_nonzero(batch[features.SOURCE_IDS]))
                  + int(np.count_nonzero(labels)))
  input_seconds = time.time() - start
  codec = codecs.load(output, preprocessing)
  model = trainer.build_model(codec.source_vocab_size,
                              codec.target_vocab_size, hparams)
  model.fit(dataset, epochs=1, steps_per_epoch=args.train_steps, verbose=0)
  timed = []
  for _ in range(3):            # the median of three, each a fresh iterator
    start = time.time()
    model.fit(dataset, epochs=1, steps_per_epoch=args.train_steps, verbose=0)
    timed.append(time.time() - start)
  fit_seconds = sorted(timed)[1]
  per_batch = float(np.mean(tokens))
  return {'stage': 'train', 'plan_seconds': plan_seconds,
          'boundaries': plan.boundaries, 'batch_sizes': plan.batch_sizes,
          'over_cap': plan.over_cap, 'tokens_per_batch': per_batch,
          'input_batches_per_s': len(tokens) / input_seconds,
          'input_tokens_per_s': sum(tokens) / input_seconds,
          'train_steps_per_s': args.train_steps / fit_seconds,
          'train_tokens_per_s': per_batch * args.train_steps / fit_seconds}


def stage_wordpiece(args) -> dict:
  """The WordPiece learner alone on the corpus's word counts (both sides,
  the pipeline's word tokenizer), as Transform runs it: the most frequent
  `subword_learning_words`, then `wordpiece_learner.learn`."""
  import collections  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import tokenizer  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import vocabulary  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import wordpiece_learner  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  preprocessing = configs.CONFIGS[args.config].preprocessing
  words, counts = tokenizer.WordTokenizer(), collections.Counter()
  for batch in _line_batches(args.corpus):
    counts.update(words.tokenize(tf.constant(batch)).flat_values.numpy()
                  .tolist())
  kept = [(w.decode('utf-8'), c) for w, c in
          counts.most_common(preprocessing.subword_learning_words)]
  passes = []
  learn_with_thresh = wordpiece_learner.learner.learn_with_thresh

  def counted(*a):
    passes.append(a[1])
    return learn_with_thresh(*a)
  wordpiece_learner.learner.learn_with_thresh = counted
  start = time.time()
  pieces = wordpiece_learner.learn(kept, preprocessing.subword_vocab_size,
                                   vocabulary.RESERVED_TOKENS)
  return {'stage': 'wordpiece', 'seconds': time.time() - start,
          'word_types': len(counts), 'words_learned_from': len(kept),
          'passes': len(passes), 'pieces': len(pieces)}


STAGE_FUNCTIONS = {'pipeline': stage_pipeline,
                   'sentencepiece': stage_sentencepiece, 'train': stage_train,
                   'wordpiece': stage_wordpiece}


# ------------------------------------------------------------------ driver ---

def _stage_cmd(kind: str, **flags) -> List[str]:
  cmd = stages.command('benchmarks.scale', '--run-stage', kind)
  for name, value in flags.items():
    cmd += [f'--{name.replace("_", "-")}', str(value)]
  return cmd


def measure_size(size: str, args, work_dir: str, workers: List[int]) -> dict:
  """All stages on one corpus: `size` pairs generated, or 'multi30k'."""
  from benchmarks import wmt_like  # pylint: disable=g-import-not-at-top
  start = time.time()
  if size == 'multi30k':
    corpus, split_stems = args.data_dir, ''
    pairs = len(wmt_like.read_lines(os.path.join(corpus, 'train.en.gz')))
  else:
    pairs = int(size)
    corpus = wmt_like.write_corpus(args.data_dir,
                                   os.path.join(work_dir, f'corpus-{pairs}'),
                                   pairs, shards=args.shards)
    split_stems = json.dumps({'train': wmt_like.train_stem(args.shards),
                              'eval': 'val', 'test': 'test_2016_flickr'})
  result = {'pairs': pairs, 'corpus': size,
            'generate_seconds': time.time() - start,
            'corpus_bytes': disk_bytes(corpus), 'workers': {}}
  print(f'[scale] {size}: {pairs:,} pairs ready in '
        f'{result["generate_seconds"]:.0f} s '
        f'({result["corpus_bytes"] / 2**20:.0f} MiB)', flush=True)
  for count in workers:
    runs_dir = os.path.join(work_dir, f'runs-{size}-w{count}')
    rows = result['workers'][count] = {}
    for stage in STAGES:
      rows[stage] = run_measured(_stage_cmd(
          'pipeline', stage=stage, corpus=corpus, runs_dir=runs_dir,
          workers=count, config=args.config, split_stems=split_stems), stage)
      print(f'[scale] {pairs:,} pairs, {count} worker(s), {stage}: '
            f'{rows[stage]["seconds"]:.0f} s, tree peak '
            f'{rows[stage]["peak_tree_gib"]:.2f} GiB', flush=True)
    if args.train_steps and count == workers[0]:
      result['train'] = run_measured(_stage_cmd(
          'train', runs_dir=runs_dir, config=args.config,
          train_steps=args.train_steps), 'train')
      print(f'[scale] {pairs:,} pairs, training: '
            f'{result["train"]["train_tokens_per_s"]:,.0f} tokens/s, input '
            f'alone {result["train"]["input_tokens_per_s"]:,.0f} tokens/s',
            flush=True)
    shutil.rmtree(runs_dir, ignore_errors=True)
  result['wordpiece'] = run_measured(
      _stage_cmd('wordpiece', corpus=corpus, config=args.config), 'wordpiece')
  result['sentencepiece'] = run_measured(
      _stage_cmd('sentencepiece', corpus=corpus), 'sentencepiece')
  if size != 'multi30k':
    shutil.rmtree(corpus, ignore_errors=True)
  return result


def _gib(value: float) -> str:
  return f'{value:.2f}'


def tables(results: List[dict]) -> str:
  """Markdown: per stage and size at 2 workers; growth; workers; peer."""
  lines = ['| pairs | stage | seconds | pairs/s | peak RSS, tree (GiB) | '
           'peak RSS, largest process (GiB) | output on disk (MiB) |',
           '|---|---|---|---|---|---|---|']
  for r in results:
    most = max(r['workers'])
    rows = r['workers'][most]
    for stage, row in rows.items():
      lines.append(f"| {r['pairs']:,} | {stage} | {row['seconds']:.0f} | "
                   f"{r['pairs'] / row['seconds']:,.0f} | "
                   f"{_gib(row['peak_tree_gib'])} | "
                   f"{_gib(row['peak_process_gib'])} | "
                   f"{row['bytes'] / 2 ** 20:,.0f} |")
    data = sum(row['seconds'] for row in rows.values())
    lines.append(f"| {r['pairs']:,} | **data stages** | {data:.0f} | "
                 f"{r['pairs'] / data:,.0f} | "
                 f"{_gib(max(x['peak_tree_gib'] for x in rows.values()))} | "
                 f"{_gib(max(x['peak_process_gib'] for x in rows.values()))}"
                 f" | |")
    wp = r.get('wordpiece')
    if wp:
      lines.append(f"| {r['pairs']:,} | WordPiece learner alone ("
                   f"{wp['words_learned_from']:,} of {wp['word_types']:,} "
                   f"word types, {wp['passes']} passes) | "
                   f"{wp['seconds']:.0f} | | {_gib(wp['peak_tree_gib'])} | "
                   f"{_gib(wp['peak_process_gib'])} | |")
    sp = r['sentencepiece']
    lines.append(f"| {r['pairs']:,} | SentencePiece train + encode "
                 f"({sp['train_seconds']:.0f} + {sp['encode_seconds']:.0f}) | "
                 f"{sp['seconds']:.0f} | {r['pairs'] / sp['seconds']:,.0f} | "
                 f"{_gib(sp['peak_tree_gib'])} | "
                 f"{_gib(sp['peak_process_gib'])} | |")
  if len(results) > 1:
    lines += ['', '| stage | ' + ' | '.join(
        f"{a['pairs']:,} -> {b['pairs']:,}: time, memory"
        for a, b in zip(results, results[1:])) + ' |',
              '|---|' + '---|' * (len(results) - 1)]
    for stage in STAGES:
      cells = []
      for a, b in zip(results, results[1:]):
        x, y = a['workers'][max(a['workers'])][stage], b['workers'][
            max(b['workers'])][stage]
        cells.append(f"{y['seconds'] / x['seconds']:.2f}x, "
                     f"{y['peak_tree_gib'] / x['peak_tree_gib']:.2f}x")
      lines.append(f'| {stage} | ' + ' | '.join(cells) + ' |')
    pairs_growth = ' | '.join(f"{b['pairs'] / a['pairs']:.2f}x"
                              for a, b in zip(results, results[1:]))
    lines.append(f'| (pairs) | {pairs_growth} |')
  trained = [r for r in results if 'train' in r]
  if trained:
    lines += ['', '| pairs | length buckets (from a sample) | sentences a batch '
              '| over the caps | tokens a batch | input alone, tokens/s | '
              'training, tokens/s |', '|---|---|---|---|---|---|---|']
    for r in trained:
      t = r['train']
      lines.append(f"| {r['pairs']:,} | {t['boundaries']} | "
                   f"{t['batch_sizes']} | {100 * t['over_cap']:.1f}% | "
                   f"{t['tokens_per_batch']:,.0f} | "
                   f"{t['input_tokens_per_s']:,.0f} | "
                   f"{t['train_tokens_per_s']:,.0f} |")
  for r in results:
    if len(r['workers']) < 2:
      continue
    counts = sorted(r['workers'])
    lines += ['', f"| {r['pairs']:,} pairs: stage | " + ' | '.join(
        f'{c} worker(s), s' for c in counts) + ' | speed-up |',
              '|---|' + '---|' * (len(counts) + 1)]
    for stage in STAGES:
      secs = [r['workers'][c][stage]['seconds'] for c in counts]
      lines.append(f'| {stage} | ' + ' | '.join(f'{s:.0f}' for s in secs)
                   + f' | {secs[0] / secs[-1]:.2f}x |')
  return '\n'.join(lines)


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data-dir', default='../shared/data/multi30k')
  parser.add_argument('--sizes', default='multi30k,100000,300000,1000000',
                      help='pairs to generate; multi30k: the corpus itself')
  parser.add_argument('--workers-at', default='',
                      help='sizes that also run with 1 Beam worker')
  parser.add_argument('--workers', type=int, default=2,
                      help='Beam worker processes (the local profile: 2)')
  parser.add_argument('--shards', type=int, default=8)
  parser.add_argument('--config', default='quality')
  parser.add_argument('--train-steps', type=int, default=0,
                      help='measure the Trainer input with this many steps')
  parser.add_argument('--split-stems', default='',
                      help='JSON split -> file stem (default: the config\'s)')
  parser.add_argument('--work-dir', help='default: a temporary directory')
  parser.add_argument('--json', help='write the raw results here')
  # One stage in this process (what the driver runs in a fresh process).
  parser.add_argument('--run-stage', choices=sorted(STAGE_FUNCTIONS))
  parser.add_argument('--stage', choices=list(STAGES))
  parser.add_argument('--corpus')
  parser.add_argument('--runs-dir')
  return parser.parse_args(argv)


def main(argv=None) -> None:
  args = parse_args(argv)
  if args.run_stage:
    stages.report(STAGE_FUNCTIONS[args.run_stage](args))
    return
  work_dir = args.work_dir or tempfile.mkdtemp(prefix='nmt-scale-')
  with_one = set(args.workers_at.split(','))
  results = []
  for size in args.sizes.split(','):
    workers = [args.workers] + ([1] if size in with_one else [])
    results.append(measure_size(size, args, work_dir, workers))
    if args.json:
      with open(args.json, 'w') as f:
        json.dump(results, f, indent=1)
  print(tables(results))


if __name__ == '__main__':
  main()
