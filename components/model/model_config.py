"""The configuration a model was trained with, saved inside its SavedModel.

`assets.extra/model_config.json` (TF Serving copies `assets.extra/` but never
reads it) holds the hyperparameters, the preprocessing settings, the
vocabulary sizes, the training steps and a fingerprint of the training data,
so that whoever loads the model later (warm start, the benchmarks, an
operator listing the serving directory) reads how it was made instead of
being told again.
"""
import dataclasses
import hashlib
import json
import os
from typing import Any, Dict, Optional, Sequence

import tensorflow as tf

from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig

FILE = os.path.join('assets.extra', 'model_config.json')
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  hparams: HParams
  preprocessing: PreprocessingConfig
  source_vocab_size: int
  target_vocab_size: int
  train_steps: int
  # files_fingerprint() of the transformed training files.
  training_data: str

  def to_dict(self) -> Dict[str, Any]:
    return {'format_version': FORMAT_VERSION,
            'hparams': self.hparams.to_dict(),
            'preprocessing': dataclasses.asdict(self.preprocessing),
            'source_vocab_size': self.source_vocab_size,
            'target_vocab_size': self.target_vocab_size,
            'train_steps': self.train_steps,
            'training_data': self.training_data}

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> 'ModelConfig':
    values = dict(values)
    version = values.pop('format_version', None)
    if version != FORMAT_VERSION:
      raise ValueError(f'model config format {version!r}; this version of the '
                       f'project reads {FORMAT_VERSION}')
    return cls(hparams=HParams.from_dict(values.pop('hparams')),
               preprocessing=PreprocessingConfig(**values.pop('preprocessing')),
               **values)


def files_fingerprint(files: Sequence[str]) -> str:
  """SHA-256 over the names and sizes of `files` (inputs.list_files):
  changes when the data changes, without reading it."""
  digest = hashlib.sha256()
  for path in sorted(files):
    digest.update(f'{os.path.basename(path)}\t{tf.io.gfile.stat(path).length}'
                  '\n'.encode())
  return digest.hexdigest()


def describe(config: Optional[ModelConfig]) -> str:
  """One line for an operator: architecture, vocabulary, steps, data."""
  if config is None:
    return 'no model_config.json (exported before models carried one)'
  h, p = config.hparams, config.preprocessing
  sizes = (f'{h.transformer_layers}+{h.decoder_layers} layers, d '
           f'{h.transformer_dim}' if h.model == 'transformer' else
           f'emb {h.embedding_dim}, enc {h.encoder_units}, dec '
           f'{h.decoder_units}')
  return (f'{h.model} ({sizes}), {p.tokenizer} vocab '
          f'{config.source_vocab_size:,}/{config.target_vocab_size:,}, '
          f'{config.train_steps:,} steps, training data '
          f'{config.training_data[:12]}')


def save(config: ModelConfig, export_dir: str) -> None:
  path = os.path.join(export_dir, FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'w') as f:
    json.dump(config.to_dict(), f, indent=1, sort_keys=True)


def load(export_dir: str) -> Optional[ModelConfig]:
  """The model's configuration; None for a model exported without one."""
  path = os.path.join(export_dir, FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    try:
      return ModelConfig.from_dict(json.load(f))
    except (ValueError, TypeError, KeyError) as e:
      raise ValueError(f'{path}: {e}') from None
