"""Beam search: greedy at beam 1, finds what greedy misses, bounded, batched."""
import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.text import vocabulary

EOS, A, B = vocabulary.EOS_ID, 4, 5


class _Encoded(NamedTuple):
  state: list


class BigramModelTestDouble:
  """Next-token probabilities depend only on the previous token: a table
  [V, V] of probabilities. Stands in for a trained model where a hand-made
  distribution is needed (greedy provably suboptimal)."""

  def __init__(self, table):
    self.log_table = tf.math.log(tf.constant(table, tf.float32) + 1e-30)

  def encode(self, source_ids):
    return _Encoded([tf.zeros([tf.shape(source_ids)[0], 1])]), tf.zeros(
        [tf.shape(source_ids)[0], 1])

  def decode_step(self, tokens, state, encoded, keys):
    del encoded, keys
    return tf.gather(self.log_table, tokens), state, None


def _table(rows):
  table = np.zeros([6, 6], np.float32)
  for prev, probs in rows.items():
    for token, p in probs.items():
      table[prev, token] = p
  return table


# From BOS: A 0.6, B 0.4. After A: EOS 0.4 (else A/B); after B: EOS 0.9.
# Greedy: A EOS = 0.24. Best: B EOS = 0.36.
TRAP = _table({vocabulary.BOS_ID: {A: 0.6, B: 0.4},
               A: {EOS: 0.4, A: 0.3, B: 0.3},
               B: {EOS: 0.9, A: 0.05, B: 0.05}})


def _decode(model, source, beam_size, alpha=0.0, max_length=10):
  return decoding.beam_search(model, tf.constant(source, tf.int64),
                              tf.constant(max_length), beam_size, alpha)


def _hypotheses(out):
  return [row[:n].tolist() for row, n in zip(out.ids.numpy(), out.lengths.numpy())]


def test_beam_finds_the_better_hypothesis_that_greedy_misses():
  model = BigramModelTestDouble(TRAP)
  greedy = _decode(model, [[7]], beam_size=1)
  beam = _decode(model, [[7]], beam_size=2)
  assert _hypotheses(greedy) == [[A]]
  assert _hypotheses(beam) == [[B]]
  np.testing.assert_allclose(greedy.scores.numpy(), [math.log(0.24)], rtol=1e-5)
  np.testing.assert_allclose(beam.scores.numpy(), [math.log(0.36)], rtol=1e-5)
  assert beam.lengths.numpy().tolist() == [1]


def test_length_penalty_favours_longer_hypotheses():
  # After A: A again 0.5, EOS 0.5; after A A: EOS 1. Short: B EOS.
  table = _table({vocabulary.BOS_ID: {A: 0.5, B: 0.5},
                  A: {A: 0.5, EOS: 0.5}, B: {EOS: 0.3, B: 0.7}})
  model = BigramModelTestDouble(table)
  raw = _decode(model, [[7]], beam_size=4, alpha=0.0)
  long = _decode(model, [[7]], beam_size=4, alpha=3.0)
  assert _hypotheses(raw) == [[A]]
  assert long.lengths.numpy()[0] > 1


def test_output_is_bounded_when_eos_never_comes():
  table = _table({vocabulary.BOS_ID: {A: 1.0}, A: {A: 0.9, B: 0.1},
                  B: {A: 0.9, B: 0.1}})
  out = _decode(BigramModelTestDouble(table), [[7], [8]], beam_size=3,
                max_length=6)
  assert out.ids.shape == (2, 6)
  assert out.lengths.numpy().tolist() == [6, 6]


def _real_model():
  tf.random.set_seed(3)
  hparams = HParams(embedding_dim=16, encoder_units=8, decoder_units=12,
                    attention_units=10, dropout=0.0)
  model = seq2seq.AttentionSeq2Seq(30, 40, hparams)
  source = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 12, 13]], tf.int64)
  model({'source_ids': source, 'target_in': tf.constant([[2]] * 3, tf.int64)})
  # Sharpen the output layer so hypotheses differ and EOS is reachable.
  kernel = model.decoder.project.kernel
  kernel.assign(kernel * 20.0)
  return model, source


def _python_greedy(model, source, max_length):
  """Reference: a Python loop of argmax steps, one sentence at a time."""
  results = []
  for row in source.numpy():
    encoded, keys = model.encode(tf.constant([row]))
    state, token, ids = encoded.state, vocabulary.BOS_ID, []
    for _ in range(max_length):
      log_probs, state, _ = model.decode_step(
          tf.constant([token], tf.int64), state, encoded, keys)
      token = int(tf.argmax(log_probs[0]))
      if token == EOS:
        break
      ids.append(token)
    results.append(ids)
  return results


def test_beam_one_is_greedy_on_the_real_model():
  model, source = _real_model()
  out = _decode(model, source, beam_size=1, max_length=8)
  assert _hypotheses(out) == _python_greedy(model, source, 8)


def test_batching_does_not_change_beam_results():
  model, source = _real_model()
  batched = _decode(model, source, beam_size=4, alpha=0.6, max_length=8)
  for i in range(3):
    alone = _decode(model, source[i:i + 1], beam_size=4, alpha=0.6,
                    max_length=8)
    n = int(alone.lengths[0])
    assert int(batched.lengths[i]) == n
    assert batched.ids.numpy()[i, :n].tolist() == alone.ids.numpy()[0, :n].tolist()
    np.testing.assert_allclose(batched.scores[i], alone.scores[0], rtol=1e-4)


def test_score_is_the_log_prob_of_the_returned_hypothesis():
  model, source = _real_model()
  out = _decode(model, source, beam_size=3, alpha=0.6, max_length=8)
  for i in range(3):
    ids = out.ids.numpy()[i, :out.lengths[i]].tolist()
    ended = len(ids) < 8
    encoded, keys = model.encode(source[i:i + 1])
    state, prev, total = encoded.state, vocabulary.BOS_ID, 0.0
    for token in ids + ([EOS] if ended else []):
      log_probs, state, _ = model.decode_step(
          tf.constant([prev], tf.int64), state, encoded, keys)
      total += float(log_probs[0, token])
      prev = token
    np.testing.assert_allclose(float(out.scores[i]), total, rtol=1e-4)


def test_top_k_rows_is_top_k():
  values = tf.random.stateless_normal([7, 300], seed=[1, 2])
  for k in (1, 2, 5, 9):
    for block in (4, 64, 512):   # 75 blocks, 5 blocks (< k = 9), 1 block
      got = decoding.top_k_rows(values, k, block=block)
      want = tf.math.top_k(values, k)
      np.testing.assert_array_equal(got[1].numpy(), want.indices.numpy())
      np.testing.assert_array_equal(got[0].numpy(), want.values.numpy())


def test_settled_only_when_no_live_hypothesis_can_overtake():
  # Sentence 0: best ended at -1.0; the live one at -2.0 can only fall.
  # Sentence 1: the live one at -2.0 may grow to length 20, where its rank
  #   -2.0 / length_penalty(20, 1.0) = -0.48 beats the ended -1.0 / 1.0.
  # Sentence 2: the best has not ended.
  log_probs = tf.constant([[-1.0, -2.0], [-1.0, -2.0], [-0.5, -1.0]])
  finished = tf.constant([[True, False], [True, False], [False, True]])
  ranks_alpha0 = log_probs
  assert decoding.settled(ranks_alpha0, log_probs, finished, 0.0,
                          20).numpy().tolist() == [True, True, False]
  lengths = tf.constant([[1, 1], [1, 1], [1, 1]])
  ranks = log_probs / decoding.length_penalty(lengths, 1.0)
  assert decoding.settled(ranks, log_probs, finished, 1.0,
                          20).numpy().tolist() == [False, False, False]
  assert decoding.settled(ranks, log_probs, finished, 1.0,
                          1).numpy().tolist() == [True, True, False]


class CountingModelTestDouble(BigramModelTestDouble):
  """The bigram model, except that a sentence whose source starts with
  EOS_ID ends at once; counts the hypotheses each decode_step is given."""

  def __init__(self, table):
    super().__init__(table)
    self.rows = tf.Variable(0)

  def encode(self, source_ids):
    ends_at_once = tf.cast(tf.equal(source_ids[:, :1], EOS), tf.float32)
    return _Encoded([ends_at_once]), tf.zeros([tf.shape(source_ids)[0], 1])

  def decode_step(self, tokens, state, encoded, keys):
    self.rows.assign_add(tf.size(tokens))
    log_probs, _, _ = super().decode_step(tokens, state, encoded, keys)
    eos_only = tf.math.log(tf.one_hot(EOS, 6) + 1e-30)
    return tf.where(state[0] > 0, eos_only, log_probs), state, None


def test_settled_sentences_leave_the_batch():
  never_ends = _table({vocabulary.BOS_ID: {A: 1.0}, A: {A: 0.9, B: 0.1},
                       B: {A: 0.9, B: 0.1}})
  model = CountingModelTestDouble(never_ends)
  out = tf.function(_decode)(model, [[EOS], [7]], beam_size=2, max_length=6)
  assert _hypotheses(out)[0] == []
  assert out.lengths.numpy().tolist() == [0, 6]
  # Step 1: both sentences (2 x 2 hypotheses); steps 2-6: only the second.
  assert int(model.rows.numpy()) == 2 * 2 + 5 * 2
