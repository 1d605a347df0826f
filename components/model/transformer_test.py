"""The Transformer: incremental decoding equals teacher forcing, causality,
masking, beam search, learning, mixed precision, export and warm start."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from conftest import TINY_PREPROCESSING
from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import export
from nmt_tfx.components.model import inputs
from nmt_tfx.components.model import models
from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model import transformer
from nmt_tfx.components.model import transformer_layers as layers
from nmt_tfx.components.model import warm_start
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.components.text import codecs
from nmt_tfx.components.text import vocabulary

BOS, EOS = vocabulary.BOS_ID, vocabulary.EOS_ID
SMALL = HParams(model='transformer', transformer_layers=2, transformer_heads=2,
                transformer_dim=16, transformer_ff_dim=32, dropout=0.0)
# Source padding differs between rows; row 1's target is padded too.
SOURCE = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 12, 13]], tf.int64)
TARGET = tf.constant([[2, 5, 6, 7, 8], [2, 7, 8, 0, 0], [2, 9, 9, 9, 9]],
                     tf.int64)


def _model(hparams=SMALL, seed=3):
  tf.keras.utils.set_random_seed(seed)
  model = transformer.TransformerSeq2Seq(30, 40, hparams)
  model(_inputs())
  return model


def _inputs(source=SOURCE, target=TARGET):
  return {'source_ids': source, 'target_in': target}


def _logits(model, source=SOURCE, target=TARGET):
  return model(_inputs(source, target)).numpy()


def _generated(log_probs):
  """The columns decoding can pick: all but PAD and BOS."""
  return np.asarray(log_probs)[..., BOS + 1:]


@pytest.mark.parametrize('tie,encoder_layers,decoder_layers,norm',
                         [(True, 2, 0, 'pre'), (False, 2, 0, 'pre'),
                          (True, 3, 1, 'pre'), (True, 2, 0, 'post')])
def test_decode_steps_equal_teacher_forcing(tie, encoder_layers,
                                            decoder_layers, norm):
  """The self-attention cache is right: one token at a time gives what the
  whole target at once gives, at every position, with padded sources; with
  the decoder as deep as the encoder, and shallower; pre-norm and
  post-norm."""
  hparams = dataclasses.replace(SMALL, tie_target_embeddings=tie,
                                transformer_layers=encoder_layers,
                                transformer_decoder_layers=decoder_layers,
                                transformer_norm=norm)
  model = _model(hparams)
  assert len(model.encoder.stack) == encoder_layers
  assert len(model.decoder.stack) == (decoder_layers or encoder_layers)
  logits = tf.constant(_logits(model))
  batch, length, vocab = logits.shape
  expected = tf.reshape(decoding.next_token_log_probs(
      tf.reshape(logits, [-1, vocab])), [batch, length, vocab]).numpy()
  expected_attention = model.attention_weights(SOURCE, TARGET).numpy()
  encoded, keys = model.encode(SOURCE)
  state = encoded.state
  for t in range(length):
    log_probs, state, attention = model.decode_step(TARGET[:, t], state,
                                                    encoded, keys)
    assert log_probs.dtype == tf.float32 and log_probs.shape == (batch, vocab)
    # Heads split once: [N, H, t + 1, D / H] for keys and values.
    assert [k.shape for k, _ in state] == [
        (batch, SMALL.transformer_heads, t + 1,
         SMALL.transformer_dim // SMALL.transformer_heads)
    ] * hparams.decoder_layers
    np.testing.assert_allclose(_generated(log_probs),
                               _generated(expected[:, t]), atol=1e-4)
    np.testing.assert_allclose(attention, expected_attention[:, t], atol=1e-5)
    assert np.all(log_probs.numpy()[:, [vocabulary.PAD_ID, BOS]] < -1e8)
  # Cross-attention is a distribution over the real source tokens.
  np.testing.assert_allclose(expected_attention.sum(-1), 1.0, atol=1e-5)
  np.testing.assert_allclose(expected_attention[1, :, 2:], 0.0, atol=1e-7)


def test_post_norm_layers_end_normalized_and_the_stacks_add_no_norm():
  post = _model(dataclasses.replace(SMALL, transformer_norm='post'))
  pre = _model(SMALL)
  memory, _ = post._encode(SOURCE, training=False)  # pylint: disable=protected-access
  # Every position leaves the last layer normalized (gamma 1, beta 0 at
  # initialization): mean 0 and variance 1 over D.
  np.testing.assert_allclose(tf.reduce_mean(memory, -1), 0.0, atol=1e-5)
  np.testing.assert_allclose(tf.math.reduce_variance(memory, -1), 1.0,
                             atol=1e-3)
  # The same sublayers and norms, but no final norm on either stack.
  norms = lambda model: sorted(  # pylint: disable=unnecessary-lambda-assignment
      v.name for v in model.trainable_variables if 'norm' in v.name)
  assert len(norms(pre)) - len(norms(post)) == 4  # gamma and beta, twice
  assert any('coder/norm/' in n for n in norms(pre))
  assert not any('coder/norm/' in n for n in norms(post))
  np.testing.assert_raises(AssertionError, np.testing.assert_allclose,
                           _logits(pre), _logits(post))


def test_layer_normalization_is_keras_s_and_takes_any_rank_once_built():
  x = tf.random.normal([3, 4, 8], seed=1)
  ours = layers.LayerNormalization()
  keras = tf.keras.layers.LayerNormalization(epsilon=1e-6)
  np.testing.assert_array_equal(ours(x), keras(x))
  np.testing.assert_allclose(ours(x[:, 0]), keras(x)[:, 0], atol=1e-6)
  assert [w.name.split('/')[-1] for w in ours.weights] == ['gamma:0', 'beta:0']


def test_a_decoding_step_runs_the_decoder_layer_on_one_position_in_2d():
  """[B, D] in (what decode_step passes), [B, D] out: the same values and
  cache as the [B, 1, D] form of the same position."""
  tf.keras.utils.set_random_seed(2)
  layer = layers.DecoderLayer(num_heads=2, dim=8, ff_dim=16, dropout=0.0)
  memory = tf.random.normal([3, 5, 8], seed=1)
  memory_mask = tf.sequence_mask([5, 2, 4], 5)
  history = tf.random.normal([3, 2, 8], seed=2)
  _, _, cache = layer(history, memory_mask, memory=memory)
  x = tf.random.normal([3, 8], seed=3)
  key_value = layer.cross_attention.key_value(memory)
  flat, flat_weights, flat_cache = layer(
      x, memory_mask, memory_key_value=key_value, cache=cache)
  full, weights, full_cache = layer(
      x[:, tf.newaxis], memory_mask, memory_key_value=key_value, cache=cache)
  assert flat.shape == (3, 8)
  np.testing.assert_allclose(flat, full[:, 0], atol=1e-6)
  np.testing.assert_allclose(flat_weights, weights, atol=1e-6)
  for a, b in zip(flat_cache, full_cache):
    assert a.shape == (3, 2, 3, 4)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_shared_embeddings_are_one_matrix_for_source_target_and_output():
  tf.keras.utils.set_random_seed(3)
  hparams = dataclasses.replace(SMALL, share_embeddings=True)
  model = transformer.TransformerSeq2Seq(40, 40, hparams)
  model(_inputs())
  separate = _model(dataclasses.replace(SMALL), seed=3)
  embeddings = [v for v in model.trainable_variables if 'embedding' in v.name]
  assert len(embeddings) == 1 and embeddings[0].shape == (40, 16)
  assert (sum(np.prod(v.shape) for v in separate.trainable_variables)
          - sum(np.prod(v.shape) for v in model.trainable_variables)) == 30 * 16
  # The shared matrix is what embeds the source: changing it changes the
  # logits through the encoder as well as the decoder and the projection.
  token = int(SOURCE[2, 0])   # in row 2's source only
  before = _logits(model)
  # Not a constant shift: the final layer norm's outputs sum to 0.
  embeddings[0][token].assign(embeddings[0][token] + np.linspace(-1, 1, 16))
  after = _logits(model)
  others = np.arange(40) != token
  assert not np.allclose(before[2][:, others], after[2][:, others])
  # Rows 0 and 1 see the change only in the token's own logit (the output
  # projection).
  np.testing.assert_allclose(before[:2][..., others], after[:2][..., others],
                             atol=1e-5)
  assert not np.allclose(before[:2][..., token], after[:2][..., token])


def test_shared_embeddings_refuse_two_vocabularies_and_the_lstm():
  with pytest.raises(ValueError, match='joint vocabulary'):
    transformer.TransformerSeq2Seq(
        30, 40, dataclasses.replace(SMALL, share_embeddings=True))
  with pytest.raises(ValueError, match='Transformer option'):
    models.create(30, 30, HParams(share_embeddings=True))


def test_causal_a_later_target_token_does_not_change_earlier_logits():
  model = _model()
  changed = tf.tensor_scatter_nd_update(TARGET, [[0, 3], [2, 3]], [20, 21])
  before, after = _logits(model), _logits(model, target=changed)
  np.testing.assert_allclose(before[:, :3], after[:, :3], atol=1e-5)
  assert np.abs(before[[0, 2], 3:] - after[[0, 2], 3:]).max() > 1e-3
  np.testing.assert_allclose(before[1], after[1], atol=1e-5)  # unchanged row


def test_source_padding_does_not_change_the_output():
  model = _model()
  target = tf.constant([[2, 5, 6]], tf.int64)
  short = tf.constant([[5, 6, 7]], tf.int64)
  padded = tf.constant([[5, 6, 7, 0, 0, 0]], tf.int64)
  np.testing.assert_allclose(_logits(model, short, target),
                             _logits(model, padded, target), atol=1e-5)
  weights = model.attention_weights(padded, target).numpy()
  np.testing.assert_allclose(weights[..., :3],
                             model.attention_weights(short, target).numpy(),
                             atol=1e-6)
  np.testing.assert_allclose(weights[..., 3:], 0.0, atol=1e-7)


def _sharp_model():
  """Untied output layer, sharpened so hypotheses differ, and EOS favoured
  so that some end early and some reach the length limit."""
  model = _model(dataclasses.replace(SMALL, tie_target_embeddings=False),
                 seed=5)
  model.project.kernel.assign(model.project.kernel * 3.0)
  model.project.bias.assign(tf.one_hot(EOS, 40) * 3.0)
  return model


def _hypotheses(out):
  return [row[:n].tolist() for row, n in zip(out.ids.numpy(),
                                             out.lengths.numpy())]


def _greedy_with_call(model, source, max_length):
  """Reference: a Python loop re-running the teacher-forced `call` on the
  whole prefix for every token, one sentence at a time."""
  results = []
  for row in source.numpy():
    prefix = [BOS]
    for _ in range(max_length):
      logits = model({'source_ids': tf.constant([row]),
                      'target_in': tf.constant([prefix], tf.int64)})
      token = int(tf.argmax(decoding.next_token_log_probs(logits[:, -1])[0]))
      if token == EOS:
        break
      prefix.append(token)
    results.append(prefix[1:])
  return results


def test_beam_one_is_greedy_decoding_with_call():
  model = _sharp_model()
  out = decoding.beam_search(model, SOURCE, tf.constant(8), beam_size=1)
  expected = _greedy_with_call(model, SOURCE, 8)
  assert _hypotheses(out) == expected
  assert any(expected) and any(len(h) < 8 for h in expected), expected


def test_batching_does_not_change_beam_results():
  model = _sharp_model()
  batched = decoding.beam_search(model, SOURCE, tf.constant(8), 4, 0.6)
  for i in range(3):
    alone = decoding.beam_search(model, SOURCE[i:i + 1], tf.constant(8), 4,
                                 0.6)
    assert _hypotheses(batched)[i] == _hypotheses(alone)[0]
    np.testing.assert_allclose(batched.scores[i], alone.scores[0], rtol=1e-4)


def _train_step(model):
  """Keras's own train step (the Trainer's loss, optimizer and clipping),
  traced without AutoGraph: converting Keras's code costs ~40 s on 2 cores,
  and the model has no data-dependent Python control flow."""
  step = tf.function(lambda x, y: model.train_step((x, y)), autograph=False)

  def run(features, labels) -> float:
    model.reset_metrics()   # the loss of this batch, not a running mean
    return float(step(features, labels)['loss'])
  return run


def _reverse_batches(batch_size, seed):
  """Toy task: the target is the source reversed (symbols 4..13, 2-6 long)."""
  rng = np.random.RandomState(seed)
  while True:
    source = np.zeros([batch_size, 6], np.int64)
    target_in = np.zeros([batch_size, 7], np.int64)
    target_out = np.zeros([batch_size, 7], np.int64)
    for row in range(batch_size):
      symbols = rng.randint(4, 14, rng.randint(2, 7))
      n = len(symbols)
      source[row, :n] = symbols
      target_in[row, :n + 1] = [BOS, *symbols[::-1]]
      target_out[row, :n + 1] = [*symbols[::-1], EOS]
    yield {'source_ids': source, 'target_in': target_in}, target_out


def test_a_tiny_transformer_learns_to_reverse_sequences():
  tf.keras.utils.set_random_seed(1)
  hparams = HParams(model='transformer', transformer_layers=2,
                    transformer_heads=4, transformer_dim=32,
                    transformer_ff_dim=64, dropout=0.0, learning_rate=3e-3)
  model = trainer.build_model(14, 14, hparams)
  step, batches = _train_step(model), _reverse_batches(64, seed=1)
  first = step(*next(batches))
  for _ in range(250):
    last = step(*next(batches))
  assert last < 0.1 * first, (first, last)
  features, labels = next(_reverse_batches(100, seed=2))
  out = decoding.beam_search(model, tf.constant(features['source_ids']),
                             tf.constant(8), beam_size=1)
  expected = [row[row > vocabulary.EOS_ID].tolist() for row in labels]
  exact = np.mean([h == e for h, e in zip(_hypotheses(out), expected)])
  assert exact >= 0.9, exact


def test_mixed_bfloat16_trains_and_decodes_in_float32_scores():
  model = trainer.build_model(
      30, 40, dataclasses.replace(SMALL, precision='mixed_bfloat16'))
  assert model.decoder.compute_dtype == 'bfloat16'
  labels = tf.concat([TARGET[:, 1:], tf.fill([3, 1], tf.constant(EOS, tf.int64))],
                     1) * tf.cast(TARGET > 0, tf.int64)
  losses = []
  for _ in range(3):   # eagerly: tracing would cost more than the steps
    model.reset_metrics()
    losses.append(float(model.train_step((_inputs(), labels))['loss']))
  assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
  assert model.target_embedding.embeddings.dtype == tf.float32  # master weights
  encoded, keys = model.encode(SOURCE)
  log_probs, state, _ = model.decode_step(tf.fill([3], tf.constant(BOS, tf.int64)),
                                          encoded.state, encoded, keys)
  assert log_probs.dtype == tf.float32 and state[0][0].dtype == tf.bfloat16
  np.testing.assert_allclose(tf.reduce_logsumexp(log_probs, -1).numpy(), 0.0,
                             atol=1e-3)


def test_mixed_float16_masks_padding_without_overflow():
  model = trainer.build_model(
      30, 40, dataclasses.replace(SMALL, precision='mixed_float16'))
  logits = _logits(model)
  assert np.isfinite(logits).all()
  weights = model.attention_weights(SOURCE, TARGET).numpy()
  np.testing.assert_allclose(weights[1, :, 2:], 0.0, atol=1e-6)


def test_factory_chooses_by_name_and_names_the_choices():
  assert isinstance(models.create(30, 40, HParams()), seq2seq.AttentionSeq2Seq)
  model = models.create(30, 40, SMALL)
  assert isinstance(model, transformer.TransformerSeq2Seq)
  with pytest.raises(ValueError, match="'lstm', 'transformer'"):
    models.create(30, 40, HParams(model='gru'))
  with pytest.raises(ValueError, match='heads'):
    models.create(30, 40, dataclasses.replace(SMALL, transformer_heads=3))
  # Unique variable names: warm start matches variables by name.
  model(_inputs())
  names = [v.name for v in model.variables]
  assert len(set(names)) == len(names)
  assert sum('cross_attention/key/' in n for n in names) == 2


def test_exports_reloads_and_warm_starts(tiny_transform, tmp_path):
  """The Translator exports a Transformer; the reloaded SavedModel translates
  as the model in memory does; its variables restore into a new model."""
  output = tft.TFTransformOutput(str(tiny_transform / 'transform'))
  preprocessing = PreprocessingConfig.from_dict(TINY_PREPROCESSING)
  codec = codecs.load(output, preprocessing)
  sizes = codec.source_vocab_size, codec.target_vocab_size
  hparams = dataclasses.replace(SMALL, transformer_layers=1, beam_size=2)
  files = str(tiny_transform / 'data*')
  spec = inputs.make_dataset(
      files, output, hparams, preprocessing,
      inputs.plan_batches(files, hparams, preprocessing),
      training=False).element_spec[0]

  def new_model(seed):
    tf.keras.utils.set_random_seed(seed)
    model = trainer.build_model(*sizes, hparams)
    warm_start._build(model, spec)  # pylint: disable=protected-access
    return model

  model = new_model(seed=1)
  model.project.bias.assign(   # never EOS: non-empty translations
      tf.tensor_scatter_nd_update(model.project.bias, [[EOS]], [-30.0]))
  sentences = ['A man is riding a bike.', '', 'Two dogs play.']
  translator = export.Translator(model, output, hparams, codec, preprocessing)
  # In memory, before saving, at the exported beam size.
  expected = [t.decode() for t in translator.translate(
      tf.constant(sentences))['translation'].numpy()]
  assert expected[1] == '' and expected[0] and expected[2], expected

  export_dir = str(tmp_path / 'export')
  export.export(translator, export_dir)
  reloaded = export.SavedModelTranslator(export_dir)
  assert reloaded(sentences) == expected
  # The evaluation report's attention (not a signature) works for it too.
  for item in reloaded.attention(sentences[::2], expected[::2]):
    assert item.weights.shape == (len(item.target_tokens),
                                  len(item.source_tokens))
    np.testing.assert_allclose(item.weights.sum(-1), 1.0, atol=1e-5)

  restored = new_model(seed=2)
  assert not all((a.numpy() == b.numpy()).all() for a, b in
                 zip(restored.variables, model.variables))
  outcome = warm_start.restore_variables(restored, export_dir)
  assert outcome.restored, outcome.reason
  for a, b in zip(restored.variables, model.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)


def test_tied_projection_is_x_times_embeddings_transposed_at_any_rank():
  """[B, T, D] and [N, D] inputs (training projects real tokens only);
  tf.einsum('...d,vd->...v') gets the 2-D case wrong at these shapes."""
  projection = layers.TiedOutputProjection(14)
  embeddings = tf.random.stateless_normal([14, 32], seed=[1, 1])
  x = tf.random.stateless_normal([64, 7, 32], seed=[2, 2])
  projection.build(x.shape)
  projection.bias.assign(tf.range(14.0))
  expected = np.einsum('btd,vd->btv', x, embeddings) + np.arange(14.0)
  np.testing.assert_allclose(projection(x, embeddings), expected, rtol=1e-5,
                             atol=1e-4)
  np.testing.assert_allclose(projection(tf.reshape(x, [-1, 32]), embeddings),
                             expected.reshape([-1, 14]), rtol=1e-5, atol=1e-4)


def test_tied_projection_multiplies_in_its_training_dtype_in_training_only():
  projection = layers.TiedOutputProjection(14, 'bfloat16')
  embeddings = tf.random.stateless_normal([14, 32], seed=[1, 1])
  x = tf.random.stateless_normal([64, 32], seed=[2, 2])
  projection.build(x.shape)
  projection.bias.assign(tf.range(14.0))
  bias = np.arange(14.0)
  exact = x.numpy() @ embeddings.numpy().T + bias
  np.testing.assert_allclose(projection(x, embeddings, training=False), exact,
                             rtol=1e-5, atol=1e-4)
  with tf.GradientTape() as tape:
    tape.watch([x, embeddings])
    logits = projection(x, embeddings, training=True)
  assert logits.dtype == tf.float32
  rounded = [tf.cast(tf.cast(t, tf.bfloat16), tf.float32).numpy()
             for t in (x, embeddings)]
  # bfloat16 inputs, a bfloat16 product (8-bit mantissa), a float32 bias.
  product = rounded[0] @ rounded[1].T
  assert (np.abs(logits - bias - product)
          <= 2.0 ** -8 * np.abs(product) + 1e-3).all()
  assert np.abs(logits - exact).max() > 1e-4   # not the float32 product
  grads = tape.gradient(logits, [x, embeddings])
  assert [g.dtype for g in grads] == [tf.float32, tf.float32]


def test_output_matmul_dtype_changes_training_logits_but_not_inference():
  features = _inputs()
  labels = tf.concat([TARGET[:, 1:], tf.fill([3, 1], tf.constant(EOS, tf.int64))],
                     1) * tf.cast(TARGET > 0, tf.int64)
  exact, bf16 = _model(), _model(dataclasses.replace(
      SMALL, output_matmul_dtype='bfloat16'))
  np.testing.assert_array_equal(_logits(exact), _logits(bf16))
  encoded, keys = bf16.encode(SOURCE)
  bos = tf.fill([3], tf.constant(BOS, tf.int64))
  expected_encoded, expected_keys = exact.encode(SOURCE)
  np.testing.assert_array_equal(
      bf16.decode_step(bos, encoded.state, encoded, keys)[0],
      exact.decode_step(bos, expected_encoded.state, expected_encoded,
                        expected_keys)[0])
  trained = [m.real_token_logits(features, labels, training=True)[0].numpy()
             for m in (exact, bf16)]
  np.testing.assert_allclose(trained[1], trained[0], atol=0.05)
  assert not np.array_equal(trained[1], trained[0])
