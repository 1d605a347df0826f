"""End to end, as a user runs it: the CLI runs the whole TFX pipeline
(LocalDagRunner, Beam DirectRunner, SQLite ML Metadata) on a Multi30k slice.

Slow (several minutes); part of CI. The eval and test splits are subsets of
the training split, so a small model trained for a minute memorizes them and
scores a clearly non-zero BLEU: this tests the mechanics, not translation
quality.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import E2E_HPARAMS as HPARAMS
from conftest import damaged_copy
from conftest import fresh_process_bleu
from conftest import run_cli
from nmt_tfx.components.serving import publish_lock
from nmt_tfx.components.serving import server_config

pytestmark = pytest.mark.slow
# Kept in the serving directory beside the versions.
PUBLISHING_FILES = {server_config.CONFIG_FILE, publish_lock.LOCK_FILE}

def serving_entries(runs_dir):
  """The serving directory and its entries, publishing files aside."""
  serving = runs_dir / 'nmt-en-de' / 'serving' / 'nmt-en-de'
  return serving, sorted(n for n in os.listdir(serving)
                         if n not in PUBLISHING_FILES) if serving.exists() else []


def latest_report_dir(runs_dir):
  reports = sorted((runs_dir / 'nmt-en-de' / 'root' / 'BleuEvaluator' /
                    'evaluation').glob('*/report.json'),
                   key=lambda p: int(p.parent.name))
  return reports[-1].parent


def latest_report(runs_dir):
  return json.loads((latest_report_dir(runs_dir) / 'report.json').read_text())


def assert_report_files(report_dir, pngs):
  """report.html embeds the PNGs written beside it; they are real images."""
  page = (report_dir / 'report.html').read_text()
  assert page.count('src="data:image/png;base64,') == len(pngs), pngs
  for name in pngs:
    data = (report_dir / name).read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000, name
    assert f']({name})' in (report_dir / 'report.md').read_text()
  return page


@pytest.fixture(scope='module')
def first_run(e2e_data_dir, tmp_path_factory):
  runs_dir = tmp_path_factory.mktemp('runs')
  result = run_cli(e2e_data_dir, runs_dir, '--train-steps', '400',
                   '--bleu-floor', '10', '--hparams', json.dumps(HPARAMS))
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
  return runs_dir, result.stdout, result.stderr


def test_first_run_is_blessed_and_pushed_atomically(first_run):
  runs_dir, stdout, _ = first_run
  report = latest_report(runs_dir)
  assert report['blessed'], report['reason']
  assert report['blessing_split'] == 'test'   # not the Trainer's eval split
  assert report['scores']['test']['bleu'] >= 10
  assert report['scores']['eval']['bleu'] >= 10
  assert report['production'] is None and report['decided_by'] == 'BLEU floor'
  served = report['infra_validation']   # loaded as TF Serving will, and timed
  assert served['ok'] and served['warmup_requests'] == 2, served['reason']
  assert [l['batch_size'] for l in served['latencies']] == [1, 64]
  assert 'infra validation: ok: ' in stdout
  serving, entries = serving_entries(runs_dir)
  assert len(entries) == 1 and entries[0].isdigit(), entries  # no staging dirs
  assert (serving / entries[0] / 'saved_model.pb').exists()
  assert 'BLESSED' in stdout and 'BLEU test' in stdout
  assert ('data train 300 pairs (300 read, 0 duplicates dropped; 1 shards, '
          '1 ranges)') in stdout
  assert 'Sample translations' in stdout
  assert 'report.html' in stdout


def test_console_keeps_runtime_start_up_lines_in_the_log(first_run):
  runs_dir, stdout, stderr = first_run
  for line in ('Unable to register cuDNN factory', 'Worker: severity',
               'Exception ignored in'):
    assert line not in stdout + stderr
  [log] = (runs_dir / 'nmt-en-de' / 'logs').glob('*.log')
  assert 'Unable to register cuDNN factory' in log.read_text()


def test_first_run_writes_the_html_report_with_figures(first_run):
  runs_dir, _, _ = first_run
  report = latest_report(runs_dir)
  page = assert_report_files(latest_report_dir(runs_dir), [
      'buckets.png', 'training.png'] + [f'attention-{i}.png' for i in range(1, 5)])
  # Training curves from the Trainer's model_run: 400 steps of 100 a epoch.
  assert report['training']['epochs'] == 4
  assert len(report['training']['history']['val_loss']) == 4
  for split in ('eval', 'test'):
    buckets = report['buckets'][split]
    assert sum(b['sentences'] for b in buckets['candidate']) == report[
        'scores'][split]['sentences']
    assert buckets['production'] is None
  for item in report['attention']:   # weights [target, source], rows sum to 1
    weights = item['weights']
    assert len(weights) == len(item['target_tokens'])
    assert item['target_tokens'][-1] == '</s>'
    assert all(len(row) == len(item['source_tokens']) and
               abs(sum(row) - 1) < 1e-3 for row in weights)
  assert 'No training summary' not in page and 'production BLEU' not in page


def test_served_model_in_fresh_process_matches_reported_bleu(first_run,
                                                            e2e_data_dir):
  """Load the pushed SavedModel in a new process, translate the eval split
  with its text signature, score with sacrebleu itself: same BLEU."""
  runs_dir, _, _ = first_run
  serving, entries = serving_entries(runs_dir)
  fresh_bleu = fresh_process_bleu(serving / entries[0],
                                  e2e_data_dir / 'val.en.gz',
                                  e2e_data_dir / 'val.de.gz')
  assert fresh_bleu == pytest.approx(
      latest_report(runs_dir)['scores']['eval']['bleu'], abs=1e-9)


@pytest.mark.parametrize('signature, inputs', [
    ('translate', ['--input_exprs', 'text=["A man is riding a bike.", ""]']),
    ('serving_default', ['--input_examples',
                         'examples=[{"source": ["A man is riding a bike."]}, '
                         '{"source": [""]}]']),
])
def test_saved_model_cli_runs_both_signatures(first_run, signature, inputs):
  runs_dir, _, _ = first_run
  serving, entries = serving_entries(runs_dir)
  result = subprocess.run(
      [os.path.join(os.path.dirname(sys.executable), 'saved_model_cli'), 'run',
       '--dir', str(serving / entries[0]), '--tag_set', 'serve',
       '--signature_def', signature, *inputs],
      capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Result for output key translation' in result.stdout
  # The empty sentence comes back empty, with length 0.
  assert "b'']" in result.stdout and ' 0]' in result.stdout, result.stdout


def test_worse_model_is_not_pushed(first_run, e2e_data_dir):
  runs_dir, _, _ = first_run
  _, before = serving_entries(runs_dir)
  result = run_cli(e2e_data_dir, runs_dir, '--train-steps', '1',
                   '--bleu-floor', '0', '--hparams', json.dumps(HPARAMS))
  assert result.returncode == 0, result.stderr[-5000:]
  report = latest_report(runs_dir)
  assert not report['blessed']
  assert 'significantly below production' in report['reason']
  assert report['decided_by'] == 'paired bootstrap'
  assert report['p_value'] < report['significance_level'] == 0.05
  assert report['production_scores']['test']['bleu'] >= 10
  assert serving_entries(runs_dir)[1] == before
  assert 'NOT BLESSED' in result.stdout and 'pushed: no' in result.stdout
  # The report compares with production, overall and by source length.
  assert report['buckets']['eval']['production'][0]['sentences'] > 0
  page = assert_report_files(latest_report_dir(runs_dir), [
      'buckets.png', 'training.png'] + [f'attention-{i}.png' for i in range(1, 5)])
  assert 'NOT BLESSED' in page and 'production BLEU' in page


def test_unloadable_production_model_is_replaced(first_run, e2e_data_dir,
                                                 tmp_path):
  """A newest version that cannot be loaded, warm start on (as scheduled
  runs have it): the run warns, trains from scratch, judges on the floor
  alone and pushes a newer version, which TF Serving then serves."""
  served, entries = serving_entries(first_run[0])
  runs_dir = tmp_path / 'runs'
  serving = runs_dir / 'nmt-en-de' / 'serving' / 'nmt-en-de'
  broken = damaged_copy(served / entries[0], serving / entries[0],
                        'unregistered op')
  result = run_cli(e2e_data_dir, runs_dir, '--train-steps', '100',
                   '--bleu-floor', '0', '--warm-start',
                   '--hparams', json.dumps(HPARAMS))
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
  said = f'production model {broken} cannot be loaded: '
  assert f'warning: {said}' in result.stdout
  report = latest_report(runs_dir)
  assert report['blessed'] and 'floor alone' in report['reason']
  assert report['production_error'].startswith(said)
  log = next((runs_dir / 'nmt-en-de' / 'logs').glob('*.log')).read_text()
  assert f'Warm start: training from scratch: {said}' in log
  _, now = serving_entries(runs_dir)
  assert len(now) == 2 and int(now[-1]) > int(entries[0]), now
  assert (serving / now[-1] / 'saved_model.pb').exists()


def test_schema_anomaly_stops_the_run_before_transform(e2e_data_dir, tmp_path):
  schema = tmp_path / 'schema.pbtxt'
  from nmt_tfx import schemas  # pylint: disable=g-import-not-at-top
  schema.write_text(pathlib.Path(schemas.SCHEMA_FILE).read_text() +
                    'feature { name: "alignment" type: BYTES '
                    'presence { min_fraction: 1.0 } }\n')
  runs_dir = tmp_path / 'runs'
  result = run_cli(e2e_data_dir, runs_dir, '--schema-file', str(schema))
  assert result.returncode == 3, result.stderr[-3000:]
  assert "feature 'alignment'" in result.stderr
  root = runs_dir / 'nmt-en-de' / 'root'
  assert (root / 'ExampleValidator').exists()
  assert not (root / 'Transform').exists()
  assert serving_entries(runs_dir)[1] == []


def test_bad_data_fails_before_anything_is_written(tmp_path):
  (tmp_path / 'data').mkdir()
  for stem in ('train', 'val', 'test_2016_flickr'):
    (tmp_path / 'data' / f'{stem}.en').write_text('a\nb\n')
    (tmp_path / 'data' / f'{stem}.de').write_text('x\n')
  result = run_cli(tmp_path / 'data', tmp_path / 'runs')
  assert result.returncode == 2
  assert 'train.en:2: line has no partner' in result.stderr
  assert not (tmp_path / 'runs').exists()


def test_bad_line_beyond_the_data_check_is_found_by_example_gen(tmp_path):
  """The check before the run reads 10 lines of each file; ExampleGen's
  workers read them all and end the run with the same kind of error."""
  data = tmp_path / 'data'
  data.mkdir()
  for stem in ('train', 'val', 'test_2016_flickr'):
    (data / f'{stem}.en').write_text(
        ''.join(f'A sentence {i}.\n' for i in range(1, 31)))
    (data / f'{stem}.de').write_text(''.join(
        ' \n' if stem == 'train' and i == 25 else f'Ein Satz {i}.\n'
        for i in range(1, 31)))
  runs_dir = tmp_path / 'runs'
  result = run_cli(data, runs_dir, '--data-check-lines', '10')
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: {data}/train.de:25: empty target sentence')
  assert '[data] train: first 10 lines of each checked' in result.stdout
  assert not (runs_dir / 'nmt-en-de' / 'root' / 'StatisticsGen').exists()
  assert serving_entries(runs_dir)[1] == []


def test_second_run_on_the_same_run_directory_is_refused(e2e_data_dir,
                                                        tmp_path):
  from nmt_tfx.pipeline import run_lock  # pylint: disable=g-import-not-at-top
  runs_dir = tmp_path / 'runs'
  with run_lock.exclusive_run(str(runs_dir / 'nmt-en-de')):
    result = run_cli(e2e_data_dir, runs_dir)
  assert result.returncode == 4, result.stderr[-3000:]
  assert 'another run is using' in result.stderr
  assert sorted(os.listdir(runs_dir / 'nmt-en-de')) == ['.run.lock']
