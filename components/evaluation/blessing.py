"""The push rule: clear the BLEU floor and do not drop significantly below
the model in production.

Both are judged on the blessing split, which the Trainer uses neither to pick
weights nor to stop early. The comparison is sacreBLEU's paired bootstrap
test of the two models' translations of the same sentences
(significance.py): only a drop whose p-value is below the significance level
refuses the candidate; a smaller difference is within chance. Without a model
in production to compare with (none yet, or one that cannot be loaded), the
floor alone decides. Last, a candidate that passes must also serve
(infra_validation.py): one that does not is refused whatever its BLEU.
"""
import dataclasses
from typing import Optional

from nmt_tfx.components.evaluation import significance
from nmt_tfx.components.evaluation.significance import Comparison

# Verdict.decided_by: which test settled the verdict.
FLOOR = 'BLEU floor'
PAIRED_BOOTSTRAP = 'paired bootstrap'
INFRA_VALIDATION = 'infra validation'
LANGUAGE_PAIR = 'language pair'


@dataclasses.dataclass(frozen=True)
class Rule:
  """What a candidate must do: reach `floor` (cased BLEU), and not be below
  production with a paired bootstrap p-value under `significance_level`."""
  floor: float
  significance_level: float = 0.05
  bootstrap_samples: int = significance.DEFAULT_SAMPLES
  bootstrap_seed: int = significance.DEFAULT_SEED

  def __post_init__(self):
    if not 0 <= self.significance_level <= 1:
      raise ValueError(f'significance level {self.significance_level}: '
                       'expected a probability, 0 to 1')


@dataclasses.dataclass(frozen=True)
class Verdict:
  blessed: bool
  reason: str
  decided_by: str = FLOOR
  p_value: Optional[float] = None   # of the paired bootstrap, if it decided.


def judge(bleu: float, rule: Rule, comparison: Optional[Comparison],
          production_error: Optional[str] = None) -> Verdict:
  """Blesses iff bleu >= rule.floor and, given a comparison with production,
  the candidate is not below it with p < rule.significance_level.

  production_error: why the production model could not be loaded, if so.
  """
  floor, significance_level = rule.floor, rule.significance_level
  if bleu < floor:
    return Verdict(False, f'BLEU {bleu:.2f} is below the floor {floor:.2f}')
  if comparison is None:
    return Verdict(True, f'BLEU {bleu:.2f} clears the floor {floor:.2f}; ' +
                   (f'{production_error}, so the floor alone decides'
                    if production_error else 'no model in production yet'))
  baseline, p = comparison.production_bleu, comparison.p_value
  test = (f'paired bootstrap p = {p:.4f} (significance level '
          f'{significance_level:g}, {comparison.samples} resamples)')
  if bleu < baseline and p < significance_level:
    return Verdict(False, f'BLEU {bleu:.2f} is significantly below production '
                   f'({baseline:.2f}): {test}', PAIRED_BOOTSTRAP, p)
  relation = ('below production ({:.2f}), but not significantly' if
              bleu < baseline else 'at least production ({:.2f})')
  return Verdict(True, f'BLEU {bleu:.2f} clears the floor {floor:.2f} and is '
                 f'{relation.format(baseline)}: {test}', PAIRED_BOOTSTRAP, p)


def require_language_pair(verdict: Verdict,
                          mismatch: Optional[str]) -> Verdict:
  """A candidate for another language pair than production's (`mismatch`
  says which) is refused: it would replace a model it was not compared with.
  """
  if mismatch is None:
    return verdict
  return Verdict(False, f'{mismatch} (on BLEU alone: {verdict.reason})',
                 LANGUAGE_PAIR)


def require_servable(verdict: Verdict, infra_problem: Optional[str]) -> Verdict:
  """The verdict once infra validation has run: a blessed candidate that
  does not serve (infra_problem says why) is refused."""
  if infra_problem is None:
    return verdict
  if not verdict.blessed:
    return dataclasses.replace(verdict, reason=(
        f'{verdict.reason}; infra validation failed too: {infra_problem}'))
  return Verdict(False, f'infra validation failed: {infra_problem} (on BLEU '
                 f'alone: {verdict.reason})', INFRA_VALIDATION)
