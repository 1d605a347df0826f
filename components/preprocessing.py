"""The Transform stage: raw `source`/`target` text -> variable-length ids.

Outputs (per example; nothing is padded or truncated here):
  source_ids     int64 [S] (ragged)  source tokens
  source_length  int64 []            S
  target_in      int64 [T] (ragged)  BOS + target tokens (decoder input)
  target_out     int64 [T] (ragged)  target tokens + EOS (decoder labels)
  target_length  int64 []            T (target tokens + 1)
  target_text    string []           the raw target, kept for BLEU

The length caps (`max_source_length`, `max_target_length`) are applied by
the consumers: the Trainer drops the pairs that exceed them
(components/model/trainer.py), the served model truncates the sources
(components/model/export.py). At serving time the same graph is applied to
`source` alone; the target outputs are pruned away by tensorflow-transform.
"""
import dataclasses
import json
import os
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
  # Tokens: source ids; target_in/target_out (the target plus BOS or EOS).
  # Longer training pairs are dropped, longer served sources truncated.
  max_source_length: int = 50
  max_target_length: int = 50

  @classmethod
  def from_dict(cls, values: Optional[Dict[str, Any]]) -> 'PreprocessingConfig':
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in (values or {}).items() if k in known})


# Transform records the PreprocessingConfig it ran with in its transform graph
# (components/transform_component.py); the Trainer, distributed training and
# the benchmarks read it from there.
CONFIG_FILE = 'preprocessing_config.json'


def save_config(config: PreprocessingConfig, transform_graph_dir: str) -> None:
  """Writes `config` into the transform graph directory (atomically)."""
  path = os.path.join(transform_graph_dir, CONFIG_FILE)
  partial = f'{path}.partial'
  with tf.io.gfile.GFile(partial, 'w') as f:
    json.dump(dataclasses.asdict(config), f, indent=1, sort_keys=True)
  tf.io.gfile.rename(partial, path, overwrite=True)


def load_config(transform_graph_dir: str) -> PreprocessingConfig:
  """The PreprocessingConfig the transform graph was made with."""
  path = os.path.join(transform_graph_dir, CONFIG_FILE)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(
        f'{path}: missing; the transform graph was not made by this '
        "project's Transform (components/transform_component.py)")
  with tf.io.gfile.GFile(path) as f:
    values = json.load(f)
  known = {f.name for f in dataclasses.fields(PreprocessingConfig)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ValueError(f'{path}: unknown settings {unknown}; made by a newer '
                     'version of this project?')
  return PreprocessingConfig(**values)


def _column(rows: tf.Tensor, value: int) -> tf.RaggedTensor:
  """[rows, 1] ragged, every entry `value`."""
  return tf.RaggedTensor.from_tensor(
      tf.fill([rows, 1], tf.constant(value, tf.int64)))


def preprocessing_fn(inputs: Dict[str, tf.Tensor],
                     custom_config: Optional[Dict[str, Any]] = None
                     ) -> Dict[str, tf.Tensor]:
  config = PreprocessingConfig.from_dict(custom_config)
  target_text = tf.reshape(inputs[TARGET], [-1])
  source_ids, target_ids = codecs.encode(tf.reshape(inputs[SOURCE], [-1]),
                                         target_text, config)
  rows = target_ids.nrows()
  target_in = tf.concat([_column(rows, vocabulary.BOS_ID), target_ids], axis=1)
  return {
      features.SOURCE_IDS: source_ids,
      features.SOURCE_LENGTH: source_ids.row_lengths(),
      features.TARGET_IN: target_in,
      features.TARGET_OUT: tf.concat(
          [target_ids, _column(rows, vocabulary.EOS_ID)], axis=1),
      features.TARGET_LENGTH: target_in.row_lengths(),
      features.TARGET_TEXT: target_text,
  }
