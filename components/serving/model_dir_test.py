import os
from unittest import mock

import pytest

from nmt_tfx.components.serving import model_dir


def _saved_model(path):
  (path / 'variables').mkdir(parents=True)
  (path / 'saved_model.pb').write_bytes(b'graph')
  (path / 'variables' / 'variables.index').write_bytes(b'index')
  return path


def test_push_creates_increasing_integer_versions(tmp_path):
  src = _saved_model(tmp_path / 'model')
  serving = tmp_path / 'serving'
  first = model_dir.push(str(src), str(serving))
  second = model_dir.push(str(src), str(serving))
  assert second > first
  assert sorted(os.listdir(serving)) == sorted([str(first), str(second)])
  assert (serving / str(second) / 'variables' / 'variables.index').exists()
  assert model_dir.latest_version_dir(str(serving)) == str(serving / str(second))


def test_versions_ignore_non_integer_entries(tmp_path):
  for name in ('3', '12', '.staging-99-abc', 'notes', '7.retired'):
    (tmp_path / name).mkdir()
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
  assert os.listdir(serving) == []


def test_rollback_retires_newest_and_restore_brings_it_back(tmp_path, capsys):
  from nmt_tfx.components.serving import admin  # pylint: disable=g-import-not-at-top
  for version in ('100', '200'):
    _saved_model(tmp_path / version)
  assert admin.main(['rollback', '--serving-dir', str(tmp_path)]) == 0
  assert 'now serving 100' in capsys.readouterr().out
  assert model_dir.versions(str(tmp_path)) == [100]
  assert (tmp_path / '200.retired' / 'saved_model.pb').exists()
  # With one version left there is nothing to fall back to.
  assert admin.main(['rollback', '--serving-dir', str(tmp_path)]) == 2
  error = capsys.readouterr().err
  assert 'only version 100 is there' in error
  assert 'needs an earlier version' in error and 'push a new model' in error
  assert model_dir.versions(str(tmp_path)) == [100]   # nothing was renamed
  assert admin.main(['restore', '--serving-dir', str(tmp_path),
                     '--version', '200']) == 0
  assert model_dir.versions(str(tmp_path)) == [100, 200]


def test_rollback_of_an_empty_serving_dir_says_so(tmp_path, capsys):
  from nmt_tfx.components.serving import admin  # pylint: disable=g-import-not-at-top
  assert admin.main(['rollback', '--serving-dir', str(tmp_path)]) == 2
  assert 'no version to roll back' in capsys.readouterr().err
