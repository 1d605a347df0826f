"""Text <-> ids for one configured tokenization, on both sides of training.

`encode` runs inside Transform's `preprocessing_fn` and learns what it needs
from the training split (TFT vocabularies for words, WordPiece vocabularies
for subwords). `load` gives the trained model's side: vocabulary sizes and
`decode` (ids -> detokenized text) built from the same transform output, so
the served graph inverts exactly what Transform did.

Tokenizations (PreprocessingConfig.tokenizer):
  word           TF-op word tokenizer + TFT vocabularies per language
  wordpiece      the same words split into WordPiece subwords, one joint
                 vocabulary or one per language
                 (PreprocessingConfig.joint_vocabulary)
"""
from typing import Tuple

import tensorflow as tf

from nmt_tfx.components.text import subword
from nmt_tfx.components.text import tokenizer as tokenizer_lib
from nmt_tfx.components.text import vocabulary

WORD = 'word'
WORDPIECE = 'wordpiece'
TOKENIZATIONS = (WORD, WORDPIECE)

JOINT_WORDPIECES = 'wordpiece_vocab'
SOURCE_WORDPIECES = 'source_wordpiece_vocab'
TARGET_WORDPIECES = 'target_wordpiece_vocab'


def _check(config) -> None:
  if config.tokenizer not in TOKENIZATIONS:
    raise ValueError(f'unknown tokenizer {config.tokenizer!r}; choose one of '
                     f'{list(TOKENIZATIONS)}')


def _wordpiece_assets(config) -> Tuple[str, str]:
  if config.joint_vocabulary:
    return JOINT_WORDPIECES, JOINT_WORDPIECES
  return SOURCE_WORDPIECES, TARGET_WORDPIECES


def encode(source: tf.Tensor, target: tf.Tensor, config
           ) -> Tuple[tf.RaggedTensor, tf.RaggedTensor]:
  """Transform side: [batch] source and target strings -> ragged int64 ids,
  learning the vocabularies (analyzers) from what it is given."""
  _check(config)
  words = tokenizer_lib.WordTokenizer()
  source_words, target_words = words.tokenize(source), words.tokenize(target)
  if config.tokenizer == WORD:
    return (vocabulary.tokens_to_ids(
                source_words, vocabulary.SOURCE_VOCAB,
                config.source_vocab_size, config.min_frequency),
            vocabulary.tokens_to_ids(
                target_words, vocabulary.TARGET_VOCAB,
                config.target_vocab_size, config.min_frequency))
  learn = lambda texts, name: subword.learn_vocabulary(
      texts, name, config.subword_vocab_size, config.subword_learning_words)
  source_asset, target_asset = _wordpiece_assets(config)
  if config.joint_vocabulary:
    source_vocab = target_vocab = learn(
        [source_words.flat_values, target_words.flat_values], source_asset)
  else:
    source_vocab = learn([source_words.flat_values], source_asset)
    target_vocab = learn([target_words.flat_values], target_asset)
  return (subword.encode_in_transform(source_words, source_vocab),
          subword.encode_in_transform(target_words, target_vocab))


class WordCodec(tf.Module):
  """Target ids -> words -> text, with the TFT vocabulary files."""

  def __init__(self, tf_transform_output):
    super().__init__()
    self.source_vocab_size = vocabulary.vocabulary_size(
        tf_transform_output, vocabulary.SOURCE_VOCAB)
    self.target_vocab_size = vocabulary.vocabulary_size(
        tf_transform_output, vocabulary.TARGET_VOCAB)
    self._source_words = vocabulary.IdToToken(
        tf_transform_output.vocabulary_file_by_name(vocabulary.SOURCE_VOCAB))
    self._target_words = vocabulary.IdToToken(
        tf_transform_output.vocabulary_file_by_name(vocabulary.TARGET_VOCAB))
    self._words = tokenizer_lib.WordTokenizer()

  def decode(self, ids: tf.RaggedTensor) -> tf.Tensor:
    """[batch, (len)] target ids (no BOS/EOS/PAD) -> [batch] text."""
    return self._words.detokenize(self._target_words(ids))

  def source_pieces(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    return self._source_words(ids)

  def target_pieces(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    return self._target_words(ids)


class WordPieceCodec(tf.Module):
  """Target ids -> WordPieces -> words -> text, with the WordPiece
  vocabulary files Transform learned (assets of the SavedModel)."""

  def __init__(self, tf_transform_output, config):
    super().__init__()
    source_file, target_file = (tf_transform_output.vocabulary_file_by_name(a)
                                for a in _wordpiece_assets(config))
    self.source_vocab_size = subword.vocabulary_size(source_file)
    self.target_vocab_size = subword.vocabulary_size(target_file)
    self._source = subword.WordPieces(source_file)
    self._target = subword.WordPieces(target_file)
    self._words = tokenizer_lib.WordTokenizer()

  def decode(self, ids: tf.RaggedTensor) -> tf.Tensor:
    return self._words.detokenize(self._target.words(ids))

  def source_pieces(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    return self._source.pieces(ids)

  def target_pieces(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    return self._target.pieces(ids)


def load(tf_transform_output, config):
  """Model side of `encode`: WordCodec or WordPieceCodec for this output."""
  _check(config)
  if config.tokenizer == WORD:
    return WordCodec(tf_transform_output)
  return WordPieceCodec(tf_transform_output, config)
