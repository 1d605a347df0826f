"""The push rule: clear the BLEU floor and do not regress past the margin."""
import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Verdict:
  blessed: bool
  reason: str


def judge(bleu: float, baseline_bleu: Optional[float], floor: float,
          margin: float) -> Verdict:
  """Blesses iff bleu >= floor and bleu >= baseline_bleu - margin."""
  if bleu < floor:
    return Verdict(False, f'BLEU {bleu:.2f} is below the floor {floor:.2f}')
  if baseline_bleu is None:
    return Verdict(True, f'BLEU {bleu:.2f} clears the floor {floor:.2f}; '
                   'no model in production yet')
  if bleu < baseline_bleu - margin:
    return Verdict(False, f'BLEU {bleu:.2f} regresses more than {margin:.2f} '
                   f'below production ({baseline_bleu:.2f})')
  return Verdict(True, f'BLEU {bleu:.2f} clears the floor {floor:.2f} and is '
                 f'within {margin:.2f} of production ({baseline_bleu:.2f}) '
                 'or better')
