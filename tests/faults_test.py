"""Faults: the local run is killed (SIGKILL) during Trainer and during Pusher.

Watchers poll the serving directory the whole time
(conftest.py: ServingDirWatcher): every version models.config names and every
integer version directory must be complete whenever seen. After each kill a
rerun must finish, push, and leave ML Metadata consistent. Slow (several
pipeline runs).
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import E2E_HPARAMS
from conftest import cli_command
from conftest import ServingDirWatcher

pytestmark = pytest.mark.slow


def _cli_args(data_dir, runs_dir, seed):
  return cli_command(data_dir, runs_dir, '--train-steps', '100',
                     '--bleu-floor', '0', '--significance-level', '0',
                     '--hparams', json.dumps(dict(E2E_HPARAMS, seed=seed)))


def _run_until_killed(args, stage: str, delay: float) -> str:
  """Starts the CLI, SIGKILLs its process group `delay` s after `stage` starts."""
  process = subprocess.Popen(args, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True,
                             start_new_session=True)
  seen = []
  for line in process.stdout:
    seen.append(line)
    if f' {stage} ...' in line:
      time.sleep(delay)
      break
  os.killpg(process.pid, signal.SIGKILL)
  process.wait(60)
  assert any(f' {stage} ...' in l for l in seen), ''.join(seen)[-3000:]
  return ''.join(seen)


def _executions(runs_dir, component):
  """Last known states of the component's executions in ML Metadata."""
  from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import metadata  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(
      str(runs_dir / 'nmt-en-de' / 'metadata.sqlite')))
  states = metadata_store_pb2.Execution.State
  return [states.Name(e.last_known_state) for e in store.get_executions()
          if e.type.rsplit('.', 1)[-1] == component]


def test_kill_during_trainer_then_pusher(e2e_data_dir, tmp_path):
  runs_dir = tmp_path / 'runs'
  serving = runs_dir / 'nmt-en-de' / 'serving' / 'nmt-en-de'
  watchers = [ServingDirWatcher(str(serving)),
              ServingDirWatcher(str(serving), server_view=False)]
  for watcher in watchers:
    watcher.start()
  try:
    # 1. Killed mid-training: nothing pushed; the rerun completes and pushes.
    _run_until_killed(_cli_args(e2e_data_dir, runs_dir, seed=1), 'Trainer', 3.0)
    assert not serving.exists() or not os.listdir(serving)
    rerun = subprocess.run(_cli_args(e2e_data_dir, runs_dir, seed=1),
                           capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    first_versions = sorted(n for n in os.listdir(serving) if n.isdigit())
    assert len(first_versions) == 1
    trainer_runs = _executions(runs_dir, 'Trainer')
    assert trainer_runs.count('COMPLETE') == 1, trainer_runs
    assert len(trainer_runs) == 2, trainer_runs  # the killed one never completed

    # 2. Killed as the Pusher starts: whatever is visible is complete; the
    #    rerun completes, and every version in the directory is whole.
    _run_until_killed(_cli_args(e2e_data_dir, runs_dir, seed=2),
                      'VersionedPusher', 0.0)
    rerun = subprocess.run(_cli_args(e2e_data_dir, runs_dir, seed=2),
                           capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert 'pushed: ' in rerun.stdout
    versions = sorted(n for n in os.listdir(serving) if n.isdigit())
    assert len(versions) >= 2 and versions[0] == first_versions[0]
    assert 'COMPLETE' in _executions(runs_dir, 'VersionedPusher')
  finally:
    for watcher in watchers:
      watcher.stop()
  for watcher in watchers:
    assert watcher.incomplete == [], watcher.incomplete
    assert watcher.seen
