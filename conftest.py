"""Shared test fixtures: Multi30k slices and a real tensorflow-transform run."""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import gzip  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json
import pathlib
import subprocess
import sys
import textwrap
from typing import List, Tuple

import pytest

ROOT = pathlib.Path(__file__).parent
MULTI30K = pathlib.Path(os.environ.get(
    'NMT_MULTI30K_DIR', ROOT.parent / 'shared' / 'data' / 'multi30k'))


def read_multi30k(stem: str, lang: str, limit: int = None) -> List[str]:
  path = MULTI30K / f'{stem}.{lang}.gz'
  if not path.exists():
    pytest.fail(f'Multi30k not found at {MULTI30K}; set NMT_MULTI30K_DIR')
  with gzip.open(path, 'rt', encoding='utf-8') as f:
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
  if not (MULTI30K / 'SHA256SUMS').exists():
    pytest.fail(f'Multi30k not found at {MULTI30K}; set NMT_MULTI30K_DIR')
  return MULTI30K


def run_transform(pairs: List[Tuple[str, str]], out_dir: pathlib.Path,
                  preprocessing_config: dict) -> pathlib.Path:
  """Runs preprocessing_fn with tensorflow-transform on Beam, writing the
  transform graph to out_dir/transform and examples to out_dir/data-*.gz."""
  import functools  # pylint: disable=g-import-not-at-top
  import apache_beam as beam
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


@pytest.fixture(scope='session')
def tiny_export(tiny_transform, tmp_path_factory) -> pathlib.Path:
  """A real exported Translator, briefly trained (its outputs are not good)."""
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  export_dir = tmp_path_factory.mktemp('export') / 'model'
  trainer.train_and_export(
      train_files=str(tiny_transform / 'data*'),
      eval_files=str(tiny_transform / 'data*'),
      transform_output=str(tiny_transform / 'transform'),
      serving_model_dir=str(export_dir), log_dir=None, train_steps=20,
      eval_steps=1, custom_config=dict(
          embedding_dim=16, encoder_units=16, decoder_units=32,
          attention_units=16, batch_tokens=64, steps_per_epoch=20,
          validation_bleu=False,    # seq2seq_test covers it
          preprocessing=TINY_PREPROCESSING))
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
  """Multi30k slice whose eval split is part of train (a small model can
  memorize it quickly, so BLEU is clearly non-zero): the first `train`
  pairs of up to 10 words, in each of `langs` (the first is the source)."""
  directory.mkdir(parents=True, exist_ok=True)
  columns = [read_multi30k('train', lang) for lang in langs]
  short = [row for row in zip(*columns) if len(row[0].split()) <= 10][:train]
  for column, lang in enumerate(langs):
    _write(directory / f'train.{lang}.gz', [row[column] for row in short])
    _write(directory / f'val.{lang}.gz',
           [row[column] for row in short[:E2E_EVAL]])
    _write(directory / f'test_2016_flickr.{lang}.gz',
           read_multi30k('test_2016_flickr', lang, 50))
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


