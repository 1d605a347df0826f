"""Copying a SavedModel file by file, `saved_model.pb` last, and checking it.

A version directory is complete when its `saved_model.pb` exists: it is the
last file written, so on a filesystem without atomic directory rename (an
object store) a directory holding it holds every other file too.
"""
import os
from typing import Dict, Mapping, Optional

import tensorflow as tf

SAVED_MODEL_FILE = 'saved_model.pb'


class IncompleteCopy(IOError):
  """A copied version does not hold the same files as its source."""


def is_complete(version_dir: str) -> bool:
  return tf.io.gfile.exists(os.path.join(version_dir, SAVED_MODEL_FILE))


def file_sizes(root: str) -> Dict[str, int]:
  """Relative path -> size in bytes of every file under `root`."""
  sizes = {}
  for directory, _, files in tf.io.gfile.walk(root):
    for name in files:
      full = os.path.join(directory, name)
      sizes[os.path.relpath(full, root)] = tf.io.gfile.stat(full).length
  return sizes


def copy(src: str, dst: str,
         extra_files: Optional[Mapping[str, bytes]] = None) -> None:
  """Copies the tree `src` to `dst`, plus `extra_files` (relative path ->
  contents), `saved_model.pb` after everything else."""
  relative = sorted(file_sizes(src), key=lambda p: p == SAVED_MODEL_FILE)
  for path, contents in (extra_files or {}).items():
    target = os.path.join(dst, path)
    tf.io.gfile.makedirs(os.path.dirname(target))
    with tf.io.gfile.GFile(target, 'wb') as f:
      f.write(contents)
  for path in relative:
    target = os.path.join(dst, path)
    tf.io.gfile.makedirs(os.path.dirname(target))
    tf.io.gfile.copy(os.path.join(src, path), target, overwrite=True)


def verify(src: str, dst: str,
           extra_files: Optional[Mapping[str, bytes]] = None) -> None:
  """Raises IncompleteCopy unless `dst` holds `src`'s files at their sizes,
  and `extra_files` at theirs."""
  expected = {**file_sizes(src),
              **{p: len(c) for p, c in (extra_files or {}).items()}}
  found = file_sizes(dst)
  if expected != found:
    missing = sorted(set(expected) - set(found))
    differing = sorted(p for p in expected if p in found
                       and expected[p] != found[p])
    raise IncompleteCopy(f'{dst}: copy of {src} incomplete: missing '
                         f'{missing[:5]}, different sizes {differing[:5]}')
