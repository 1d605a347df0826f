"""Keras train and test steps that score real target tokens only.

The output layer (decoder outputs [.., D] -> logits [.., V]) and the softmax
over the target vocabulary are most of a training step's arithmetic (the
projection alone is about 70% of the default model's FLOPs). Length buckets
still leave some target padding in a batch (about 14% on Multi30k), and
`Model.train_step` would project it and then mask it out of the loss. These
steps gather the decoder outputs at real target positions first, so the
projection, the softmax, the loss and the metrics see [N, D] -> [N, V] for
the N real tokens of the batch. The loss and the gradients are the same
(the compiled `masked_cross_entropy` averages over real tokens either way).
"""
from typing import Dict, Tuple

import tensorflow as tf

from nmt_tfx.components.text import vocabulary


class TokenSteps:
  """Mixin for a `tf.keras.Model` with

    decoder_outputs(inputs, training) -> [B, T, D]   (teacher forcing)
    output_logits(outputs [..., D], training) -> [..., V]

  whose `call` is their composition. Overrides `train_step` and `test_step`;
  everything else (compile, fit, the distribution strategy, loss scaling
  under mixed_float16) is Keras's.
  """

  def real_token_logits(self, features: Dict[str, tf.Tensor],
                        labels: tf.Tensor, training: bool
                        ) -> Tuple[tf.Tensor, tf.Tensor]:
    """features, labels [B, T] -> (logits [N, V], labels [N]) for the N
    non-PAD labels, in row-major order."""
    if not self.built:
      # Create the variables through `__call__`, as Model.train_step would,
      # so they are named under the model (seq2seq/decoder/...): warm
      # starts match variables by name.
      self(features, training=False)
    outputs = self.decoder_outputs(features, training=training)
    real = tf.not_equal(labels, vocabulary.PAD_ID)
    return (self.output_logits(tf.boolean_mask(outputs, real), training),
            tf.boolean_mask(labels, real))

  def train_step(self, data):
    features, labels = data
    with tf.GradientTape() as tape:
      logits, labels = self.real_token_logits(features, labels, training=True)
      loss = self.compute_loss(features, labels, logits)
    self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
    return self.compute_metrics(features, labels, logits, None)

  def test_step(self, data):
    features, labels = data
    logits, labels = self.real_token_logits(features, labels, training=False)
    self.compute_loss(features, labels, logits)
    return self.compute_metrics(features, labels, logits, None)
