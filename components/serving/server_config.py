"""TF Serving's models.config for a serving directory: what the server loads.

The file lives in the serving directory (`<serving_dir>/models.config`) and
names the served versions with a `specific` version policy, so the server
loads exactly those and never a directory still being written. Writing it is
the moment a version is published: one file (one object on an object store)
replaced whole. TF Serving re-reads it every
--model_config_file_poll_wait_seconds.

Labels: `canary` is the newest version, `stable` the one before it. TF
Serving (2.16) refuses a config that moves a label onto a version it has not
loaded yet, and then applies nothing of that config. So a label moves only
onto a version the previous config already served: until then it points at
the newest served version below the one the directory calls for (and that
version stays served). The next write of the config (`nmt-serving relabel`,
the next push or rollback) moves it on.
"""
import dataclasses
import os
import uuid
from typing import Dict, List, Optional, Tuple

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

CONFIG_FILE = 'models.config'
CANARY, STABLE = 'canary', 'stable'
NUM_SERVED = 2   # newest and the one before it


@dataclasses.dataclass(frozen=True)
class ServedModel:
  """One model's entry in models.config."""
  name: str
  base_path: str
  versions: Tuple[int, ...]       # loaded by the server (specific policy)
  labels: Dict[str, int]


def models_config(model: ServedModel) -> str:
  """Text-format ModelServerConfig for one model."""
  versions = ''.join(f' versions: {v}' for v in sorted(model.versions))
  label_lines = ''.join(
      f'    version_labels {{ key: "{key}" value: {value} }}\n'
      for key, value in sorted(model.labels.items()))
  return ('model_config_list {\n'
          '  config {\n'
          f'    name: "{model.name}"\n'
          f'    base_path: "{model.base_path}"\n'
          '    model_platform: "tensorflow"\n'
          f'    model_version_policy {{ specific {{{versions} }} }}\n'
          f'{label_lines}'
          '  }\n'
          '}\n')


def directory_labels(versions: List[int]) -> Dict[str, int]:
  """The labels the directory calls for: newest `canary`, previous `stable`."""
  labels = {}
  if versions:
    labels[CANARY] = versions[-1]
  if len(versions) >= 2:
    labels[STABLE] = versions[-2]
  return labels


def next_model(name: str, base_path: str, versions: List[int],
               previous: Optional[ServedModel]) -> ServedModel:
  """What to serve for the complete `versions` (oldest first): the newest
  NUM_SERVED, labelled as the directory calls for, except that a label moves
  only onto a version `previous` already served (see the module doc).
  Without a previous config every label is new, which TF Serving accepts
  with --allow_version_labels_for_unavailable_models."""
  labels = directory_labels(versions)
  if previous is not None:
    labels = {label: version for label, version in (
        (label, _loaded_stand_in(version, versions, previous,
                                 previous.labels.get(label)))
        for label, version in labels.items()) if version is not None}
  served = set(versions[-NUM_SERVED:]) | set(labels.values())
  return ServedModel(name, base_path, tuple(sorted(served)), labels)


def _loaded_stand_in(target: int, versions: List[int],
                     previous: ServedModel, current: Optional[int]
                     ) -> Optional[int]:
  """Where a label may point when the directory calls for `target`: the
  target if `previous` served it; else the newest version below it that
  `previous` served; else where the label is (`current`) if still served."""
  loaded = [v for v in versions if v in previous.versions]
  if target in loaded:
    return target
  below = [v for v in loaded if v < target]
  if below:
    return below[-1]
  return current if current in loaded else None


def path(serving_dir: str) -> str:
  return os.path.join(serving_dir, CONFIG_FILE)


def read(serving_dir: str) -> Optional[ServedModel]:
  """The serving directory's models.config, or None if it has none."""
  if not tf.io.gfile.exists(path(serving_dir)):
    return None
  with tf.io.gfile.GFile(path(serving_dir)) as f:
    config = text_format.Parse(f.read(),
                               model_server_config_pb2.ModelServerConfig())
  (model,) = config.model_config_list.config
  return ServedModel(model.name, model.base_path,
                     tuple(sorted(model.model_version_policy.specific.versions)),
                     dict(model.version_labels))


def write(serving_dir: str, model: ServedModel) -> None:
  """Replaces models.config whole: written beside it, then renamed over it
  (a file rename on a local disk, one object copy on an object store), so
  the server reads the old file or the new one, never a part."""
  temporary = os.path.join(serving_dir,
                           f'.{CONFIG_FILE}.{uuid.uuid4().hex[:8]}')
  with tf.io.gfile.GFile(temporary, 'w') as f:
    f.write(models_config(model))
  tf.io.gfile.rename(temporary, path(serving_dir), overwrite=True)
