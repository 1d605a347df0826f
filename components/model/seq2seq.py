"""The attention encoder-decoder as a Keras model."""
from typing import Dict, List, Tuple

import tensorflow as tf

from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import layers
from nmt_tfx.components.model.hparams import HParams


class AttentionSeq2Seq(tf.keras.Model):
  """BiLSTM encoder + attention LSTM decoder.

  `call` is the teacher-forced training pass:
  {'source_ids': [B, S], 'target_in': [B, T]} -> logits [B, T, V].
  `encode` and `decode_step` are what autoregressive decoding uses;
  `attention_weights` is what the evaluation report draws.
  """

  def __init__(self, source_vocab_size: int, target_vocab_size: int,
               hparams: HParams, **kwargs):
    super().__init__(**kwargs)
    self.source_vocab_size = source_vocab_size
    self.target_vocab_size = target_vocab_size
    self.encoder = layers.BiLSTMEncoder(
        source_vocab_size, hparams.embedding_dim, hparams.encoder_units,
        hparams.decoder_units, hparams.dropout, name='encoder')
    self.decoder = layers.AttentionDecoder(
        target_vocab_size, hparams.embedding_dim, hparams.decoder_units,
        hparams.attention_units, hparams.dropout, name='decoder')

  def call(self, inputs: Dict[str, tf.Tensor], training=False) -> tf.Tensor:
    encoded = self.encoder(inputs['source_ids'], training=training)
    logits, _, _ = self.decoder(inputs['target_in'], encoded.state, encoded,
                                training=training)
    return logits

  def encode(self, source_ids: tf.Tensor
             ) -> Tuple[layers.EncoderOutput, tf.Tensor]:
    """[B, S] -> (encoder output, attention keys [B, S, A])."""
    encoded = self.encoder(source_ids, training=False)
    return encoded, self.decoder.attention.keys(encoded.memory)

  def decode_step(self, token_ids: tf.Tensor, state: List[tf.Tensor],
                  encoded: layers.EncoderOutput, keys: tf.Tensor
                  ) -> Tuple[tf.Tensor, List[tf.Tensor], tf.Tensor]:
    """token_ids [B] -> log-probs [B, V], new state, attention [B, S].

    PAD and BOS are never generated: their log-probability is -inf.
    """
    logits, state, weights = self.decoder(token_ids[:, tf.newaxis], state,
                                          encoded, keys=keys, training=False)
    return decoding.next_token_log_probs(logits[:, 0]), state, weights[:, 0]

  def attention_weights(self, source_ids: tf.Tensor,
                        target_in: tf.Tensor) -> tf.Tensor:
    """Teacher-forced attention: source_ids [B, S], target_in [B, T] ->
    weights [B, T, S] float32; row t is what the decoder looked at when
    predicting the token after target_in[:, t]."""
    encoded = self.encoder(source_ids, training=False)
    _, _, weights = self.decoder(target_in, encoded.state, encoded,
                                 training=False)
    return tf.cast(weights, tf.float32)


def masked_cross_entropy(labels: tf.Tensor, logits: tf.Tensor,
                         label_smoothing: float = 0.0) -> tf.Tensor:
  """Token-level mean cross-entropy, ignoring PAD labels. [B, T], [B, T, V].

  With label_smoothing e, the target distribution is (1 - e) on the label
  plus e spread uniformly over the vocabulary.
  """
  logits = tf.cast(logits, tf.float32)   # softmax in float32 under mixed precision
  mask = tf.cast(tf.not_equal(labels, 0), logits.dtype)
  losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int32), logits=logits)
  if label_smoothing:
    uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
    losses = (1.0 - label_smoothing) * losses + label_smoothing * uniform
  return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def masked_accuracy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """Fraction of non-PAD target tokens predicted exactly."""
  mask = tf.cast(tf.not_equal(labels, 0), tf.float32)
  hits = tf.cast(tf.equal(tf.argmax(logits, -1), tf.cast(labels, tf.int64)),
                 tf.float32)
  return tf.reduce_sum(hits * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
