"""Quality benchmark: named configurations, trained by the pipeline itself.

  .venv/bin/python -m benchmarks.quality --data-dir ../shared/data/multi30k \
      --configs default transformer_tiny --pairs en-de en-fr --seeds 1 2

For each language pair, configuration and seed it runs the whole local
pipeline from raw text (`nmt-tfx --config C --source-lang S --target-lang T
--hparams '{"seed": N}'`), one run after another so each has the machine to
itself; then, in a fresh process, it translates Multi30k test_2016_flickr
with the pushed SavedModel, greedy and beam 5 (the `translate_with_options`
signature TF Serving serves), and scores with sacreBLEU: cased on detokenized
text (the default) and with lowercase=True (how the published Multi30k
numbers are scored). Prints one markdown table, a row a run, side by side:
pipeline wall time, training time, steps and epochs, parameters, validation
BLEU, test BLEU greedy and beam 5, cased and lowercased; and, since this
machine's speed varies from hour to hour, the time an update took and the
float32 matmul GFLOP/s a fresh process reached just before and just after
the run. `--reuse-run` rebuilds the table from finished runs in --runs-dir.
`--hparams JSON` sets more hyperparameters in every run, beside its seed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from benchmarks import stages  # pylint: disable=g-import-not-at-top,wrong-import-position
from benchmarks import wmt_like  # pylint: disable=g-import-not-at-top,wrong-import-position
TEST_STEM = 'test_2016_flickr'


def _runs_dir(args, config: str, seed: int) -> str:
  """Where the run of one configuration and seed keeps its outputs."""
  return os.path.join(args.runs_dir, f'{config}-seed{seed}')


def _run_dir(runs_dir: str, pair: str) -> str:
  return os.path.join(runs_dir, f'nmt-{pair}')


def read_split(data_dir: str, stem: str, lang: str):
  """The lines of Multi30k's `{stem}.{lang}.gz`."""
  return wmt_like.read_lines(os.path.join(data_dir, f'{stem}.{lang}.gz'))


def translate_sentences(signature, sentences, beam_size: int,
                        length_penalty: float, batch_size: int = 64):
  """Translations of `sentences` by the served model's OPTIONS_SIGNATURE,
  `batch_size` sentences a request."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import export  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.serving import contract  # pylint: disable=g-import-not-at-top
  outputs = []
  for i in range(0, len(sentences), batch_size):
    out = signature(**export.options_inputs(
        tf.constant(sentences[i:i + batch_size]), beam_size, length_penalty))
    outputs.extend(t.decode('utf-8')
                   for t in out[contract.TRANSLATION_OUTPUT].numpy())
  return outputs


def machine_stage() -> dict:
  """In a fresh process: the float32 matmul rate this machine gives now."""
  from benchmarks import measure  # pylint: disable=g-import-not-at-top
  return {'gflops': measure.matmul_peak_gflops(n=1024)}


def _machine_gflops() -> float:
  return stages.run(stages.command('benchmarks.quality', '--stage', 'machine'),
                    'machine speed')['gflops']


def run_pipeline(args, pair: str, config: str, seed: int) -> dict:
  """Runs the pipeline; returns (and records beside the run) its wall time
  and the machine's matmul rate before and after it."""
  source, target = pair.split('-')
  cmd = [os.path.join(os.path.dirname(sys.executable), 'nmt-tfx'),
         '--config', config, '--data-dir', args.data_dir,
         '--source-lang', source, '--target-lang', target,
         '--runs-dir', _runs_dir(args, config, seed),
         '--hparams', json.dumps({**args.hparams, 'seed': seed}),
         *(['--train-steps', str(args.train_steps)] if args.train_steps else [])]
  print(f'[quality] {" ".join(cmd)}', file=sys.stderr, flush=True)
  before = _machine_gflops()
  start = time.time()
  subprocess.run(cmd, check=True)
  timing = {'wall_s': time.time() - start, 'gflops_before': before,
            'gflops_after': _machine_gflops()}
  with open(_timing_file(args, pair, config, seed), 'w') as f:
    json.dump(timing, f)
  return timing


def _timing_file(args, pair: str, config: str, seed: int) -> str:
  return os.path.join(_run_dir(_runs_dir(args, config, seed), pair),
                      'benchmark_wall.json')


def _timing(args, pair: str, config: str, seed: int) -> dict:
  """What run_pipeline recorded of the run (empty if nothing)."""
  path = _timing_file(args, pair, config, seed)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def score_stage(args) -> dict:
  """In a fresh process: decode test with the run's model, greedy and beam."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from benchmarks.speed import RunArtifacts  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.evaluation import bleu  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import export  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.serving import contract  # pylint: disable=g-import-not-at-top
  run = RunArtifacts(_run_dir(args.runs_dir, args.pair))
  source, target = args.pair.split('-')
  sources = read_split(args.data_dir, TEST_STEM, source)
  references = read_split(args.data_dir, TEST_STEM, target)
  loaded = tf.saved_model.load(run.model)
  translate = loaded.signatures[contract.OPTIONS_SIGNATURE]
  result = {'params': int(sum(np.prod(v.shape)
                              for v in export.model_variables(loaded)
                              if v.trainable))}
  for beam in (1, 5):
    start = time.time()
    outputs = translate_sentences(translate, sources, beam, 0.6)
    scores = bleu.corpus_scores(outputs, references)
    result[f'beam{beam}'] = {'bleu': scores.bleu,
                             'bleu_lowercase': scores.bleu_lowercase,
                             'chrf': scores.chrf,
                             'decode_s': time.time() - start}
  with open(os.path.join(run.model_run, 'training_summary.json')) as f:
    summary = json.load(f)
  with open(run.report) as f:
    report = json.load(f)
  result.update(fit_s=summary['fit_seconds'], epochs=summary['epochs'],
                steps=summary['steps'], selection=summary.get('selection'),
                val_bleu=report['scores']['eval']['bleu'],
                val_bleu_lowercase=report['scores']['eval']['bleu_lowercase'],
                signature=report['scores']['eval']['signature'])
  return result


def _score(args, pair: str, config: str, seed: int) -> dict:
  cmd = stages.command('benchmarks.quality', '--stage', 'score',
                       '--pair', pair, '--data-dir', args.data_dir,
                       '--runs-dir', _runs_dir(args, config, seed))
  return stages.run(cmd, f'scoring {pair} {config} seed {seed}')


def format_table(rows) -> str:
  lines = ['| pair | config | seed | params | pipeline wall | training '
           '| steps (epochs) | ms an update | matmul GFLOP/s before, after '
           '| val BLEU | test greedy | test greedy, lc '
           '| test beam 5 | test beam 5, lc | chrF |',
           '|' + ' --- |' * 15]
  nan = float('nan')
  for r in rows:
    lines.append(
        f"| {r['pair']} | {r['config']} | {r.get('seed', 1)} "
        f"| {r['params'] / 1e6:.1f}M "
        f"| {r.get('wall_s', nan) / 60:.1f} min "
        f"| {r['fit_s'] / 60:.1f} min | {r['steps']:,} ({r['epochs']}) "
        f"| {1000 * r['fit_s'] / r['steps']:,.0f} "
        f"| {r.get('gflops_before', nan):.0f}, {r.get('gflops_after', nan):.0f} "
        f"| {r['val_bleu']:.2f} | {r['beam1']['bleu']:.2f} "
        f"| {r['beam1']['bleu_lowercase']:.2f} "
        f"| {r['beam5']['bleu']:.2f} | {r['beam5']['bleu_lowercase']:.2f} "
        f"| {r['beam5']['chrf']:.1f} |")
  lines.append(f"\nsacreBLEU: `{rows[0]['signature']}` (and lc: yes); "
               'test = Multi30k test_2016_flickr, val = the eval split '
               '(Multi30k val), scored by the pipeline\'s Evaluator.')
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data-dir', help='Multi30k (required but for '
                      'the machine stage)')
  parser.add_argument('--configs', nargs='+', default=['default'],
                      help='named configurations (pipeline/configs.py)')
  parser.add_argument('--pairs', nargs='+', default=['en-de', 'en-fr'])
  parser.add_argument('--seeds', nargs='+', type=int, default=[1],
                      help='a run for each (HParams.seed)')
  parser.add_argument('--train-steps', type=int, default=None)
  parser.add_argument('--hparams', type=json.loads, default={},
                      help='more hyperparameters for every run, as JSON')
  parser.add_argument('--runs-dir', default=None)
  parser.add_argument('--reuse-run', action='store_true')
  parser.add_argument('--json', help='also write the results here')
  parser.add_argument('--stage', choices=['score', 'machine'],
                      help=argparse.SUPPRESS)
  parser.add_argument('--pair', help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.stage == 'machine':
    stages.report(machine_stage())
    return 0
  if not args.data_dir:
    parser.error('the following arguments are required: --data-dir')
  args.data_dir = os.path.abspath(args.data_dir)
  if args.stage:
    stages.report(score_stage(args))
    return 0
  args.runs_dir = os.path.abspath(args.runs_dir or tempfile.mkdtemp(
      prefix='nmt-quality-'))
  rows = []
  for pair in args.pairs:
    for config in args.configs:
      for seed in args.seeds:
        timing = (_timing(args, pair, config, seed) if args.reuse_run
                  else run_pipeline(args, pair, config, seed))
        rows.append({'pair': pair, 'config': config, 'seed': seed,
                     **_score(args, pair, config, seed), **timing})
        print(format_table(rows), flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(rows, f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main())
