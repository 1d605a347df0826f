"""Is the candidate's BLEU different from production's beyond chance?

sacreBLEU's paired bootstrap resampling (`sacrebleu.significance.PairedTest`
with test_type 'bs', the test of Koehn 2004 as Moses implements it): the two
models' translations of the same sentences are resampled together, and p is
the share of resamples whose BLEU difference is at least the observed one
once centred on zero, i.e. how often a difference this large arises by
chance. The test is two-sided; the blessing rule (blessing.py) only refuses
when the candidate is the lower one.
"""
import contextlib
import dataclasses
import os
from typing import Iterator, Sequence

from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

# sacreBLEU seeds the resampling from this variable when a test is built.
SEED_ENV = 'SACREBLEU_SEED'
DEFAULT_SAMPLES = 1000
DEFAULT_SEED = 12345   # sacreBLEU's own default; must not be 0 (unseeded).


@dataclasses.dataclass(frozen=True)
class Comparison:
  """Candidate against production on the same sentences."""
  candidate_bleu: float
  production_bleu: float
  p_value: float
  samples: int
  seed: int
  signature: str   # sacreBLEU's, with the resampling count and seed.


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
  previous = os.environ.get(SEED_ENV)
  os.environ[SEED_ENV] = str(seed)
  try:
    yield
  finally:
    if previous is None:
      del os.environ[SEED_ENV]
    else:
      os.environ[SEED_ENV] = previous


def paired_bootstrap(candidate: Sequence[str], production: Sequence[str],
                     references: Sequence[str],
                     samples: int = DEFAULT_SAMPLES,
                     seed: int = DEFAULT_SEED) -> Comparison:
  """Paired bootstrap test of cased corpus BLEU (sacreBLEU's defaults, as
  bleu.py scores); the same seed gives the same p-value."""
  if not len(candidate) == len(production) == len(references):
    raise ValueError(f'{len(candidate)} candidate and {len(production)} '
                     f'production translations for {len(references)} '
                     'references')
  if not seed:
    raise ValueError('seed 0 would leave sacreBLEU unseeded')
  with _seeded(seed):
    test = PairedTest([('production', list(production)),
                       ('candidate', list(candidate))], {'BLEU': BLEU()},
                      [list(references)], test_type='bs', n_samples=samples)
  signatures, results = test()
  baseline, system = results['BLEU']
  return Comparison(candidate_bleu=system.score,
                    production_bleu=baseline.score, p_value=system.p_value,
                    samples=samples, seed=seed,
                    signature=str(signatures['BLEU']))
