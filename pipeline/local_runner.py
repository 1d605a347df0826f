"""Runs the pipeline locally: LocalDagRunner, Beam DirectRunner, SQLite MLMD.

  nmt-tfx --data-dir ../shared/data/multi30k          # the default job
  nmt-tfx --config smoke --data-dir DIR --runs-dir /tmp/runs

The data is checked before anything runs, in time and memory that do not grow
with the corpus: Multi30k files are verified against their SHA256 sums (and
downloaded if missing and the network allows), every split's shards must pair
up, and the first lines of every shard are read, so most bad data fails fast
with file and line and nothing is written. ExampleGen's workers check every
line; bad data they find ends the run the same way (exit code 2, nothing
pushed).
"""
import atexit
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')  # before TensorFlow loads.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # C++ INFO and WARNING off.

from nmt_tfx.pipeline import console  # pylint: disable=g-import-not-at-top,g-bad-import-order
# Google packages' FutureWarnings at import (Python 3.10 support, versions
# of other google packages): off here and in the Beam workers started here.
console.quiet_google_notices()
# Run as the CLI: TensorFlow's start-up lines go to the run's log, not the
# terminal (set up before TensorFlow loads, below).
STDERR_SIEVE = (console.StderrSieve().start()
                if console.is_cli_process(__name__) else None)
if STDERR_SIEVE:
  atexit.register(STDERR_SIEVE.stop)

import argparse  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json
import logging
import pathlib
import re
import sys
import time
from typing import List, Optional

from nmt_tfx import components as components_package
from nmt_tfx import pipeline as pipeline_package
from nmt_tfx.components.data import corpus
from nmt_tfx.components.data import multi30k
from nmt_tfx.pipeline import beam_profiles
from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import flags
from nmt_tfx.pipeline import run_lock

SETUP_PY = pathlib.Path(__file__).resolve().parents[1] / 'setup.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='nmt-tfx', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data-dir', help='directory with the corpus files; '
                      'Multi30k files missing there are downloaded '
                      '(default: data/multi30k)')
  parser.add_argument('--corpus', choices=['multi30k', 'custom'],
                      default='multi30k', help='multi30k: verify SHA256 sums '
                      'and download missing files; custom: use --data-dir as is')
  parser.add_argument('--runs-dir', help='where pipeline outputs, ML Metadata '
                      'and the serving directory go (default: runs)')
  parser.add_argument('--data-check-lines', type=int, help='lines of every '
                      'shard checked before the run (ExampleGen checks all)')
  parser.add_argument('--beam-profile', choices=['local', 'in-memory'],
                      help='local: Beam DirectRunner with 2 worker processes '
                      '(default); in-memory: one in-process worker')
  flags.add_config_flags(parser)
  return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> configs.PipelineConfig:
  """The configuration the flags describe; ConfigError for unknown names."""
  settings = {k: v for k, v in {
      'data_dir': args.data_dir, 'runs_dir': args.runs_dir,
      'data_check_lines': args.data_check_lines}.items() if v is not None}
  if args.beam_profile:
    settings['beam_pipeline_args'] = beam_profiles.beam_pipeline_args(
        args.beam_profile)
  return flags.config_from_flags(args, **settings)


def check_data(config: configs.PipelineConfig, download: bool) -> None:
  """Verifies (and for Multi30k fetches) the corpus; raises CorpusError."""
  if download:
    multi30k.prepare(config.data_dir, [config.source_lang, config.target_lang],
                     config.split_stems.values())
  for name, stem in config.split_stems.items():
    check = corpus.check_split_head(config.data_dir, stem, config.source_lang,
                                    config.target_lang, config.data_check_lines)
    shards = (f'{len(check.shards)} shards, ' if len(check.shards) > 1 else '')
    print(f'[data] {name}: {shards}first {check.max_lines:,} lines of each '
          f'checked, {check.pairs:,} pairs '
          f'({check.shards[0].source_path})', flush=True)


class _StageProgress(logging.Filter):
  """What the console shows of the log: TFX's "Component X is running /
  finished" (with durations), the project's own warnings, and every error.
  Third-party warnings (Beam workers relayed, Keras, TFX) stay in the file.

  It rewrites the record it passes; the file handler is added before the
  console handler, so the full log keeps TFX's own wording.
  """

  _PATTERN = re.compile(r'^Component (\S+) is (running|finished)\.$')
  # Source folders of the project's modules (components/, pipeline/, ...).
  _OWN_CODE = tuple(os.path.dirname(os.path.abspath(package.__file__)) + os.sep
                    for package in (components_package, pipeline_package))

  def __init__(self):
    super().__init__()
    self._started = {}

  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.ERROR or (
        record.levelno >= logging.WARNING
        and record.pathname.startswith(self._OWN_CODE)):
      return True
    match = self._PATTERN.match(record.getMessage())
    if not match:
      return False
    name, state = match.groups()
    if state == 'running':
      self._started[name] = time.time()
      record.msg, record.args = f'{name} ...', ()
    else:
      seconds = time.time() - self._started.get(name, time.time())
      record.msg, record.args = f'{name} done in {seconds:.0f} s', ()
    return True


def configure_logging(log_path: str) -> None:
  """Full TFX/Beam log to `log_path`; one line per stage on the console."""
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  root = logging.getLogger()
  for handler in list(root.handlers):
    root.removeHandler(handler)
  root.setLevel(logging.INFO)
  to_file = logging.FileHandler(log_path)
  to_file.setFormatter(logging.Formatter(
      '%(asctime)s %(levelname)s %(name)s: %(message)s'))
  terminal = logging.StreamHandler(sys.stdout)
  terminal.setFormatter(logging.Formatter('[pipeline] %(asctime)s %(message)s',
                                          '%H:%M:%S'))
  terminal.addFilter(_StageProgress())
  root.addHandler(to_file)
  root.addHandler(terminal)
  # TensorFlow's logger prints through its own handler; route it through ours.
  tf_logger = logging.getLogger('tensorflow')
  for handler in list(tf_logger.handlers):
    tf_logger.removeHandler(handler)
  tf_logger.propagate = True
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.INFO)
  if STDERR_SIEVE:
    STDERR_SIEVE.attach(log_path)
  print(f'[pipeline] full log: {log_path}', flush=True)


def run(config: configs.PipelineConfig) -> None:
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import pipeline  # pylint: disable=g-import-not-at-top
  os.makedirs(config.run_dir, exist_ok=True)
  beam_args = list(config.beam_pipeline_args)
  if SETUP_PY.exists():
    # Names our package for Beam; otherwise TFX builds an sdist of itself for
    # every Beam component (seconds each).
    beam_args.append(f'--setup_file={SETUP_PY}')
  tfx.orchestration.LocalDagRunner().run(pipeline.create_pipeline(
      config, data_dir=os.path.abspath(config.data_dir),
      pipeline_root=config.pipeline_root, serving_dir=config.serving_dir,
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(config.metadata_path),
      beam_pipeline_args=beam_args))


def latest_outputs(metadata_path: str) -> dict:
  """The newest evaluation report and push record in ML Metadata."""
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import metadata  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(
      metadata.sqlite_metadata_connection_config(metadata_path))
  newest = lambda t: max(store.get_artifacts_by_type(t), key=lambda a: a.id,
                         default=None)
  found = {}
  evaluation, pushed = newest('ModelEvaluation'), newest('PushedModel')
  found['data_stats'] = data_stats(store)
  if evaluation:
    with open(os.path.join(evaluation.uri, 'report.json')) as f:
      found['report'] = json.load(f)
    found['report_md'] = os.path.join(evaluation.uri, 'report.md')
    found['report_html'] = os.path.join(evaluation.uri, 'report.html')
  if pushed:
    props = pushed.custom_properties
    found['pushed'] = bool(props['pushed'].int_value)
    found['superseded'] = ('superseded' in props
                           and bool(props['superseded'].int_value))
    if found['pushed']:
      found['destination'] = props['pushed_destination'].string_value
  return found


def data_stats(store) -> List[dict]:
  """The split counts beside the newest ExampleGen output (in split order)."""
  from nmt_tfx.components.data import example_gen  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  produced = [a for a in store.get_artifacts_by_type('Examples')
              if os.path.isdir(os.path.join(a.uri, example_gen.STATS_DIR))]
  if not produced:
    return []
  examples = max(produced, key=lambda a: a.id)
  splits = artifact_utils.decode_split_names(
      examples.properties['split_names'].string_value)
  return [stats for stats in (example_gen.read_stats(examples.uri, split)
                               for split in splits) if stats]


def format_data_stats(stats: dict) -> str:
  """One line: what ExampleGen read, dropped and kept of a split."""
  return (f"data {stats['split']:5s} {stats['pairs']:,} pairs "
          f"({stats['pairs_read']:,} read, {stats['duplicates_dropped']:,} "
          f"duplicates dropped; {stats['shards']:,} shards, "
          f"{stats['ranges']:,} ranges)")


def format_batches(batches: dict) -> str:
  """One line: the Trainer's batch plan and the pairs over the caps."""
  return (f"batches of {batches['batch_tokens']:,} tokens in length buckets "
          f"{batches['boundaries']}; {100 * batches['over_cap']:.1f}% of "
          f"{batches['sampled']:,} sampled training pairs are over the length "
          'caps and not trained on')


def print_summary(config: configs.PipelineConfig, seconds: float) -> None:
  outputs = latest_outputs(config.metadata_path)
  report = outputs['report']
  print('\n' + '=' * 72)
  for stats in outputs['data_stats']:
    print(format_data_stats(stats))
  batches = (report.get('training') or {}).get('batches')
  if batches:
    print(format_batches(batches))
  for split, scores in report['scores'].items():
    print(f"BLEU {split:5s} ({scores['sentences']} sentences): "
          f"{scores['bleu']:.2f} cased, {scores['bleu_lowercase']:.2f} "
          f"lowercased, chrF {scores['chrf']:.2f}")
  print(f"sacreBLEU: {next(iter(report['scores'].values()))['signature']}")
  served = report.get('infra_validation')
  if served:
    print(f"infra validation: {'ok' if served['ok'] else 'FAILED'}: "
          f"{served['reason']}; p50/p95 " + ', '.join(
              f"batch {l['batch_size']} {l['p50_ms']:.0f}/{l['p95_ms']:.0f} ms"
              for l in served['latencies']))
  if report.get('production_error'):
    print(f"warning: {report['production_error']}")
  print(f"{'BLESSED' if report['blessed'] else 'NOT BLESSED'}: "
        f"{report['reason']}")
  print('pushed: ' + (outputs['destination'] if outputs.get('pushed') else
                      'no: superseded, production changed after the Evaluator '
                      'compared against it; rerun to judge against it'
                      if outputs.get('superseded') else 'no'))
  print(f"report: {outputs['report_html']} (and report.md)")
  print(f'TensorBoard: tensorboard --logdir {config.pipeline_root}/Trainer')
  print(f'wall time: {seconds / 60:.1f} min\n\nSample translations '
        f'({config.source_lang}->{config.target_lang}):')
  for sample in report['samples'][:5]:
    print(f"  src: {sample['source']}\n  ref: {sample['reference']}\n"
          f"  out: {sample['translation']}\n")


def _find_cause(error: BaseException, kind: type) -> Optional[BaseException]:
  while error is not None:
    if isinstance(error, kind):
      return error
    error = error.__cause__ or error.__context__
  return None


_BEAM_STEP = re.compile(r' \[while running .*$', re.MULTILINE)
_CORPUS_ERROR_TEXT = re.compile(r'CorpusError: (.+)$', re.MULTILINE)


def corpus_error(error: BaseException) -> Optional[str]:
  """The CorpusError message behind `error`, if any: the exception itself
  (in-process Beam re-raises it, amending the message, so the innermost one
  counts), or its text in an error a remote Beam worker reported."""
  chain = []
  while error is not None and error not in chain:
    chain.append(error)
    error = error.__cause__ or error.__context__
  found = [str(e) for e in chain if isinstance(e, corpus.CorpusError)]
  found = found[-1:] or [match.group(1) for e in chain
                         for match in [_CORPUS_ERROR_TEXT.search(str(e))]
                         if match]
  return _BEAM_STEP.sub('', found[0]) if found else None


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  try:
    config = build_config(args)
  except configs.ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  start = time.time()
  try:
    check_data(config, download=args.corpus == 'multi30k')
  except corpus.CorpusError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  from nmt_tfx.components.validation.gate import DataValidationError  # pylint: disable=g-import-not-at-top
  try:
    with run_lock.exclusive_run(config.run_dir):
      configure_logging(os.path.join(config.run_dir, 'logs',
                                     time.strftime('%Y%m%d-%H%M%S') + '.log'))
      run(config)
  except run_lock.RunLockedError as e:
    print(f'error: {e}', file=sys.stderr)
    return 4
  except Exception as e:  # pylint: disable=broad-except
    bad_data = corpus_error(e)
    if bad_data is not None:
      print(f'error: {bad_data}', file=sys.stderr)
      return 2
    cause = _find_cause(e, DataValidationError)
    if cause is None:
      raise
    print(f'error: {cause}\nThe run stopped before Transform; nothing was '
          'trained or pushed.', file=sys.stderr)
    return 3
  print_summary(config, time.time() - start)
  return 0


if __name__ == '__main__':
  sys.exit(main())
