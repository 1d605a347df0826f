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


def beam_search(model, source_ids: tf.Tensor, max_length: tf.Tensor,
                beam_size=1, alpha=0.0) -> Decoded:
  """source_ids [B, S] -> the best of `beam_size` hypotheses per sentence.

  Batched and vectorised: one tf.while_loop over target positions; the
  B * K hypotheses advance together through one `decode_step` per position.
  Hypotheses are ranked by log-prob / length_penalty(length, alpha). A
  hypothesis ends at EOS; the loop ends when every kept hypothesis has ended
  or after `max_length` tokens. `beam_size` and `alpha` may be tensors.
  """
  beam_size = tf.convert_to_tensor(beam_size, tf.int32)
  alpha = tf.convert_to_tensor(alpha, tf.float32)
  batch = tf.shape(source_ids)[0]
  encoded, keys = model.encode(source_ids)
  state = tf.nest.map_structure(lambda t: _tile_beams(t, beam_size),
                                encoded.state)
  encoded, keys = tf.nest.map_structure(lambda t: _tile_beams(t, beam_size),
                                        (encoded, keys))

  # Only the first copy of each sentence is alive at the start, so the first
  # step expands it into K different hypotheses instead of K identical ones.
  first = tf.concat([[0.0], tf.fill([beam_size - 1], _NEG)], 0)
  log_probs = tf.tile(first[tf.newaxis], [batch, 1])              # [B, K]
  lengths = tf.zeros([batch, beam_size], tf.int32)
  finished = tf.zeros([batch, beam_size], tf.bool)
  sequences = tf.zeros([batch, beam_size, 0], tf.int64)
  tokens = tf.fill([batch * beam_size], tf.constant(vocabulary.BOS_ID, tf.int64))

  step = tf.constant(0)
  while step < max_length and not tf.reduce_all(finished):
    tf.autograph.experimental.set_loop_options(shape_invariants=[
        (state, tf.nest.map_structure(
            lambda t: tf.TensorShape([None] * t.shape.rank), state)),
        (sequences, tf.TensorShape([None, None, None])),
        (log_probs, tf.TensorShape([None, None])),
        (lengths, tf.TensorShape([None, None])),
        (finished, tf.TensorShape([None, None]))])
    step_log_probs, state, _ = model.decode_step(tokens, state, encoded, keys)
    vocab_size = tf.shape(step_log_probs)[-1]
    step_log_probs = tf.reshape(step_log_probs, [batch, beam_size, vocab_size])
    # An ended hypothesis only continues with PAD, at no cost.
    pad_only = tf.one_hot(vocabulary.PAD_ID, vocab_size, on_value=0.0,
                          off_value=_NEG)
    step_log_probs = tf.where(finished[:, :, tf.newaxis], pad_only,
                              step_log_probs)
    candidates = log_probs[:, :, tf.newaxis] + step_log_probs     # [B, K, V]
    new_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
    ranking = candidates / length_penalty(new_lengths, alpha)[:, :, tf.newaxis]
    _, best = tf.math.top_k(tf.reshape(ranking, [batch, -1]), k=beam_size)
    parent = best // vocab_size                                    # [B, K]
    token = tf.cast(best % vocab_size, tf.int64)                   # [B, K]

    log_probs = tf.gather(tf.reshape(candidates, [batch, -1]), best,
                          batch_dims=1)
    lengths = tf.gather(new_lengths, parent, batch_dims=1)
    finished = tf.logical_or(tf.gather(finished, parent, batch_dims=1),
                             tf.equal(token, vocabulary.EOS_ID))
    sequences = tf.concat([tf.gather(sequences, parent, batch_dims=1),
                           token[:, :, tf.newaxis]], axis=2)
    rows = tf.reshape(parent + beam_size * tf.range(batch)[:, tf.newaxis], [-1])
    state = tf.nest.map_structure(lambda t: tf.gather(t, rows), state)
    tokens = tf.reshape(token, [-1])
    step += 1

  # top_k keeps the K hypotheses sorted by rank, so the best is the first.
  ids = sequences[:, 0]
  real = tf.logical_and(tf.not_equal(ids, vocabulary.EOS_ID),
                        tf.not_equal(ids, vocabulary.PAD_ID))
  return Decoded(ids=tf.where(real, ids, tf.constant(vocabulary.PAD_ID, tf.int64)),
                 lengths=tf.reduce_sum(tf.cast(real, tf.int32), axis=1),
                 scores=log_probs[:, 0])
