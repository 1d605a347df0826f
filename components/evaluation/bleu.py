"""Corpus BLEU and chrF exactly as sacreBLEU computes them.

Defaults are sacreBLEU's: 13a tokenization, cased, on detokenized text.
Also by source-length bucket, to show where a model is weak.
"""
import bisect
import dataclasses
from typing import List, Optional, Sequence

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


# Source-length buckets, in words: 1-8, 9-12, 13-16, 17-20, 21+.
LENGTH_EDGES = (8, 12, 16, 20)


@dataclasses.dataclass(frozen=True)
class BucketScores:
  bucket: str                # e.g. '9-12', '21+'
  sentences: int
  bleu: Optional[float]      # None for an empty bucket.
  chrf: Optional[float]


def bucket_labels(edges: Sequence[int] = LENGTH_EDGES) -> List[str]:
  lows = [1] + [e + 1 for e in edges]
  return [f'{lo}-{hi}' for lo, hi in zip(lows, edges)] + [f'{lows[-1]}+']


def length_bucket(sentence: str, edges: Sequence[int] = LENGTH_EDGES) -> int:
  """Index of the bucket of the sentence's length in words (whitespace
  separated; an empty sentence counts as the shortest bucket)."""
  return bisect.bisect_left(edges, len(sentence.split()))


def bucket_scores(sources: Sequence[str], hypotheses: Sequence[str],
                  references: Sequence[str],
                  edges: Sequence[int] = LENGTH_EDGES) -> List[BucketScores]:
  """Corpus BLEU and chrF of each source-length bucket's sentences."""
  if not len(sources) == len(hypotheses) == len(references):
    raise ValueError(f'{len(sources)} sources, {len(hypotheses)} hypotheses, '
                     f'{len(references)} references')
  members: List[List[int]] = [[] for _ in range(len(edges) + 1)]
  for i, source in enumerate(sources):
    members[length_bucket(source, edges)].append(i)
  result = []
  for label, indices in zip(bucket_labels(edges), members):
    scores = corpus_scores([hypotheses[i] for i in indices],
                           [references[i] for i in indices]) if indices else None
    result.append(BucketScores(label, len(indices),
                               scores.bleu if scores else None,
                               scores.chrf if scores else None))
  return result
