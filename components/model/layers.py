"""Layers of the attention encoder-decoder, one job each.

Shapes: B batch, S source length, T target length, E embedding size,
U encoder units per direction, D decoder units, A attention units, V vocab.
"""
from typing import List, NamedTuple, Optional, Tuple

import tensorflow as tf

from nmt_tfx.components.model import fused_lstm
from nmt_tfx.components.text import vocabulary


class BahdanauAttention(tf.keras.layers.Layer):
  """Additive attention: score(q, k) = v . tanh(W_q q + W_k k).

  query [B, T, D], memory [B, S, M], memory_mask [B, S]
  -> context [B, T, M], weights [B, T, S].
  """

  def __init__(self, units: int, **kwargs):
    super().__init__(**kwargs)
    self.query_dense = tf.keras.layers.Dense(units, use_bias=False, name='query')
    self.memory_dense = tf.keras.layers.Dense(units, use_bias=False, name='keys')
    self.score_dense = tf.keras.layers.Dense(1, use_bias=False, name='score')

  def keys(self, memory: tf.Tensor) -> tf.Tensor:
    """[B, S, M] -> [B, S, A]; computed once per sentence when decoding."""
    return self.memory_dense(memory)

  def call(self, query, memory, memory_mask, keys=None):
    keys = self.keys(memory) if keys is None else keys
    q = self.query_dense(query)                                 # [B, T, A]
    energy = tf.tanh(q[:, :, tf.newaxis, :] + keys[:, tf.newaxis, :, :])
    scores = tf.squeeze(self.score_dense(energy), -1)           # [B, T, S]
    mask = tf.cast(memory_mask, scores.dtype)[:, tf.newaxis, :]
    scores += (1.0 - mask) * -1e9
    weights = tf.nn.softmax(scores, axis=-1)
    return tf.matmul(weights, memory), weights


class EncoderOutput(NamedTuple):
  memory: tf.Tensor          # [B, S, 2U]
  mask: tf.Tensor            # [B, S] bool, False on padding
  state: List[tf.Tensor]     # decoder initial [h, c], each [B, D]


class BiLSTMEncoder(tf.keras.layers.Layer):
  """source_ids [B, S] -> EncoderOutput (memory, mask, decoder initial state)."""

  def __init__(self, vocab_size: int, embedding_dim: int, units: int,
               decoder_units: int, dropout: float, **kwargs):
    super().__init__(**kwargs)
    self.embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim,
                                               name='embedding')
    self.dropout = tf.keras.layers.Dropout(dropout)
    self.rnn = tf.keras.layers.Bidirectional(
        fused_lstm.FusedLSTM(units, return_sequences=True, return_state=True,
                             name='lstm'),
        name='bilstm')
    self.bridge_h = tf.keras.layers.Dense(decoder_units, activation='tanh',
                                          name='bridge_h')
    self.bridge_c = tf.keras.layers.Dense(decoder_units, name='bridge_c')

  def call(self, source_ids, training=False) -> EncoderOutput:
    mask = tf.not_equal(source_ids, vocabulary.PAD_ID)
    x = self.dropout(self.embedding(source_ids), training=training)
    memory, fw_h, fw_c, bw_h, bw_c = self.rnn(x, mask=mask, training=training)
    state = [self.bridge_h(tf.concat([fw_h, bw_h], -1)),
             self.bridge_c(tf.concat([fw_c, bw_c], -1))]
    return EncoderOutput(memory, mask, state)


class AttentionDecoder(tf.keras.layers.Layer):
  """LSTM decoder with attention over the encoder memory (Luong-style output).

  Runs over a whole target sequence (teacher forcing, T steps at once) or
  one step (T = 1) with the same weights:
  target_ids [B, T], state [h, c] -> outputs [B, T, D], state, weights
  [B, T, S]. The outputs are the attentional hidden states; `project` maps
  them to logits [..., V], so training can project only real target tokens.
  """

  def __init__(self, vocab_size: int, embedding_dim: int, units: int,
               attention_units: int, dropout: float, **kwargs):
    super().__init__(**kwargs)
    self.embedding = tf.keras.layers.Embedding(vocab_size, embedding_dim,
                                               name='embedding')
    self.dropout = tf.keras.layers.Dropout(dropout)
    self.rnn = fused_lstm.FusedLSTM(units, return_sequences=True,
                                    return_state=True, name='lstm')
    self.attention = BahdanauAttention(attention_units, name='attention')
    self.combine = tf.keras.layers.Dense(units, activation='tanh',
                                         name='attentional_hidden')
    self.project = tf.keras.layers.Dense(vocab_size, name='logits')

  def build(self, input_shape):
    # `project` is called from outside `call` (on real tokens only, see
    # token_steps.py); building it here keeps its variables under this
    # layer's name (decoder/logits/...), the names warm starts match.
    with tf.name_scope(self.project.name):
      self.project.build(tf.TensorShape([None, self.combine.units]))
    super().build(input_shape)

  def call(self, target_ids, state, encoded: EncoderOutput,
           keys: Optional[tf.Tensor] = None, training=False
           ) -> Tuple[tf.Tensor, List[tf.Tensor], tf.Tensor]:
    x = self.dropout(self.embedding(target_ids), training=training)
    outputs, h, c = self.rnn(x, initial_state=state, training=training)
    context, weights = self.attention(outputs, encoded.memory, encoded.mask,
                                      keys=keys)
    hidden = self.combine(tf.concat([outputs, context], -1))
    return self.dropout(hidden, training=training), [h, c], weights
