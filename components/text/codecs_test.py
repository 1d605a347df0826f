"""WordPiece subwords learned by a real Transform run, then inverted by the
codec the Trainer exports: the two sides must agree."""
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from conftest import read_multi30k
from conftest import run_transform
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.components.text import codecs
from nmt_tfx.components.text import subword
from nmt_tfx.components.text import tokenizer as tokenizer_lib
from nmt_tfx.components.text import vocabulary

N = 1500
CONFIG = {'tokenizer': 'wordpiece', 'subword_vocab_size': 1000,
          'max_source_length': 64, 'max_target_length': 64}


def _pairs(n=N):
  return list(zip(read_multi30k('train', 'en', n), read_multi30k('train', 'de', n)))


def _lines(path):
  with tf.io.gfile.GFile(path) as f:
    return f.read().splitlines()


@pytest.fixture(scope='module')
def joint_dir(tmp_path_factory):
  return run_transform(_pairs(), tmp_path_factory.mktemp('wp'), CONFIG)


@pytest.fixture(scope='module')
def joint(joint_dir):
  return tft.TFTransformOutput(str(joint_dir / 'transform'))


def test_joint_vocabulary_is_an_asset_with_reserved_ids_first(joint):
  pieces = _lines(joint.vocabulary_file_by_name(codecs.JOINT_WORDPIECES))
  assert 900 <= len(pieces) <= 1000
  assert pieces[:vocabulary.NUM_RESERVED] == list(vocabulary.RESERVED_TOKENS)
  assert len(set(pieces)) == len(pieces)
  # Joint: frequent words of both languages, and continuation pieces.
  assert {'the', 'der', 'a', 'ein'} <= set(pieces)
  assert any(p.startswith(subword.JOINER) for p in pieces)


def test_serving_graph_splits_rare_words_into_known_pieces(joint):
  pieces = _lines(joint.vocabulary_file_by_name(codecs.JOINT_WORDPIECES))
  served = joint.transform_features_layer()(
      {'source': tf.constant([['Two dogs play with a red ball in the snowdrifts.']])})
  length = int(served['source_length'].numpy()[0])
  ids = served['source_ids'].to_list()[0]
  assert len(ids) == length   # unpadded
  tokens = [pieces[i] for i in ids[:length]]
  assert tokens[:7] == ['Two', 'dogs', 'play', 'with', 'a', 'red', 'ball']
  assert vocabulary.UNK_ID not in ids[:length]
  # 'snowdrifts' is not in the vocabulary: it is spelled with pieces.
  assert 'snowdrifts' not in pieces
  rest = ''.join(t.replace(subword.JOINER, '') for t in tokens[9:-1])
  assert rest == 'snowdrifts' and tokens[-1] == '.'


def test_codec_round_trips_german_validation_text(joint):
  codec = codecs.load(joint, PreprocessingConfig.from_dict(CONFIG))
  size = len(_lines(joint.vocabulary_file_by_name(codecs.JOINT_WORDPIECES)))
  assert codec.source_vocab_size == codec.target_vocab_size == size
  lines = read_multi30k('val', 'de', 300)
  out = joint.transform_features_layer()(
      {'source': tf.constant([[l] for l in lines]),
       'target': tf.constant([[l] for l in lines])})
  ids = out['target_out'][:, :-1]   # without EOS
  assert int(tf.reduce_sum(tf.cast(ids.flat_values == vocabulary.UNK_ID,
                                   tf.int32))) <= 3
  restored = [t.decode() for t in codec.decode(ids).numpy()]
  normalized = [t.decode() for t in tokenizer_lib.WordTokenizer().normalize(
      tf.constant(lines)).numpy()]
  same = sum(r == n for r, n in zip(restored, normalized))
  assert same >= 0.98 * len(lines), [
      (r, n) for r, n in zip(restored, normalized) if r != n][:3]
  pieces = [p.decode() for p in codec.target_pieces(ids[:1]).to_list()[0]]
  assert ' '.join(pieces).replace(' ' + subword.JOINER, '') == ' '.join(
      tokenizer_lib.WordTokenizer().tokenize(tf.constant(lines[:1]))
      .to_list()[0][i].decode() for i in range(len(
          tokenizer_lib.WordTokenizer().tokenize(tf.constant(lines[:1]))
          .to_list()[0])))


def test_a_translation_that_starts_with_a_continuation_has_no_joiner(joint):
  """An undertrained model can emit a continuation piece first: the served
  text must not carry the joiner."""
  codec = codecs.load(joint, PreprocessingConfig.from_dict(CONFIG))
  pieces = _lines(joint.vocabulary_file_by_name(codecs.JOINT_WORDPIECES))
  first = next(i for i, p in enumerate(pieces) if p.startswith(subword.JOINER)
               and len(p) > len(subword.JOINER))
  dog = pieces.index('dog')
  text = codec.decode(tf.ragged.constant([[first, dog, first], [first]],
                                         dtype=tf.int64))
  word = pieces[first][len(subword.JOINER):]
  assert [t.decode() for t in text.numpy()] == [f'{word} dog{word}', word]


def test_per_language_vocabularies(tmp_path):
  config = {**CONFIG, 'joint_vocabulary': False, 'subword_vocab_size': 500}
  out = run_transform(_pairs(800), tmp_path, config)
  output = tft.TFTransformOutput(str(out / 'transform'))
  source = _lines(output.vocabulary_file_by_name(codecs.SOURCE_WORDPIECES))
  target = _lines(output.vocabulary_file_by_name(codecs.TARGET_WORDPIECES))
  assert 'der' in target and 'der' not in source
  assert 'the' in source and 'the' not in target
  codec = codecs.load(output, PreprocessingConfig.from_dict(config))
  assert (codec.source_vocab_size, codec.target_vocab_size) == (
      len(source), len(target))


def test_learning_ignores_input_order():
  words = tokenizer_lib.WordTokenizer().tokenize(
      tf.constant(read_multi30k('train', 'en', 300))).flat_values.numpy()
  counts = {}
  for w in words:
    counts[w.decode()] = counts.get(w.decode(), 0) + 1
  items = list(counts.items())
  assert subword.learn_pieces(items, 300) == subword.learn_pieces(items[::-1], 300)


def test_unknown_tokenizer_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
    codecs.load(None, PreprocessingConfig(tokenizer='bpe'))


LOAD_AND_TRANSLATE = '''
import sys
import tensorflow as tf
if sys.argv[2] == 'as-the-evaluator':   # a process that imports only export
  from nmt_tfx.components.model import export
  print('OUT', export.SavedModelTranslator(sys.argv[1])(
      ['A dog runs in the snow.', '']))
else:
  fn = tf.saved_model.load(sys.argv[1]).signatures['translate']
  fn(text=tf.constant(['A dog runs in the snow.']))
'''


def test_exported_wordpiece_model_serves_raw_text_in_a_fresh_process(
    joint_dir, tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  export_dir = tmp_path / 'export'
  trainer.train_and_export(
      train_files=str(joint_dir / 'data*'), eval_files=str(joint_dir / 'data*'),
      transform_output=str(joint_dir / 'transform'),
      serving_model_dir=str(export_dir),
      log_dir=None, train_steps=10, eval_steps=1,
      custom_config=dict(embedding_dim=16, encoder_units=16, decoder_units=32,
                         attention_units=16, batch_tokens=512, steps_per_epoch=10,
                         validation_bleu=False))
  run = lambda mode: subprocess.run(
      [sys.executable, '-c', LOAD_AND_TRANSLATE, str(export_dir), mode],
      capture_output=True, text=True, timeout=300)
  served = run('as-the-evaluator')
  assert served.returncode == 0, served.stderr[-2000:]
  outputs = eval(served.stdout.split('OUT ', 1)[1])   # pylint: disable=eval-used
  assert outputs[1] == '' and isinstance(outputs[0], str)
  assert subword.JOINER not in outputs[0]   # pieces are joined back into words
  # Without the TF Text ops registered the graph cannot load: every process
  # that loads it must import tensorflow_text (export.py does; TF Serving
  # links them).
  bare = run('without')
  assert bare.returncode != 0 and 'WordpieceTokenizeWithOffsets' in bare.stderr
