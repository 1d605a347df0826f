"""The Trainer's distribution strategy: one machine or several.

* `TF_CONFIG` naming more than one task (as the Kubeflow training operator
  sets it for a TFJob, see deploy/tfjob/): MultiWorkerMirroredStrategy,
  synchronous data-parallel training over every worker's GPUs (or CPU).
* Otherwise MirroredStrategy over every local GPU, else over every logical
  CPU device.

Saving a model under MultiWorkerMirroredStrategy is a collective operation,
so every worker exports; only the chief's export is kept (`export_dir`).
"""
import contextlib
import json
import os
import shutil
import tempfile
from typing import Iterator, Optional

from absl import logging
import tensorflow as tf

# Task types that train (parameter servers and evaluators do not).
_TRAINING_TASKS = ('chief', 'worker')


def tf_config() -> dict:
  """The parsed `TF_CONFIG` environment variable ({} if unset)."""
  return json.loads(os.environ.get('TF_CONFIG') or '{}')


def num_workers(config: Optional[dict] = None) -> int:
  """How many training tasks the cluster in `config` (default: TF_CONFIG) has."""
  cluster = (tf_config() if config is None else config).get('cluster', {})
  return sum(len(cluster.get(task, [])) for task in _TRAINING_TASKS)


def make_strategy() -> tf.distribute.Strategy:
  """MultiWorkerMirroredStrategy if TF_CONFIG names several workers, else
  MirroredStrategy over every GPU, else over every logical CPU device."""
  if num_workers() > 1:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    resolver = strategy.cluster_resolver
    logging.info('Multi-worker training: task %s/%d of %d workers',
                 resolver.task_type, resolver.task_id, num_workers())
    return strategy
  if tf.config.list_logical_devices('GPU'):
    return tf.distribute.MirroredStrategy()
  cpus = [d.name for d in tf.config.list_logical_devices('CPU')]
  return tf.distribute.MirroredStrategy(devices=cpus)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True on the task whose outputs are kept: the `chief` task, or worker 0
  when the cluster has no chief; always true on one machine."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == 'chief':
    return True
  has_chief = bool(resolver.cluster_spec().as_dict().get('chief'))
  return resolver.task_type == 'worker' and resolver.task_id == 0 and not has_chief


@contextlib.contextmanager
def export_dir(target: str, strategy: tf.distribute.Strategy) -> Iterator[str]:
  """Where this task writes its export: `target` on the chief, a local
  scratch directory (deleted afterwards) on the other workers."""
  if is_chief(strategy):
    yield target
    return
  scratch = tempfile.mkdtemp(prefix='nmt-worker-export-')
  try:
    yield scratch
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
