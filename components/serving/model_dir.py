"""The TF Serving layout `<serving_dir>/<integer version>/`, written atomically.

TF Serving only loads directories named by an integer, so a version is copied
into a hidden staging directory first and renamed into place when complete:
the server never sees a half-written version.
"""
import os
import time
import uuid
from typing import List, Optional

import tensorflow as tf

STAGING_PREFIX = '.staging-'
RETIRED_SUFFIX = '.retired'


def versions(serving_dir: str) -> List[int]:
  """Integer versions present, oldest first."""
  if not tf.io.gfile.isdir(serving_dir):
    return []
  return sorted(int(name.rstrip('/')) for name in tf.io.gfile.listdir(serving_dir)
                if name.rstrip('/').isdigit())


def latest_version_dir(serving_dir: str) -> Optional[str]:
  """The directory of the newest version, i.e. the model in production."""
  found = versions(serving_dir)
  return os.path.join(serving_dir, str(found[-1])) if found else None


def _copy_tree(src: str, dst: str) -> None:
  for root, _, files in tf.io.gfile.walk(src):
    relative = os.path.relpath(root, src)
    target_root = os.path.join(dst, relative) if relative != '.' else dst
    tf.io.gfile.makedirs(target_root)
    for name in files:
      tf.io.gfile.copy(os.path.join(root, name), os.path.join(target_root, name))


def push(saved_model_dir: str, serving_dir: str) -> int:
  """Copies a SavedModel in as a new version; returns the version number."""
  tf.io.gfile.makedirs(serving_dir)
  present = versions(serving_dir)
  version = max(int(time.time()), present[-1] + 1 if present else 0)
  staging = os.path.join(serving_dir,
                         f'{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}')
  try:
    _copy_tree(saved_model_dir, staging)
    tf.io.gfile.rename(staging, os.path.join(serving_dir, str(version)))
  except BaseException:
    if tf.io.gfile.exists(staging):
      tf.io.gfile.rmtree(staging)
    raise
  return version


def retire_latest(serving_dir: str) -> int:
  """Rolls back: renames the newest version to `<N>.retired`, which TF Serving
  ignores, so the previous version serves again. Returns N."""
  present = versions(serving_dir)
  if not present:
    raise ValueError(f'{serving_dir}: no version to roll back')
  if len(present) == 1:
    raise ValueError(
        f'{serving_dir}: only version {present[0]} is there; rolling back '
        'needs an earlier version to fall back to, and retiring the only one '
        'would leave TF Serving nothing to serve. To replace it, push a new '
        'model: a pipeline run whose candidate is blessed pushes a newer '
        'version, also when this one cannot be loaded')
  newest = present[-1]
  tf.io.gfile.rename(os.path.join(serving_dir, str(newest)),
                     os.path.join(serving_dir, f'{newest}{RETIRED_SUFFIX}'))
  return newest


def restore(serving_dir: str, version: int) -> None:
  """Undoes `retire_latest` for `version`."""
  retired = os.path.join(serving_dir, f'{version}{RETIRED_SUFFIX}')
  if not tf.io.gfile.isdir(retired):
    raise ValueError(f'{retired}: no such retired version')
  tf.io.gfile.rename(retired, os.path.join(serving_dir, str(version)))
