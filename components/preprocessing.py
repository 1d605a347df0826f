"""The Transform stage: raw `source`/`target` text -> padded id sequences.

Outputs (per example):
  source_ids     int64 [max_source_length]  tokens, truncated, PAD-padded
  source_length  int64 []                   real length of source_ids
  target_in      int64 [max_target_length]  BOS + target (decoder input)
  target_out     int64 [max_target_length]  target + EOS (decoder labels)
  target_length  int64 []                   real length of target_in/out
  target_text    string []                  the raw target, kept for BLEU

At serving time the same graph is applied to `source` alone; the target
outputs are pruned away by tensorflow-transform.
"""
import dataclasses
from typing import Any, Dict, Optional

import tensorflow as tf

from nmt_tfx.components.data import features
from nmt_tfx.components.text import codecs
from nmt_tfx.components.text import vocabulary

SOURCE = features.SOURCE
TARGET = features.TARGET


@dataclasses.dataclass(frozen=True)
class PreprocessingConfig:
  tokenizer: str = 'word'       # 'word' or 'wordpiece'; see text/codecs.py
  # Word vocabularies (TFT), per language.
  source_vocab_size: int = 20000
  target_vocab_size: int = 20000
  min_frequency: int = 2
  # WordPiece subwords, learned from the training split.
  subword_vocab_size: int = 8000   # at most, per vocabulary; reserved included.
  # Learned from this many of the most frequent words (its cost is bounded by
  # it, not by the corpus); rarer words are spelled with the learned pieces.
  subword_learning_words: int = 50000
  joint_vocabulary: bool = True    # one vocabulary for both languages.
  max_source_length: int = 50
  max_target_length: int = 50

  @classmethod
  def from_dict(cls, values: Optional[Dict[str, Any]]) -> 'PreprocessingConfig':
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in (values or {}).items() if k in known})


def _pad(ids: tf.RaggedTensor, length: int) -> tf.Tensor:
  return ids.to_tensor(vocabulary.PAD_ID, shape=[None, length])


def _column(ids_rows: tf.Tensor, value: int) -> tf.RaggedTensor:
  return tf.RaggedTensor.from_tensor(
      tf.fill([ids_rows, 1], tf.constant(value, tf.int64)))


def preprocessing_fn(inputs: Dict[str, tf.Tensor],
                     custom_config: Optional[Dict[str, Any]] = None
                     ) -> Dict[str, tf.Tensor]:
  config = PreprocessingConfig.from_dict(custom_config)
  outputs = {}
  target_text = tf.reshape(inputs[TARGET], [-1])
  source_ids, target_ids = codecs.encode(tf.reshape(inputs[SOURCE], [-1]),
                                         target_text, config)
  source_ids = source_ids[:, :config.max_source_length]
  outputs['source_ids'] = _pad(source_ids, config.max_source_length)
  outputs['source_length'] = source_ids.row_lengths()
  target_ids = target_ids[:, :config.max_target_length - 1]
  rows = target_ids.nrows()
  target_in = tf.concat([_column(rows, vocabulary.BOS_ID), target_ids], axis=1)
  target_out = tf.concat([target_ids, _column(rows, vocabulary.EOS_ID)], axis=1)
  outputs['target_in'] = _pad(target_in, config.max_target_length)
  outputs['target_out'] = _pad(target_out, config.max_target_length)
  outputs['target_length'] = target_in.row_lengths()
  outputs['target_text'] = target_text
  return outputs
