"""The KFP requests upload/schedule/run build, against a recording test double
of kfp.Client; and the message when no server answers."""
import json
import socket
import types

import pytest

from nmt_tfx.kubeflow import schedule


class FakeKfpClient:
  """Test double for kfp.Client: keeps pipelines, versions, experiments and
  recurring runs in memory and records every call."""

  def __init__(self, pipelines=None):
    self.calls = []
    self.pipelines = dict(pipelines or {})     # name -> id
    self.versions = {pid: [f'{pid}-v0'] for pid in self.pipelines.values()}
    self.experiments = {}
    self.recurring = {}                        # id -> (experiment, name)

  def _record(self, call, **kwargs):
    self.calls.append((call, kwargs))

  def get_pipeline_id(self, name):
    self._record('get_pipeline_id', name=name)
    return self.pipelines.get(name)

  def upload_pipeline(self, **kwargs):
    self._record('upload_pipeline', **kwargs)
    pid = f'p{len(self.pipelines)}'
    self.pipelines[kwargs['pipeline_name']] = pid
    self.versions[pid] = [f'{pid}-v0']
    return types.SimpleNamespace(pipeline_id=pid)

  def upload_pipeline_version(self, **kwargs):
    self._record('upload_pipeline_version', **kwargs)
    versions = self.versions[kwargs['pipeline_id']]
    versions.append(f'{kwargs["pipeline_id"]}-v{len(versions)}')

  def list_pipeline_versions(self, **kwargs):
    self._record('list_pipeline_versions', **kwargs)
    assert kwargs['sort_by'] == 'created_at desc'
    return types.SimpleNamespace(pipeline_versions=[
        types.SimpleNamespace(pipeline_version_id=v)
        for v in reversed(self.versions[kwargs['pipeline_id']])])

  def create_experiment(self, name):
    self._record('create_experiment', name=name)
    experiment_id = self.experiments.setdefault(name, f'e-{name}')
    return types.SimpleNamespace(experiment_id=experiment_id)

  def list_recurring_runs(self, page_token, page_size, experiment_id):
    self._record('list_recurring_runs', experiment_id=experiment_id)
    return types.SimpleNamespace(next_page_token='', recurring_runs=[
        types.SimpleNamespace(recurring_run_id=rid, display_name=name)
        for rid, (exp, name) in self.recurring.items() if exp == experiment_id])

  def create_recurring_run(self, **kwargs):
    self._record('create_recurring_run', **kwargs)
    rid = f'r{len(self.calls)}'
    self.recurring[rid] = (kwargs['experiment_id'], kwargs['job_name'])
    return types.SimpleNamespace(recurring_run_id=rid)

  def delete_recurring_run(self, recurring_run_id):
    self._record('delete_recurring_run', recurring_run_id=recurring_run_id)
    del self.recurring[recurring_run_id]

  def run_pipeline(self, **kwargs):
    self._record('run_pipeline', **kwargs)
    return types.SimpleNamespace(run_id='run-1')

  def named(self, name):
    return [kwargs for call, kwargs in self.calls if call == name]


def cli(argv, client):
  return schedule.main(['--endpoint', 'http://kfp.test', *argv],
                       client_factory=lambda endpoint: client,
                       reachable=lambda endpoint: None)


@pytest.fixture
def package(tmp_path):
  path = tmp_path / 'spec.yaml'
  path.write_text('pipelineInfo:\n  name: nmt-en-de\n')
  return str(path)


def test_first_upload_creates_the_pipeline_named_in_the_spec(package, capsys):
  client = FakeKfpClient()
  assert cli(['upload', '--package', package], client) == 0
  assert client.named('upload_pipeline') == [
      {'pipeline_package_path': package, 'pipeline_name': 'nmt-en-de'}]
  assert json.loads(capsys.readouterr().out) == {'pipeline_id': 'p0',
                                                 'version_id': 'p0-v0'}


def test_later_upload_adds_a_version(package, capsys):
  client = FakeKfpClient({'nmt-en-de': 'p7'})
  assert cli(['upload', '--package', package, '--version', 'v2'], client) == 0
  assert not client.named('upload_pipeline')
  assert client.named('upload_pipeline_version') == [
      {'pipeline_package_path': package, 'pipeline_version_name': 'v2',
       'pipeline_id': 'p7'}]
  assert json.loads(capsys.readouterr().out)['version_id'] == 'p7-v1'


def test_schedule_one_run_at_a_time_no_catchup_newest_version():
  client = FakeKfpClient({'nmt-en-de': 'p1'})
  client.versions['p1'].append('p1-v1')
  assert cli(['schedule', '--pipeline', 'nmt-en-de', '--cron', '0 3 * * *',
              '--param', 'data_dir=gs://b/data', '--param', 'bleu_floor=12',
              '--train-steps', '500'], client) == 0
  [request] = client.named('create_recurring_run')
  assert request['cron_expression'] == '0 0 3 * * *'
  assert request['max_concurrency'] == 1 and request['no_catchup'] is True
  assert request['enabled'] is True
  assert (request['pipeline_id'], request['version_id']) == ('p1', 'p1-v1')
  assert request['experiment_id'] == 'e-nmt-scheduled'
  assert request['job_name'] == 'nmt-en-de-schedule'
  assert request['params'] == {
      'data_dir': 'gs://b/data', 'bleu_floor': 12.0,
      'train_args': '{"num_steps": 500, "splits": ["train"]}'}


def test_schedule_replaces_the_existing_recurring_run(capsys):
  client = FakeKfpClient({'nmt-en-de': 'p1'})
  argv = ['schedule', '--pipeline', 'nmt-en-de', '--cron', '0 3 * * *']
  assert cli(argv, client) == 0
  first = json.loads(capsys.readouterr().out)['recurring_run_id']
  assert cli(argv[:-1] + ['0 4 * * *'], client) == 0
  second = json.loads(capsys.readouterr().out)
  assert second['replaced'] == [first]
  assert list(client.recurring) == [second['recurring_run_id']]
  # The new schedule exists before the old one goes.
  order = [name for name, _ in client.calls
           if name in ('create_recurring_run', 'delete_recurring_run')]
  assert order == ['create_recurring_run', 'create_recurring_run',
                   'delete_recurring_run']


def test_run_starts_the_newest_version(capsys):
  client = FakeKfpClient({'nmt-en-de': 'p1'})
  assert cli(['run', '--pipeline', 'nmt-en-de', '--name', 'manual',
              '--param', 'language_pair=en-fr'], client) == 0
  assert client.named('run_pipeline') == [{
      'experiment_id': 'e-nmt-scheduled', 'job_name': 'manual',
      'params': {'language_pair': 'en-fr'}, 'pipeline_id': 'p1',
      'version_id': 'p1-v0'}]
  assert json.loads(capsys.readouterr().out)['run_id'] == 'run-1'


def test_unknown_pipeline_says_upload_first(capsys):
  assert cli(['run', '--pipeline', 'nope'], FakeKfpClient()) == 4
  assert 'upload' in capsys.readouterr().err


@pytest.mark.parametrize('argv, message', [
    (['run', '--pipeline', 'p', '--param', 'epochs=3'], 'NAME one of'),
    (['run', '--pipeline', 'p', '--param', 'bleu_floor'], 'NAME=VALUE'),
    (['schedule', '--pipeline', 'p', '--cron', '3 * *'], '5 fields'),
])
def test_bad_arguments_exit_2(argv, message, capsys):
  assert cli(argv, FakeKfpClient()) == 2
  assert message in capsys.readouterr().err


def test_endpoint_from_environment(monkeypatch):
  monkeypatch.setenv(schedule.ENDPOINT_ENV, 'kfp.internal:8888')
  assert schedule.resolve_endpoint(None) == 'http://kfp.internal:8888'
  assert schedule.resolve_endpoint('https://x') == 'https://x'
  monkeypatch.delenv(schedule.ENDPOINT_ENV)
  with pytest.raises(ValueError, match='KFP_ENDPOINT'):
    schedule.resolve_endpoint(None)


def test_unreachable_endpoint_is_one_clear_line(capsys):
  with socket.socket() as s:  # a port nobody listens on
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  code = schedule.main(['--endpoint', f'http://127.0.0.1:{port}', 'run',
                        '--pipeline', 'nmt-en-de'],
                       client_factory=pytest.fail)
  err = capsys.readouterr().err
  assert code == 3
  assert err.startswith(f'error: cannot reach Kubeflow Pipelines at '
                        f'http://127.0.0.1:{port}')
  assert len(err.strip().splitlines()) == 1


def test_connection_lost_mid_request_is_reported_as_unreachable(capsys):
  class Dropping(FakeKfpClient):
    def get_pipeline_id(self, name):
      import urllib3  # pylint: disable=g-import-not-at-top
      raise urllib3.exceptions.MaxRetryError(None, '/apis', 'refused')
  assert cli(['run', '--pipeline', 'nmt-en-de'], Dropping()) == 3
  assert 'cannot reach' in capsys.readouterr().err
