"""The local runner's data handling: the bounded check before a run, bad data
found by ExampleGen's Beam workers, and ExampleGen's counts and the
Trainer's batch plan in the summary; what its console shows of the log."""
import dataclasses
import json
import logging
import re

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
import pytest

from nmt_tfx.components.data import corpus
from nmt_tfx.components.data import example_gen
from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import local_runner
from nmt_tfx.pipeline import pipeline


def _write_shards(directory, bad_target_line=None, lines=10):
  for shard in ('train-0', 'train-1'):
    (directory / f'{shard}.en').write_text(
        ''.join(f'{shard} s{i}\n' for i in range(1, lines + 1)))
    (directory / f'{shard}.de').write_text(''.join(
        ' \n' if shard == 'train-1' and i == bad_target_line else
        f'{shard} t{i}\n' for i in range(1, lines + 1)))


def test_check_data_reads_only_the_first_lines_of_every_shard(tmp_path,
                                                              capsys):
  _write_shards(tmp_path, bad_target_line=8)
  config = dataclasses.replace(configs.CONFIGS['smoke'],
                               data_dir=str(tmp_path),
                               split_stems={'train': 'train-*'},
                               data_check_lines=7)
  local_runner.check_data(config, download=False)
  assert ('[data] train: 2 shards, first 7 lines of each checked, 14 pairs'
          in capsys.readouterr().out)
  with pytest.raises(corpus.CorpusError, match=r'train-1\.de:8: empty target'):
    local_runner.check_data(dataclasses.replace(config, data_check_lines=8),
                            download=False)


@pytest.mark.parametrize('beam_args', [
    ['--direct_running_mode=in_memory'],
    ['--direct_running_mode=multi_processing', '--direct_num_workers=2'],
])
def test_bad_line_found_by_beam_workers_becomes_one_clear_line(tmp_path,
                                                               beam_args):
  _write_shards(tmp_path, bad_target_line=8)
  with pytest.raises(Exception) as raised:
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
      _ = pipeline | example_gen.ReadParallelText(  # pylint: disable=no-value-for-parameter
          str(tmp_path), 'train-*', 'train', example_gen.ReadConfig('en', 'de', 3))
  assert local_runner.corpus_error(raised.value) == (
      f'{tmp_path}/train-1.de:8: empty target sentence')


def test_corpus_error_is_none_for_other_errors():
  assert local_runner.corpus_error(RuntimeError('disk full')) is None


STATS = {'split': 'train', 'pattern': 'train-*', 'shards': 2, 'ranges': 3,
         'pairs_read': 5, 'duplicates_dropped': 1, 'pairs': 4}


def _store_with_examples(tmp_path, uri):
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import metadata  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(
      str(tmp_path / 'metadata.sqlite')))
  type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(
      name='Examples', properties={'split_names': metadata_store_pb2.STRING}))
  artifact = metadata_store_pb2.Artifact(type_id=type_id, uri=str(uri))
  artifact.properties['split_names'].string_value = '["train", "eval"]'
  store.put_artifacts([artifact])
  return store


def test_summary_prints_the_counts_example_gen_wrote(tmp_path, monkeypatch,
                                                   capsys):
  examples = tmp_path / 'examples'
  example_gen._write_json(STATS, example_gen.stats_path(str(examples), 'train'))
  stats = local_runner.data_stats(_store_with_examples(tmp_path, examples))
  assert stats == [STATS]

  scores = {'sentences': 3, 'bleu': 1.0, 'bleu_lowercase': 1.0, 'chrf': 1.0,
            'signature': 'sig'}
  monkeypatch.setattr(local_runner, 'latest_outputs', lambda _: {
      'data_stats': stats, 'report_html': 'report.html',
      'report': {'scores': {'eval': scores}, 'blessed': True, 'reason': 'ok',
                 'samples': [], 'training': {'batches': {
                     'batch_tokens': 1060, 'boundaries': [12, 20],
                     'batch_sizes': [88, 53, 21], 'over_cap': 0.155,
                     'sampled': 20000}}}})
  local_runner.print_summary(configs.CONFIGS['smoke'], 60)
  out = capsys.readouterr().out
  assert ('data train 4 pairs (5 read, 1 duplicates dropped; 2 shards, '
          '3 ranges)') in out
  assert ('batches of 1,060 tokens in length buckets [12, 20]; 15.5% of '
          '20,000 sampled training pairs are over the length caps and not '
          'trained on') in out
  assert 'pushed: no\n' in out


def test_summary_says_why_a_blessed_model_was_not_pushed(monkeypatch, capsys):
  scores = {'sentences': 3, 'bleu': 9.0, 'bleu_lowercase': 9.0, 'chrf': 1.0,
            'signature': 'sig'}
  monkeypatch.setattr(local_runner, 'latest_outputs', lambda _: {
      'data_stats': [], 'report_html': 'report.html', 'pushed': False,
      'superseded': True, 'report': {'scores': {'eval': scores},
                                     'blessed': True, 'reason': 'ok',
                                     'samples': []}})
  local_runner.print_summary(configs.CONFIGS['smoke'], 60)
  assert ('pushed: no: superseded, production changed after the Evaluator '
          'compared against it') in capsys.readouterr().out


def _record(name, level, pathname, msg):
  return logging.LogRecord(name, level, pathname, 1, msg, (), None)


def test_console_shows_stages_own_warnings_and_errors_only():
  progress = local_runner._StageProgress()  # pylint: disable=protected-access
  own = str(local_runner.pathlib.Path(local_runner.__file__).parent.parent /
            'components' / 'model' / 'warm_start.py')
  beam = '/venv/site-packages/apache_beam/runners/portability/local_job_service.py'
  keras = '/venv/site-packages/tf_keras/src/engine/training.py'
  shown = lambda record: progress.filter(record)
  started = _record('absl', logging.INFO, '/tfx/launcher.py',
                    'Component Trainer is running.')
  assert shown(started) and started.getMessage() == 'Trainer ...'
  assert shown(_record('absl', logging.WARNING, own, 'warm start skipped'))
  assert not shown(_record(
      'apache_beam.runners.portability.local_job_service', logging.WARNING,
      beam, 'Worker: severity: WARN timestamp { seconds: 1 } message: "x"'))
  assert not shown(_record('tensorflow', logging.WARNING, keras,
                           "Model's `__init__()` arguments contain ..."))
  assert not shown(_record('absl', logging.INFO, own, 'epoch 3 done'))
  assert shown(_record('apache_beam', logging.ERROR, beam, 'worker failed'))


def test_summary_warns_of_an_unloadable_production_model_and_gives_latency(
    monkeypatch, capsys):
  error = 'production model /s/7 cannot be loaded: OSError: Cannot parse'
  scores = {'sentences': 3, 'bleu': 1.0, 'bleu_lowercase': 1.0, 'chrf': 1.0,
            'signature': 'sig'}
  monkeypatch.setattr(local_runner, 'latest_outputs', lambda _: {
      'data_stats': [], 'report_html': 'report.html',
      'report': {'scores': {'test': scores}, 'blessed': True, 'reason': 'ok',
                 'production_error': error, 'samples': [],
                 'infra_validation': {'ok': True, 'reason': 'loads', 'latencies': [
                     {'batch_size': 1, 'p50_ms': 20.4, 'p95_ms': 31.0},
                     {'batch_size': 64, 'p50_ms': 400.0, 'p95_ms': 455.6}]}}})
  local_runner.print_summary(configs.CONFIGS['smoke'], 60)
  out = capsys.readouterr().out
  assert f'warning: {error}\n' in out
  assert ('infra validation: ok: loads; p50/p95 batch 1 20/31 ms, batch 64 '
          '400/456 ms') in out


def test_blessing_split_is_test_and_the_significance_level_a_flag():
  config = local_runner.build_config(local_runner.parse_args(
      ['--config', 'smoke', '--significance-level', '0.01']))
  assert config.blessing_split == 'test' and config.significance_level == 0.01
  pipeline.check_blessing_split(config)


@pytest.mark.parametrize('split, says', [
    ('eval', 'the Trainer uses it'), ('train', 'the Trainer uses it'),
    ('dev', "not one of the splits ['eval', 'test', 'train']")])
def test_blessing_on_a_split_the_trainer_uses_is_refused(split, says):
  config = dataclasses.replace(configs.CONFIGS['smoke'], blessing_split=split)
  with pytest.raises(ValueError, match=re.escape(says)):
    pipeline.create_pipeline(config, data_dir='d', pipeline_root='r',
                             serving_dir='s')
