"""The report renders with and without a production model and a training
summary, and writes valid PNGs beside report.html / report.md."""
import base64
import dataclasses
import html.parser
import json
import pathlib
import re

import pytest

from conftest import read_multi30k
from nmt_tfx.components.evaluation import bleu
from nmt_tfx.components.evaluation import report
from nmt_tfx.components.evaluation.bleu_test import _degraded
from nmt_tfx.components.evaluation.plots_test import png_size

N = 120


def _scores(hyps, refs, seconds):
  return dataclasses.asdict(dataclasses.replace(
      bleu.corpus_scores(hyps, refs), decode_seconds=seconds))


def _buckets(srcs, hyps, refs):
  return [dataclasses.asdict(b) for b in bleu.bucket_scores(srcs, hyps, refs)]


def make_result(production: bool, training: bool) -> dict:
  """A result shaped as the Evaluator writes it, from Multi30k text."""
  srcs, refs = read_multi30k('val', 'en', N), read_multi30k('val', 'de', N)
  hyps, base = _degraded(refs, seed=1), _degraded(refs, seed=2)
  srcs[0] = 'A <b>bold</b> & "quoted" man.'   # must be escaped in HTML
  result = {
      'candidate': '/runs/Trainer/model/7/Format-Serving',
      'scores': {'eval': _scores(hyps, refs, 3.5),
                 'test': _scores(hyps[:60], refs[:60], 2.0)},
      'production': '/serving/nmt/3' if production else None,
      'production_scores': ({'eval': _scores(base, refs, 4.0),
                             'test': _scores(base[:60], refs[:60], 1.0)}
                            if production else None),
      'blessing_split': 'test', 'bleu_floor': 10.0,
      'significance_level': 0.05,
      'comparison': ({'candidate_bleu': 40.0, 'production_bleu': 39.5,
                      'p_value': 0.2468, 'samples': 1000, 'seed': 12345,
                      'signature': 'nrefs:1|bs:1000|seed:12345'}
                     if production else None),
      'blessed': True, 'reason': 'BLEU 40.00 clears the floor 10.00',
      'decided_by': 'paired bootstrap' if production else 'BLEU floor',
      'p_value': 0.2468 if production else None,
      'infra_validation': {
          'ok': True, 'reason': 'loads in a fresh process',
          'budget_ms': 60000.0, 'load_seconds': 4.25, 'warmup_requests': 2,
          'latencies': [{'batch_size': 1, 'p50_ms': 21.04, 'p95_ms': 30.55,
                         'requests': 10},
                        {'batch_size': 64, 'p50_ms': 410.0, 'p95_ms': 455.5,
                         'requests': 10}]},
      'samples': [{'source': s, 'reference': r, 'translation': h,
                   **({'production': b} if production else {})}
                  for s, r, h, b in zip(srcs[:5], refs, hyps, base)],
      'buckets': {'eval': {'candidate': _buckets(srcs, hyps, refs),
                           'production': (_buckets(srcs, base, refs)
                                          if production else None)},
                  'test': {'candidate': _buckets(srcs[:60], hyps[:60],
                                                 refs[:60]),
                           'production': (_buckets(srcs[:60], base[:60],
                                                   refs[:60])
                                          if production else None)}},
      'attention': [
          {'source': 'A man .', 'translation': 'Ein Mann .',
           'source_tokens': ['A', 'man', '.'],
           'target_tokens': ['Ein', 'Mann', '.', '</s>'],
           'weights': [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8],
                       [0.2, 0.2, 0.6]]},
          {'source': 'Two dogs run .', 'translation': 'Zwei Hunde .',
           'source_tokens': ['Two', 'dogs', 'run', '.'],
           'target_tokens': ['Zwei', 'Hunde', '.', '</s>'],
           'weights': [[0.7, 0.1, 0.1, 0.1]] * 4}],
      'training': ({'fit_seconds': 61.2, 'steps': 300, 'epochs': 3,
                    'planned_epochs': 4, 'replicas': 1, 'global_batch': 32,
                    'selection': {'exported': 'epoch 2', 'val_bleu': 12.5,
                                  'best_epoch': 2, 'best_epoch_bleu': 12.5},
                    'history': {'loss': [4.0, 2.5, 1.9],
                                'val_loss': [4.2, 3.0, 2.6],
                                'masked_accuracy': [0.2, 0.4, 0.5],
                                'val_masked_accuracy': [0.2, 0.35, 0.4],
                                'val_bleu': [8.0, 12.5, 11.0],
                                'lr': [1e-3, 8e-4, 5e-4]}}
                   if training else None),
  }
  return result


class _Tables(html.parser.HTMLParser):
  """Tables of an HTML page as lists of rows of cell texts; image sources."""

  def __init__(self):
    super().__init__()
    self.tables, self.images, self._cell = [], [], None

  def handle_starttag(self, tag, attrs):
    if tag == 'table':
      self.tables.append([])
    elif tag == 'tr':
      self.tables[-1].append([])
    elif tag in ('td', 'th'):
      self._cell = ''
    elif tag == 'img':
      self.images.append(dict(attrs)['src'])

  def handle_endtag(self, tag):
    if tag in ('td', 'th'):
      self.tables[-1][-1].append(self._cell)
      self._cell = None

  def handle_data(self, data):
    if self._cell is not None:
      self._cell += data


def _parse(page: str) -> _Tables:
  parser = _Tables()
  parser.feed(page)
  parser.close()
  return parser


@pytest.mark.parametrize('production, training', [
    (True, True), (False, False), (True, False), (False, True)])
def test_writes_html_markdown_json_and_pngs(tmp_path, production, training):
  result = make_result(production, training)
  paths = report.write(result, str(tmp_path))

  pngs = ['buckets.png', 'attention-1.png', 'attention-2.png'] + (
      ['training.png'] if training else [])
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
      ['report.json', 'report.md', 'report.html'] + pngs)
  assert set(paths) == {p.name for p in tmp_path.iterdir()}
  for name in pngs:
    data = (tmp_path / name).read_bytes()
    width, height = png_size(data)
    assert len(data) > 5000 and width > 200 and height > 150, name
  assert json.loads((tmp_path / 'report.json').read_text()) == result

  page = (tmp_path / 'report.html').read_text()
  parsed = _parse(page)
  # Self-contained: every image is embedded, and is the PNG written beside it.
  embedded = sorted(base64.b64decode(src.split(',', 1)[1])
                    for src in parsed.images)
  assert all(src.startswith('data:image/png;base64,') for src in parsed.images)
  assert embedded == sorted((tmp_path / n).read_bytes() for n in pngs)
  assert not re.search(r'(src|href)="(?!data:)', page)
  assert page.index('BLESSED') < page.index('<h2>')    # verdict first
  assert '&lt;b&gt;bold&lt;/b&gt;' in page and '<b>bold</b>' not in page

  scores = parsed.tables[0]
  assert scores[0][:7] == ['split', 'model', 'sentences', 'BLEU',
                           'BLEU (lowercased)', 'chrF', 'decoding (s)']
  models = [row[1] for row in scores[1:]]
  assert models == (['candidate', 'production'] * 2 if production
                    else ['candidate'] * 2)
  eval_row = scores[1]
  assert eval_row[3] == f"{result['scores']['eval']['bleu']:.2f}"
  assert eval_row[6] == '3.5'
  if production:
    delta = (result['scores']['eval']['bleu'] -
             result['production_scores']['eval']['bleu'])
    assert eval_row[7] == f'{delta:+.2f}'

  eval_buckets = next(t for t in parsed.tables if t[0][0] == 'source words')
  assert [row[0] for row in eval_buckets[1:]] == bleu.bucket_labels()
  assert [int(row[1]) for row in eval_buckets[1:]] == [
      b['sentences'] for b in result['buckets']['eval']['candidate']]
  assert sum(int(row[1]) for row in eval_buckets[1:]) == N
  assert ('production BLEU' in eval_buckets[0]) == production
  assert ('No training summary' in page) != training
  if training:
    facts = dict(next(t for t in parsed.tables if t[0] == ['', 'value'])[1:])
    assert facts['epochs'] == '3' and facts['planned_epochs'] == '4'
    assert facts['exported weights'] == 'epoch 2 (validation BLEU 12.50)'
    assert facts['val_bleu (last epoch)'] == '11'

  samples = parsed.tables[-1]
  assert samples[0] == ['source', 'reference', 'translation'] + (
      ['production'] if production else [])
  assert samples[1][0] == result['samples'][0]['source']
  assert len(samples) == 1 + len(result['samples'])

  markdown = (tmp_path / 'report.md').read_text()
  for name in pngs:
    assert f']({name})' in markdown
  assert '| source words | sentences | BLEU | chrF |' in markdown
  assert ('## Training' in markdown) == training
  for text in (markdown, html.unescape(page)):
    assert ('test BLEU ≥ 10.00, and not below the production model\'s with '
            'paired bootstrap p < 0.05') in text
    assert (('Decided by: paired bootstrap, p = 0.2468 (candidate 40.00 vs '
             'production 39.50 BLEU; sacreBLEU nrefs:1|bs:1000|seed:12345)')
            if production else 'Decided by: BLEU floor') in text
    assert ('passed: loads in a fresh process. Loaded with 2 warm-up requests '
            'in 4.2 s; budget: p95 ≤ 60000 ms.') in text
  assert '| 64 | 10 | 410.0 | 455.5 |' in markdown
  infra = next(t for t in parsed.tables if t[0][0] == 'batch size')
  assert infra == [['batch size', 'requests', 'p50 (ms)', 'p95 (ms)'],
                   ['1', '10', '21.0', '30.6'], ['64', '10', '410.0', '455.5']]


def test_write_creates_the_report_directory(tmp_path):
  """As on Kubeflow, where nothing creates the output directory first."""
  directory = tmp_path / 'BleuEvaluator' / 'evaluation'
  result = make_result(False, False)
  paths = report.write(result, str(directory))
  assert json.loads((directory / 'report.json').read_text()) == result
  assert all(pathlib.Path(path).parent == directory for path in paths.values())


def test_report_json_of_an_older_evaluator_still_renders(tmp_path):
  """report.json written before buckets/attention/training existed."""
  result = make_result(production=True, training=False)
  for key in ('buckets', 'attention', 'training', 'significance_level',
              'comparison', 'decided_by', 'p_value', 'infra_validation'):
    del result[key]
  result['regression_margin'] = 1.0
  report.write(result, str(tmp_path))
  assert "≥ the production model's BLEU − 1.00" in (
      tmp_path / 'report.md').read_text()
  assert sorted(p.name for p in tmp_path.iterdir()) == [
      'report.html', 'report.json', 'report.md']
  assert 'By source length' not in (tmp_path / 'report.md').read_text()
  assert 'Sample translations' in (tmp_path / 'report.html').read_text()


def test_unloadable_production_model_is_named_with_its_reason(tmp_path):
  result = make_result(production=False, training=False)
  result['production'] = '/serving/nmt/3'
  result['production_error'] = ('production model /serving/nmt/3 cannot be '
                                'loaded: OSError: Cannot parse file')
  report.write(result, str(tmp_path))
  for name in ('report.md', 'report.html'):
    text = (tmp_path / name).read_text()
    assert ('production model /serving/nmt/3 cannot be loaded: OSError: '
            'Cannot parse file (not compared)') in text, name
