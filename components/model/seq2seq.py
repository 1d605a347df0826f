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

  def output_logits(self, outputs: tf.Tensor, training=False) -> tf.Tensor:
    """Decoder outputs [..., D] -> logits [..., V]."""
    del training   # the same Dense layer in training and decoding
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
  if logits.shape.rank == 2:
    # Training's [N, V] as it is: the same tensor as the accuracy metric's,
    # so the graph optimizer computes their ArgMax once.
    losses = _token_cross_entropy(logits, labels, label_smoothing)
  else:
    vocab_size = tf.shape(logits)[-1]
    losses = _token_cross_entropy(tf.reshape(logits, [-1, vocab_size]),
                                  tf.reshape(labels, [-1]), label_smoothing)
    losses = tf.reshape(losses, tf.shape(labels))
  return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def _token_cross_entropy(logits: tf.Tensor, labels: tf.Tensor,
                         label_smoothing: float) -> tf.Tensor:
  """logits [N, V] float32, labels [N] -> [N] cross-entropies against the
  smoothed targets, with their gradient in closed form.

  The logits are the largest tensor of a training step ([N, V] for the N
  target tokens of a batch), and every pass over them is memory-bound, so
  this makes as few as it can:
  - forward: the row maxima's positions (the accuracy metric takes the
    same ArgMax, which the graph optimizer computes once), one fused
    softmax, and with smoothing the row means. log Z = x_j - log p_j at the
    row's largest logit j, where p_j >= 1/V never underflows;
  - backward: softmax - (1 - e) * one_hot - e / V, from the forward pass's
    softmax: two passes and N updates.
  Autodiff of log-sum-exp minus the label's logit makes about ten passes
  backward, one of them a scatter of the gather's gradient into a dense
  [N, V]; a max, exp and sum of separate ops cost four forward passes where
  the softmax costs one (`benchmarks.train_cost --autodiff-loss` compares
  with the first). TF's fused sparse softmax kernel has no label smoothing,
  and took 1.6x as long as log-sum-exp minus the label's logit.
  """
  e = label_smoothing

  @tf.custom_gradient
  def cross_entropy(logits):
    largest = tf.argmax(logits, axis=-1, output_type=tf.int32)
    probabilities = tf.nn.softmax(logits)
    log_normalizer = (
        tf.gather(logits, largest, batch_dims=1)
        - tf.math.log(tf.gather(probabilities, largest, batch_dims=1)))
    losses = log_normalizer - (1.0 - e) * tf.gather(logits, labels,
                                                    batch_dims=1)
    if e:
      losses -= e * tf.reduce_mean(logits, axis=-1)

    def gradient(upstream):   # [N] -> [N, V]
      d_logits = probabilities * upstream[:, None]
      if e:
        vocab_size = tf.cast(tf.shape(logits)[-1], upstream.dtype)
        d_logits -= (upstream * (e / vocab_size))[:, None]
      label_positions = tf.stack(
          [tf.range(tf.shape(labels)[0], dtype=labels.dtype), labels], axis=1)
      return tf.tensor_scatter_nd_sub(d_logits, label_positions,
                                      (1.0 - e) * upstream)
    return losses, gradient

  return cross_entropy(logits)


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
