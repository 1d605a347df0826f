"""One publisher at a time per serving directory.

`held(serving_dir)` holds an exclusive `fcntl.flock` on
`<serving_dir>/.publish.lock` for local (and NFS-mounted) directories: every
pipeline, process and thread publishing there waits its turn, and a
publisher that dies releases the lock with its process. Object stores have
no such lock through tf.io.gfile; there the block runs unlocked, and the
comparison made inside it (model_dir.push) narrows the race to the moments
between checking production and writing models.config.
"""
import contextlib
import fcntl
import os
from typing import Iterator

LOCK_FILE = '.publish.lock'


def is_local(path: str) -> bool:
  return '://' not in path or path.startswith('file://')


@contextlib.contextmanager
def held(serving_dir: str) -> Iterator[bool]:
  """Holds the serving directory's publish lock; yields whether it is a real
  lock (False on object stores)."""
  if not is_local(serving_dir):
    yield False
    return
  local = serving_dir[len('file://'):] if serving_dir.startswith(
      'file://') else serving_dir
  os.makedirs(local, exist_ok=True)
  with open(os.path.join(local, LOCK_FILE), 'a') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield True
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
