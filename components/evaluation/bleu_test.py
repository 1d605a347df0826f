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


def test_bucket_labels_and_boundaries():
  assert bleu.bucket_labels() == ['1-8', '9-12', '13-16', '17-20', '21+']
  assert bleu.bucket_labels((3,)) == ['1-3', '4+']
  words = lambda n: ' '.join(['w'] * n)
  assert [bleu.length_bucket(words(n)) for n in
          (0, 1, 8, 9, 12, 13, 16, 17, 20, 21, 60)] == [0, 0, 0, 1, 1, 2, 2,
                                                        3, 3, 4, 4]
  assert bleu.length_bucket('  a \t b  ') == 0


def test_bucket_scores_equal_sacrebleu_on_each_subset():
  sources = read_multi30k('test_2016_flickr', 'en')
  references = read_multi30k('test_2016_flickr', 'de')
  hypotheses = _degraded(references)
  buckets = bleu.bucket_scores(sources, hypotheses, references)
  lengths = [len(s.split()) for s in sources]
  ranges = [(1, 8), (9, 12), (13, 16), (17, 20), (21, 10 ** 6)]
  assert [b.bucket for b in buckets] == bleu.bucket_labels()
  assert sum(b.sentences for b in buckets) == len(sources)
  for bucket, (lo, hi) in zip(buckets, ranges):
    idx = [i for i, n in enumerate(lengths) if lo <= n <= hi]
    assert bucket.sentences == len(idx), bucket
    assert idx, f'Multi30k test has no sentence of {lo}-{hi} words'
    hyps, refs = [hypotheses[i] for i in idx], [[references[i] for i in idx]]
    assert bucket.bleu == sacrebleu.corpus_bleu(hyps, refs).score
    assert bucket.chrf == sacrebleu.corpus_chrf(hyps, refs).score
  # Different buckets, different scores: not the corpus score repeated.
  assert len({b.bleu for b in buckets}) == len(buckets)


def test_bucket_scores_exact_counts_and_empty_buckets():
  sources = ['a b', 'a b c d e f g h i', 'a', '']
  hyps = ['x y', 'the cat sat on the mat', 'y', '']
  refs = ['x y', 'the cat sat on the mat', 'z', '']
  buckets = bleu.bucket_scores(sources, hyps, refs)
  assert [b.sentences for b in buckets] == [3, 1, 0, 0, 0]
  assert buckets[1].bleu == pytest.approx(100.0)
  assert buckets[2].bleu is None and buckets[2].chrf is None
  with pytest.raises(ValueError, match='4 sources, 3 hypotheses'):
    bleu.bucket_scores(sources, hyps[:3], refs)
