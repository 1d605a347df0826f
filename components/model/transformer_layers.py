"""Layers of the Transformer encoder-decoder, one job each.

Transformer (Vaswani et al. 2017) with the layer normalization before each
sublayer (pre-norm, Xiong et al. 2020) or after each residual sum (post-norm,
the original). Shapes: B batch, S source
length, T target length (queries), K keys (S, T, or cache + T), D model size,
H heads, F feed-forward size, V vocabulary.

Attention scores are masked and normalized in float32 whatever the dtype
policy, so masking with a large negative number cannot overflow float16.
"""
import math
from typing import Optional, Sequence, Tuple

import tensorflow as tf

# Keys and values of one attention, each [B, H, K, D / H]: split into heads
# once, when computed, so a decoding step neither splits the cached keys
# again nor the encoder memory's.
KeyValue = Tuple[tf.Tensor, tf.Tensor]

_MASKED = -1e9   # the score of a masked key; float32 only.

# Where the layer normalization goes (HParams.transformer_norm).
NORMS = ('pre', 'post')


def sinusoids(positions: tf.Tensor, dim: int) -> tf.Tensor:
  """Sinusoidal position encodings.

  Args:
    positions: int [T], the positions to encode.
    dim: int, the (even) encoding size.

  Returns:
    float32 [T, dim]: sin(p / 10000^(2i/dim)) in the first half,
    cos(...) in the second.
  """
  inverse_frequency = tf.exp(
      tf.range(0, dim, 2, dtype=tf.float32) * -(math.log(10000.0) / dim))
  angles = (tf.cast(positions, tf.float32)[:, tf.newaxis]
            * inverse_frequency[tf.newaxis, :])
  return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)


def causal_mask(query_length: tf.Tensor, key_length: tf.Tensor) -> tf.Tensor:
  """Which keys each query may see when the queries are the last
  `query_length` of `key_length` positions (a cache precedes them).

  Returns:
    bool [query_length, key_length], True where key position <= query position.
  """
  offset = key_length - query_length
  return (tf.range(key_length)[tf.newaxis, :]
          <= tf.range(query_length)[:, tf.newaxis] + offset)


class PositionalEmbedding(tf.keras.layers.Layer):
  """Token embeddings scaled by sqrt(D), plus sinusoidal position encodings.

  Args:
    vocab_size: int, V.
    dim: int, D (even).
    dropout: float, dropout rate applied to the sum.

  Call arguments:
    token_ids: int [B, T].
    start: int scalar, the position of the first token (the length of the
      decoder cache when decoding step by step). Default 0.
    training: bool.

  Returns:
    [B, T, D] in the compute dtype.

  The embedding matrix ([V, D], `embeddings`) may double as the output
  projection (`TiedOutputProjection`).
  """

  def __init__(self, vocab_size: int, dim: int, dropout: float, **kwargs):
    super().__init__(**kwargs)
    self.dim = dim
    self.embedding = tf.keras.layers.Embedding(
        vocab_size, dim, name='embedding',
        embeddings_initializer=tf.keras.initializers.RandomNormal(
            stddev=dim ** -0.5))
    self.dropout = tf.keras.layers.Dropout(dropout)

  @property
  def embeddings(self) -> tf.Variable:
    return self.embedding.embeddings

  def call(self, token_ids, start=0, training=False):
    x = self.embedding(token_ids)
    x *= tf.cast(math.sqrt(self.dim), x.dtype)
    positions = tf.range(tf.shape(token_ids)[1]) + tf.cast(start, tf.int32)
    x += tf.cast(sinusoids(positions, self.dim), x.dtype)[tf.newaxis]
    return self.dropout(x, training=training)


class MultiHeadAttention(tf.keras.layers.Layer):
  """Scaled dot-product attention with H heads and an optional cache.

  Args:
    num_heads: int, H; must divide `dim`.
    dim: int, D, the size of queries, keys, values and output.
    dropout: float, dropout rate on the attention weights.

  Call arguments:
    query: [B, T, D]; or [B, D], one position (T = 1), as a decoding step
      has: every projection is then one 2-D matmul.
    memory: [B, M, D] or None (or [B, D] with a [B, D] query); projected
      here to keys and values.
    cache: `KeyValue` ([B, H, C, D / H] each) or None: keys and values
      projected before (`key_value`). With `memory` too, the memory's keys
      and values are appended to the cache (incremental self-attention);
      alone, they are the keys and values (cross-attention with precomputed
      memory).
    mask: bool [B or 1, T or 1, K] or None, True where a query may attend a
      key; K = C + M.
    training: bool.

  Returns:
    output [B, T, D] ([B, D] for a [B, D] query; compute dtype), weights
    float32 [B, H, T, K], and the keys and values attended (`KeyValue`,
    [B, H, K, D / H] each: the new cache).
  """

  def __init__(self, num_heads: int, dim: int, dropout: float, **kwargs):
    super().__init__(**kwargs)
    if dim % num_heads:
      raise ValueError(f'{num_heads} heads do not divide the size {dim}')
    self.num_heads = num_heads
    self.head_dim = dim // num_heads
    self.query_dense = tf.keras.layers.Dense(dim, use_bias=False, name='query')
    self.key_dense = tf.keras.layers.Dense(dim, use_bias=False, name='key')
    self.value_dense = tf.keras.layers.Dense(dim, use_bias=False, name='value')
    self.output_dense = tf.keras.layers.Dense(dim, name='output')
    self.dropout = tf.keras.layers.Dropout(dropout)

  def key_value(self, memory: tf.Tensor) -> KeyValue:
    """memory [B, M, D] -> keys, values [B, H, M, D / H]; computed once per
    sentence for cross-attention."""
    return (self._split_heads(self.key_dense(memory)),
            self._split_heads(self.value_dense(memory)))

  def empty_cache(self, batch_size, dtype) -> KeyValue:
    """Keys and values of no position: [B, H, 0, D / H] each."""
    empty = tf.zeros([batch_size, self.num_heads, 0, self.head_dim], dtype)
    return empty, empty

  def _split_heads(self, x):
    """[B, L, D] -> [B, H, L, D / H]; [B, D] -> [B, H, 1, D / H]."""
    if x.shape.rank == 2:   # one position: a reshape, no transpose
      return tf.reshape(x, [-1, self.num_heads, 1, self.head_dim])
    shape = tf.shape(x)
    x = tf.reshape(x, [shape[0], shape[1], self.num_heads, self.head_dim])
    return tf.transpose(x, [0, 2, 1, 3])

  def _merge_heads(self, context, rank: int):
    """[B, H, T, D / H] -> [B, T, D] (rank 3) or, T being 1, [B, D]."""
    if rank == 2:
      return tf.reshape(context, [-1, self.num_heads * self.head_dim])
    context = tf.transpose(context, [0, 2, 1, 3])
    shape = tf.shape(context)
    return tf.reshape(context,
                      [shape[0], shape[1], self.num_heads * self.head_dim])

  def call(self, query, memory=None, cache: Optional[KeyValue] = None,
           mask=None, training=False):
    if memory is None and cache is None:
      raise ValueError('attention needs a memory or a cache')
    if memory is None:
      keys, values = cache
    else:
      keys, values = self.key_value(memory)
      if cache is not None:
        keys = tf.concat([cache[0], keys], axis=2)
        values = tf.concat([cache[1], values], axis=2)
    q = self._split_heads(self.query_dense(query))
    q *= tf.cast(self.head_dim ** -0.5, q.dtype)
    scores = tf.cast(tf.matmul(q, keys, transpose_b=True),
                     tf.float32)                                # [B, H, T, K]
    if mask is not None:
      scores = tf.where(mask[:, tf.newaxis], scores, _MASKED)
    weights = tf.nn.softmax(scores, axis=-1)
    dropped = self.dropout(tf.cast(weights, q.dtype), training=training)
    context = tf.matmul(dropped, values)                        # [B, H, T, D/H]
    context = self._merge_heads(context, query.shape.rank)
    return self.output_dense(context), weights, (keys, values)


class LayerNormalization(tf.keras.layers.LayerNormalization):
  """Keras's layer normalization over the last axis (epsilon 1e-6,
  statistics in float32 under mixed precision), callable once built on
  inputs of any rank: [B, T, D], and a decoding step's [B, D].

  The same variables (gamma, beta [D]) and operations as Keras's own
  unfused path, which fixes the input rank when built.
  """

  def __init__(self, **kwargs):
    super().__init__(axis=-1, epsilon=1e-6, **kwargs)

  def call(self, inputs):
    inputs = tf.cast(inputs, self.compute_dtype)
    x = inputs
    if x.dtype in (tf.float16, tf.bfloat16) and self.dtype == 'float32':
      x = tf.cast(x, tf.float32)
    mean, variance = tf.nn.moments(x, [-1], keepdims=True)
    outputs = tf.nn.batch_normalization(x, mean, variance, offset=self.beta,
                                        scale=self.gamma,
                                        variance_epsilon=self.epsilon)
    return tf.cast(outputs, inputs.dtype)


def _layer_norm(name: str) -> LayerNormalization:
  return LayerNormalization(name=name)


class FeedForward(tf.keras.layers.Layer):
  """Position-wise feed-forward network: Dense(F, relu) then Dense(D).

  Args:
    dim: int, D.
    hidden_dim: int, F.

  Call arguments:
    x: [B, T, D].

  Returns:
    [B, T, D].
  """

  def __init__(self, dim: int, hidden_dim: int, **kwargs):
    super().__init__(**kwargs)
    self.hidden = tf.keras.layers.Dense(hidden_dim, activation='relu',
                                        name='hidden')
    self.out = tf.keras.layers.Dense(dim, name='output')

  def call(self, x):
    return self.out(self.hidden(x))


class EncoderLayer(tf.keras.layers.Layer):
  """Self-attention and feed-forward sublayers, each residual:
  x + dropout(sublayer(layer_norm(x))) (pre-norm), or
  layer_norm(x + dropout(sublayer(x))) (post-norm).

  Args:
    num_heads: int, H.
    dim: int, D.
    ff_dim: int, F.
    dropout: float, on residual updates and attention weights.
    pre_norm: bool, pre-norm (True) or post-norm (False).

  Call arguments:
    x: [B, S, D].
    mask: bool [B, S], False on padding (never attended).
    training: bool.

  Returns:
    [B, S, D].
  """

  def __init__(self, num_heads: int, dim: int, ff_dim: int, dropout: float,
               pre_norm: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.pre_norm = pre_norm
    self.self_attention_norm = _layer_norm('self_attention_norm')
    self.self_attention = MultiHeadAttention(num_heads, dim, dropout,
                                             name='self_attention')
    self.ff_norm = _layer_norm('feed_forward_norm')
    self.ff = FeedForward(dim, ff_dim, name='feed_forward')
    self.dropout = tf.keras.layers.Dropout(dropout)

  def _sublayer_input(self, norm, x):
    """What a sublayer reads: norm(x) pre-norm, x post-norm."""
    return norm(x) if self.pre_norm else x

  def _residual(self, norm, x, update, training):
    """x plus a sublayer's dropped-out update; normalized post-norm."""
    x += self.dropout(update, training=training)
    return x if self.pre_norm else norm(x)

  def _feed_forward(self, x, training):
    update = self.ff(self._sublayer_input(self.ff_norm, x))
    return self._residual(self.ff_norm, x, update, training)

  def call(self, x, mask, training=False):
    h = self._sublayer_input(self.self_attention_norm, x)
    update, _, _ = self.self_attention(h, memory=h, mask=mask[:, tf.newaxis],
                                       training=training)
    x = self._residual(self.self_attention_norm, x, update, training)
    return self._feed_forward(x, training)


class DecoderLayer(EncoderLayer):
  """An `EncoderLayer` whose self-attention is causal (and may continue a
  cache), with a cross-attention sublayer to the encoder memory between it
  and the feed-forward; each residual, normalized as `EncoderLayer`'s.

  Args:
    num_heads, dim, ff_dim, dropout, pre_norm: as `EncoderLayer`.

  Call arguments:
    x: [B, T, D], the last T target positions; or [B, D], one position
      (a decoding step).
    memory_mask: bool [B, S], False on source padding.
    memory: [B, S, D], the encoder output; or else
    memory_key_value: `KeyValue` [B, H, S, D / H] each, its cross-attention
      keys and values, computed before (`cross_attention.key_value`).
    cache: `KeyValue` [B, H, C, D / H] each or None: the self-attention keys
      and values of the C positions before x.
    training: bool.

  Returns:
    output shaped as x, cross-attention weights float32 [B, H, T, S], and
    the self-attention cache extended by x (`KeyValue`, [B, H, C + T, D / H]
    each).
  """

  def __init__(self, num_heads: int, dim: int, ff_dim: int, dropout: float,
               pre_norm: bool = True, **kwargs):
    super().__init__(num_heads, dim, ff_dim, dropout, pre_norm, **kwargs)
    self.cross_attention_norm = _layer_norm('cross_attention_norm')
    self.cross_attention = MultiHeadAttention(num_heads, dim, dropout,
                                              name='cross_attention')

  def call(self, x, memory_mask, memory=None,  # pylint: disable=arguments-differ
           memory_key_value: Optional[KeyValue] = None, cache=None,
           training=False):
    if x.shape.rank == 2 or (cache is not None and x.shape[1] == 1):
      causal = None   # one new position: it may see every cached one
    else:
      length = tf.shape(x)[1]
      cached = 0 if cache is None else tf.shape(cache[0])[2]
      causal = causal_mask(length, cached + length)[tf.newaxis]
    h = self._sublayer_input(self.self_attention_norm, x)
    update, _, cache = self.self_attention(h, memory=h, cache=cache,
                                           mask=causal, training=training)
    x = self._residual(self.self_attention_norm, x, update, training)
    update, weights, _ = self.cross_attention(
        self._sublayer_input(self.cross_attention_norm, x), memory=memory,
        cache=memory_key_value, mask=memory_mask[:, tf.newaxis],
        training=training)
    x = self._residual(self.cross_attention_norm, x, update, training)
    return self._feed_forward(x, training), weights, cache


class Encoder(tf.keras.layers.Layer):
  """A stack of `EncoderLayer`s, and a final layer normalization if they
  are pre-norm (post-norm layers end normalized).

  Args:
    num_layers, num_heads, dim, ff_dim, dropout, pre_norm: as `EncoderLayer`.

  Call arguments:
    x: [B, S, D], the embedded source.
    mask: bool [B, S], False on padding.
    training: bool.

  Returns:
    memory [B, S, D].
  """

  def __init__(self, num_layers: int, num_heads: int, dim: int, ff_dim: int,
               dropout: float, pre_norm: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.stack = [EncoderLayer(num_heads, dim, ff_dim, dropout, pre_norm,
                               name=f'layer_{i}') for i in range(num_layers)]
    self.norm = _layer_norm('norm') if pre_norm else tf.identity

  def call(self, x, mask, training=False):
    for layer in self.stack:
      x = layer(x, mask, training=training)
    return self.norm(x)


class Decoder(tf.keras.layers.Layer):
  """A stack of `DecoderLayer`s, and a final layer normalization if they
  are pre-norm.

  Args:
    num_layers, num_heads, dim, ff_dim, dropout, pre_norm: as `DecoderLayer`.

  Call arguments:
    x: [B, T, D], the embedded target (the last T positions); or [B, D],
      one position.
    memory_mask: bool [B, S], False on source padding.
    memory: [B, S, D], the encoder output; or else
    memory_key_values: one `KeyValue` per layer (`memory_key_values`).
    cache: one `KeyValue` per layer ([B, H, C, D / H] each) or None.
    training: bool.

  Returns:
    hidden shaped as x, the last layer's cross-attention weights float32
    [B, H, T, S], and the extended cache (a tuple of `KeyValue`s).
  """

  def __init__(self, num_layers: int, num_heads: int, dim: int, ff_dim: int,
               dropout: float, pre_norm: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.stack = [DecoderLayer(num_heads, dim, ff_dim, dropout, pre_norm,
                               name=f'layer_{i}') for i in range(num_layers)]
    self.norm = _layer_norm('norm') if pre_norm else tf.identity

  def memory_key_values(self, memory: tf.Tensor) -> Tuple[KeyValue, ...]:
    """memory [B, S, D] -> each layer's cross-attention keys and values.
    Only for a built decoder: the projections' variables are created (and
    named) on the first call with `memory`."""
    return tuple(layer.cross_attention.key_value(memory)
                 for layer in self.stack)

  def empty_cache(self, batch_size, dtype) -> Tuple[KeyValue, ...]:
    """Each layer's self-attention keys and values for no position:
    [B, H, 0, D / H] each."""
    return tuple(layer.self_attention.empty_cache(batch_size, dtype)
                 for layer in self.stack)

  def call(self, x, memory_mask, memory=None,
           memory_key_values: Optional[Sequence[KeyValue]] = None,
           cache: Optional[Sequence[KeyValue]] = None, training=False):
    none = (None,) * len(self.stack)
    new_cache = []
    for layer, memory_key_value, layer_cache in zip(
        self.stack, memory_key_values or none, cache or none):
      x, weights, layer_cache = layer(
          x, memory_mask, memory=memory, memory_key_value=memory_key_value,
          cache=layer_cache, training=training)
      new_cache.append(layer_cache)
    return self.norm(x), weights, tuple(new_cache)


class TiedOutputProjection(tf.keras.layers.Layer):
  """Logits from the target embedding matrix: x E^T + b.

  Args:
    vocab_size: int, V.
    training_matmul_dtype: the dtype of the matmul (and so of both its
      gradients) in training, e.g. 'bfloat16' on hardware that multiplies
      it natively; None: the compute dtype. The product is cast back to the
      compute dtype before the bias, so the logits keep theirs. Outside
      training the matmul runs in the compute dtype.

  Call arguments:
    x: [..., D], e.g. [B, T, D], or [N, D] for N target tokens.
    embeddings: [V, D], the target embedding matrix (owned by the embedding
      layer; only the bias [V] belongs to this layer).
    training: bool.

  Returns:
    logits [..., V] in the compute dtype.
  """

  def __init__(self, vocab_size: int,
               training_matmul_dtype: Optional[str] = None, **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.training_matmul_dtype = training_matmul_dtype

  def build(self, input_shape):
    self.bias = self.add_weight('bias', shape=[self.vocab_size],
                                initializer='zeros')
    super().build(input_shape)

  def call(self, x, embeddings, training=None):
    # One 2-D matmul for any rank: tf.einsum('...d,vd->...v') returns wrong
    # values for 2-D x in TF 2.16 (checked in transformer_test.py).
    # The bias through bias_add: its gradient is then BiasAddGrad, where a
    # broadcast add's is a Sum over the rows of the [N, V] gradient that
    # took two to three times as long (benchmarks/README.md, "Training
    # update cost").
    dtype = (self.training_matmul_dtype if training and
             self.training_matmul_dtype else x.dtype)
    flat = x if x.shape.rank == 2 else tf.reshape(x, [-1, tf.shape(x)[-1]])
    product = tf.matmul(tf.cast(flat, dtype), tf.cast(embeddings, dtype),
                        transpose_b=True)
    logits = tf.nn.bias_add(tf.cast(product, x.dtype),
                            tf.cast(self.bias, x.dtype))
    if x.shape.rank == 2:   # [N, D]: a decoding step, or training's tokens
      return logits
    return tf.reshape(logits, tf.concat([tf.shape(x)[:-1], [-1]], 0))
