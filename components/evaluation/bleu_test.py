import random

import pytest
import sacrebleu

from conftest import read_multi30k
from nmt_tfx.components.evaluation import bleu


def _degraded(references, seed=0):
  """Plausible hypotheses: references with words dropped and swapped."""
  rng = random.Random(seed)
  out = []
  for ref in references:
    words = ref.split()
    words = [w for w in words if rng.random() > 0.2] or words[:1]
    if len(words) > 3 and rng.random() < 0.5:
      i = rng.randrange(len(words) - 1)
      words[i], words[i + 1] = words[i + 1], words[i]
    out.append(' '.join(words))
  return out


@pytest.mark.parametrize('lang', ['de', 'fr'])
def test_equals_sacrebleu_on_multi30k(lang):
  references = read_multi30k('test_2016_flickr', lang)
  hypotheses = _degraded(references)
  scores = bleu.corpus_scores(hypotheses, references)
  assert scores.bleu == sacrebleu.corpus_bleu(hypotheses, [references]).score
  assert scores.bleu_lowercase == sacrebleu.corpus_bleu(
      hypotheses, [references], lowercase=True).score
  assert scores.chrf == sacrebleu.corpus_chrf(hypotheses, [references]).score
  assert 20 < scores.bleu < 80 and scores.sentences == len(references)
  assert scores.signature.startswith('nrefs:1|case:mixed|eff:no|tok:13a')


def test_perfect_and_mismatched():
  refs = read_multi30k('val', 'de', 50)
  assert bleu.corpus_scores(refs, refs).bleu == pytest.approx(100.0)
  with pytest.raises(ValueError, match='49 hypotheses for 50 references'):
    bleu.corpus_scores(refs[:49], refs)
