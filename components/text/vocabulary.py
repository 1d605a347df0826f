"""Token <-> id mapping with reserved ids for padding, unknown, BOS and EOS.

Vocabularies are computed by tensorflow-transform over the training split;
ids of real tokens start after the reserved ones.
"""
import tensorflow as tf
import tensorflow_transform as tft

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
RESERVED_TOKENS = ('<pad>', '<unk>', '<s>', '</s>')
NUM_RESERVED = len(RESERVED_TOKENS)

SOURCE_VOCAB = 'source_vocab'
TARGET_VOCAB = 'target_vocab'


def tokens_to_ids(tokens: tf.RaggedTensor, vocab_name: str, max_size: int,
                  min_frequency: int) -> tf.RaggedTensor:
  """TFT analyzer + mapping: [batch, (tokens)] string -> same shape int64."""
  vocab = tft.vocabulary(tokens.flat_values, top_k=max_size,
                         frequency_threshold=min_frequency,
                         vocab_filename=vocab_name)
  ids = tft.apply_vocabulary(tokens.flat_values, vocab, default_value=-1)
  return tokens.with_flat_values(
      tf.where(ids < 0, tf.constant(UNK_ID, tf.int64), ids + NUM_RESERVED))


def vocabulary_size(tf_transform_output, vocab_name: str) -> int:
  """Model vocabulary size: the TFT vocabulary plus the reserved ids."""
  return tf_transform_output.vocabulary_size_by_name(vocab_name) + NUM_RESERVED


class IdToToken(tf.Module):
  """Maps ids back to tokens using the TFT vocabulary file (a SavedModel asset)."""

  def __init__(self, vocab_file: str):
    super().__init__()
    self.table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            vocab_file, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
        default_value=RESERVED_TOKENS[UNK_ID])

  def __call__(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
    """[batch, (len)] int64 (no reserved ids but UNK) -> string tokens."""
    return tf.ragged.map_flat_values(
        lambda i: self.table.lookup(i - NUM_RESERVED), ids)
