"""Autoregressive decoding, written once: used by the exported signatures,
and therefore by the Evaluator and by TF Serving alike.

`beam_search` is the only decoder; beam size 1 is greedy decoding. It needs
from the model only `encode(source_ids) -> (encoded, keys)` and
`decode_step(tokens [N], state, encoded, keys) -> (log_probs [N, V], state, _)`,
where `encoded` and `state` are nests of tensors with the batch first.
"""
from typing import NamedTuple

import tensorflow as tf

from nmt_tfx.components.text import vocabulary

# A hypothesis that cannot win: large but finite, so sums and divisions
# stay finite (no inf - inf).
_NEG = -1e9


class Decoded(NamedTuple):
  ids: tf.Tensor      # [B, L] int64, the best hypothesis, no BOS/EOS, PAD after
  lengths: tf.Tensor  # [B] int32, tokens before EOS
  scores: tf.Tensor   # [B] float32, log P(hypothesis + EOS | source)


def next_token_log_probs(logits: tf.Tensor) -> tf.Tensor:
  """logits [N, V] -> what `decode_step` returns: log-probs [N, V] float32
  (softmax in float32 under mixed precision) where PAD and BOS, never
  generated, are 1e9 below the rest."""
  logits = tf.cast(logits, tf.float32)
  never = tf.one_hot([vocabulary.PAD_ID, vocabulary.BOS_ID],
                     tf.shape(logits)[-1], dtype=logits.dtype)
  return tf.nn.log_softmax(logits - 1e9 * tf.reduce_sum(never, 0))


def max_output_length(source_length: tf.Tensor, ratio: float, offset: int,
                      cap: int) -> tf.Tensor:
  """Bound on generated tokens: min(cap, ratio * longest source + offset)."""
  longest = tf.cast(tf.reduce_max(source_length), tf.float32)
  return tf.minimum(tf.cast(ratio * longest, tf.int32) + offset, cap)


def max_output_length_for(source_length: tf.Tensor, hparams) -> tf.Tensor:
  """`max_output_length` with the HParams' ratio, offset and cap: the bound
  the exported signatures and the validation decoder both use."""
  return max_output_length(source_length, hparams.decode_length_ratio,
                           hparams.decode_length_offset,
                           hparams.max_decode_length)


def length_penalty(lengths: tf.Tensor, alpha) -> tf.Tensor:
  """GNMT's ((5 + length) / 6) ** alpha; alpha 0 ranks by raw log-prob."""
  return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def _tile_beams(tensor: tf.Tensor, beam_size) -> tf.Tensor:
  """[B, ...] -> [B * K, ...], each row repeated K times in a row."""
  return tf.repeat(tensor, beam_size, axis=0)


def _beam_rows(sentences: tf.Tensor, beam_size) -> tf.Tensor:
  """Sentence indices [N] -> the rows of their hypotheses [N * K]."""
  return tf.reshape(sentences[:, tf.newaxis] * beam_size +
                    tf.range(beam_size)[tf.newaxis], [-1])


def settled(ranks: tf.Tensor, log_probs: tf.Tensor, finished: tf.Tensor,
            alpha, max_length) -> tf.Tensor:
  """[A, K] each, hypotheses sorted by rank -> [A] bool: the sentence's
  best-ranked hypothesis has ended and no live one can still overtake it.

  Exact, not a heuristic: a live hypothesis's log-prob can only fall, and
  its length penalty is at most length_penalty(max_length), so its rank can
  never exceed log_prob / length_penalty(max_length). With alpha 0 a
  sentence is settled as soon as its best hypothesis ends.
  """
  best_possible = log_probs / length_penalty(max_length, alpha)
  live_best = tf.reduce_max(
      tf.where(finished, tf.float32.min, best_possible), axis=1)
  return tf.logical_and(finished[:, 0], ranks[:, 0] >= live_best)


def top_k_rows(values: tf.Tensor, k, block: int = 64):
  """tf.math.top_k over the last axis of values [N, V] -> (values [N, k],
  indices [N, k] int32), the same answer (ties aside) in about half the time
  for k > 1 on long rows: the k largest lie in the k blocks of `block`
  columns with the largest maxima, so only those k * block are sorted.
  Needs k <= V."""
  k = tf.convert_to_tensor(k, tf.int32)

  def by_blocks():
    rows, width = tf.shape(values)[0], tf.shape(values)[1]
    num_blocks = (width + block - 1) // block
    padded = tf.pad(values, [[0, 0], [0, num_blocks * block - width]],
                    constant_values=values.dtype.min)
    blocks = tf.reshape(padded, [rows, num_blocks, block])
    _, top_blocks = tf.math.top_k(tf.reduce_max(blocks, -1),
                                  tf.minimum(k, num_blocks))      # [N, k]
    candidates = tf.reshape(tf.gather(blocks, top_blocks, batch_dims=1),
                            [rows, -1])
    top_values, at = tf.math.top_k(candidates, k)
    columns = tf.gather(top_blocks, at // block, batch_dims=1) * block
    return top_values, columns + at % block

  # k = 1 (greedy decoding) has its own fast kernel.
  return tf.cond(k > 1, by_blocks, lambda: tuple(tf.math.top_k(values, k)))


def any_shape(nest):
  """The loop invariant of a nest whose every dimension may change between
  iterations (batch as sentences settle, cache length as tokens are added)."""
  return tf.nest.map_structure(
      lambda t: tf.TensorShape([None] * t.shape.rank), nest)


def beam_search(model, source_ids: tf.Tensor, max_length: tf.Tensor,
                beam_size=1, alpha=0.0) -> Decoded:
  """source_ids [B, S] -> the best of `beam_size` hypotheses per sentence.

  Batched and vectorised: one tf.while_loop over target positions; the
  hypotheses of the sentences still decoding advance together through one
  `decode_step` per position. Hypotheses are ranked by
  log-prob / length_penalty(length, alpha); a hypothesis ends at EOS. A
  sentence leaves the batch as soon as its result is `settled`, so each
  step's cost follows the sentences still open, not the longest one; all
  stop after `max_length` tokens. `beam_size` and `alpha` may be tensors.
  """
  beam_size = tf.convert_to_tensor(beam_size, tf.int32)
  alpha = tf.convert_to_tensor(alpha, tf.float32)
  max_length = tf.convert_to_tensor(max_length, tf.int32)
  batch = tf.shape(source_ids)[0]
  encoded, keys = model.encode(source_ids)
  state = tf.nest.map_structure(lambda t: _tile_beams(t, beam_size),
                                encoded.state)
  encoded, keys = tf.nest.map_structure(lambda t: _tile_beams(t, beam_size),
                                        (encoded, keys))

  # Results, written as sentences settle.
  best_ids = tf.fill([batch, max_length],
                     tf.constant(vocabulary.PAD_ID, tf.int64))
  best_scores = tf.zeros([batch], tf.float32)
  # The open sentences (A of them, indices into the batch) and their beams.
  # Only the first copy of each sentence is alive at the start, so the first
  # step expands it into K different hypotheses instead of K identical ones.
  open_sentences = tf.range(batch)                                  # [A]
  first = tf.concat([[0.0], tf.fill([beam_size - 1], _NEG)], 0)
  log_probs = tf.tile(first[tf.newaxis], [batch, 1])                # [A, K]
  lengths = tf.zeros([batch, beam_size], tf.int32)
  finished = tf.zeros([batch, beam_size], tf.bool)
  sequences = tf.zeros([batch, beam_size, 0], tf.int64)             # [A, K, t]
  tokens = tf.fill([batch * beam_size], tf.constant(vocabulary.BOS_ID, tf.int64))

  step = tf.constant(0)
  while step < max_length and tf.size(open_sentences) > 0:
    tf.autograph.experimental.set_loop_options(shape_invariants=[
        (state, any_shape(state)), (encoded, any_shape(encoded)),
        (keys, any_shape(keys)), (tokens, tf.TensorShape([None])),
        (open_sentences, tf.TensorShape([None])),
        (sequences, tf.TensorShape([None, None, None])),
        (log_probs, tf.TensorShape([None, None])),
        (lengths, tf.TensorShape([None, None])),
        (finished, tf.TensorShape([None, None]))])
    step_log_probs, state, _ = model.decode_step(tokens, state, encoded, keys)
    num_open = tf.size(open_sentences)
    # The sentence's K best continuations are among its hypotheses' K best
    # each, so only those [A, K, K] are ranked, not all [A, K, V].
    top_log_probs, top_tokens = top_k_rows(step_log_probs, beam_size)
    top_log_probs = tf.reshape(top_log_probs, [num_open, beam_size, beam_size])
    top_tokens = tf.reshape(tf.cast(top_tokens, tf.int64),
                            [num_open, beam_size, beam_size])
    # An ended hypothesis only continues with PAD, at no cost.
    ended = finished[:, :, tf.newaxis]
    top_log_probs = tf.where(ended, first, top_log_probs)
    top_tokens = tf.where(ended, tf.constant(vocabulary.PAD_ID, tf.int64),
                          top_tokens)
    candidates = log_probs[:, :, tf.newaxis] + top_log_probs      # [A, K, K]
    new_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
    ranking = candidates / length_penalty(new_lengths, alpha)[:, :, tf.newaxis]
    ranks, best = tf.math.top_k(tf.reshape(ranking, [num_open, -1]),
                                k=beam_size)                       # sorted
    parent = best // beam_size                                     # [A, K]
    token = tf.gather(tf.reshape(top_tokens, [num_open, -1]), best,
                      batch_dims=1)                                # [A, K]

    log_probs = tf.gather(tf.reshape(candidates, [num_open, -1]), best,
                          batch_dims=1)
    lengths = tf.gather(new_lengths, parent, batch_dims=1)
    finished = tf.logical_or(tf.gather(finished, parent, batch_dims=1),
                             tf.equal(token, vocabulary.EOS_ID))
    sequences = tf.concat([tf.gather(sequences, parent, batch_dims=1),
                           token[:, :, tf.newaxis]], axis=2)
    step += 1

    rows = tf.reshape(parent + beam_size * tf.range(num_open)[:, tf.newaxis],
                      [-1])
    state = tf.nest.map_structure(lambda t: tf.gather(t, rows), state)
    tokens = tf.reshape(token, [-1])

    # Settled sentences write their best hypothesis and leave the batch.
    done = tf.logical_or(settled(ranks, log_probs, finished, alpha, max_length),
                         step >= max_length)
    if tf.reduce_any(done):
      leaving = tf.where(done)[:, 0]
      slots = tf.gather(open_sentences, leaving)[:, tf.newaxis]
      best_ids = tf.tensor_scatter_nd_update(best_ids, slots, tf.pad(
          tf.gather(sequences[:, 0], leaving), [[0, 0], [0, max_length - step]]))
      best_scores = tf.tensor_scatter_nd_update(
          best_scores, slots, tf.gather(log_probs[:, 0], leaving))
      staying = tf.cast(tf.where(tf.logical_not(done))[:, 0], tf.int32)
      open_sentences, log_probs, lengths, finished, sequences = (
          tf.gather(t, staying) for t in (open_sentences, log_probs, lengths,
                                           finished, sequences))
      state, encoded, keys, tokens = tf.nest.map_structure(
          lambda t: tf.gather(t, _beam_rows(staying, beam_size)),
          (state, encoded, keys, tokens))

  ids = best_ids[:, :step]
  real = tf.logical_and(tf.not_equal(ids, vocabulary.EOS_ID),
                        tf.not_equal(ids, vocabulary.PAD_ID))
  return Decoded(ids=tf.where(real, ids, tf.constant(vocabulary.PAD_ID, tf.int64)),
                 lengths=tf.reduce_sum(tf.cast(real, tf.int32), axis=1),
                 scores=best_scores)
