"""The word tokenizer, in TensorFlow ops, so one implementation serves both the
Transform graph (tokenize) and the exported model (detokenize). Words are
the unit of both tokenizations in text/codecs.py (WordPieces split words).
"""
import tensorflow as tf


class WordTokenizer:
  """Word-level tokenizer: whitespace normalization plus punctuation split.

  Punctuation and symbols become tokens of their own, except the apostrophe
  and the hyphen, which stay inside words ("T-Shirt", "man's"). Case is kept,
  since BLEU is scored cased. `detokenize` re-attaches punctuation the way
  written German, English and French put it.
  """

  name = 'word'

  # Punctuation that attaches to the word before it / the word after it.
  _ATTACH_LEFT = r'.,!?;:%…)\]}»“”'
  _ATTACH_RIGHT = r'(\[{«„'

  def normalize(self, text: tf.Tensor) -> tf.Tensor:
    """[batch] string -> [batch] string with single spaces, stripped."""
    return tf.strings.strip(tf.strings.regex_replace(text, r'[\s\p{Z}]+', ' '))

  def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
    """[batch] string -> [batch, (tokens)] string."""
    spaced = tf.strings.regex_replace(
        self.normalize(text), r"([^\pL\pN\pM\s'\-])", r' \1 ')
    return tf.strings.split(spaced)

  def detokenize(self, tokens: tf.RaggedTensor) -> tf.Tensor:
    """[batch, (tokens)] string -> [batch] string."""
    text = tf.strings.reduce_join(tokens, axis=-1, separator=' ')
    text = tf.strings.regex_replace(text, f' ([{self._ATTACH_LEFT}])', r'\1')
    return tf.strings.regex_replace(text, f'([{self._ATTACH_RIGHT}]) ', r'\1')
