"""The Evaluator's report inputs: buckets, attention picks, training summary,
and the optional model_run input."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from nmt_tfx.components.data import features
from nmt_tfx.components.evaluation import evaluator
from nmt_tfx.components.evaluation import infra_validation
from nmt_tfx.components.evaluation.infra_validation_test import with_warmup_for
from nmt_tfx.components.evaluation import blessing
from nmt_tfx.components.evaluation import report
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model.export import Attention
from nmt_tfx.components.model.export import SavedModelTranslator
from nmt_tfx.components.serving import model_dir

from conftest import PIPELINE_DAMAGES
from conftest import damaged_copy
from conftest import read_multi30k


class _StubTranslator:
  """Attention of a model that looks at the first source word only."""

  def __init__(self, has_attention=True):
    self.has_attention, self.calls = has_attention, []

  def attention(self, sentences, translations):
    self.calls.append(list(sentences))
    if not self.has_attention:
      return None
    maps = []
    for s, t in zip(sentences, translations):
      src, tgt = s.split(), t.split() + ['</s>']
      weights = np.zeros((len(tgt), len(src)), np.float32)
      weights[:, 0] = 1 / 3
      maps.append(Attention(src, tgt, weights))
    return maps


def test_attention_report_takes_the_first_non_empty_sources():
  translate = _StubTranslator()
  sources = ['', 'a b', '  ', 'c', 'd e f', 'g']
  report = evaluator.attention_report(translate, sources,
                                      [s.upper() for s in sources], 3)
  assert translate.calls == [['a b', 'c', 'd e f']]
  assert [r['source'] for r in report] == ['a b', 'c', 'd e f']
  assert report[0]['translation'] == 'A B'
  assert report[0]['target_tokens'] == ['A', 'B', '</s>']
  assert report[0]['weights'] == [[0.3333, 0.0]] * 3   # rounded, JSON-ready
  json.dumps(report)
  assert evaluator.attention_report(_StubTranslator(False), sources,
                                    sources, 3) == []


def test_bucket_report_with_and_without_production():
  data = {'eval': (['a b', 'a b c d e f g h i j'], ['x y', 'p q r']),
          'test': (['a'], ['z'])}
  hyps = {'eval': ['x y', 'p q r'], 'test': ['z']}
  alone = evaluator.bucket_report(data, hyps, {})
  assert set(alone) == {'eval', 'test'}
  assert alone['eval']['production'] is None
  assert [b['sentences'] for b in alone['eval']['candidate']] == [1, 1, 0, 0, 0]
  both = evaluator.bucket_report(data, hyps, {'eval': ['x', 'p'],
                                              'test': ['z']})
  assert [b['sentences'] for b in both['test']['production']] == [1, 0, 0, 0, 0]
  assert both['eval']['production'][0]['chrf'] < both['eval']['candidate'][0]['chrf']


def test_training_summary_from_model_run(tmp_path):
  assert evaluator.read_training_summary(None) is None
  model_run = standard_artifacts.ModelRun()
  model_run.uri = str(tmp_path)
  assert evaluator.read_training_summary(model_run) is None   # not written
  summary = {'epochs': 2, 'history': {'loss': [2.0, 1.0], 'val_bleu': [1, 3]}}
  (tmp_path / trainer.TRAINING_SUMMARY).write_text(json.dumps(summary))
  assert evaluator.read_training_summary(model_run) == summary


def test_model_run_is_an_optional_input():
  spec = evaluator.BleuEvaluator.SPEC_CLASS
  assert spec.INPUTS['model_run'].optional
  assert not spec.INPUTS['model'].optional
  assert spec.INPUTS['model_run'].type is standard_artifacts.ModelRun


@pytest.mark.parametrize('production', [None, 40.0])
def test_write_blessing_creates_the_directory_and_records_the_verdict(
    tmp_path, production):
  """As on Kubeflow, where nothing creates the output directory first."""
  artifact = standard_artifacts.ModelBlessing()
  artifact.uri = str(tmp_path / 'BleuEvaluator' / 'blessing')
  verdict = (blessing.Verdict(False, 'significantly below production',
                              blessing.PAIRED_BOOTSTRAP, 0.01) if production
             else blessing.Verdict(True, 'clears the floor'))
  result = {'blessing_split': 'test', 'scores': {'test': {'bleu': 30.0}},
            'production': '/serving/1' if production else None,
            'production_scores': ({'test': {'bleu': production}}
                                  if production else None),
            'production_error': None, 'language_pair': 'en-de',
            'infra_validation': {'reason': 'loads'}}
  evaluator.write_blessing(artifact, verdict, result, '/root/Trainer/model')
  marker = 'BLESSED' if verdict.blessed else 'NOT_BLESSED'
  assert (tmp_path / 'BleuEvaluator' / 'blessing' / marker).read_text() == (
      verdict.reason + '\n')
  assert artifact.get_int_custom_property('blessed') == int(verdict.blessed)
  assert artifact.get_string_custom_property('reason') == verdict.reason
  assert artifact.get_float_custom_property('bleu') == 30.0
  assert artifact.get_string_custom_property('language_pair') == 'en-de'
  assert artifact.get_string_custom_property('current_model') == (
      '/root/Trainer/model')
  assert artifact.has_custom_property('baseline_bleu') == bool(production)
  if production:
    assert artifact.get_float_custom_property('baseline_bleu') == production
    assert artifact.get_string_custom_property('baseline_model') == '/serving/1'
    assert artifact.get_int_custom_property('baseline_version') == 1
    assert artifact.get_float_custom_property('p_value') == 0.01


def write_examples(directory, splits) -> standard_artifacts.Examples:
  """An ExampleGen-shaped Examples artifact: split -> [(source, target)]."""
  examples = standard_artifacts.Examples()
  examples.uri = str(directory)
  examples.split_names = json.dumps(list(splits))
  for split, pairs in splits.items():
    os.makedirs(directory / f'Split-{split}')
    with tf.io.TFRecordWriter(str(directory / f'Split-{split}' / 'data.gz'),
                              'GZIP') as writer:
      for source, target in pairs:
        example = tf.train.Example(features=tf.train.Features(feature={
            name: tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[text.encode('utf-8')]))
            for name, text in ((features.SOURCE, source),
                               (features.TARGET, target))}))
        writer.write(example.SerializeToString())
  return examples


@pytest.fixture(scope='module')
def tiny_examples(tmp_path_factory):
  """Eval and test splits of a few short Multi30k pairs."""
  pairs = list(zip(read_multi30k('val', 'en', 12),
                   read_multi30k('val', 'de', 12)))
  return write_examples(tmp_path_factory.mktemp('examples'),
                        {'eval': pairs[:6], 'test': pairs[6:]})


def run_evaluate(examples, candidate, serving, **overrides):
  args = dict(rule=blessing.Rule(0.0), blessing_split='test',
              report_splits=['eval', 'test'], batch_size=8, num_samples=2,
              num_attention=1)
  return evaluator.evaluate(examples, str(candidate), str(serving),
                            **{**args, **overrides})


@pytest.mark.parametrize('damage', PIPELINE_DAMAGES)
def test_unloadable_production_model_is_reported_and_replaced(
    tiny_examples, tiny_export, tmp_path, damage):
  serving = tmp_path / 'serving'
  broken = damaged_copy(tiny_export, serving / '7', damage)
  verdict, result = run_evaluate(tiny_examples, tiny_export, serving)
  said = f'production model {broken} cannot be loaded: '
  assert result['production_error'].startswith(said)
  assert result['production'] == str(broken)
  assert result['production_scores'] is None
  assert verdict.blessed and 'floor alone' in verdict.reason
  assert said in verdict.reason
  markdown = report.to_markdown(result)
  assert said in markdown and 'not compared' in markdown
  # What the Pusher then does with the blessed candidate: a newer version,
  # now the one served and compared with.
  pushed = model_dir.push(str(tiny_export), str(serving),
                          expected_production=result['production'])
  assert not pushed.superseded and pushed.version > 7
  version = pushed.version
  latest = model_dir.latest_version_dir(str(serving))
  assert latest == str(serving / str(version))
  assert SavedModelTranslator(latest)(['A man.']) is not None
  assert evaluator.load_production(str(serving)).error is None


def test_production_model_of_another_language_pair_is_not_a_baseline(
    tiny_examples, tiny_export, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import example_gen  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.serving import version_record  # pylint: disable=g-import-not-at-top
  examples = write_examples(tmp_path / 'examples', {
      'test': [('A man.', 'Ein Mann.'), ('A dog.', 'Ein Hund.')]})
  example_gen._write_json(  # pylint: disable=protected-access
      {'split': 'test', 'source_lang': 'en', 'target_lang': 'de', 'pairs': 2},
      example_gen.stats_path(examples.uri, 'test'))
  serving = tmp_path / 'serving'
  shutil.copytree(tiny_export, serving / '7')
  def production_translates(pair):
    (serving / '7' / version_record.FILE).write_bytes(version_record.encode(
        version_record.make(language_pair=pair, bleu=30.0,
                            blessing_split='test', decided_by='BLEU floor',
                            report='r.html', pushed_at=0.0)))
  production_translates('en-fr')
  verdict, result = run_evaluate(examples, tiny_export, serving,
                                 report_splits=['test'])
  assert not verdict.blessed
  assert verdict.decided_by == blessing.LANGUAGE_PAIR
  assert verdict.reason.startswith(
      f"the production model {serving / '7'} translates en-fr; this run's "
      'data is en-de: give en-de a serving directory of its own')
  assert result['production_scores'] is None and result['language_pair'] == 'en-de'
  # The same production model for the same pair is a baseline as usual.
  production_translates('en-de')
  verdict, result = run_evaluate(examples, tiny_export, serving,
                                 report_splits=['test'])
  assert result['production_scores'] is not None
  assert verdict.decided_by != blessing.LANGUAGE_PAIR


@pytest.mark.parametrize('candidate, budget_ms, says', [
    ('as exported', 0.001, 'over the budget of 0.001 ms'),
    ('failing warm-up', 60_000, 'does not serve: warm-up: '),
], ids=['latency over budget', 'fails to load in a fresh process'])
def test_candidate_that_does_not_serve_is_not_blessed(
    tiny_examples, tiny_export, tmp_path, candidate, budget_ms, says):
  model = (tiny_export if candidate == 'as exported' else
           with_warmup_for(tiny_export, tmp_path / 'model', 'no_such_one'))
  budget = infra_validation.Budget(budget_ms, batch_sizes=(1, 4), requests=2)
  verdict, result = run_evaluate(tiny_examples, model, tmp_path / 'serving',
                                 infra=budget)
  assert not verdict.blessed and verdict.decided_by == 'infra validation'
  assert verdict.reason.startswith('infra validation failed: ')
  assert says in verdict.reason and 'on BLEU alone: BLEU' in verdict.reason
  served = result['infra_validation']
  assert not served['ok'] and says in served['reason']
  markdown = report.to_markdown(result)
  assert '## Infra validation' in markdown and served['reason'] in markdown
  if candidate == 'as exported':   # measured: the numbers are in the report
    assert [l['batch_size'] for l in served['latencies']] == [1, 4]
    assert served['warmup_requests'] == 2
    for latency in served['latencies']:
      assert (f"| {latency['batch_size']} | 2 | {latency['p50_ms']:.1f} | "
              f"{latency['p95_ms']:.1f} |") in markdown
  else:
    assert served['latencies'] == []
