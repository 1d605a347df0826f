"""One run at a time per run directory (pipeline root + serving directory).

A second run started against the same directory is refused at once, before
it writes anything; the lock is released when the process ends, however it
ends (the kernel drops `flock` locks of dead processes).
"""
import contextlib
import fcntl
import json
import os
import time
from typing import Iterator

LOCK_FILE = '.run.lock'


class RunLockedError(RuntimeError):
  """Another run holds the run directory."""


@contextlib.contextmanager
def exclusive_run(run_dir: str) -> Iterator[None]:
  os.makedirs(run_dir, exist_ok=True)
  path = os.path.join(run_dir, LOCK_FILE)
  with open(path, 'a+') as handle:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      handle.seek(0)
      holder = handle.read().strip() or 'unknown'
      raise RunLockedError(
          f'another run is using {run_dir} ({holder}); wait for it to '
          'finish, or use another --runs-dir') from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({'pid': os.getpid(),
                             'started': time.strftime('%Y-%m-%d %H:%M:%S')}))
    handle.flush()
    try:
      yield
    finally:
      fcntl.flock(handle, fcntl.LOCK_UN)
