"""The blessing rule: the floor, then a paired bootstrap against production
that refuses only a significant drop (fixed seeds: the same p every run)."""
import pytest

from conftest import read_multi30k
from nmt_tfx.components.evaluation import significance
from nmt_tfx.components.evaluation.blessing import Rule
from nmt_tfx.components.evaluation.blessing import judge
from nmt_tfx.components.evaluation.blessing import require_servable
from nmt_tfx.components.evaluation.bleu_test import _degraded

N = 300
ALPHA = 0.05


@pytest.fixture(scope='module')
def references():
  return read_multi30k('val', 'de', N)


@pytest.fixture(scope='module')
def production(references):
  return _degraded(references, seed=1)


def compare(candidate, production, references, seed=significance.DEFAULT_SEED):
  return significance.paired_bootstrap(candidate, production, references,
                                       samples=1000, seed=seed)


def verdict(candidate, production, references, floor=5.0):
  comparison = compare(candidate, production, references)
  rule = Rule(floor, ALPHA)
  return judge(comparison.candidate_bleu, rule, comparison), comparison


def test_significant_drop_is_refused(references, production):
  worse = _degraded(production, seed=2)   # degraded twice over
  result, comparison = verdict(worse, production, references)
  assert comparison.candidate_bleu < comparison.production_bleu - 5
  assert not result.blessed and comparison.p_value < ALPHA
  assert result.decided_by == 'paired bootstrap'
  assert result.p_value == comparison.p_value
  assert 'significantly below production' in result.reason
  assert f'p = {comparison.p_value:.4f}' in result.reason


def test_small_drop_within_chance_is_blessed(references, production):
  # Production's translations with two sentences made worse: a real drop
  # of a fraction of a point, which 300 sentences cannot tell from chance.
  slightly_worse = list(production)
  for i in (3, 7):
    slightly_worse[i] = ' '.join(production[i].split()[:2])
  result, comparison = verdict(slightly_worse, production, references)
  drop = comparison.production_bleu - comparison.candidate_bleu
  assert 0 < drop < 1.0 and comparison.p_value >= ALPHA
  assert result.blessed and result.decided_by == 'paired bootstrap'
  assert 'below production' in result.reason
  assert 'not significantly' in result.reason


def test_improvement_is_blessed(references, production):
  result, comparison = verdict(list(references), production, references)
  assert comparison.candidate_bleu > comparison.production_bleu
  assert comparison.p_value < ALPHA   # significant, but the other way
  assert result.blessed and 'at least production' in result.reason


def test_floor_holds_whatever_the_comparison(references, production):
  result, _ = verdict(list(references), production, references, floor=101.0)
  assert not result.blessed and 'below the floor 101.00' in result.reason
  assert result.decided_by == 'BLEU floor' and result.p_value is None


@pytest.mark.parametrize('error, says', [
    (None, 'no model in production yet'),
    ('production model /s/7 cannot be loaded: OSError: x',
     'production model /s/7 cannot be loaded: OSError: x, so the floor alone '
     'decides'),
])
def test_without_a_comparison_the_floor_alone_decides(error, says):
  rule = Rule(5.0, ALPHA)
  assert judge(12.0, rule, None, error).reason.endswith(says)
  assert judge(12.0, rule, None, error).decided_by == 'BLEU floor'
  assert not judge(4.9, rule, None, error).blessed


@pytest.mark.parametrize('level', [-0.1, 1.5])
def test_significance_level_is_a_probability(level):
  with pytest.raises(ValueError, match='expected a probability'):
    Rule(5.0, level)


def test_bootstrap_is_deterministic_for_a_seed(references, production):
  worse = _degraded(production, seed=3)[:100]
  same = [compare(worse, production[:100], references[:100]).p_value
          for _ in range(2)]
  assert same[0] == same[1]
  comparison = compare(worse, production[:100], references[:100], seed=7)
  assert 'bs:1000|seed:7|' in comparison.signature
  with pytest.raises(ValueError, match='seed 0'):
    compare(worse, production[:100], references[:100], seed=0)
  with pytest.raises(ValueError, match='99 production translations'):
    significance.paired_bootstrap(worse, production[:99], references[:100])


def test_a_candidate_that_does_not_serve_is_refused_whatever_its_bleu():
  blessed = judge(30.0, Rule(5.0, ALPHA), None)
  assert require_servable(blessed, None) == blessed
  refused = require_servable(blessed, 'p95 latency at batch 64 is 9.0 ms')
  assert not refused.blessed and refused.decided_by == 'infra validation'
  assert refused.reason == ('infra validation failed: p95 latency at batch 64 '
                            f'is 9.0 ms (on BLEU alone: {blessed.reason})')
  below = judge(1.0, Rule(5.0, ALPHA), None)
  both = require_servable(below, 'does not serve: load: OSError: x')
  assert not both.blessed and both.decided_by == 'BLEU floor'
  assert both.reason == (f'{below.reason}; infra validation failed too: '
                         'does not serve: load: OSError: x')
