"""Corpus BLEU and chrF exactly as sacreBLEU computes them.

Defaults are sacreBLEU's: 13a tokenization, cased, on detokenized text.
"""
import dataclasses
from typing import Sequence

from sacrebleu.metrics import BLEU
from sacrebleu.metrics import CHRF


@dataclasses.dataclass(frozen=True)
class Scores:
  bleu: float
  bleu_lowercase: float
  chrf: float
  signature: str   # sacreBLEU's signature of the cased BLEU, for reports.
  sentences: int
  decode_seconds: float = 0.0   # wall time of translating them, if measured.


def corpus_scores(hypotheses: Sequence[str],
                  references: Sequence[str]) -> Scores:
  if len(hypotheses) != len(references):
    raise ValueError(f'{len(hypotheses)} hypotheses for {len(references)} '
                     'references')
  hyps, refs = list(hypotheses), [list(references)]
  cased = BLEU()
  return Scores(bleu=cased.corpus_score(hyps, refs).score,
                bleu_lowercase=BLEU(lowercase=True).corpus_score(hyps, refs).score,
                chrf=CHRF().corpus_score(hyps, refs).score,
                signature=str(cased.get_signature()),
                sentences=len(hyps))
