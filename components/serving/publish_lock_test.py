"""The publish lock keeps concurrent publishers apart: flock on local disks,
a create-if-absent object on Cloud Storage (against a test double)."""
import datetime
import threading
import time

import pytest
from google.api_core import exceptions

from nmt_tfx.components.serving import publish_lock


class CloudStorageTestDouble:
  """TEST DOUBLE of google.cloud.storage.Client for the calls the lock
  makes: objects with generations, `if_generation_match` preconditions
  (0: only if absent), creation times."""

  def __init__(self):
    self.objects = {}   # name -> (generation, time_created, data)
    self._mutex = threading.Lock()
    self._generation = 0

  def bucket(self, name):
    return _Bucket(self, name)


class _Bucket:

  def __init__(self, store, name):
    self.store, self.name = store, name

  def blob(self, name):
    return _Blob(self.store, f'{self.name}/{name}')


class _Blob:

  def __init__(self, store, key):
    self.store, self.key, self.name = store, key, key.split('/', 1)[1]
    self.generation, self.time_created = None, None

  def _current(self):
    return self.store.objects.get(self.key, (0, None, None))[0]

  def upload_from_string(self, data, if_generation_match=None):
    with self.store._mutex:  # pylint: disable=protected-access
      if if_generation_match is not None and (
          self._current() != if_generation_match):
        raise exceptions.PreconditionFailed('generation mismatch')
      self.store._generation += 1  # pylint: disable=protected-access
      self.generation = self.store._generation  # pylint: disable=protected-access
      self.time_created = datetime.datetime.now(datetime.timezone.utc)
      self.store.objects[self.key] = (self.generation, self.time_created, data)

  def reload(self):
    with self.store._mutex:  # pylint: disable=protected-access
      if self.key not in self.store.objects:
        raise exceptions.NotFound('no such object')
      self.generation, self.time_created, _ = self.store.objects[self.key]

  def delete(self, if_generation_match=None):
    with self.store._mutex:  # pylint: disable=protected-access
      if self.key not in self.store.objects:
        raise exceptions.NotFound('no such object')
      if if_generation_match is not None and (
          self._current() != if_generation_match):
        raise exceptions.PreconditionFailed('generation mismatch')
      del self.store.objects[self.key]


def _at_most_one_holder(enter, threads=3, rounds=3):
  """Runs `enter()` blocks from several threads; returns the most holders
  seen at once."""
  inside, most, mutex = [0], [0], threading.Lock()

  def publisher():
    for _ in range(rounds):
      with enter():
        with mutex:
          inside[0] += 1
          most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        with mutex:
          inside[0] -= 1

  workers = [threading.Thread(target=publisher) for _ in range(threads)]
  for worker in workers:
    worker.start()
  for worker in workers:
    worker.join()
  return most[0]


def test_local_lock_admits_one_publisher_at_a_time(tmp_path):
  assert _at_most_one_holder(lambda: publish_lock.held(str(tmp_path))) == 1


def test_cloud_storage_lock_admits_one_publisher_at_a_time(monkeypatch):
  monkeypatch.setattr(publish_lock, 'POLL_SECONDS', 0.005)
  store = CloudStorageTestDouble()
  assert _at_most_one_holder(lambda: publish_lock.held(
      'gs://bucket/serving/nmt', client=store)) == 1
  assert store.objects == {}   # released


def test_cloud_storage_lock_of_a_dead_publisher_is_broken(monkeypatch):
  store = CloudStorageTestDouble()
  dead = store.bucket('bucket').blob('serving/nmt/.publish.lock')
  dead.upload_from_string('{}', if_generation_match=0)
  generation, created, data = store.objects[dead.key]
  store.objects[dead.key] = (generation, created - datetime.timedelta(
      seconds=publish_lock.LEASE_SECONDS + 1), data)
  with publish_lock.held('gs://bucket/serving/nmt', client=store) as locked:
    assert locked and store.objects[dead.key][0] > generation


def test_cloud_storage_lock_held_too_long_times_out(monkeypatch):
  monkeypatch.setattr(publish_lock, 'POLL_SECONDS', 0.01)
  store = CloudStorageTestDouble()
  with publish_lock.held('gs://bucket/serving', client=store):
    with pytest.raises(publish_lock.LockTimeout, match='held by another'):
      with publish_lock.held('gs://bucket/serving', client=store,
                             timeout=0.05):
        pass


def test_other_object_stores_run_unlocked():
  with publish_lock.held('s3://bucket/serving') as locked:
    assert locked is False
