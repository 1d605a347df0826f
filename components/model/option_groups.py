"""Decoding options given per row: one beam search per distinct option pair.

TF Serving's batcher concatenates concurrent requests along dimension 0, so
one batch the model sees can hold rows of several requests, each with its own
beam size and length penalty. `beam_search_per_row` groups the rows by their
(beam size, length penalty) pair, decodes each group with
`decoding.beam_search` and puts the results back in row order. A batch whose
rows agree (one request, or requests that chose the same options) is one
group: one beam search, as if the options were scalars.
"""
import tensorflow as tf

from nmt_tfx.components.model import decoding
from nmt_tfx.components.text import vocabulary


def _option_keys(beam_size: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
  """[B] int32, [B] float32 -> [B] int64, equal iff both options are equal
  (the beam size in the high 32 bits, the float's bit pattern in the low)."""
  alpha_bits = tf.cast(tf.bitcast(alpha, tf.uint32), tf.int64)
  return tf.bitwise.bitwise_or(
      tf.bitwise.left_shift(tf.cast(beam_size, tf.int64), 32), alpha_bits)


def beam_search_per_row(model, source_ids: tf.Tensor, max_length: tf.Tensor,
                        beam_size: tf.Tensor, alpha: tf.Tensor
                        ) -> decoding.Decoded:
  """source_ids [B, S], beam_size [B] int32, alpha [B] float32 -> Decoded
  for every row with its own options; ids [B, max_length], PAD-padded.

  `max_length` is shared by all rows, as in `decoding.beam_search`.
  """
  max_length = tf.convert_to_tensor(max_length, tf.int32)
  batch = tf.shape(source_ids)[0]
  distinct, group = tf.unique(_option_keys(beam_size, alpha))
  ids = tf.fill([batch, max_length], tf.constant(vocabulary.PAD_ID, tf.int64))
  lengths = tf.zeros([batch], tf.int32)
  scores = tf.zeros([batch], tf.float32)
  for g in tf.range(tf.size(distinct)):
    rows = tf.where(tf.equal(group, g))[:, 0]
    decoded = decoding.beam_search(
        model, tf.gather(source_ids, rows), max_length,
        beam_size=beam_size[rows[0]], alpha=alpha[rows[0]])
    slots = rows[:, tf.newaxis]
    width = tf.shape(decoded.ids)[1]
    ids = tf.tensor_scatter_nd_update(ids, slots, tf.pad(
        decoded.ids, [[0, 0], [0, max_length - width]],
        constant_values=vocabulary.PAD_ID))
    lengths = tf.tensor_scatter_nd_update(lengths, slots, decoded.lengths)
    scores = tf.tensor_scatter_nd_update(scores, slots, decoded.scores)
  return decoding.Decoded(ids=ids, lengths=lengths, scores=scores)
