"""Learning a WordPiece vocabulary at a cost that does not grow with the corpus.

Two parts, each bounded whatever the corpus size:

* `CountWords` (Beam): batches of words -> the `max_words` most frequent
  (word, count) pairs. Each batch is counted locally first (one `Counter` per
  batch, as a combiner lifts), counts are summed per word across workers, and
  a top-k combiner keeps the most frequent words, so no worker ever holds more
  than `max_words` of them (plus one batch's distinct words).
* `learn`: tensorflow-text's WordPiece learner (the algorithm BERT's vocab
  tools use) on those words. The learner keeps every substring whose count
  clears a threshold; tensorflow-text finds the threshold that gives the
  wanted vocabulary size by bisecting [1, largest count], about
  log2(largest count) full learning passes, a number that grows with the
  corpus. Here the vocabulary size is treated as what it is, close to a
  power law of the threshold: each probe interpolates in log-log space
  between the nearest probes above and below the target (falling back to
  bisection), which lands within the slack in a few passes at any corpus
  size. The learning pass itself is tensorflow-text's, unchanged.

Words outside the kept `max_words` are still spelled with the learned pieces
(every character of the kept words is a piece), as SentencePiece and Marian
spell the words their sampled training text did not contain.
"""
import collections
import heapq
import math
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

JOINER = '##'            # marks a piece that continues the word before it
MAX_PIECE_CHARS = 50     # longer words are left out of learning
MAX_ALPHABET = 1000      # the most frequent characters; words with others
                         # are left out of learning
SLACK = 0.05             # accept a vocabulary of (1 - SLACK) * size .. size
MAX_PROBES = 12          # learning passes at most

WordCounts = List[Tuple[str, int]]


def _batch_counts(columns: Sequence[np.ndarray]) -> Iterable[Tuple[bytes, int]]:
  """One analyzer batch (word columns of any shape) -> its distinct words
  with their counts in the batch."""
  counts = collections.Counter()
  for column in columns:
    counts.update(np.ravel(column).tolist())
  return counts.items()


def _by_count(word_count: Tuple[bytes, int]) -> Tuple[int, bytes]:
  word, count = word_count
  return count, word     # ties broken by the word: deterministic


class CountWords(beam.PTransform):
  """PCollection of word-column batches -> one list of the `max_words` most
  frequent (word, count) pairs, most frequent first, words decoded."""

  def __init__(self, max_words: int):
    super().__init__()
    self._max_words = max_words

  def expand(self, batches):
    return (batches
            | 'CountBatch' >> beam.FlatMap(_batch_counts)
            | 'Sum' >> beam.CombinePerKey(sum)
            | 'MostFrequent' >> beam.combiners.Top.Of(self._max_words,
                                                      key=_by_count)
            | 'Decode' >> beam.Map(lambda top: [(w.decode('utf-8'), c)
                                                for w, c in top]))


def _params(vocab_size: int, reserved_tokens: Sequence[str]) -> learner.Params:
  return learner.Params(
      upper_thresh=None, lower_thresh=1, num_iterations=4,
      max_input_tokens=-1, max_token_length=MAX_PIECE_CHARS,
      max_unique_chars=MAX_ALPHABET, vocab_size=vocab_size,
      slack_ratio=SLACK, include_joiner_token=True, joiner=JOINER,
      reserved_tokens=list(reserved_tokens))


def _next_threshold(probes: Dict[int, int], low: int, high: int,
                    target: float) -> int:
  """The next threshold to try in [low, high] (which holds no probed one),
  given probes {threshold: vocabulary size}: log-log interpolation between
  the nearest probes around `target`, a power-law step from the nearest probe
  if only one side is known, clamped to [low, high]."""
  above = [(t, s) for t, s in probes.items() if s > target]
  below = [(t, s) for t, s in probes.items() if s <= target]
  if above and below:
    (t1, s1), (t2, s2) = max(above), min(below)
    slope = (math.log(s2) - math.log(s1)) / (math.log(t2) - math.log(t1))
    guess = (math.exp(math.log(t1) + (math.log(target) - math.log(s1)) / slope)
             if slope < 0 else math.sqrt(low * high))
  else:
    t, s = max(above) if above else min(below)
    guess = t * s / target     # size ~ 1 / threshold
  return min(max(int(round(guess)), low), high)


def search_threshold(vocabulary_size_at: Callable[[int], int],
                     vocab_size: int, first_guess: int, largest: int,
                     max_probes: int = MAX_PROBES) -> int:
  """The threshold whose vocabulary is within the slack below `vocab_size`
  (else the smallest probed one whose vocabulary fits), assuming the size
  falls as the threshold rises."""
  low, high = 1, max(largest, 1)
  target = vocab_size * (1 - SLACK / 2)
  probes: Dict[int, int] = {}
  threshold = min(max(first_guess, low), high)
  for _ in range(max_probes):
    size = probes[threshold] = vocabulary_size_at(threshold)
    if vocab_size * (1 - SLACK) <= size <= vocab_size:
      return threshold
    if size > vocab_size:
      low = threshold + 1
    else:
      high = threshold - 1
    if low > high:
      break
    threshold = _next_threshold(probes, low, high, target)
  fitting = [t for t, s in probes.items() if s <= vocab_size]
  return min(fitting) if fitting else max(probes)


def learn(word_counts: WordCounts, vocab_size: int,
          reserved_tokens: Sequence[str]) -> List[str]:
  """(word, count) pairs -> a WordPiece vocabulary of at most `vocab_size`
  pieces (fewer only if the characters alone exceed it), reserved tokens
  first. Deterministic: the same counts in any order give the same list."""
  params = _params(vocab_size, reserved_tokens)
  words = learner.get_input_words(sorted(word_counts), params.reserved_tokens,
                                  params.max_token_length)
  alphabet = learner.get_allowed_chars(words, params.max_unique_chars)
  words = learner.filter_input_words(words, alphabet, params.max_input_tokens)
  if not words:
    return list(reserved_tokens)
  vocabularies: Dict[int, List[str]] = {}

  def size_at(threshold: int) -> int:
    vocabularies[threshold] = learner.learn_with_thresh(words, threshold,
                                                        params)
    return len(vocabularies[threshold])

  # Where to start: the count of the word ranked vocab_size / 2 (pieces
  # outnumber the words that clear a threshold).
  ranked = heapq.nlargest(max(vocab_size // 2, 1), (c for _, c in words))
  threshold = search_threshold(size_at, vocab_size, ranked[-1],
                               max(c for _, c in words))
  return list(vocabularies[threshold])
