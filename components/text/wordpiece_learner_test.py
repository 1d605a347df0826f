"""Bounded WordPiece learning: word counting on Beam, the threshold search,
and the learned vocabulary."""
import collections

import apache_beam as beam
from apache_beam.testing import util as beam_util
import numpy as np
import pytest
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as tf_text_learner

from conftest import read_multi30k
from nmt_tfx.components.text import wordpiece_learner

RESERVED = ['<pad>', '<unk>', '<s>', '</s>']


def _batches():
  """Analyzer-shaped batches: lists of word columns (numpy arrays)."""
  return [[np.array([b'a', b'b', b'a']), np.array([[b'c'], [b'a']])],
          [np.array([b'b', b'd', b'e', b'e'])],
          [np.array([b'e', b'a'])]]


def test_count_words_sums_across_batches_and_keeps_the_most_frequent():
  with beam.Pipeline() as p:
    top = (p | beam.Create(_batches(), reshuffle=False)
           | wordpiece_learner.CountWords(max_words=3))
    # a: 4, e: 3, b: 2 (c and d, once each, are left out); most frequent first.
    beam_util.assert_that(top, beam_util.equal_to([[('a', 4), ('e', 3),
                                                    ('b', 2)]]))


def test_count_words_breaks_ties_by_the_word():
  batches = [[np.array([b'x', b'y', b'z', b'w'])]]
  with beam.Pipeline() as p:
    top = (p | beam.Create(batches) | wordpiece_learner.CountWords(2))
    beam_util.assert_that(top, beam_util.equal_to([[('z', 1), ('y', 1)]]))


def _power_law(scale: float):
  """Vocabulary size against threshold, shaped like the learner's
  (Multi30k: threshold 4 -> 10,951, 7 -> 7,585, 152 -> 1,084 pieces)."""
  calls = []

  def size_at(threshold):
    calls.append(threshold)
    return int(60 + 40000 / (threshold / scale) ** 0.8)
  return size_at, calls


@pytest.mark.parametrize('vocab_size', [1000, 4000, 8000, 16000])
def test_search_needs_few_passes_whatever_the_corpus_size(vocab_size):
  """Counts 1,000x larger (a corpus 1,000x the size) cost no more passes;
  bisection over [1, largest count] needs about log2(largest count)."""
  for scale, largest in ((1, 50000), (1000, 50000 * 1000)):
    size_at, calls = _power_law(scale)
    first_guess = max(1, int(scale * 4000 / vocab_size))
    threshold = wordpiece_learner.search_threshold(size_at, vocab_size,
                                                   first_guess, largest)
    size = size_at(threshold)
    assert size <= vocab_size
    assert size >= vocab_size * (1 - wordpiece_learner.SLACK) or (
        size_at(threshold - 1) > vocab_size)   # integer thresholds: closest
    assert len(calls) - 2 <= 6, calls


def test_search_returns_the_largest_fitting_vocabulary_when_slack_is_missed():
  sizes = {1: 30000, 2: 17741, 3: 13224, 4: 10951}
  threshold = wordpiece_learner.search_threshold(
      lambda t: sizes.get(t, 10000), 16000, first_guess=4, largest=100)
  assert threshold == 3   # 13,224 fits; 17,741 does not


@pytest.fixture(scope='module')
def word_counts():
  lines = read_multi30k('train', 'en', 3000) + read_multi30k('train', 'de', 3000)
  return sorted(collections.Counter(w for l in lines for w in l.split()).items())


def test_learned_vocabulary_is_tensorflow_texts_at_the_chosen_threshold(
    word_counts, monkeypatch):
  passes = []
  learn_with_thresh = tf_text_learner.learn_with_thresh

  def spy(words, threshold, params):
    passes.append((threshold, learn_with_thresh(words, threshold, params)))
    return passes[-1][1]
  monkeypatch.setattr(tf_text_learner, 'learn_with_thresh', spy)
  pieces = wordpiece_learner.learn(word_counts, 1000, RESERVED)
  assert 950 <= len(pieces) <= 1000
  assert pieces[:4] == RESERVED and len(set(pieces)) == len(pieces)
  assert len(passes) <= 6
  # What tensorflow-text's learner gives at the threshold that was chosen.
  (threshold,) = [t for t, v in passes if v == pieces][:1]
  params = wordpiece_learner._params(1000, RESERVED)  # pylint: disable=protected-access
  assert learn_with_thresh(word_counts, threshold, params) == pieces


def test_learning_is_deterministic_in_any_input_order(word_counts):
  assert (wordpiece_learner.learn(word_counts, 500, RESERVED)
          == wordpiece_learner.learn(word_counts[::-1], 500, RESERVED))


def test_no_words_gives_the_reserved_tokens():
  assert wordpiece_learner.learn([], 100, RESERVED) == RESERVED
