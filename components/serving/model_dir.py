"""The TF Serving layout `<serving_dir>/<integer version>/` and publishing to it.

A version is published in three steps: its files are copied (`saved_model.pb`
last), checked against the source, and only then named in
`<serving_dir>/models.config` (server_config), which TF Serving polls and
which lists the versions it loads (a `specific` version policy). On a local
disk the files are copied into a hidden staging directory and renamed into
place, so a server watching the directory itself (the default `latest`
policy) never sees a half-written version either; on an object store, where
renaming a directory is a copy and delete per object, they are written in
place and the server relies on models.config.

Compare-and-publish: `push(..., expected_production=...)` publishes only if
production is still the version the caller judged the model against; the
check and the publication happen under the serving directory's publish lock
(publish_lock).
"""
import os
import time
import uuid
from typing import List, Mapping, NamedTuple, Optional

import tensorflow as tf
from absl import logging

from nmt_tfx.components.serving import publish_lock
from nmt_tfx.components.serving import server_config
from nmt_tfx.components.serving import version_files

STAGING_PREFIX = '.staging-'
RETIRED_SUFFIX = '.retired'
# An unfinished copy on an object store (no publish lock there) is only
# removed once nothing in it has changed for this long.
STALE_AFTER_SECONDS = 3600
ANY_PRODUCTION = object()   # push(): publish whatever production is


class PushResult(NamedTuple):
  """version: the published version, None if superseded; production: the
  version in production when the push decided (None if there was none)."""
  version: Optional[int]
  production: Optional[int]

  @property
  def superseded(self) -> bool:
    return self.version is None


def _names(serving_dir: str) -> List[str]:
  if not tf.io.gfile.isdir(serving_dir):
    return []
  return [name.rstrip('/') for name in tf.io.gfile.listdir(serving_dir)]


def versions(serving_dir: str) -> List[int]:
  """Complete integer versions present, oldest first."""
  return sorted(int(name) for name in _names(serving_dir) if name.isdigit()
                and version_files.is_complete(os.path.join(serving_dir, name)))


def latest_version_dir(serving_dir: str) -> Optional[str]:
  """The directory of the newest version, i.e. the model in production."""
  found = versions(serving_dir)
  return os.path.join(serving_dir, str(found[-1])) if found else None


def version_of(version_dir: Optional[str]) -> Optional[int]:
  """'<serving_dir>/7' -> 7; None or '' -> None (no version)."""
  if not version_dir:
    return None
  return int(os.path.basename(version_dir.rstrip('/')))


def _age_seconds(directory: str) -> float:
  """Seconds since anything under `directory` last changed."""
  newest = 0.0
  for root, _, files in tf.io.gfile.walk(directory):
    for name in files:
      newest = max(newest, tf.io.gfile.stat(
          os.path.join(root, name)).mtime_nsec / 1e9)
  return time.time() - newest if newest else float('inf')


def remove_unfinished(serving_dir: str, locked: bool) -> List[str]:
  """Removes what dead pushers left: staging directories and integer
  directories without `saved_model.pb`. Under the publish lock (`locked`)
  no other push is under way, so all of them go; without it, only those
  unchanged for STALE_AFTER_SECONDS. Returns the names removed."""
  removed = []
  for name in _names(serving_dir):
    directory = os.path.join(serving_dir, name)
    unfinished = name.startswith(STAGING_PREFIX) or (
        name.isdigit() and not version_files.is_complete(directory))
    if unfinished and tf.io.gfile.isdir(directory) and (
        locked or _age_seconds(directory) > STALE_AFTER_SECONDS):
      tf.io.gfile.rmtree(directory)
      removed.append(name)
  if removed:
    logging.info('Removed unfinished pushes from %s: %s', serving_dir, removed)
  return removed


def _default_base_path(serving_dir: str) -> str:
  """The serving directory as a server elsewhere can name it: absolute."""
  return (os.path.abspath(serving_dir) if '://' not in serving_dir
          else serving_dir)


def publish_config(serving_dir: str, model_name: Optional[str] = None,
                   base_path: Optional[str] = None,
                   present: Optional[List[int]] = None
                   ) -> server_config.ServedModel:
  """Rewrites models.config for the versions `present` (default: those in
  the directory). The model name and base path default to the current
  config's, else to the directory's name and absolute path."""
  previous = server_config.read(serving_dir)
  model = server_config.next_model(
      model_name or (previous.name if previous else
                     os.path.basename(serving_dir.rstrip('/'))),
      base_path or (previous.base_path if previous else
                    _default_base_path(serving_dir)),
      versions(serving_dir) if present is None else present, previous)
  server_config.write(serving_dir, model)
  return model


def _place(saved_model_dir: str, destination: str,
           extra_files: Optional[Mapping[str, bytes]]) -> None:
  """Copies the model (and `extra_files`) in as `destination`, a version
  directory."""
  if not publish_lock.is_local(destination):
    version_files.copy(saved_model_dir, destination, extra_files)
    return
  staging = os.path.join(
      os.path.dirname(destination), f'{STAGING_PREFIX}'
      f'{os.path.basename(destination)}-{uuid.uuid4().hex[:8]}')
  try:
    version_files.copy(saved_model_dir, staging, extra_files)
    tf.io.gfile.rename(staging, destination)
  finally:
    if tf.io.gfile.exists(staging):
      tf.io.gfile.rmtree(staging)


def push(saved_model_dir: str, serving_dir: str,
         expected_production=ANY_PRODUCTION, model_name: Optional[str] = None,
         base_path: Optional[str] = None,
         extra_files: Optional[Mapping[str, bytes]] = None) -> PushResult:
  """Publishes a SavedModel as a new version.

  expected_production: the production version directory the model was
  judged against ('' or None: there was none). If production is another
  version by now, nothing is written and the result is superseded.
  model_name, base_path: for models.config (see publish_config).
  extra_files: relative path -> contents, written into the version with the
  model's files (e.g. version_record.FILE).
  """
  tf.io.gfile.makedirs(serving_dir)
  with publish_lock.held(serving_dir) as locked:
    remove_unfinished(serving_dir, locked)
    present = versions(serving_dir)
    production = present[-1] if present else None
    if (expected_production is not ANY_PRODUCTION and
        version_of(expected_production) != production):
      return PushResult(None, production)
    taken = [int(n) for n in _names(serving_dir) if n.isdigit()]
    version = max([int(time.time())] + [v + 1 for v in taken])
    destination = os.path.join(serving_dir, str(version))
    try:
      _place(saved_model_dir, destination, extra_files)
      version_files.verify(saved_model_dir, destination, extra_files)
    except BaseException:
      if tf.io.gfile.exists(destination):
        tf.io.gfile.rmtree(destination)
      raise
    publish_config(serving_dir, model_name, base_path)
  return PushResult(version, production)


def _move(src: str, dst: str) -> None:
  """Renames a version directory: one rename on a local disk; on an object
  store a copy (`saved_model.pb` last) and a delete."""
  if publish_lock.is_local(src):
    tf.io.gfile.rename(src, dst)
  else:
    version_files.copy(src, dst)
    tf.io.gfile.rmtree(src)


def retire_latest(serving_dir: str) -> int:
  """Rolls back: the newest version leaves models.config, then is renamed
  to `<N>.retired` (which no version policy loads), so the previous version
  serves again. Returns N."""
  with publish_lock.held(serving_dir):
    present = versions(serving_dir)
    if not present:
      raise ValueError(f'{serving_dir}: no version to roll back')
    if len(present) == 1:
      raise ValueError(
          f'{serving_dir}: only version {present[0]} is there; rolling back '
          'needs an earlier version to fall back to, and retiring the only '
          'one would leave TF Serving nothing to serve. To replace it, push a '
          'new model: a pipeline run whose candidate is blessed pushes a '
          'newer version, also when this one cannot be loaded')
    newest = present[-1]
    publish_config(serving_dir, present=present[:-1])
    _move(os.path.join(serving_dir, str(newest)),
          os.path.join(serving_dir, f'{newest}{RETIRED_SUFFIX}'))
  return newest


def restore(serving_dir: str, version: int) -> None:
  """Undoes `retire_latest` for `version`."""
  with publish_lock.held(serving_dir):
    retired = os.path.join(serving_dir, f'{version}{RETIRED_SUFFIX}')
    if not tf.io.gfile.isdir(retired):
      raise ValueError(f'{retired}: no such retired version')
    _move(retired, os.path.join(serving_dir, str(version)))
    publish_config(serving_dir)
