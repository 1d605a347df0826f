"""The seed-style baseline the speed benchmark measures against.

This is the classic TensorFlow NMT tutorial design, kept here on purpose and
used nowhere in the product:
- training calls the decoder one time step at a time in a Python loop under
  `tf.function` (teacher forcing), so the graph is unrolled and retraced for
  every new target length;
- decoding is a Python loop per token, one eager model call per step, with
  the beam bookkeeping done step by step outside any graph.
Layer sizes, vocabulary, batches and loss match the project's model.
"""
import tensorflow as tf

from nmt_tfx.components.data import features
from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.text import vocabulary


class SeedStyleSeq2Seq(tf.keras.Model):
  """BiLSTM encoder, Bahdanau attention queried with the previous decoder
  state, LSTM decoder over [embedding; context], one step per call."""

  def __init__(self, source_vocab_size: int, target_vocab_size: int,
               hparams: HParams):
    super().__init__()
    self.src_embedding = tf.keras.layers.Embedding(source_vocab_size,
                                                   hparams.embedding_dim)
    self.encoder = tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(
        hparams.encoder_units, return_sequences=True, return_state=True))
    self.bridge_h = tf.keras.layers.Dense(hparams.decoder_units, 'tanh')
    self.bridge_c = tf.keras.layers.Dense(hparams.decoder_units)
    self.tgt_embedding = tf.keras.layers.Embedding(target_vocab_size,
                                                   hparams.embedding_dim)
    self.w_query = tf.keras.layers.Dense(hparams.attention_units)
    self.w_keys = tf.keras.layers.Dense(hparams.attention_units)
    self.v = tf.keras.layers.Dense(1)
    self.decoder = tf.keras.layers.LSTM(hparams.decoder_units,
                                        return_sequences=True, return_state=True)
    self.project = tf.keras.layers.Dense(target_vocab_size)

  def encode(self, source_ids):
    mask = tf.not_equal(source_ids, vocabulary.PAD_ID)
    memory, fh, fc, bh, bc = self.encoder(self.src_embedding(source_ids),
                                          mask=mask)
    state = [self.bridge_h(tf.concat([fh, bh], -1)),
             self.bridge_c(tf.concat([fc, bc], -1))]
    return (memory, mask), state

  def step(self, token_ids, state, encoded):
    """token_ids [B] -> logits [B, V], state."""
    memory, mask = encoded
    query = self.w_query(state[0])[:, tf.newaxis]                 # [B, 1, A]
    scores = tf.squeeze(self.v(tf.tanh(query + self.w_keys(memory))), -1)
    scores += (1.0 - tf.cast(mask, scores.dtype)) * -1e9
    weights = tf.nn.softmax(scores, -1)
    context = tf.reduce_sum(weights[:, :, tf.newaxis] * memory, 1)
    x = tf.concat([self.tgt_embedding(token_ids), context], -1)[:, tf.newaxis]
    output, h, c = self.decoder(x, initial_state=state)
    return self.project(output[:, 0]), [h, c]


def make_train_step(model: SeedStyleSeq2Seq, optimizer):
  """The tutorial's train step: a Python loop over target positions, so
  there is one graph per target length, built the first time it is seen."""

  def unrolled_step(inputs, labels):
    with tf.GradientTape() as tape:
      encoded, state = model.encode(inputs[features.SOURCE_IDS])
      logits = []
      for t in range(inputs[features.TARGET_IN].shape[1]):
        step_logits, state = model.step(inputs[features.TARGET_IN][:, t], state,
                                        encoded)
        logits.append(step_logits)
      loss = seq2seq.masked_cross_entropy(labels, tf.stack(logits, 1))
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  graphs = {}

  def train_step(inputs, labels):
    length = int(labels.shape[1])
    if length not in graphs:
      target = tf.TensorSpec([None, length], labels.dtype)
      graphs[length] = tf.function(unrolled_step, input_signature=[
          {features.SOURCE_IDS: tf.TensorSpec([None, None], labels.dtype),
           features.TARGET_IN: target}, target])
    return graphs[length](inputs, labels)
  return train_step


def python_loop_decode(model, source_ids, max_length: int, beam_size: int):
  """Decodes with a Python loop per token, eagerly, on any model with the
  project's `encode`/`decode_step` interface. Returns token id lists."""
  batch = int(source_ids.shape[0])
  encoded, keys = model.encode(source_ids)
  tile = lambda t: tf.repeat(t, beam_size, axis=0)  # pylint: disable=unnecessary-lambda-assignment
  encoded, keys = tf.nest.map_structure(tile, (encoded, keys))
  state = encoded.state
  scores = tf.tile(tf.constant([[0.0] + [-1e9] * (beam_size - 1)]), [batch, 1])
  hypotheses = [[[] for _ in range(beam_size)] for _ in range(batch)]
  done = [[False] * beam_size for _ in range(batch)]
  tokens = tf.fill([batch * beam_size], tf.constant(vocabulary.BOS_ID, tf.int64))
  for _ in range(max_length):
    log_probs, state, _ = model.decode_step(tokens, state, encoded, keys)
    vocab = int(log_probs.shape[-1])
    log_probs = tf.reshape(log_probs, [batch, beam_size, vocab]).numpy()
    for b in range(batch):
      for k in range(beam_size):
        if done[b][k]:   # an ended hypothesis keeps its score, once.
          log_probs[b, k, :] = -1e9
          log_probs[b, k, vocabulary.PAD_ID] = 0.0
    total = scores[:, :, tf.newaxis] + log_probs
    scores, best = tf.math.top_k(tf.reshape(total, [batch, -1]), beam_size)
    parents, chosen = (best // vocab).numpy(), (best % vocab).numpy()
    hypotheses = [[hypotheses[b][p] + ([] if done[b][p] else [int(t)])
                   for p, t in zip(parents[b], chosen[b])] for b in range(batch)]
    done = [[done[b][p] or t == vocabulary.EOS_ID
             for p, t in zip(parents[b], chosen[b])] for b in range(batch)]
    rows = tf.reshape(best // vocab + beam_size * tf.range(batch)[:, None], [-1])
    state = [tf.gather(s, rows) for s in state]
    tokens = tf.constant(chosen.reshape(-1), tf.int64)
    if all(all(d) for d in done):
      break
  return [[t for t in hyps[0] if t != vocabulary.EOS_ID] for hyps in hypotheses]
