import tensorflow as tf

from conftest import read_multi30k
from nmt_tfx.components.text import tokenizer as tokenizer_lib


def _tokens(tokenizer, text):
  return [t.decode() for t in tokenizer.tokenize(tf.constant([text]))[0].numpy()]


def test_splits_punctuation_but_keeps_hyphens_and_apostrophes():
  tok = tokenizer_lib.WordTokenizer()
  assert _tokens(tok, '  Ein Mann im T-Shirt,  der "lacht"!\t') == [
      'Ein', 'Mann', 'im', 'T-Shirt', ',', 'der', '"', 'lacht', '"', '!']
  assert _tokens(tok, "A man's hat (red).") == [
      'A', "man's", 'hat', '(', 'red', ')', '.']


def test_empty_and_whitespace_give_no_tokens():
  tok = tokenizer_lib.WordTokenizer()
  assert tok.tokenize(tf.constant(['', ' \t \u00a0'])).row_lengths().numpy(
  ).tolist() == [0, 0]


def test_detokenize_reattaches_punctuation():
  tok = tokenizer_lib.WordTokenizer()
  tokens = tf.ragged.constant([['Ein', 'Hund', '(', 'braun', ')', 'läuft', '.'],
                               ['„', 'Hallo', '“', ',', 'sagt', 'er', '.']])
  assert [t.decode() for t in tok.detokenize(tokens).numpy()] == [
      'Ein Hund (braun) läuft.', '„Hallo“, sagt er.']


def test_german_multi30k_round_trips():
  tok = tokenizer_lib.WordTokenizer()
  lines = read_multi30k('val', 'de')
  restored = tok.detokenize(tok.tokenize(tf.constant(lines))).numpy()
  normalized = tok.normalize(tf.constant(lines)).numpy()
  same = sum(a == b for a, b in zip(restored, normalized))
  assert same / len(lines) >= 0.995, f'{same} of {len(lines)} round-trip'
