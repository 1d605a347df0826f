"""WordPiece subwords, learned by Transform and applied in-graph.

`learn_vocabulary` is a tensorflow-transform analyzer: during Transform's
analysis pass it counts the words of the training split across workers and
learns a WordPiece vocabulary from the most frequent of them
(text/wordpiece_learner.py: tensorflow-text's learner, as BERT's vocab tools
use, at a cost bounded whatever the corpus size), stored as an asset of the transform graph like `tft.vocabulary`
stores words. `WordPieces` applies it with tensorflow-text ops, so Transform,
the Trainer and the served SavedModel split words the same way. The vocabulary
starts with the ids of `vocabulary` (PAD 0, UNK 1, BOS 2, EOS 3), so the rest
of the pipeline does not know which tokenization it has.

(SentencePiece is not used because its tensorflow-text op takes the model as
a graph-construction constant, which a Transform analyzer cannot provide.)

Every process that loads a graph with these ops must `import tensorflow_text`
first (this module does); TF Serving binaries link them.
"""
import os
from typing import Iterable, List, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
# TFT's own table helper (tft.apply_vocabulary uses it); pinned with TFT 1.16.
from tensorflow_transform import tf_utils as tft_utils

from nmt_tfx.components.text import vocabulary
from nmt_tfx.components.text import wordpiece_learner

JOINER = wordpiece_learner.JOINER


def vocabulary_filename(asset_name: str) -> str:
  """The vocabulary's file name among the transform graph's assets."""
  return f'{asset_name}.txt'


def learn_pieces(word_counts: Iterable[Tuple[str, int]], vocab_size: int
                 ) -> List[str]:
  """WordPiece vocabulary (reserved tokens first) of at most `vocab_size`."""
  pieces = wordpiece_learner.learn(list(word_counts), vocab_size,
                                   vocabulary.RESERVED_TOKENS)
  if list(pieces[:vocabulary.NUM_RESERVED]) != list(vocabulary.RESERVED_TOKENS):
    raise AssertionError(f'reserved tokens not first: {pieces[:6]}')
  return list(pieces)


class _LearnWordPieces(tft_beam.experimental.PTransformAnalyzer):
  """Batches of word columns -> the path of a learned WordPiece vocabulary,
  learned on the `max_words` most frequent words."""

  def __init__(self, filename: str, vocab_size: int, max_words: int):
    super().__init__()
    self._filename = filename
    self._vocab_size = vocab_size
    self._max_words = max_words

  def _write(self, word_counts: List[Tuple[str, int]]) -> np.ndarray:
    path = os.path.join(self.base_temp_dir, self._filename)
    tf.io.gfile.makedirs(self.base_temp_dir)
    with tf.io.gfile.GFile(path, 'w') as f:
      f.write('\n'.join(learn_pieces(word_counts, self._vocab_size)) + '\n')
    return np.array(path.encode('utf-8'))

  def expand(self, batches):
    return (batches
            | 'CountWords' >> wordpiece_learner.CountWords(self._max_words)
            | 'Learn' >> beam.Map(self._write))


def learn_vocabulary(words: Sequence[tf.Tensor], asset_name: str,
                     vocab_size: int, max_words: int) -> tf.Tensor:
  """Analyzer: flat string tensors of words -> asset path of one WordPiece
  vocabulary learned on the `max_words` most frequent of them (joint when
  given both languages)."""
  filename = vocabulary_filename(asset_name)
  (path,) = tft.experimental.ptransform_analyzer(
      inputs=list(words),
      ptransform=_LearnWordPieces(filename, vocab_size, max_words),
      output_dtypes=[tf.string], output_shapes=[[]],
      # What the graph holds before analysis: a valid, reserved-only file.
      output_asset_default_values=[
          '\n'.join(vocabulary.RESERVED_TOKENS).encode() + b'\n'],
      name=asset_name)
  tft.annotate_asset(asset_name, filename)
  return path


def _ids_table(vocabulary_file) -> tf.lookup.StaticHashTable:
  return tf.lookup.StaticHashTable(
      tf.lookup.TextFileInitializer(
          vocabulary_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
          tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
      default_value=-1)


def _splitter(ids_table) -> tf_text.WordpieceTokenizer:
  return tf_text.WordpieceTokenizer(
      ids_table, suffix_indicator=JOINER, token_out_type=tf.int64,
      unknown_token=vocabulary.RESERVED_TOKENS[vocabulary.UNK_ID])


class _SplitWords:
  """WordPiece splitting shaped like a lookup table, for TFT's table helper."""

  def __init__(self, vocabulary_file):
    self._table = _ids_table(vocabulary_file)
    self._splitter = _splitter(self._table)

  def size(self):
    return self._table.size()

  def lookup(self, words: tf.RaggedTensor) -> tf.RaggedTensor:
    return self._splitter.tokenize(words).merge_dims(-2, -1)


def encode_in_transform(words: tf.RaggedTensor, vocabulary_path: tf.Tensor
                        ) -> tf.RaggedTensor:
  """Inside `preprocessing_fn`: [batch, (words)] -> [batch, (pieces)] ids with
  the vocabulary `learn_vocabulary` returned. TFT lifts the table out of the
  traced function once the analyzer has run, as for `tft.apply_vocabulary`,
  so neither Transform nor the served graph re-reads the file per call."""
  ids, _ = tft_utils.construct_and_lookup_table(_SplitWords, vocabulary_path,
                                                words)
  return ids


class WordPieces(tf.Module):
  """WordPiece ids -> pieces -> words with one vocabulary file (one piece a
  line), for the exported model: ids [batch, (pieces)] int64."""

  def __init__(self, vocabulary_file):
    super().__init__()
    self._pieces = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            vocabulary_file, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
        default_value=vocabulary.RESERVED_TOKENS[vocabulary.UNK_ID])

  def pieces(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    """[batch, (pieces)] ids -> the pieces as strings ('##' on continuations)."""
    return tf.ragged.map_flat_values(self._pieces.lookup, ids)

  def words(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    """[batch, (pieces)] ids (no BOS/EOS/PAD) -> [batch, (words)] string.

    A continuation joins the piece before it; one with nothing before it
    (a model's first output piece can be one) is a word of its own."""
    text = tf.strings.reduce_join(self.pieces(ids), axis=-1, separator=' ')
    return tf.strings.split(
        tf.strings.regex_replace(text, '(^| )' + JOINER, ''))


def vocabulary_size(path: str) -> int:
  with tf.io.gfile.GFile(path) as f:
    return sum(1 for _ in f)
