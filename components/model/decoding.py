"""Autoregressive decoding, written once: used by the exported signatures,
and therefore by the Evaluator and by TF Serving alike."""
from typing import Tuple

import tensorflow as tf

from nmt_tfx.components.text import vocabulary


def max_output_length(source_length: tf.Tensor, ratio: float, offset: int,
                      cap: int) -> tf.Tensor:
  """Bound on generated tokens: min(cap, ratio * longest source + offset)."""
  longest = tf.cast(tf.reduce_max(source_length), tf.float32)
  return tf.minimum(tf.cast(ratio * longest, tf.int32) + offset, cap)


def greedy_decode(model, source_ids: tf.Tensor, max_length: tf.Tensor
                  ) -> Tuple[tf.Tensor, tf.Tensor]:
  """source_ids [B, S] -> (ids [B, L] without BOS/EOS, PAD after; lengths [B]).

  One tf.while_loop; stops when every sentence has produced EOS.
  """
  batch = tf.shape(source_ids)[0]
  encoded, keys = model.encode(source_ids)
  state = encoded.state
  tokens = tf.fill([batch], tf.constant(vocabulary.BOS_ID, tf.int64))
  finished = tf.zeros([batch], tf.bool)
  outputs = tf.TensorArray(tf.int64, size=0, dynamic_size=True,
                           element_shape=tf.TensorShape([None]))
  step = tf.constant(0)
  while step < max_length and not tf.reduce_all(finished):
    tf.autograph.experimental.set_loop_options(
        shape_invariants=[(state, [tf.TensorShape([None, None])] * 2)])
    log_probs, state, _ = model.decode_step(tokens, state, encoded, keys)
    tokens = tf.argmax(log_probs, axis=-1)
    tokens = tf.where(finished, tf.constant(vocabulary.PAD_ID, tf.int64), tokens)
    finished |= tf.equal(tokens, vocabulary.EOS_ID)
    outputs = outputs.write(step, tokens)
    step += 1
  ids = tf.transpose(outputs.stack())                          # [B, L]
  ids = tf.reshape(ids, [batch, -1])
  real = tf.logical_and(tf.not_equal(ids, vocabulary.EOS_ID),
                        tf.not_equal(ids, vocabulary.PAD_ID))
  lengths = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
  return tf.where(real, ids, tf.constant(vocabulary.PAD_ID, tf.int64)), lengths
