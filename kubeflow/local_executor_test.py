"""The local executor on small hand-written specs whose containers are short
Python scripts: the DAG order, typed parameters, artifacts passed from
producer to consumer as the KFP driver passes them, importers, failures.
The compiled pipeline itself: tests/kubeflow_local_executor_e2e_test.py."""
import json
import os
import sys
import textwrap

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
import yaml

from nmt_tfx.kubeflow import local_executor

# A container: writes its output artifact's file and an executor output that
# reports metadata on it; records what it was given in record.json.
SCRIPT = textwrap.dedent('''
    import json, os, sys
    executor_input = json.loads(sys.argv[1])
    inputs, outputs = executor_input['inputs'], executor_input['outputs']
    out = outputs['artifacts']['out']['artifacts'][0]
    os.makedirs(out['uri'])
    received = {k: v['artifacts'][0] for k, v in inputs.get('artifacts', {}).items()}
    text = inputs.get('parameterValues', {}).get('text', '')
    for key in sorted(received):  # a protobuf map has no order
      text += open(os.path.join(received[key]['uri'], 'data')).read()
    open(os.path.join(out['uri'], 'data'), 'w').write(text)
    task_root = os.path.dirname(outputs['outputFile'])
    json.dump({'executable': sys.executable, 'received': received,
               'parameters': inputs.get('parameterValues', {})},
              open(os.path.join(task_root, 'record.json'), 'w'))
    if os.environ.get('FAIL_TASK') == os.path.basename(task_root):
      print('failing as asked'); sys.exit(3)
    json.dump({'artifacts': {'out': {'artifacts': [
        {'name': out['name'], 'uri': out['uri'],
         'metadata': {'length': len(text)}}]}},
               'parameterValues': {k: len(text)
                                   for k in outputs.get('parameters', {})}},
              open(outputs['outputFile'], 'w'))
''')
DATASET = {'artifactType': {'schemaTitle': 'system.Dataset',
                            'schemaVersion': '0.0.1'}}


def component(parameters=None, artifacts=None):
  definitions = {}
  if parameters:
    definitions['parameters'] = parameters
  if artifacts:
    definitions['artifacts'] = artifacts
  return {'executorLabel': None, 'inputDefinitions': definitions,
          'outputDefinitions': {'artifacts': {'out': DATASET}}}


def toy_spec(env=None):
  """produce(text=greeting) -> consume(data, size); import -> consume(imported)."""
  container = {'image': 'python:3.10', 'command': ['python', '-c', SCRIPT],
               'args': ['{{$}}'], **({'env': env} if env else {})}
  components = {
      'comp-produce': component(parameters={'text': {
          'parameterType': 'STRING'}}),
      'comp-consume': component(
          parameters={'size': {'parameterType': 'NUMBER_INTEGER'}},
          artifacts={'data': DATASET, 'imported': DATASET}),
      'comp-import': {'executorLabel': 'exec-import',
                      'inputDefinitions': {'parameters': {
                          'uri': {'parameterType': 'STRING'}}},
                      'outputDefinitions': {'artifacts': {'artifact': DATASET}}},
  }
  for name in ('produce', 'consume'):
    components[f'comp-{name}']['executorLabel'] = f'exec-{name}'
  components['comp-produce']['outputDefinitions']['parameters'] = {
      'size': {'parameterType': 'NUMBER_INTEGER'}}
  return {
      'pipelineInfo': {'name': 'toy'},
      'schemaVersion': '2.1.0', 'sdkVersion': 'test',
      'components': components,
      'deploymentSpec': {'executors': {
          'exec-produce': {'container': container},
          'exec-consume': {'container': container},
          'exec-import': {'importer': {
              'artifactUri': {'runtimeParameter': 'uri'},
              'typeSchema': {'schemaTitle': 'system.Dataset'},
              'metadata': {'origin': 'imported'}}},
      }},
      'root': {
          'inputDefinitions': {'parameters': {
              'greeting': {'parameterType': 'STRING', 'defaultValue': 'hi',
                           'isOptional': True},
              'imported_dir': {'parameterType': 'STRING'},
          }},
          'dag': {'tasks': {
              'consume': {
                  'taskInfo': {'name': 'consume'},
                  'componentRef': {'name': 'comp-consume'},
                  'dependentTasks': ['produce'],
                  'inputs': {'parameters': {'size': {'taskOutputParameter': {
                      'producerTask': 'produce',
                      'outputParameterKey': 'size'}}},
                             'artifacts': {
                      'data': {'taskOutputArtifact': {
                          'producerTask': 'produce',
                          'outputArtifactKey': 'out'}},
                      'imported': {'taskOutputArtifact': {
                          'producerTask': 'import',
                          'outputArtifactKey': 'artifact'}}}}},
              'produce': {
                  'taskInfo': {'name': 'produce'},
                  'componentRef': {'name': 'comp-produce'},
                  'inputs': {'parameters': {'text': {
                      'componentInputParameter': 'greeting'}}}},
              'import': {
                  'taskInfo': {'name': 'import'},
                  'componentRef': {'name': 'comp-import'},
                  'inputs': {'parameters': {'uri': {
                      'componentInputParameter': 'imported_dir'}}}},
          }}},
  }


def write_spec(tmp_path, document, name='spec.yaml'):
  path = tmp_path / name
  path.write_text(yaml.safe_dump(document) if name.endswith('.yaml')
                  else json.dumps(document))
  return str(path)


@pytest.fixture
def imported_dir(tmp_path):
  directory = tmp_path / 'imported'
  directory.mkdir()
  (directory / 'data').write_text('!')
  return str(directory)


def run_dir(pipeline_root):
  (name,) = os.listdir(pipeline_root)
  assert name.startswith('toy-')
  return os.path.join(pipeline_root, name)


def record(pipeline_root, task):
  with open(os.path.join(run_dir(pipeline_root), task, 'record.json')) as f:
    return json.load(f)


def test_artifacts_flow_from_producer_and_importer_to_consumer(
    tmp_path, imported_dir, capsys):
  root = tmp_path / 'root'
  code = local_executor.main([
      '--spec', write_spec(tmp_path, toy_spec()), '--pipeline-root', str(root),
      '--param', 'greeting=hello', '--param', f'imported_dir={imported_dir}'])
  assert code == 0
  produced = os.path.join(run_dir(root), 'produce', 'out')
  consumed = record(root, 'consume')['received']
  # The producer's URI and the metadata its executor output reported, typed
  # as the consumer declares it; the importer's URI, type and metadata.
  assert consumed['data']['uri'] == produced
  assert consumed['data']['metadata'] == {'length': 5}
  assert consumed['data']['type'] == DATASET['artifactType']
  assert consumed['imported'] == {
      'name': imported_dir, 'uri': imported_dir,
      'type': DATASET['artifactType'], 'metadata': {'origin': 'imported'}}
  with open(os.path.join(run_dir(root), 'consume', 'out', 'data')) as f:
    assert f.read() == 'hello!'
  # An output parameter of the producer, typed as the consumer declares it.
  assert record(root, 'consume')['parameters'] == {'size': 5}
  assert record(root, 'produce')['executable'] == sys.executable
  out = capsys.readouterr().out
  assert out.index('[done] produce') < out.index('[done] consume')


def test_parameters_take_the_declared_defaults_and_types(tmp_path):
  document = toy_spec()
  declared = document['root']['inputDefinitions']['parameters']
  declared['floor'] = {'parameterType': 'NUMBER_DOUBLE', 'defaultValue': 5.0}
  declared['steps'] = {'parameterType': 'NUMBER_INTEGER', 'defaultValue': 3}
  declared['args'] = {'parameterType': 'STRUCT', 'defaultValue': {}}
  spec = local_executor.load_spec(write_spec(tmp_path, document, 'spec.json'))
  values = local_executor.pipeline_parameters(spec, [
      'imported_dir=/x', 'floor=10', 'args={"num_steps": 2}',
      'greeting=a=b'])
  assert values == {'greeting': 'a=b', 'imported_dir': '/x', 'floor': 10.0,
                    'steps': 3, 'args': {'num_steps': 2}}
  assert isinstance(values['steps'], int)


@pytest.mark.parametrize('pairs, message', [
    (['nope=1', 'imported_dir=/x'], "--param 'nope=1': expected NAME=VALUE "
     'with NAME one of greeting, imported_dir'),
    (['imported_dir'], "--param 'imported_dir': expected NAME=VALUE"),
    ([], 'pipeline parameters without a value: imported_dir'),
])
def test_bad_parameters_are_refused_with_exit_code_2(tmp_path, pairs, message,
                                                     capsys):
  spec = write_spec(tmp_path, toy_spec())
  argv = ['--spec', spec, '--pipeline-root', str(tmp_path / 'root')]
  for pair in pairs:
    argv += ['--param', pair]
  assert local_executor.main(argv) == 2
  assert message in capsys.readouterr().err
  assert not (tmp_path / 'root').exists()


def test_a_number_parameter_must_be_a_number(tmp_path):
  document = toy_spec()
  document['root']['inputDefinitions']['parameters']['floor'] = {
      'parameterType': 'NUMBER_DOUBLE', 'defaultValue': 5.0}
  spec = local_executor.load_spec(write_spec(tmp_path, document))
  with pytest.raises(local_executor.SpecError,
                     match=r"floor='high': not a NUMBER_DOUBLE"):
    local_executor.pipeline_parameters(spec, ['floor=high'])


def test_failed_task_names_itself_and_its_log_and_stops_the_run(
    tmp_path, imported_dir, capsys):
  root = tmp_path / 'root'
  code = local_executor.main([
      '--spec', write_spec(tmp_path, toy_spec(env=[
          {'name': 'FAIL_TASK', 'value': 'produce'}])),
      '--pipeline-root', str(root), '--param', f'imported_dir={imported_dir}'])
  assert code == 1
  log = os.path.join(run_dir(root), 'produce', local_executor.TASK_LOG)
  assert (f'error: task produce failed (exit code 3); log: {log}'
          in capsys.readouterr().err)
  with open(log) as f:
    assert 'failing as asked' in f.read()
  assert not os.path.exists(os.path.join(run_dir(root), 'consume'))


def test_a_command_that_does_not_exist_fails_its_task(tmp_path, imported_dir,
                                                     capsys):
  document = toy_spec()
  document['deploymentSpec']['executors']['exec-produce']['container'][
      'command'] = ['no-such-program-here']
  code = local_executor.main([
      '--spec', write_spec(tmp_path, document), '--pipeline-root',
      str(tmp_path / 'root'), '--param', f'imported_dir={imported_dir}'])
  assert code == 1
  assert 'task produce failed (exit code 127)' in capsys.readouterr().err
  with open(os.path.join(run_dir(tmp_path / 'root'), 'produce',
                         local_executor.TASK_LOG)) as f:
    assert 'No such file or directory' in f.read()


def test_topological_order_puts_producers_first():
  spec = pipeline_spec_pb2.PipelineSpec()
  json_format.ParseDict(toy_spec(), spec)
  # 'import' has no dependentTasks entry: its artifact input orders it.
  assert local_executor.topological_order(spec.root.dag) == [
      'import', 'produce', 'consume']
  spec.root.dag.tasks['produce'].dependent_tasks.append('consume')
  with pytest.raises(local_executor.SpecError, match='cycle'):
    local_executor.topological_order(spec.root.dag)


def test_resolver_and_condition_tasks_are_refused_before_running(tmp_path):
  document = toy_spec()
  document['deploymentSpec']['executors']['exec-import'] = {
      'resolver': {'outputArtifactQueries': {}}}
  with pytest.raises(local_executor.SpecError,
                     match='task import: resolver executors are not supported'):
    local_executor.check_supported(local_executor.load_spec(
        write_spec(tmp_path, document)))
  document = toy_spec()
  document['root']['dag']['tasks']['produce']['triggerPolicy'] = {
      'condition': "inputs.parameter_values['x'] == 1"}
  with pytest.raises(local_executor.SpecError, match='task produce: cond'):
    local_executor.check_supported(local_executor.load_spec(
        write_spec(tmp_path, document)))


def test_missing_or_malformed_spec_file(tmp_path, capsys):
  argv = ['--pipeline-root', str(tmp_path / 'root')]
  assert local_executor.main(['--spec', str(tmp_path / 'no.yaml')] + argv) == 2
  assert 'no.yaml: no such file' in capsys.readouterr().err
  bad = write_spec(tmp_path, {'pipelineInfo': {'name': 1}, 'bogus': True})
  assert local_executor.main(['--spec', bad] + argv) == 2
  assert 'not a KFP pipeline spec' in capsys.readouterr().err
