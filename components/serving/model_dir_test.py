import os
import threading
import time
from unittest import mock

import pytest

from nmt_tfx.components.serving import model_dir
from nmt_tfx.components.serving import publish_lock
from nmt_tfx.components.serving import server_config
from conftest import ServingDirWatcher


def _saved_model(path, files=3):
  (path / 'variables').mkdir(parents=True)
  (path / 'saved_model.pb').write_bytes(b'graph')
  (path / 'variables' / 'variables.index').write_bytes(b'index')
  for i in range(files):
    (path / 'variables' / f'variables.data-{i:05d}').write_bytes(b'w' * 1000)
  return path


def _version_dirs(serving):
  return sorted(n for n in os.listdir(serving) if n.isdigit())


def test_push_creates_increasing_integer_versions(tmp_path):
  src = _saved_model(tmp_path / 'model')
  serving = tmp_path / 'serving'
  first = model_dir.push(str(src), str(serving)).version
  second = model_dir.push(str(src), str(serving)).version
  assert second > first
  assert _version_dirs(serving) == sorted([str(first), str(second)])
  assert not [n for n in os.listdir(serving) if n.startswith('.staging-')]
  assert (serving / str(second) / 'variables' / 'variables.index').exists()
  assert model_dir.latest_version_dir(str(serving)) == str(serving / str(second))


def test_versions_are_complete_integer_directories(tmp_path):
  for name in ('3', '12', '.staging-99-abc', 'notes', '7.retired'):
    _saved_model(tmp_path / name)
  (tmp_path / '20').mkdir()   # no saved_model.pb: not (yet) a version
  assert model_dir.versions(str(tmp_path)) == [3, 12]
  assert model_dir.versions(str(tmp_path / 'missing')) == []


def test_failed_copy_leaves_no_version_and_no_staging(tmp_path):
  src = _saved_model(tmp_path / 'model')
  serving = tmp_path / 'serving'
  real_copy = model_dir.tf.io.gfile.copy
  calls = []

  def failing_copy(a, b, *args, **kwargs):
    calls.append(a)
    if len(calls) == 2:
      raise OSError('disk full')
    return real_copy(a, b, *args, **kwargs)

  with mock.patch.object(model_dir.tf.io.gfile, 'copy', failing_copy):
    with pytest.raises(OSError, match='disk full'):
      model_dir.push(str(src), str(serving))
  assert [n for n in os.listdir(serving) if not n.startswith('.publish')] == []


def test_models_config_names_the_published_versions(tmp_path):
  src = _saved_model(tmp_path / 'model')
  serving = str(tmp_path / 'serving')
  first = model_dir.push(src, serving, model_name='nmt', base_path='/m').version
  served = server_config.read(serving)
  assert (served.name, served.base_path) == ('nmt', '/m')
  assert served.versions == (first,) and served.labels == {'canary': first}
  second = model_dir.push(src, serving).version
  served = server_config.read(serving)
  assert served.versions == (first, second)
  # `canary` waits until the server has loaded the new version ...
  assert served.labels == {'canary': first, 'stable': first}
  model_dir.publish_config(serving)   # nmt-serving relabel
  # ... then follows the directory: newest canary, previous stable.
  served = server_config.read(serving)
  assert served.labels == {'canary': second, 'stable': first}
  assert (served.name, served.base_path) == ('nmt', '/m')


def test_labels_stay_true_to_the_directory_through_rollback(tmp_path, capsys):
  from nmt_tfx.components.serving import admin  # pylint: disable=g-import-not-at-top
  src = _saved_model(tmp_path / 'model')
  serving = str(tmp_path / 'serving')
  v1, v2, v3 = (model_dir.push(src, serving).version for _ in range(3))
  assert admin.main(['relabel', '--serving-dir', serving]) == 0
  assert server_config.read(serving).labels == {'canary': v3, 'stable': v2}

  assert admin.main(['rollback', '--serving-dir', serving]) == 0
  served = server_config.read(serving)
  # v3 unloaded; canary moves back to the loaded v2; stable (v1 is not
  # loaded yet) stays on v2 until relabel.
  assert v3 not in served.versions and served.labels == {'canary': v2,
                                                         'stable': v2}
  assert admin.main(['relabel', '--serving-dir', serving]) == 0
  served = server_config.read(serving)
  assert served.versions == (v1, v2)
  assert served.labels == {'canary': v2, 'stable': v1}

  assert admin.main(['restore', '--serving-dir', serving,
                     '--version', str(v3)]) == 0
  assert admin.main(['relabel', '--serving-dir', serving]) == 0
  served = server_config.read(serving)
  assert served.versions == (v2, v3)
  assert served.labels == {'canary': v3, 'stable': v2}
  # Every label points at a served version at every step.
  assert 'canary=' in capsys.readouterr().out


def _non_atomic_rename(delay=0.005):
  """tf.io.gfile.rename as on an object store: a directory is copied file
  by file, then deleted; files are renamed one at a time."""
  real_rename = model_dir.tf.io.gfile.rename

  def rename(src, dst, overwrite=False):
    if not os.path.isdir(src):
      return real_rename(src, dst, overwrite)
    for root, _, files in os.walk(src):
      for name in sorted(files):
        target = os.path.join(dst, os.path.relpath(root, src), name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(os.path.join(root, name), 'rb') as f, open(target, 'wb') as g:
          g.write(f.read())
        time.sleep(delay)
    model_dir.tf.io.gfile.rmtree(src)
  return rename


def _push_while_watched(src, serving, watchers, pushes=3):
  """The first push makes models.config, which the server needs to start
  (--model_config_file); the next `pushes` run under the watchers."""
  model_dir.push(str(src), str(serving))
  for watcher in watchers:
    watcher.start()
  try:
    pushed = [model_dir.push(str(src), str(serving)).version
              for _ in range(pushes)]
    time.sleep(0.2)   # a last look after the last push
    return pushed
  finally:
    for watcher in watchers:
      watcher.stop()


def test_server_never_sees_a_half_renamed_version(tmp_path):
  """Without atomic directory rename the version directory fills up file by
  file; a server reading models.config never loads it before it is whole."""
  src = _saved_model(tmp_path / 'model', files=20)
  serving = tmp_path / 'serving'
  watcher = ServingDirWatcher(str(serving), interval=0.001)
  with mock.patch.object(model_dir.tf.io.gfile, 'rename', _non_atomic_rename()):
    pushed = _push_while_watched(src, serving, [watcher])
  assert watcher.incomplete == [], watcher.incomplete
  assert set(map(str, pushed)) <= watcher.seen


def test_on_an_object_store_versions_are_written_saved_model_last(tmp_path):
  """An object store (no publish lock, no staging rename): every integer
  directory holding saved_model.pb is complete, and models.config names
  complete versions only."""
  src = _saved_model(tmp_path / 'model', files=20)
  serving = tmp_path / 'serving'
  real_copy = model_dir.tf.io.gfile.copy

  def slow_copy(*args, **kwargs):
    time.sleep(0.005)
    return real_copy(*args, **kwargs)

  class SavedModelLastWatcher(ServingDirWatcher):
    """A directory holding saved_model.pb must hold everything."""

    def _loadable(self):
      names, _ = super()._loadable()
      return [n for n in names if os.path.exists(
          os.path.join(self.serving_dir, n, 'saved_model.pb'))], False

  watchers = [ServingDirWatcher(str(serving), interval=0.001),
              SavedModelLastWatcher(str(serving), server_view=False,
                                    interval=0.001)]
  with mock.patch.object(publish_lock, 'is_local', lambda path: False), \
       mock.patch.object(model_dir.tf.io.gfile, 'copy', slow_copy), \
       mock.patch.object(model_dir.tf.io.gfile, 'rename', _non_atomic_rename()):
    pushed = _push_while_watched(src, serving, watchers)
  for watcher in watchers:
    assert watcher.incomplete == [], watcher.incomplete
  assert server_config.read(str(serving)).versions == tuple(pushed[-2:])


def test_next_push_removes_what_a_dead_push_left(tmp_path):
  src = _saved_model(tmp_path / 'model')
  serving = tmp_path / 'serving'
  _saved_model(serving / '.staging-5-deadbeef')
  (serving / '9').mkdir()        # a copy that never got its saved_model.pb
  version = model_dir.push(str(src), str(serving)).version
  assert sorted(n for n in os.listdir(serving) if not n.startswith('.publish')
                and n != 'models.config') == [str(version)]


def test_without_the_lock_only_stale_leftovers_are_removed(tmp_path):
  serving = tmp_path / 'serving'
  for name in ('.staging-5-old', '.staging-6-fresh'):
    _saved_model(serving / name)
  old = time.time() - model_dir.STALE_AFTER_SECONDS - 60
  for root, _, files in os.walk(serving / '.staging-5-old'):
    for name in files:
      os.utime(os.path.join(root, name), (old, old))
  assert model_dir.remove_unfinished(str(serving), locked=False) == [
      '.staging-5-old']
  assert (serving / '.staging-6-fresh').exists()


def test_push_is_superseded_when_production_changed(tmp_path):
  src = _saved_model(tmp_path / 'model')
  serving = str(tmp_path / 'serving')
  first = model_dir.push(src, serving, expected_production=None)
  assert not first.superseded and first.production is None
  # Judged against no production model, but there is one now.
  stale = model_dir.push(src, serving, expected_production='')
  assert stale.superseded and stale.production == first.version
  judged = os.path.join(serving, str(first.version))
  second = model_dir.push(src, serving, expected_production=judged)
  assert not second.superseded
  assert model_dir.push(src, serving, expected_production=judged).superseded
  assert model_dir.versions(serving) == [first.version, second.version]


def test_two_concurrent_pipelines_one_push_wins(tmp_path):
  """Both judged their model against the same production version; the
  first to publish wins, the other is superseded and writes nothing."""
  src = _saved_model(tmp_path / 'model', files=10)
  serving = str(tmp_path / 'serving')
  baseline = model_dir.push(src, serving).version
  judged = os.path.join(serving, str(baseline))
  real_copy = model_dir.tf.io.gfile.copy

  def slow_copy(*args, **kwargs):   # the pushes overlap in time
    time.sleep(0.01)
    return real_copy(*args, **kwargs)

  results, start = [], threading.Barrier(2)

  def pipeline():
    start.wait()
    results.append(model_dir.push(src, serving, expected_production=judged))

  with mock.patch.object(model_dir.tf.io.gfile, 'copy', slow_copy):
    threads = [threading.Thread(target=pipeline) for _ in range(2)]
    for thread in threads:
      thread.start()
    for thread in threads:
      thread.join()
  assert sorted(r.superseded for r in results) == [False, True]
  winner = next(r for r in results if not r.superseded)
  loser = next(r for r in results if r.superseded)
  assert loser.production == winner.version
  assert model_dir.versions(serving) == [baseline, winner.version]


@pytest.mark.parametrize('local', [True, False])
def test_a_copy_that_fails_the_check_is_never_published(tmp_path, local):
  src = _saved_model(tmp_path / 'model')
  serving = str(tmp_path / 'serving')
  first = model_dir.push(str(src), serving).version
  real_copy = model_dir.tf.io.gfile.copy

  def truncating_copy(a, b, overwrite=False):   # a short write, no error
    real_copy(a, b, overwrite)
    if a.endswith('variables.data-00001'):
      with open(b, 'wb') as f:
        f.write(b'w')

  with mock.patch.object(publish_lock, 'is_local', lambda path: local), \
       mock.patch.object(model_dir.tf.io.gfile, 'copy', truncating_copy):
    with pytest.raises(model_dir.version_files.IncompleteCopy,
                       match='different sizes'):
      model_dir.push(str(src), serving)
  assert model_dir.versions(serving) == [first]
  assert _version_dirs(serving) == [str(first)]
  assert server_config.read(serving).versions == (first,)


def test_rollback_of_the_only_version_is_refused_saying_why(tmp_path, capsys):
  from nmt_tfx.components.serving import admin  # pylint: disable=g-import-not-at-top
  serving = str(tmp_path / 'serving')
  only = model_dir.push(str(_saved_model(tmp_path / 'model')), serving).version
  assert admin.main(['rollback', '--serving-dir', serving]) == 2
  error = capsys.readouterr().err
  assert f'only version {only} is there' in error
  assert 'needs an earlier version' in error and 'push a new model' in error
  assert model_dir.versions(serving) == [only]   # nothing was renamed


def test_rollback_of_an_empty_serving_dir_says_so(tmp_path, capsys):
  from nmt_tfx.components.serving import admin  # pylint: disable=g-import-not-at-top
  assert admin.main(['rollback', '--serving-dir', str(tmp_path)]) == 2
  assert 'no version to roll back' in capsys.readouterr().err
