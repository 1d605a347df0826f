"""The model: shapes, masking, and that it can memorize a handful of pairs."""
import json
import numpy as np
import tensorflow as tf

from conftest import TINY_PREPROCESSING, read_multi30k
from nmt_tfx.components.model import export
from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model.export import SavedModelTranslator
from nmt_tfx.components.model.hparams import HParams

SMALL = HParams(embedding_dim=16, encoder_units=8, decoder_units=12,
                attention_units=10, dropout=0.0)


def _model(hparams=SMALL):
  return seq2seq.AttentionSeq2Seq(30, 40, hparams)


def test_shapes():
  model = _model()
  source = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0]], tf.int64)
  target = tf.constant([[2, 5, 6], [2, 7, 0]], tf.int64)
  assert model({'source_ids': source, 'target_in': target}).shape == (2, 3, 40)
  encoded, keys = model.encode(source)
  assert encoded.memory.shape == (2, 4, 16)
  assert [s.shape for s in encoded.state] == [(2, 12), (2, 12)]
  assert keys.shape == (2, 4, 10)
  log_probs, state, weights = model.decode_step(
      tf.constant([2, 2], tf.int64), encoded.state, encoded, keys)
  assert log_probs.shape == (2, 40) and weights.shape == (2, 4)
  # Attention ignores source padding; PAD/BOS are never generated.
  np.testing.assert_allclose(weights.numpy()[1, 2:], 0.0, atol=1e-6)
  assert np.all(log_probs.numpy()[:, :3][:, [0, 2]] < -1e8)


def test_attention_weights_are_the_decoders_step_by_step():
  """Teacher-forced weights [B, T, S] equal decode_step's at each step; rows
  sum to 1 over the real source tokens and are 0 on source padding."""
  model = _model()
  source = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0]], tf.int64)
  target = tf.constant([[2, 5, 6], [2, 7, 4]], tf.int64)
  weights = model.attention_weights(source, target).numpy()
  assert weights.shape == (2, 3, 4) and weights.dtype == np.float32
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(weights[0, :, 3:], 0.0, atol=1e-6)
  np.testing.assert_allclose(weights[1, :, 2:], 0.0, atol=1e-6)
  encoded, keys = model.encode(source)
  state = encoded.state
  for t in range(3):
    _, state, step = model.decode_step(target[:, t], state, encoded, keys)
    np.testing.assert_allclose(weights[:, t], step.numpy(), atol=1e-5)


def test_source_padding_does_not_change_the_output():
  model = _model()
  target = tf.constant([[2, 5, 6]], tf.int64)
  short = model({'source_ids': tf.constant([[5, 6, 7]], tf.int64),
                 'target_in': target})
  padded = model({'source_ids': tf.constant([[5, 6, 7, 0, 0, 0]], tf.int64),
                  'target_in': target})
  np.testing.assert_allclose(short.numpy(), padded.numpy(), atol=1e-5)


def test_loss_ignores_padding_labels():
  labels = tf.constant([[4, 5, 0, 0]], tf.int64)
  logits = tf.random.normal([1, 4, 8], seed=1)
  changed = tf.concat([logits[:, :2], logits[:, 2:] * 100.0], axis=1)
  loss = seq2seq.masked_cross_entropy(labels, logits)
  assert loss.numpy() > 0
  np.testing.assert_allclose(loss.numpy(),
                             seq2seq.masked_cross_entropy(labels, changed).numpy())
  manual = tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.constant([[4, 5]]), logits=logits[:, :2])
  np.testing.assert_allclose(loss.numpy(), tf.reduce_mean(manual).numpy(),
                             rtol=1e-6)


def test_label_smoothing_mixes_in_the_uniform_distribution():
  logits = tf.random.stateless_normal([2, 3, 7], seed=[1, 2])
  labels = tf.constant([[4, 5, 0], [6, 0, 0]])
  mask = tf.cast(labels > 0, tf.float32)
  nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                       logits=logits)
  uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), -1)
  expected = tf.reduce_sum((0.9 * nll + 0.1 * uniform) * mask) / 3.0
  np.testing.assert_allclose(
      seq2seq.masked_cross_entropy(labels, logits, label_smoothing=0.1),
      expected, rtol=1e-6)


def test_loss_gradient_is_softmax_minus_one_hot_on_real_tokens():
  """The same gradients as TF's fused sparse softmax cross-entropy, for
  [B, T] labels and for the [N] (or Keras's [N, 1]) real-token labels."""
  logits = tf.random.stateless_normal([2, 3, 7], seed=[3, 4])
  labels = tf.constant([[4, 5, 0], [6, 1, 0]])
  mask = tf.cast(labels > 0, tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(logits)
    fused = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits) * mask) / 4.0
    ours = seq2seq.masked_cross_entropy(labels, logits)
    real = seq2seq.masked_cross_entropy(
        tf.constant([[4], [5], [6], [1]]), tf.boolean_mask(logits, mask > 0))
  np.testing.assert_allclose(ours, fused, rtol=1e-6)
  np.testing.assert_allclose(real, fused, rtol=1e-6)
  for loss in (ours, real):
    np.testing.assert_allclose(tape.gradient(loss, logits),
                               tape.gradient(fused, logits), atol=1e-7)


def test_smoothed_loss_gradient_is_softmax_minus_the_smoothed_target():
  """The closed-form gradient equals autodiff of Keras's label-smoothed
  categorical cross-entropy, PAD positions getting none."""
  logits = tf.random.stateless_normal([2, 3, 7], seed=[5, 6]) * 3.0
  labels = tf.constant([[4, 5, 0], [6, 1, 0]])
  mask = tf.cast(labels > 0, tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(logits)
    keras = tf.reduce_sum(tf.keras.losses.categorical_crossentropy(
        tf.one_hot(labels, 7), logits, from_logits=True,
        label_smoothing=0.1) * mask) / 4.0
    ours = seq2seq.masked_cross_entropy(labels, logits, label_smoothing=0.1)
  np.testing.assert_allclose(ours, keras, rtol=1e-6)
  np.testing.assert_allclose(tape.gradient(ours, logits),
                             tape.gradient(keras, logits), atol=1e-7)
  assert not np.any(tape.gradient(ours, logits).numpy()[:, 2])


def test_loss_is_exact_where_the_labels_probability_underflows():
  """A confident wrong prediction: the label's probability, e^-300, is 0 in
  float32, yet its cross-entropy (300) and gradient come out exact."""
  logits = tf.constant([[300.0, 0.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
  labels = tf.constant([1, 3])
  with tf.GradientTape() as tape:
    tape.watch(logits)
    loss = seq2seq.masked_cross_entropy(labels, logits)
  log_z = [300.0, 3.0 + np.log(np.sum(np.exp([-3.0, -2.0, -1.0, 0.0])))]
  expected = np.mean([log_z[0] - 0.0, log_z[1] - 3.0])
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  gradient = tape.gradient(loss, logits).numpy()
  np.testing.assert_allclose(gradient[0], [0.5, -0.5, 0.0, 0.0], atol=1e-7)
  assert np.all(np.isfinite(gradient))


def test_memorizes_a_handful_of_pairs_and_exports(tiny_transform, tmp_path):
  """Train a tiny model to overfit 16 pairs; the exported text signature must
  reproduce the training targets (real decoding, through the real transform)."""
  config = dict(embedding_dim=64, encoder_units=64, decoder_units=128,
                attention_units=64, dropout=0.0, batch_tokens=96,
                learning_rate=0.01, steps_per_epoch=25, shuffle_buffer=16)
  files = str(tiny_transform / 'data*')
  export_dir = str(tmp_path / 'export')
  history = trainer.train_and_export(
      train_files=files, eval_files=files,
      transform_output=str(tiny_transform / 'transform'),
      serving_model_dir=export_dir, log_dir=str(tmp_path / 'logs'),
      train_steps=300, eval_steps=1, custom_config=config)
  assert history.history['loss'][-1] < 0.1 * history.history['loss'][0]
  # Weights are chosen by decoded validation BLEU, recorded in the summary.
  val_bleu = history.history['val_bleu']
  assert len(val_bleu) == 12 and max(val_bleu) > 99 > val_bleu[0]
  with open(tmp_path / 'logs' / trainer.TRAINING_SUMMARY) as f:
    summary = json.load(f)
  assert summary['selection']['val_bleu'] == max(val_bleu)
  assert summary['output_matmul_dtype'] == 'float32'
  # The batch plan derived from the data: buckets, sentences a batch.
  batches = summary['batches']
  assert batches['sampled'] == 16 and batches['over_cap'] == 0.0
  assert batches['batch_tokens'] == 96 and batches['boundaries']
  assert len(batches['batch_sizes']) == len(batches['boundaries']) + 1

  src, tgt = read_multi30k('train', 'en'), read_multi30k('train', 'de')
  pairs = [(s, t) for s, t in zip(src, tgt)
           if len(s.split()) <= 7 and len(t.split()) <= 7][:16]
  translate = SavedModelTranslator(export_dir)
  outputs = translate([s for s, _ in pairs])
  exact = sum(out == ref for out, (_, ref) in zip(outputs, pairs))
  assert exact >= 14, list(zip(outputs, [t for _, t in pairs]))
  # Batching does not change results; empty input gives empty output.
  assert translate([s for s, _ in pairs], batch_size=5) == outputs
  assert translate(['', ' \t ', pairs[0][0]])[:2] == ['', '']
  assert tf.io.gfile.glob(str(tmp_path / 'logs' / '*'))  # TensorBoard logs
  _replay_warmup_requests(export_dir)
  _options_signature(export_dir, [s for s, _ in pairs])
  _survives_hostile_inputs(export_dir, max_tokens=HParams().max_decode_length)


def _survives_hostile_inputs(export_dir, max_tokens):
  """No crash, bounded output; the behaviour README.md documents."""
  fn = tf.saved_model.load(export_dir).signatures['translate']
  cases = {
      'empty': [b''], 'whitespace': [b' \t\n '],
      'very long': [b'a dog runs ' * 1000],            # 11,000 characters
      'unknown words and scripts': ['Ωμέγα 北京 ☃ xyzzyq'.encode()],
      'invalid utf-8': [b'a dog \xff\xfe runs'],
      'batch of 1000, mixed lengths': [b'a', b'', b'A dog runs . ' * 30] * 333 + [b'x'],
  }
  for name, batch in cases.items():
    out = fn(text=tf.constant(batch))
    assert out['translation'].shape == (len(batch),), name
    assert int(tf.reduce_max(out['length'])) <= max_tokens, name
  out = fn(text=tf.constant([b'', b' \t\n ']))
  assert out['translation'].numpy().tolist() == [b'', b'']


def _options_signature(export_dir, sentences):
  """Per-request beam size and length penalty; beam 1 is greedy decoding."""
  loaded = tf.saved_model.load(export_dir)
  default = loaded.signatures['translate'](text=tf.constant(sentences))
  options = loaded.signatures['translate_with_options']

  def run(beam, alpha):   # the same options for every row
    return options(**export.options_inputs(tf.constant(sentences), beam,
                                           alpha))
  same = run(HParams().beam_size, HParams().length_penalty)
  assert same['translation'].numpy().tolist() == default['translation'].numpy().tolist()
  greedy, beam = run(1, 0.0), run(5, 0.0)
  # With no length penalty beam 5 ranks by log-prob, so it never scores lower.
  assert np.all(beam['score'].numpy() >= greedy['score'].numpy() - 1e-4)
  assert np.all(greedy['score'].numpy() < 0)
  huge = run(10 ** 6, 0.6)  # clamped to MAX_BEAM_SIZE, not an OOM
  assert huge['translation'].shape == (len(sentences),)


def _replay_warmup_requests(export_dir):
  """The warm-up file holds PredictionLogs that the signatures accept."""
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  loaded = tf.saved_model.load(export_dir)
  path = f'{export_dir}/{export.WARMUP_FILE}'
  logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(path)]
  assert [log.predict_log.request.model_spec.signature_name
          for log in logs] == ['translate', 'serving_default']
  results = []
  for log in logs:
    request = log.predict_log.request
    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    out = loaded.signatures[request.model_spec.signature_name](**inputs)
    results.append(out['translation'].numpy().tolist())
  assert results[0] == results[1] and len(results[0]) == 3
  assert results[0][2] == b''
