"""The attention encoder-decoder as a Keras model."""
from typing import Dict, List, Tuple

import tensorflow as tf

from nmt_tfx.components.data import features
from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import layers
from nmt_tfx.components.model import token_steps
from nmt_tfx.components.model.hparams import HParams


class AttentionSeq2Seq(token_steps.TokenSteps, tf.keras.Model):
  """BiLSTM encoder + attention LSTM decoder.

  `call` is the teacher-forced pass:
  {'source_ids': [B, S], 'target_in': [B, T]} -> logits [B, T, V]; it is
  `output_logits(decoder_outputs(inputs))`, and training projects only the
  real target tokens' outputs (token_steps.py).
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

  def decoder_outputs(self, inputs: Dict[str, tf.Tensor],
                      training=False) -> tf.Tensor:
    """Teacher forcing: -> the decoder's outputs [B, T, D]."""
    encoded = self.encoder(inputs[features.SOURCE_IDS], training=training)
    outputs, _, _ = self.decoder(inputs[features.TARGET_IN], encoded.state,
                                 encoded,
                                 training=training)
    return outputs

  def output_logits(self, outputs: tf.Tensor) -> tf.Tensor:
    """Decoder outputs [..., D] -> logits [..., V]."""
    return self.decoder.project(outputs)

  def call(self, inputs: Dict[str, tf.Tensor], training=False) -> tf.Tensor:
    return self.output_logits(self.decoder_outputs(inputs, training))

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
    outputs, state, weights = self.decoder(token_ids[:, tf.newaxis], state,
                                           encoded, keys=keys, training=False)
    log_probs = decoding.next_token_log_probs(self.output_logits(outputs[:, 0]))
    return log_probs, state, weights[:, 0]

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
  """Token-level mean cross-entropy, ignoring PAD labels.

  labels [...], logits [..., V]: [B, T] and [B, T, V] from `call`, or [N]
  and [N, V] for the real target tokens alone (token_steps.py). With
  label_smoothing e, the target distribution is (1 - e) on the label plus e
  spread uniformly over the vocabulary.
  """
  logits = tf.cast(logits, tf.float32)   # softmax in float32 under mixed precision
  labels = _labels_like(labels, logits)
  mask = tf.cast(tf.not_equal(labels, 0), logits.dtype)
  # log-sum-exp minus the label's logit: TF's fused sparse softmax
  # cross-entropy kernel took 1.6x as long here (forward and backward,
  # 800 x 8,016 logits, 2 CPU cores).
  log_normalizer = tf.reduce_logsumexp(logits, axis=-1)
  losses = log_normalizer - tf.gather(logits, labels,
                                      batch_dims=len(logits.shape) - 1)
  if label_smoothing:
    uniform = log_normalizer - tf.reduce_mean(logits, axis=-1)
    losses = (1.0 - label_smoothing) * losses + label_smoothing * uniform
  return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def masked_accuracy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """Fraction of non-PAD target tokens predicted exactly."""
  labels = _labels_like(labels, logits)
  mask = tf.cast(tf.not_equal(labels, 0), tf.float32)
  hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels),
                 tf.float32)
  return tf.reduce_sum(hits * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def _labels_like(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """int32 labels shaped like logits without the vocabulary axis (Keras
  passes [N] labels as [N, 1] when the logits are [N, V])."""
  return tf.reshape(tf.cast(labels, tf.int32), tf.shape(logits)[:-1])
