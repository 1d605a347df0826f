"""Translator.attention: saved with the model, outside the serving signatures."""
import numpy as np
import pytest
import tensorflow as tf

from nmt_tfx.components.model import export
from nmt_tfx.components.model import model_config
from nmt_tfx.components.model.export import SavedModelTranslator
from nmt_tfx.components.serving import contract
from nmt_tfx.components.text import tokenizer as tokenizer_lib
from nmt_tfx.components.text import vocabulary
from nmt_tfx.components.preprocessing import PreprocessingConfig

from conftest import TINY_PREPROCESSING

# Different lengths (padding on both axes), an unknown word, an empty input.
SENTENCES = ['A man is riding a bike.', 'Two dogs zyzzyvas play in the snow.',
             'A girl.', '']


@pytest.fixture(scope='module')
def translator(tiny_export):
  return SavedModelTranslator(str(tiny_export))


@pytest.fixture(scope='module')
def loaded(translator):
  return translator._loaded  # pylint: disable=protected-access


@pytest.fixture(scope='module')
def translations(translator):
  return translator(SENTENCES)


def _vocab(tiny_export, name):
  path = tiny_export / 'assets' / name
  return set(path.read_text(encoding='utf-8').splitlines())


def _expected_tokens(text, vocab, limit):
  words = tokenizer_lib.WordTokenizer().tokenize(tf.constant([text]))
  words = [w.decode('utf-8') for w in words.to_list()[0]][:limit]
  return [w if w in vocab else '<unk>' for w in words]


def test_serving_signatures_are_unchanged(loaded):
  assert set(loaded.signatures) == {contract.EXAMPLES_SIGNATURE,
                                    contract.TRANSLATE_SIGNATURE,
                                    contract.OPTIONS_SIGNATURE}
  assert 'attention' not in loaded.signatures


def test_attention_after_save_and_load(loaded, translations, tiny_export):
  out = loaded.attention(tf.constant(SENTENCES), tf.constant(translations))
  source = out[export.SOURCE_TOKENS].numpy().astype(str)
  target = out[export.TARGET_TOKENS].numpy().astype(str)
  weights = out[export.ATTENTION_WEIGHTS].numpy()
  batch, t_max, s_max = weights.shape
  assert weights.dtype == np.float32 and batch == len(SENTENCES)
  assert source.shape == (batch, s_max) and target.shape == (batch, t_max)

  source_vocab = _vocab(tiny_export, vocabulary.SOURCE_VOCAB)
  target_vocab = _vocab(tiny_export, vocabulary.TARGET_VOCAB)
  max_len = TINY_PREPROCESSING['max_source_length']
  for i, (text, translation) in enumerate(zip(SENTENCES, translations)):
    src = _expected_tokens(text, source_vocab, max_len)
    tgt = _expected_tokens(translation, target_vocab, max_len - 1) + ['</s>']
    assert list(source[i]) == src + [''] * (s_max - len(src)), i
    assert list(target[i]) == tgt + [''] * (t_max - len(tgt)), i
    if src:  # rows sum to 1 over the real source tokens
      np.testing.assert_allclose(weights[i, :len(tgt), :len(src)].sum(-1),
                                 1.0, rtol=1e-5)
    assert not weights[i, len(tgt):].any() and not weights[i, :, len(src):].any()
  assert '<unk>' in source[1] and set(source[3]) == {''}  # unknown word, empty


def test_saved_model_translator_trims_padding(translator, translations):
  maps = translator.attention(SENTENCES[:3], translations[:3])
  assert len(maps) == 3
  for m in maps:
    assert m.weights.shape == (len(m.target_tokens), len(m.source_tokens))
    assert m.target_tokens[-1] == '</s>' and '' not in m.source_tokens
    np.testing.assert_allclose(m.weights.sum(-1), 1.0, rtol=1e-5)


def test_model_without_attention_gives_none(tmp_path):
  """Models exported before `attention` existed (e.g. the one in production)."""
  module = tf.Module()
  module.translate = tf.function(lambda text: {'translation': text},
                                 input_signature=[tf.TensorSpec([None], tf.string)])
  tf.saved_model.save(module, str(tmp_path), signatures={
      contract.TRANSLATE_SIGNATURE: module.translate})
  assert SavedModelTranslator(str(tmp_path)).attention(['a'], ['b']) is None


@pytest.mark.parametrize('kind', ['word', 'wordpiece'])
def test_labels_of_words_and_subword_pieces(tmp_path, kind):
  """Translator._labels with either codec's id -> piece mapping: reserved
  ids by name, '' on padding."""
  from nmt_tfx.components.text import subword  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'vocab'
  if kind == 'word':   # TFT vocabulary: real tokens only, ids shifted by 4
    path.write_text('Ein\nHund\n')
    to_pieces, first = vocabulary.IdToToken(str(path)), 4
  else:                # WordPiece vocabulary: reserved tokens first
    path.write_text('\n'.join(vocabulary.RESERVED_TOKENS) + '\nEin\n##Hund\n')
    to_pieces, first = subword.WordPieces(str(path)).pieces, 4
  ids = tf.constant([[first, first + 1, vocabulary.UNK_ID, vocabulary.EOS_ID],
                     [vocabulary.BOS_ID, first, 0, 0]], tf.int64)
  labels = export.Translator._labels(  # pylint: disable=protected-access
      ids, tf.constant([4, 2]), to_pieces).numpy().astype(str).tolist()
  second = 'Hund' if kind == 'word' else '##Hund'
  assert labels == [['Ein', second, '<unk>', '</s>'], ['<s>', 'Ein', '', '']]


def _saved_functions(export_dir) -> list:
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(f'{export_dir}/saved_model.pb', 'rb') as f:
    proto.ParseFromString(f.read())
  return list(proto.meta_graphs[0].object_graph_def.concrete_functions)


def test_saves_weights_by_name_and_no_keras_layer_traces(tiny_export):
  loaded = tf.saved_model.load(str(tiny_export))
  variables = export.model_variables(loaded)
  names = [v.name for v in variables]
  assert variables and len(set(names)) == len(names)
  assert any('embedding' in name for name in names), names
  functions = _saved_functions(tiny_export)
  assert any('translate' in f for f in functions), functions
  assert not [f for f in functions
              if 'call_and_return_conditional_losses' in f]


def test_weights_of_a_model_saved_with_keras_layer_traces(tmp_path):
  """Models exported before `model_variables` existed (the one in
  production may be one) keep theirs under the Keras model."""
  module = tf.Module()
  module.model = tf.keras.Sequential([tf.keras.layers.Dense(3)])
  module.model.build([None, 2])
  tf.saved_model.save(module, str(tmp_path))
  assert [f for f in _saved_functions(tmp_path)
          if 'call_and_return_conditional_losses' in f]
  variables = export.model_variables(tf.saved_model.load(str(tmp_path)))
  assert [v.shape.as_list() for v in variables] == [[2, 3], [3]]


def test_served_sources_are_capped_at_max_source_length(loaded):
  huge = ' '.join(['dog'] * 500)
  out = loaded.attention(tf.constant([huge, 'A dog.']), tf.constant(['', '']))
  assert out[export.SOURCE_TOKENS].shape[1] == TINY_PREPROCESSING[
      'max_source_length']
  served = loaded.signatures[contract.TRANSLATE_SIGNATURE](
      text=tf.constant([huge]))
  assert served[contract.LENGTH_OUTPUT].numpy()[0] <= 50


class _RecordingTranslator(SavedModelTranslator):
  """SavedModelTranslator over a stand-in signature that upper-cases."""

  def __init__(self):  # pylint: disable=super-init-not-called
    self.batches = []

    def fn(**inputs):
      batch = [t.decode() for t in inputs[contract.TEXT_INPUT].numpy()]
      self.batches.append(batch)
      return {contract.TRANSLATION_OUTPUT: tf.constant([t.upper()
                                                         for t in batch])}
    self._fn = fn


def test_decodes_in_length_order_and_returns_the_input_order():
  sentences = ['a b c d e', 'a', 'a b c', '', 'a b', 'a b c d e f g']
  translate = _RecordingTranslator()
  assert translate(sentences, batch_size=2) == [s.upper() for s in sentences]
  assert translate.batches == [['', 'a'], ['a b', 'a b c'],
                               ['a b c d e', 'a b c d e f g']]


def test_length_ordered_decoding_equals_unsorted_decoding(translator):
  sentences = SENTENCES + ['Two men and a woman are sitting on a bench.', 'A']
  unsorted = [translator([s])[0] for s in sentences]
  assert translator(sentences, batch_size=3) == unsorted


def test_export_carries_the_configuration_it_was_trained_with(tiny_export):
  config = model_config.load(str(tiny_export))
  assert config.preprocessing == PreprocessingConfig.from_dict(
      TINY_PREPROCESSING)
  assert (config.hparams.embedding_dim, config.hparams.decoder_units,
          config.train_steps) == (16, 32, 20)
  assert config.source_vocab_size > 4 and len(config.training_data) == 64
  assert model_config.ModelConfig.from_dict(config.to_dict()) == config


def test_model_config_of_older_or_newer_exports(tmp_path):
  assert model_config.load(str(tmp_path)) is None   # exported without one
  (tmp_path / 'assets.extra').mkdir()
  (tmp_path / model_config.FILE).write_text('{"format_version": 9}')
  with pytest.raises(ValueError, match=r"model_config\.json: model config "
                     "format 9; this version of the project reads 1"):
    model_config.load(str(tmp_path))


def test_serving_dir_listing_shows_each_versions_configuration(
    tiny_export, tmp_path, capsys):
  import shutil  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.serving import admin  # pylint: disable=g-import-not-at-top
  shutil.copytree(tiny_export, tmp_path / '7')
  shutil.copytree(tiny_export, tmp_path / '3')
  (tmp_path / '3' / model_config.FILE).unlink()   # exported without one
  assert admin.main(['list', '--serving-dir', str(tmp_path)]) == 0
  lines = capsys.readouterr().out.splitlines()
  unrecorded = 'no version_record.json (pushed before versions carried one)'
  assert lines[:2] == [
      f'3  {unrecorded}',
      '   no model_config.json (exported before models carried one)']
  assert lines[2] == f'7  {unrecorded}'
  assert lines[3].startswith('   lstm (emb 16, enc 16, dec 32), word vocab ')
  assert ', 20 steps, training data ' in lines[3]
  assert lines[4] == 'versions: 3, 7 (serving 7)'
