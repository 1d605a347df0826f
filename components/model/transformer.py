"""The Transformer encoder-decoder as a Keras model, with the interface of
`seq2seq.AttentionSeq2Seq`, so decoding, export, warm start and the Trainer
use either model unchanged (choose with HParams.model, see models.py)."""
from typing import Dict, NamedTuple, Tuple

from absl import logging
import tensorflow as tf

from nmt_tfx.components.data import features
from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import native_bfloat16
from nmt_tfx.components.model import token_steps
from nmt_tfx.components.model import transformer_layers as layers
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.text import vocabulary

# One KeyValue per decoder layer.
LayerKeyValues = Tuple[layers.KeyValue, ...]


class TransformerEncoded(NamedTuple):
  """What `encode` returns besides the cross-attention keys; batch first."""
  mask: tf.Tensor          # [B, S] bool, False on source padding
  state: LayerKeyValues    # the decoder's initial cache: [B, H, 0, D/H] each


class TransformerSeq2Seq(token_steps.TokenSteps, tf.keras.Model):
  """Transformer encoder and decoder with sinusoidal positions.

  `call` is the teacher-forced pass:
  {'source_ids': [B, S], 'target_in': [B, T]} -> logits [B, T, V]; it is
  `output_logits(decoder_outputs(inputs))` (see token_steps.py).
  `encode` and `decode_step` are what autoregressive decoding uses: the
  decoder state is a cache of each layer's self-attention keys and values
  ([N, H, t, D / H] each after t tokens), so a step computes only the new
  position.

  Args:
    source_vocab_size, target_vocab_size: int.
    hparams: `HParams`; reads transformer_layers (and decoder_layers),
      transformer_heads, transformer_norm,
      transformer_dim, transformer_ff_dim, tie_target_embeddings,
      share_embeddings (one [V, D] matrix embeds source and target, and with
      tie_target_embeddings projects the outputs too: three-way tying, which
      needs equal vocabularies), dropout and output_matmul_dtype.
  """

  def __init__(self, source_vocab_size: int, target_vocab_size: int,
               hparams: HParams, **kwargs):
    super().__init__(**kwargs)
    self.source_vocab_size = source_vocab_size
    self.target_vocab_size = target_vocab_size
    hp = hparams
    if (hp.transformer_layers < 1 or hp.transformer_decoder_layers < 0
        or hp.transformer_dim % 2):
      raise ValueError('a Transformer needs transformer_layers >= 1, '
                       'transformer_decoder_layers >= 0 and an even '
                       'transformer_dim (sinusoidal positions)')
    if hp.transformer_norm not in layers.NORMS:
      raise ValueError('transformer_norm must be one of '
                       f'{", ".join(layers.NORMS)}; '
                       f'got {hp.transformer_norm!r}')
    sizes = (hp.transformer_heads, hp.transformer_dim, hp.transformer_ff_dim,
             hp.dropout, hp.transformer_norm == 'pre')
    if hp.share_embeddings:
      if source_vocab_size != target_vocab_size:
        raise ValueError(
            'share_embeddings needs one joint vocabulary for both languages '
            f'(source {source_vocab_size} ids, target {target_vocab_size}): '
            "use tokenizer 'wordpiece' with joint_vocabulary")
      self.source_embedding = self.target_embedding = (
          layers.PositionalEmbedding(source_vocab_size, hp.transformer_dim,
                                     hp.dropout, name='shared_embedding'))
    else:
      self.source_embedding = layers.PositionalEmbedding(
          source_vocab_size, hp.transformer_dim, hp.dropout,
          name='source_embedding')
      self.target_embedding = layers.PositionalEmbedding(
          target_vocab_size, hp.transformer_dim, hp.dropout,
          name='target_embedding')
    self.encoder = layers.Encoder(hp.transformer_layers, *sizes,
                                  name='encoder')
    self.decoder = layers.Decoder(hp.decoder_layers, *sizes, name='decoder')
    self.tie_target_embeddings = hp.tie_target_embeddings
    if hp.tie_target_embeddings:
      matmul_dtype = native_bfloat16.resolve(hp.output_matmul_dtype)
      logging.info('Output projection in training: %s matmuls '
                   '(output_matmul_dtype %r)', matmul_dtype,
                   hp.output_matmul_dtype)
      self.project = layers.TiedOutputProjection(target_vocab_size,
                                                 matmul_dtype, name='logits')
    else:
      self.project = tf.keras.layers.Dense(target_vocab_size, name='logits')

  def _encode(self, source_ids, training):
    """[B, S] -> memory [B, S, D], mask [B, S]."""
    mask = tf.not_equal(source_ids, vocabulary.PAD_ID)
    x = self.source_embedding(source_ids, training=training)
    return self.encoder(x, mask, training=training), mask

  def output_logits(self, outputs: tf.Tensor, training=False) -> tf.Tensor:
    """Decoder outputs [..., D] -> logits [..., V]."""
    if self.tie_target_embeddings:
      return self.project(outputs, self.target_embedding.embeddings,
                          training=training)
    return self.project(outputs)

  def _teacher_forced(self, inputs, training):
    """-> decoder outputs [B, T, D], last layer's cross-attention
    [B, H, T, S]."""
    memory, mask = self._encode(inputs[features.SOURCE_IDS], training)
    x = self.target_embedding(inputs[features.TARGET_IN], training=training)
    outputs, weights, _ = self.decoder(x, mask, memory=memory,
                                       training=training)
    return outputs, weights

  def decoder_outputs(self, inputs: Dict[str, tf.Tensor],
                      training=False) -> tf.Tensor:
    """Teacher forcing: -> the last decoder layer's outputs [B, T, D]."""
    return self._teacher_forced(inputs, training)[0]

  def call(self, inputs: Dict[str, tf.Tensor], training=False) -> tf.Tensor:
    return self.output_logits(self.decoder_outputs(inputs, training),
                              training)

  def encode(self, source_ids: tf.Tensor
             ) -> Tuple[TransformerEncoded, LayerKeyValues]:
    """[B, S] -> (mask and empty decoder cache, each decoder layer's
    cross-attention keys and values of the memory, [B, H, S, D / H]
    each).

    For a built model (called once, as training or warm_start._build do).
    """
    memory, mask = self._encode(source_ids, training=False)
    state = self.decoder.empty_cache(tf.shape(source_ids)[0], memory.dtype)
    return (TransformerEncoded(mask, state),
            self.decoder.memory_key_values(memory))

  def decode_step(self, token_ids: tf.Tensor, state: LayerKeyValues,
                  encoded: TransformerEncoded, keys: LayerKeyValues
                  ) -> Tuple[tf.Tensor, LayerKeyValues, tf.Tensor]:
    """token_ids [N] -> log-probs [N, V] float32, the cache extended by one
    position, attention [N, S] (last layer, mean over heads).

    The token's position is the cache length. PAD and BOS are never
    generated: their log-probability is -1e9 below the rest.
    """
    position = tf.shape(state[0][0])[2]
    # [N, D] through the decoder: one 2-D matmul a projection, no reshapes.
    x = self.target_embedding(token_ids[:, tf.newaxis], start=position,
                              training=False)[:, 0]
    hidden, weights, state = self.decoder(
        x, encoded.mask, memory_key_values=keys, cache=state, training=False)
    log_probs = decoding.next_token_log_probs(self.output_logits(hidden))
    return log_probs, state, tf.reduce_mean(weights, axis=1)[:, 0]

  def attention_weights(self, source_ids: tf.Tensor, target_in: tf.Tensor
                        ) -> tf.Tensor:
    """Teacher-forced cross-attention of the last decoder layer, mean over
    heads: [B, S], [B, T] -> weights [B, T, S] float32."""
    _, weights = self._teacher_forced(
        {features.SOURCE_IDS: source_ids, features.TARGET_IN: target_in},
        training=False)
    return tf.reduce_mean(weights, axis=1)
