"""Shared test fixtures: Multi30k slices, a real tensorflow-transform run,
end-to-end CLI runs, and a serving-directory watcher."""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import functools  # pylint: disable=g-import-not-at-top,g-bad-import-order
import gzip
import json
import pathlib
import re
import subprocess
import sys
import textwrap
import threading
import time
from typing import List, Optional, Tuple

import pytest

ROOT = pathlib.Path(__file__).parent


def multi30k_candidates() -> Tuple[List[pathlib.Path], pathlib.Path]:
  """Where the tests look for Multi30k, in order ($NMT_MULTI30K_DIR, the shared
  data beside the clone, data/multi30k where ./run.sh puts it), and where they
  download it if none holds it ($NMT_MULTI30K_DIR, else data/multi30k)."""
  env = os.environ.get('NMT_MULTI30K_DIR')
  local = ROOT / 'data' / 'multi30k'
  candidates = [ROOT.parent / 'shared' / 'data' / 'multi30k', local]
  return (([pathlib.Path(env)] + candidates, pathlib.Path(env)) if env
          else (candidates, local))


def locate_multi30k(candidates: List[pathlib.Path], download_to: pathlib.Path,
                    url_template: Optional[str] = None) -> pathlib.Path:
  """The first candidate holding all of Multi30k, verified; if none does,
  `download_to` once the product's checksum-verified downloader has fetched
  what it lacks (from `url_template`, default $NMT_MULTI30K_URL or GitHub)."""
  from nmt_tfx.components.data import multi30k  # pylint: disable=g-import-not-at-top
  names = multi30k.checksums()
  for directory in candidates:
    if all((directory / name).exists() for name in names):
      multi30k.prepare(str(directory), multi30k.LANGUAGES, download=False)
      return directory
  multi30k.prepare(str(download_to), multi30k.LANGUAGES,
                   url_template=url_template)
  return download_to


@functools.lru_cache(maxsize=None)
def multi30k_path() -> pathlib.Path:
  """Multi30k for this test session (located or downloaded once)."""
  candidates, download_to = multi30k_candidates()
  try:
    return locate_multi30k(candidates, download_to)
  except Exception as e:  # pylint: disable=broad-except
    pytest.fail(f'Multi30k is in none of {", ".join(map(str, candidates))} '
                f'and could not be downloaded to {download_to}: {e}',
                pytrace=False)


def read_multi30k(stem: str, lang: str, limit: int = None) -> List[str]:
  with gzip.open(multi30k_path() / f'{stem}.{lang}.gz', 'rt',
                 encoding='utf-8') as f:
    lines = [line.rstrip('\n') for line in f]
  return lines[:limit] if limit else lines


def write_slice(directory: pathlib.Path, sizes: dict,
                langs=('en', 'de')) -> pathlib.Path:
  """Writes the first N lines of each Multi30k split as .gz files."""
  directory.mkdir(parents=True, exist_ok=True)
  for stem, size in sizes.items():
    for lang in langs:
      with gzip.open(directory / f'{stem}.{lang}.gz', 'wt',
                     encoding='utf-8') as f:
        f.write('\n'.join(read_multi30k(stem, lang, size)) + '\n')
  return directory


@pytest.fixture(scope='session')
def multi30k_dir() -> pathlib.Path:
  """A directory holding all of Multi30k, verified (see multi30k_candidates)."""
  return multi30k_path()


def run_transform(pairs: List[Tuple[str, str]], out_dir: pathlib.Path,
                  preprocessing_config: dict) -> pathlib.Path:
  """Runs preprocessing_fn with tensorflow-transform on Beam, writing the
  transform graph to out_dir/transform and examples to out_dir/data-*.gz."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tensorflow_transform as tft
  import tensorflow_transform.beam as tft_beam
  from tensorflow_transform.tf_metadata import dataset_metadata
  from nmt_tfx.components import preprocessing

  raw_metadata = dataset_metadata.DatasetMetadata.from_feature_spec({
      'source': tf.io.FixedLenFeature([1], tf.string),
      'target': tf.io.FixedLenFeature([1], tf.string)})
  instances = [{'source': [s.encode()], 'target': [t.encode()]}
               for s, t in pairs]
  with beam.Pipeline() as p, tft_beam.Context(temp_dir=str(out_dir / 'tmp')):
    raw = p | beam.Create(instances)
    (data, metadata), transform_fn = (
        (raw, raw_metadata) | tft_beam.AnalyzeAndTransformDataset(
            functools.partial(preprocessing.preprocessing_fn,
                              custom_config=preprocessing_config),
            output_record_batches=False))
    _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir / 'transform'))
    coder = tft.coders.ExampleProtoCoder(metadata.schema)
    _ = (data | beam.Map(coder.encode) | beam.io.WriteToTFRecord(
        str(out_dir / 'data'), file_name_suffix='.gz'))
  # As the project's Transform component does (transform_component.py).
  preprocessing.save_config(
      preprocessing.PreprocessingConfig.from_dict(preprocessing_config),
      str(out_dir / 'transform'))
  return out_dir


TINY_PREPROCESSING = {'min_frequency': 1, 'max_source_length': 16,
                      'max_target_length': 16}


@pytest.fixture(scope='session')
def tiny_transform(tmp_path_factory) -> pathlib.Path:
  """Transform output for 16 short Multi30k pairs (a model can memorize them)."""
  src, tgt = read_multi30k('train', 'en'), read_multi30k('train', 'de')
  pairs = [(s, t) for s, t in zip(src, tgt)
           if len(s.split()) <= 7 and len(t.split()) <= 7][:16]
  return run_transform(pairs, tmp_path_factory.mktemp('tiny'),
                       TINY_PREPROCESSING)


def train_tiny(transform_dir: pathlib.Path, export_dir: pathlib.Path,
               train_steps: int = 20, **hparams):
  """Trains a tiny model on run_transform's output and exports it."""
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  return trainer.train_and_export(
      train_files=str(transform_dir / 'data*'),
      eval_files=str(transform_dir / 'data*'),
      transform_output=str(transform_dir / 'transform'),
      serving_model_dir=str(export_dir), log_dir=None,
      train_steps=train_steps, eval_steps=1, custom_config=dict(
          dict(embedding_dim=16, encoder_units=16, decoder_units=32,
               attention_units=16, batch_tokens=64, steps_per_epoch=20,
               validation_bleu=False),   # seq2seq_test covers it
          **hparams))


@pytest.fixture(scope='session')
def tiny_export(tiny_transform, tmp_path_factory) -> pathlib.Path:
  """A real exported Translator, briefly trained (its outputs are not good)."""
  export_dir = tmp_path_factory.mktemp('export') / 'model'
  train_tiny(tiny_transform, export_dir)
  return export_dir


# --- End-to-end runs of the CLI (tests/) -----------------------------------
E2E_HPARAMS = dict(embedding_dim=64, encoder_units=64, decoder_units=128,
                   attention_units=64, dropout=0.0, batch_tokens=400,
                   learning_rate=0.01, steps_per_epoch=100)
E2E_TRAIN, E2E_EVAL = 300, 60


def _write(path: pathlib.Path, lines):
  with gzip.open(path, 'wt', encoding='utf-8') as f:
    f.write('\n'.join(lines) + '\n')


def write_e2e_slice(directory: pathlib.Path, langs=('en', 'de'),
                    train: int = E2E_TRAIN) -> pathlib.Path:
  """Multi30k slice whose eval and test splits are parts of train (a small
  model can memorize them quickly, so BLEU is clearly non-zero): the first
  `train` pairs of up to 10 words, in each of `langs` (the first is the
  source)."""
  directory.mkdir(parents=True, exist_ok=True)
  columns = [read_multi30k('train', lang) for lang in langs]
  short = [row for row in zip(*columns) if len(row[0].split()) <= 10][:train]
  for column, lang in enumerate(langs):
    _write(directory / f'train.{lang}.gz', [row[column] for row in short])
    _write(directory / f'val.{lang}.gz',
           [row[column] for row in short[:E2E_EVAL]])
    _write(directory / f'test_2016_flickr.{lang}.gz',
           [row[column] for row in short[E2E_EVAL:2 * E2E_EVAL]])
  return directory


@pytest.fixture(scope='session')
def e2e_data_dir(tmp_path_factory):
  """The English-German slice of `write_e2e_slice`."""
  return write_e2e_slice(tmp_path_factory.mktemp('corpus'))


def fresh_process_bleu(model_dir, sources_gz, references_gz) -> float:
  """Loads the SavedModel in a new process, translates the sources with its
  text signature and scores them with sacrebleu itself."""
  script = textwrap.dedent(f'''
      import gzip, json, sacrebleu, tensorflow as tf
      read = lambda p: [l.rstrip('\\n') for l in gzip.open(p, 'rt')]
      src, ref = read({str(sources_gz)!r}), read({str(references_gz)!r})
      fn = tf.saved_model.load({str(model_dir)!r}).signatures['translate']
      out = [t.decode() for t in fn(text=tf.constant(src))['translation'].numpy()]
      print(json.dumps(sacrebleu.corpus_bleu(out, [ref]).score))
  ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


def cli_command(data_dir, runs_dir, *args) -> List[str]:
  """The pipeline CLI as a user runs it (smoke config, custom corpus).

  Beam runs in-memory: on 2 cores the multi-process default spends minutes
  starting workers; tests/beam_local_profile_test.py covers that profile."""
  return [sys.executable, '-m', 'nmt_tfx.pipeline.local_runner',
          '--config', 'smoke', '--corpus', 'custom', '--beam-profile', 'in-memory',
          '--data-dir', str(data_dir), '--runs-dir', str(runs_dir), *args]


def run_cli(data_dir, runs_dir, *args):
  return subprocess.run(cli_command(data_dir, runs_dir, *args),
                        capture_output=True, text=True, check=False)




# --- Damaged SavedModels (a production version that cannot be loaded) --------
UNREGISTERED_OP = 'NmtCustomOpMissingFromThisBinary'


def _truncate_graph(export_dir: pathlib.Path) -> None:
  graph = export_dir / 'saved_model.pb'
  graph.write_bytes(graph.read_bytes()[:graph.stat().st_size // 2])


def _remove_variables(export_dir: pathlib.Path) -> None:
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(export_dir / 'variables')


def _remove_variable_data(export_dir: pathlib.Path) -> None:
  for shard in (export_dir / 'variables').glob('variables.data-*'):
    shard.unlink()


def _use_unregistered_op(export_dir: pathlib.Path) -> None:
  """Makes the graph's functions use an op no binary has, as a model
  exported with a custom op looks to a process without it."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  graph = export_dir / 'saved_model.pb'
  saved_model = saved_model_pb2.SavedModel.FromString(graph.read_bytes())
  renamed = 0
  for function in saved_model.meta_graphs[0].graph_def.library.function:
    for node in function.node_def:
      if node.op == 'Identity':
        node.op, renamed = UNREGISTERED_OP, renamed + 1
  assert renamed, 'no Identity op to replace'
  graph.write_bytes(saved_model.SerializeToString())


# Kind of damage -> what does it to an export directory, in place.
DAMAGES = {'truncated saved_model.pb': _truncate_graph,
           'no variables directory': _remove_variables,
           'no variables data file': _remove_variable_data,
           'unregistered op': _use_unregistered_op}
# The three the pipeline-level tests run (each costs a model load or more).
PIPELINE_DAMAGES = ('truncated saved_model.pb', 'no variables directory',
                    'unregistered op')


def damaged_copy(export_dir: pathlib.Path, target: pathlib.Path,
                 damage: str) -> pathlib.Path:
  """A copy of export_dir at target with the named damage done to it."""
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(export_dir, target)
  DAMAGES[damage](target)
  return target


# --- A serving directory watched as TF Serving would (fault tests) ---------
# The versions the server would load: those named by `<serving_dir>/models.config`
# (a `specific` version policy) when the directory has one, else every integer
# directory (the `latest` policy). Any such version seen without a complete
# model is recorded.
REQUIRED_FILES = ('saved_model.pb', os.path.join('variables', 'variables.index'))


def _configured_versions(serving_dir):
  """The versions models.config names, or None if there is no such file."""
  try:
    with open(os.path.join(serving_dir, 'models.config'),
              encoding='utf-8') as f:
      text = f.read()
  except FileNotFoundError:
    return None
  policy = re.search(r'specific\s*\{([^}]*)\}', text)
  return re.findall(r'versions:\s*(\d+)', policy.group(1)) if policy else None


class ServingDirWatcher(threading.Thread):
  """Records any version the server would load that is not complete.

  server_view=False: every integer directory counts, whatever models.config
  says (a server with the `latest` policy)."""

  def __init__(self, serving_dir, server_view=True, interval=0.01):
    super().__init__(daemon=True)
    self.serving_dir, self.server_view = serving_dir, server_view
    self.interval, self.incomplete, self.seen = interval, [], set()
    self._halt = threading.Event()

  def _loadable(self):
    """(versions, whether models.config named them)."""
    configured = _configured_versions(self.serving_dir) if (
        self.server_view) else None
    if configured is not None:
      return configured, True
    try:
      return [n for n in os.listdir(self.serving_dir) if n.isdigit()], False
    except FileNotFoundError:
      return [], False

  def run(self):
    while not self._halt.is_set():
      names, configured = self._loadable()
      for name in names:
        version = os.path.join(self.serving_dir, name)
        if not all(os.path.exists(os.path.join(version, f))
                   for f in REQUIRED_FILES):
          # A directory removed meanwhile is no fault; a configured version
          # missing is.
          if configured or os.path.exists(version):
            self.incomplete.append(name)
        self.seen.add(name)
      time.sleep(self.interval)

  def stop(self):
    self._halt.set()
    self.join()
