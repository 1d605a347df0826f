"""Speed benchmark: the project against the seed-style baseline, in one run.

  .venv/bin/python -m benchmarks.speed --data-dir ../shared/data/multi30k

Runs the `lstm` pipeline once (Multi30k en->de), then, each in a fresh
process so peak memory is per measurement:
  peak      the matmul FLOP/s TensorFlow reaches on this machine (f32, bf16)
  train     steady-state training tokens/s of the project's Trainer model
            and of the seed-style baseline (benchmarks/seed_baseline.py) on
            the same transformed data, vocabulary, layer sizes and batch size
  decode    sentences/s and tokens/s through the exported text signature,
            greedy and beam 5, batch 1 and 64, against a Python loop per
            token on the same trained weights; and the serving process's
            peak memory
  profile   where the project's training step spends its time
and prints the tables (markdown). `--quick` is the minutes-long smoke run.
Tokens are source + target tokens that are not padding (target with EOS).
"""
import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

SEED_BATCH_SENTENCES = 64   # the seed-style baseline's (tutorial's) batch

from benchmarks import stages  # pylint: disable=g-import-not-at-top,wrong-import-position


class RunArtifacts:
  """Where a finished local run keeps what the stages need."""

  def __init__(self, run_dir: str):
    root = os.path.join(run_dir, 'root')
    self.transform_graph = stages.newest(f'{root}/Transform/transform_graph/*')
    examples = stages.newest(f'{root}/Transform/transformed_examples/*')
    self.train_files = f'{examples}/Split-train/*'
    self.model = stages.newest(f'{root}/Trainer/model/*/Format-Serving')
    self.model_run = stages.newest(f'{root}/Trainer/model_run/*')
    self.report = stages.newest(
        f'{root}/BleuEvaluator/evaluation/*/report.json')
    self.raw_test = stages.newest(
        f'{root}/ParallelTextExampleGen/examples/*') + '/Split-test'


# ----------------------------------------------------------------- stages ---

def stage_pipeline(args) -> dict:
  """Runs the local pipeline; the overhead is its wall time minus the time
  spent in model.fit and in decoding (both measured inside the run)."""
  cmd = [os.path.join(os.path.dirname(sys.executable), 'nmt-tfx'),
         '--config', args.pipeline_config, '--data-dir', args.data_dir,
         '--runs-dir', args.runs_dir]
  start = time.time()
  out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
  wall = time.time() - start
  stage_seconds = {m.group(1): float(m.group(2)) for m in re.finditer(
      r'\] \S+ (\S+) done in (\d+) s', out)}
  pairs = {m.group(1): int(m.group(2).replace(',', '')) for m in re.finditer(
      r'\[data\] (\w+): ([\d,]+) pairs', out)}
  run = RunArtifacts(_run_dir(args))
  with open(os.path.join(run.model_run, 'training_summary.json')) as f:
    fit = json.load(f)['fit_seconds']
  with open(run.report) as f:
    decode = sum(s['decode_seconds'] for s in json.load(f)['scores'].values())
  transformed = pairs['train'] + pairs['eval']
  return {'wall_s': wall, 'fit_s': fit, 'decode_s': decode,
          'overhead_s': wall - fit - decode, 'stages_s': stage_seconds,
          'transform_examples': transformed,
          'transform_examples_per_s': transformed / stage_seconds['Transform']}


def stage_peak(args) -> dict:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from benchmarks import measure  # pylint: disable=g-import-not-at-top
  del args
  return {name: max(measure.matmul_peak_gflops(dtype, n) for n in (1024, 2048))
          for name, dtype in (('float32', tf.float32),
                              ('bfloat16', tf.bfloat16))}


def _training_setup(args, bucketed: bool = True):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import inputs  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import codecs  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components import preprocessing as preprocessing_lib  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  hparams = configs.CONFIGS['lstm'].hparams
  if args.precision != 'float32':
    hparams = dataclasses.replace(hparams, precision=args.precision)
  run = RunArtifacts(_run_dir(args))
  # What Transform ran with, recorded in its graph.
  preprocessing = preprocessing_lib.load_config(run.transform_graph)
  tto = tft.TFTransformOutput(run.transform_graph)
  codec = codecs.load(tto, preprocessing)
  sizes = (codec.source_vocab_size, codec.target_vocab_size)
  tf.keras.utils.set_random_seed(hparams.seed)
  plan = inputs.plan_batches(run.train_files, hparams, preprocessing)
  if not bucketed:   # the tutorial's data path: shuffled, padded per batch
    plan = plan._replace(boundaries=[], batch_sizes=[SEED_BATCH_SENTENCES])
  dataset = inputs.make_dataset(run.train_files, tto, hparams,
                                preprocessing, plan, training=True)
  return hparams, sizes, dataset


def stage_train(args) -> dict:
  """Tokens/s of one implementation: first `warmup` steps from a cold start
  (graph building included), then `steps` batches replayed (steady state)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from benchmarks import measure  # pylint: disable=g-import-not-at-top
  from benchmarks import seed_baseline  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  hparams, (src_vocab, tgt_vocab), dataset = _training_setup(
      args, bucketed=args.impl != 'seed')
  if args.impl == 'seed':
    model = seed_baseline.SeedStyleSeq2Seq(src_vocab, tgt_vocab, hparams)
    step = seed_baseline.make_train_step(model, tf.keras.optimizers.Adam(
        hparams.learning_rate, clipnorm=hparams.clip_norm))
    run_step = lambda batch: step(*batch)  # pylint: disable=unnecessary-lambda-assignment
  else:
    model = trainer.build_model(src_vocab, tgt_vocab, hparams)
    # What Keras fit traces: one step for the dataset's dynamic shapes.
    run_step = tf.function(lambda batch: model.train_step(batch),  # pylint: disable=unnecessary-lambda
                           input_signature=[dataset.element_spec])
  batches = list(dataset.take(args.warmup + args.steps))
  tokens = [sum(int(tf.reduce_sum(n)) for n in measure.lengths(*b))
            for b in batches]
  def run_all(some) -> float:
    start = time.perf_counter()
    for batch in some:
      loss = run_step(batch)
    tf.nest.map_structure(lambda t: t.numpy(), loss)   # wait for the last
    return time.perf_counter() - start

  cold = run_all(batches[:args.warmup])
  steady = batches[args.warmup:]
  run_all(steady)                 # every shape seen once before timing
  seconds = run_all(steady)
  flops = sum(measure.training_flops(*measure.lengths(*b), hparams, tgt_vocab)
              for b in steady)
  params = sum(int(tf.size(v)) for v in model.trainable_variables)
  return {'impl': args.impl, 'precision': args.precision, 'params': params,
          'steps': len(steady), 'ms_per_step': 1000 * seconds / len(steady),
          'tokens_per_s': sum(tokens[args.warmup:]) / seconds,
          'cold_tokens_per_s': sum(tokens[:args.warmup]) / cold,
          'model_gflops': flops / seconds / 1e9,
          'peak_rss_gib': measure.peak_rss_gib()}


def _test_sentences(run: RunArtifacts):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import features  # pylint: disable=g-import-not-at-top
  sentences = []
  for path in sorted(tf.io.gfile.glob(run.raw_test + '/*')):
    for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
      example = tf.train.Example.FromString(record.numpy())
      sentences.append(example.features.feature[features.SOURCE]
                       .bytes_list.value[0])
  return sentences


def stage_decode(args) -> dict:
  """Exported signature vs a Python loop per token, same weights, same
  maximum length, no length penalty (so both rank hypotheses alike)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from benchmarks import measure  # pylint: disable=g-import-not-at-top
  from benchmarks import seed_baseline  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import features  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import export  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import model_config  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import warm_start  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.serving import contract  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import codecs  # pylint: disable=g-import-not-at-top
  run = RunArtifacts(_run_dir(args))
  sentences = _test_sentences(run)[:args.sentences]
  translate = tf.saved_model.load(run.model).signatures[
      contract.OPTIONS_SIGNATURE]
  config = model_config.load(run.model)   # how the model was trained
  if config is None:
    raise SystemExit(f'{run.model}: no {model_config.FILE}; rerun the '
                     'pipeline without --reuse-run')
  tto = tft.TFTransformOutput(run.transform_graph)
  codec = codecs.load(tto, config.preprocessing)
  model = trainer.build_model(codec.source_vocab_size, codec.target_vocab_size,
                              config.hparams)
  model({features.SOURCE_IDS: tf.ones([1, 2], tf.int64),  # build the variables
         features.TARGET_IN: tf.ones([1, 2], tf.int64)})
  outcome = warm_start.restore_variables(model, run.model)
  assert outcome.restored, outcome.reason
  # The exported preprocessing, run eagerly for the Python loop.
  translator = export.Translator(model, tto, config.hparams, codec,
                                 config.preprocessing)

  rows = []
  for beam in (1, 5):
    for batch_size in (1, 64):
      count = args.batch1_sentences if batch_size == 1 else len(sentences)
      batches = [tf.constant(sentences[i:i + batch_size])
                 for i in range(0, count, batch_size)]
      start = time.perf_counter()
      tokens = 0
      for b in batches:
        out = translate(**export.options_inputs(b, beam, 0.0))
        tokens += int(tf.reduce_sum(out[contract.LENGTH_OUTPUT]))
      exported_s = time.perf_counter() - start

      start = time.perf_counter()
      for b in batches:
        source_ids, _, max_length = translator.prepare_source(b)
        seed_baseline.python_loop_decode(model, source_ids, int(max_length),
                                         beam)
      loop_s = time.perf_counter() - start
      rows.append({'beam': beam, 'batch': batch_size, 'sentences': count,
                   'tokens': tokens,
                   'exported_sent_per_s': count / exported_s,
                   'exported_tokens_per_s': tokens / exported_s,
                   'loop_sent_per_s': count / loop_s,
                   'speedup': loop_s / exported_s})
  return {'rows': rows, 'serving_peak_rss_gib': measure.peak_rss_gib()}


def stage_profile(args) -> dict:
  """Traces `steps` training steps of the project model; op time by type."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from benchmarks import measure  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  hparams, (src_vocab, tgt_vocab), dataset = _training_setup(args)
  model = trainer.build_model(src_vocab, tgt_vocab, hparams)
  train_function = model.make_train_function()
  iterator = iter(dataset)
  for _ in range(args.warmup):
    train_function(iterator)
  logdir = tempfile.mkdtemp(prefix='nmt-profile-')
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  for _ in range(args.steps):
    out = train_function(iterator)
  float(out['loss'])
  seconds = time.perf_counter() - start
  tf.profiler.experimental.stop()
  profile = measure.op_time_by_type(logdir)
  return {'top_ops': profile.by_type[:args.top], 'ops_per_step': profile.ops / args.steps,
          'op_seconds_per_step': profile.seconds / args.steps,
          'wall_seconds_per_step': seconds / args.steps, 'logdir': logdir}


STAGES = {'pipeline': stage_pipeline, 'peak': stage_peak, 'train': stage_train,
          'decode': stage_decode, 'profile': stage_profile}


# ------------------------------------------------------------ the driver ---

def _run_dir(args) -> str:
  return os.path.join(args.runs_dir, 'nmt-en-de')


def _stage(args, name: str, *extra: str) -> dict:
  """Runs a stage in a fresh process; returns its RESULT."""
  cmd = stages.command('benchmarks.speed', '--stage', name,
                       '--data-dir', args.data_dir, '--runs-dir', args.runs_dir,
                       '--pipeline-config', args.pipeline_config, *extra)
  print(f'[bench] {name} {" ".join(extra)}', file=sys.stderr, flush=True)
  return stages.run(cmd, name)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data-dir', required=True)
  parser.add_argument('--runs-dir', default=None,
                      help='where the pipeline run goes (default: a temp dir)')
  parser.add_argument('--reuse-run', action='store_true',
                      help='skip the pipeline run; use the one in --runs-dir')
  parser.add_argument('--quick', action='store_true',
                      help='smoke run: tiny pipeline, few steps and sentences')
  parser.add_argument('--json', help='also write all results here')
  parser.add_argument('--stage', choices=sorted(STAGES), help=argparse.SUPPRESS)
  parser.add_argument('--pipeline-config', default='lstm', help=argparse.SUPPRESS)
  parser.add_argument('--impl', default='project', help=argparse.SUPPRESS)
  parser.add_argument('--precision', default='float32', help=argparse.SUPPRESS)
  parser.add_argument('--warmup', type=int, default=50, help=argparse.SUPPRESS)
  parser.add_argument('--steps', type=int, default=100, help=argparse.SUPPRESS)
  parser.add_argument('--sentences', type=int, default=1000, help=argparse.SUPPRESS)
  parser.add_argument('--batch1-sentences', type=int, default=100,
                      help=argparse.SUPPRESS)
  parser.add_argument('--top', type=int, default=12, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  args.data_dir = os.path.abspath(args.data_dir)

  if args.stage:
    stages.report(STAGES[args.stage](args))
    return 0

  args.runs_dir = os.path.abspath(args.runs_dir or tempfile.mkdtemp(
      prefix='nmt-speed-'))
  if args.quick:
    args.pipeline_config = 'smoke'
  steps = ['--warmup', '5', '--steps', '10'] if args.quick else []
  results = {}
  if not args.reuse_run:
    results['pipeline'] = _stage(args, 'pipeline')
  results['peak'] = _stage(args, 'peak')
  results['train'] = [
      _stage(args, 'train', '--impl', impl, '--precision', precision, *steps)
      for impl, precision in (('seed', 'float32'), ('project', 'float32'),
                              ('project', 'mixed_bfloat16'))]
  results['decode'] = _stage(
      args, 'decode', *(['--sentences', '64', '--batch1-sentences', '8']
                        if args.quick else []))
  results['profile'] = _stage(args, 'profile', *(steps or ['--warmup', '20',
                                                           '--steps', '30']))
  print(format_tables(results))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=1)
  return 0


def format_tables(r: dict) -> str:
  peak = r['peak']['float32']
  seed = next(t for t in r['train'] if t['impl'] == 'seed')
  lines = ['', f"Matmul peak measured here: {peak:.0f} GFLOP/s float32, "
           f"{r['peak']['bfloat16']:.0f} GFLOP/s bfloat16", '',
           '| training | precision | params | ms/step | tokens/s (steady) '
           '| tokens/s (cold, incl. tracing) | vs seed | model GFLOP/s '
           '| % of f32 peak | peak RSS GiB |', '|' + ' --- |' * 10]
  for t in r['train']:
    lines.append(
        f"| {t['impl']} | {t['precision']} | {t['params'] / 1e6:.1f}M "
        f"| {t['ms_per_step']:.0f} | {t['tokens_per_s']:,.0f} "
        f"| {t['cold_tokens_per_s']:,.0f} "
        f"| {t['tokens_per_s'] / seed['tokens_per_s']:.2f}x "
        f"| {t['model_gflops']:.1f} | {100 * t['model_gflops'] / peak:.0f}% "
        f"| {t['peak_rss_gib']:.2f} |")
  lines += ['', '| decoding | batch | sentences | exported sent/s '
            '| exported tokens/s | Python-loop sent/s | speed-up |',
            '|' + ' --- |' * 7]
  for d in r['decode']['rows']:
    name = 'greedy' if d['beam'] == 1 else f"beam {d['beam']}"
    lines.append(
        f"| {name} | {d['batch']} | {d['sentences']} "
        f"| {d['exported_sent_per_s']:.1f} | {d['exported_tokens_per_s']:,.0f} "
        f"| {d['loop_sent_per_s']:.1f} | {d['speedup']:.1f}x |")
  lines.append(f"\nServing process peak RSS: "
               f"{r['decode']['serving_peak_rss_gib']:.2f} GiB")
  if 'pipeline' in r:
    p = r['pipeline']
    lines += ['', '| pipeline | seconds |', '| --- | --- |',
              f"| whole run (wall) | {p['wall_s']:.0f} |",
              f"| inside model.fit | {p['fit_s']:.0f} |",
              f"| decoding in the Evaluator | {p['decode_s']:.0f} |",
              f"| overhead (the rest) | {p['overhead_s']:.0f} |",
              *[f'| stage: {k} | {v:.0f} |' for k, v in p['stages_s'].items()],
              '', f"Transform: {p['transform_examples']:,} examples in "
              f"{p['stages_s']['Transform']:.0f} s = "
              f"{p['transform_examples_per_s']:,.0f} examples/s"]
  prof = r['profile']
  lines += ['', f"Training step profile: {prof['ops_per_step']:,.0f} op "
            f"executions per step; {1000 * prof['op_seconds_per_step']:.0f} ms of "
            f"op time (summed over threads) in {1000 * prof['wall_seconds_per_step']:.0f}"
            ' ms of wall time per step. Op time by type:', '',
            '| op | share |', '| --- | --- |']
  lines += [f'| {op} | {100 * share:.1f}% |'
            for op, share in r['profile']['top_ops']]
  return '\n'.join(lines)


if __name__ == '__main__':
  sys.exit(main())
