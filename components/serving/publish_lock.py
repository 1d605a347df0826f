"""One publisher at a time per serving directory.

`held(serving_dir)` holds the directory's publish lock, `.publish.lock`:
- a local (or NFS-mounted) directory: an exclusive `fcntl.flock` on it, which
  every process and thread waits for and which a publisher that dies
  releases with its process;
- `gs://`: an object created only if absent (a generation precondition,
  google-cloud-storage) and deleted when done. One left by a publisher that
  died is broken after LEASE_SECONDS;
- other object stores: no lock (tf.io.gfile has no create-if-absent); the
  block runs unlocked, with a warning.
"""
import contextlib
import fcntl
import json
import os
import socket
import time
from typing import Iterator

from absl import logging

LOCK_FILE = '.publish.lock'
# A gs:// lock older than this is taken to be a dead publisher's.
LEASE_SECONDS = 3600
POLL_SECONDS = 2.0


class LockTimeout(TimeoutError):
  """The publish lock was not free in time."""


def is_local(path: str) -> bool:
  return '://' not in path or path.startswith('file://')


@contextlib.contextmanager
def _flock(serving_dir: str) -> Iterator[bool]:
  local = serving_dir[len('file://'):] if serving_dir.startswith(
      'file://') else serving_dir
  os.makedirs(local, exist_ok=True)
  with open(os.path.join(local, LOCK_FILE), 'a') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield True
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def _storage_client():
  from google.cloud import storage  # pylint: disable=g-import-not-at-top
  return storage.Client()


@contextlib.contextmanager
def _gcs_lock(serving_dir: str, client, timeout: float) -> Iterator[bool]:
  """Holds `<serving_dir>/.publish.lock` on Cloud Storage."""
  from google.api_core import exceptions  # pylint: disable=g-import-not-at-top
  bucket_name, _, prefix = serving_dir[len('gs://'):].partition('/')
  blob = client.bucket(bucket_name).blob(
      '/'.join(p for p in (prefix.rstrip('/'), LOCK_FILE) if p))
  owner = json.dumps({'host': socket.gethostname(), 'pid': os.getpid(),
                      'since': time.time()})
  deadline = time.monotonic() + timeout
  while True:
    try:
      blob.upload_from_string(owner, if_generation_match=0)
      break
    except exceptions.PreconditionFailed:
      pass
    try:   # held: by a dead publisher if older than the lease
      blob.reload()
      age = time.time() - blob.time_created.timestamp()
      if age > LEASE_SECONDS:
        logging.warning('Breaking the publish lock gs://%s/%s (%.0f s old)',
                        bucket_name, blob.name, age)
        blob.delete(if_generation_match=blob.generation)
        continue
    except (exceptions.NotFound, exceptions.PreconditionFailed):
      continue   # released or broken meanwhile: try again at once
    if time.monotonic() > deadline:
      raise LockTimeout(f'{serving_dir}: publish lock held by another '
                        f'publisher for over {timeout:.0f} s')
    time.sleep(POLL_SECONDS)
  generation = blob.generation
  try:
    yield True
  finally:
    try:
      blob.delete(if_generation_match=generation)
    except (exceptions.NotFound, exceptions.PreconditionFailed):
      logging.warning('Publish lock gs://%s/%s was broken while held',
                      bucket_name, blob.name)


@contextlib.contextmanager
def held(serving_dir: str, client=None,
         timeout: float = LEASE_SECONDS) -> Iterator[bool]:
  """Holds the serving directory's publish lock; yields whether there is a
  real lock (False on object stores other than gs://). `client`: a
  google.cloud.storage.Client for gs:// (default: a new one)."""
  if is_local(serving_dir):
    with _flock(serving_dir) as locked:
      yield locked
  elif serving_dir.startswith('gs://'):
    with _gcs_lock(serving_dir, client or _storage_client(),
                   timeout) as locked:
      yield locked
  else:
    logging.warning('%s: no publish lock on this filesystem; concurrent '
                    'publishers are not kept apart', serving_dir)
    yield False
