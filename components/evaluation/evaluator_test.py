"""The Evaluator's report inputs: buckets, attention picks, training summary,
and the optional model_run input."""
import json

import numpy as np
import pytest
from tfx.types import standard_artifacts

from nmt_tfx.components.evaluation import blessing as blessing_lib
from nmt_tfx.components.evaluation import evaluator
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model.export import Attention


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
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'BleuEvaluator' / 'blessing')
  verdict = blessing_lib.judge(30.0, production, 10.0, 1.0)
  result = {'blessing_split': 'eval', 'scores': {'eval': {'bleu': 30.0}},
            'production': '/serving/1' if production else None,
            'production_scores': ({'eval': {'bleu': production}}
                                  if production else None)}
  evaluator.write_blessing(blessing, verdict, result, '/root/Trainer/model')
  marker = 'BLESSED' if verdict.blessed else 'NOT_BLESSED'
  assert (tmp_path / 'BleuEvaluator' / 'blessing' / marker).read_text() == (
      verdict.reason + '\n')
  assert blessing.get_int_custom_property('blessed') == int(verdict.blessed)
  assert blessing.get_string_custom_property('reason') == verdict.reason
  assert blessing.get_float_custom_property('bleu') == 30.0
  assert blessing.get_string_custom_property('current_model') == (
      '/root/Trainer/model')
  assert blessing.has_custom_property('baseline_bleu') == bool(production)
  if production:
    assert not verdict.blessed
    assert blessing.get_float_custom_property('baseline_bleu') == production
    assert blessing.get_string_custom_property('baseline_model') == '/serving/1'
