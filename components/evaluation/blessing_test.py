import pytest

from nmt_tfx.components.evaluation.blessing import judge


@pytest.mark.parametrize('bleu, baseline, blessed, says', [
    (12.0, None, True, 'no model in production'),
    (4.9, None, False, 'below the floor'),
    (30.0, 30.5, True, 'within 1.00 of production'),
    (29.0, 30.0, True, 'within'),           # exactly at the margin
    (28.9, 30.0, False, 'regresses more than 1.00'),
    (4.0, 1.0, False, 'below the floor'),   # the floor holds even if better
])
def test_floor_and_regression_margin(bleu, baseline, blessed, says):
  verdict = judge(bleu, baseline, floor=5.0, margin=1.0)
  assert verdict.blessed is blessed
  assert says in verdict.reason
