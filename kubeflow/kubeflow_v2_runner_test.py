"""Offline validation of the compiled KFP v2 spec, and its golden file.

The golden file is the spec compiled with the arguments below. After an
intended change to the pipeline, refresh it and review the diff:

  UPDATE_GOLDEN=1 .venv/bin/python -m pytest kubeflow/kubeflow_v2_runner_test.py
"""
import dataclasses
import json
import os
import pathlib

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
import pytest
import yaml

from nmt_tfx.kubeflow import kubeflow_v2_runner
from nmt_tfx.pipeline import beam_profiles
from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import pipeline

IMAGE = 'registry.example/nmt-tfx:test'
GOLDEN = pathlib.Path(__file__).parent / 'testdata' / 'nmt-en-de.golden.yaml'
ARGS = dict(image=IMAGE, data_dir='gs://b/multi30k', pipeline_root='gs://b/root',
            serving_dir='gs://b/serving/nmt-en-de')
COMPONENTS = {'ParallelTextExampleGen', 'StatisticsGen', 'ImportSchemaGen',
              'ExampleValidator', 'DataValidationGate', 'Transform', 'Trainer',
              'BleuEvaluator', 'VersionedPusher'}
BEAM_COMPONENTS = ('ParallelTextExampleGen', 'StatisticsGen', 'Transform')
# What the compile command uses by default.
CONFIG = dataclasses.replace(
    configs.CONFIGS['default'], warm_start=True,
    schema_file=kubeflow_v2_runner.IMAGE_SCHEMA_FILE)


def compile_spec(path, **overrides):
  kubeflow_v2_runner.compile_pipeline(CONFIG, output=str(path),
                                      **{**ARGS, **overrides})
  text = path.read_text()
  return text, yaml.safe_load(text)


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  return compile_spec(tmp_path_factory.mktemp('spec') / 'nmt-en-de.yaml')


def executor(document, task):
  label = document['components'][
      document['root']['dag']['tasks'][task]['componentRef']['name']][
          'executorLabel']
  return document['deploymentSpec']['executors'][label]


def trainer_custom_config(document):
  return json.loads(document['root']['dag']['tasks']['Trainer']['inputs'][
      'parameters']['custom_config']['runtimeValue']['constant'])


def test_parses_as_pipeline_spec_with_every_component(compiled):
  _, document = compiled
  spec = pipeline_spec_pb2.PipelineSpec()
  json_format.ParseDict(document, spec)  # strict: no unknown fields
  assert set(spec.root.dag.tasks) == COMPONENTS
  assert spec.schema_version == '2.1.0'


def test_every_executor_runs_the_pinned_image(compiled):
  _, document = compiled
  executors = document['deploymentSpec']['executors']
  assert len(executors) == len(COMPONENTS)
  assert {e['container']['image'] for e in executors.values()} == {IMAGE}


def test_no_resolver_node(compiled):
  text, document = compiled
  assert 'resolver' not in text.lower()
  assert not any('importer' in e for e in
                 document['deploymentSpec']['executors'].values())


def test_trainer_requests_a_gpu(compiled):
  _, document = compiled
  resources = executor(document, 'Trainer')['container']['resources']
  assert resources['accelerator'] == {'type': 'nvidia.com/gpu', 'count': '1'}
  assert resources['cpuRequest'] > 0 and resources['memoryRequest'] > 0


@pytest.mark.parametrize('task', BEAM_COMPONENTS)
def test_beam_components_have_requests_and_beam_arguments(compiled, task):
  _, document = compiled
  container = executor(document, task)['container']
  expected = kubeflow_v2_runner.COMPONENT_RESOURCES[task]
  assert container['resources']['cpuRequest'] == expected.cpu
  assert container['resources']['memoryRequest'] == expected.memory_gb
  assert 'accelerator' not in container['resources']
  args = container['args']
  for arg in beam_profiles.beam_pipeline_args('kubeflow'):
    assert arg in args


def test_runtime_parameters_with_defaults(compiled):
  _, document = compiled
  declared = document['root']['inputDefinitions']['parameters']
  assert set(declared) == set(pipeline.RUNTIME_PARAMETERS)
  defaults = {name: p['defaultValue'] for name, p in declared.items()}
  assert defaults['data_dir'] == 'gs://b/multi30k'
  assert defaults['language_pair'] == 'en-de'
  assert defaults['bleu_floor'] == 5.0 and defaults['significance_level'] == 0.05
  assert json.loads(defaults['train_args']) == {
      'num_steps': configs.CONFIGS['default'].train_steps, 'splits': ['train']}
  assert declared['bleu_floor']['parameterType'] == 'NUMBER_DOUBLE'
  # ... and each one reaches the component property it names.
  for name, target in pipeline.RUNTIME_PARAMETERS.items():
    task, prop = target.split('.')
    inputs = document['root']['dag']['tasks'][task]['inputs']['parameters']
    assert inputs[prop] == {'componentInputParameter': name}


def test_trainer_warm_starts_from_the_serving_dir(compiled):
  _, document = compiled
  assert trainer_custom_config(document)['warm_start_from'] == (
      'gs://b/serving/nmt-en-de')


def test_warm_start_off_compiles_to_a_trainer_without_a_source(tmp_path):
  path = kubeflow_v2_runner.compile_pipeline(
      dataclasses.replace(CONFIG, warm_start=False),
      output=str(tmp_path / 'cold.yaml'), **ARGS)
  with open(path) as f:
    config = trainer_custom_config(yaml.safe_load(f))
  assert config['warm_start_from'] is None


def test_trainer_image_gpus_and_beam_profile_are_configurable(tmp_path):
  resources = dict(kubeflow_v2_runner.COMPONENT_RESOURCES)
  resources['Trainer'] = kubeflow_v2_runner.Resources(cpu=8, memory_gb=32,
                                                      gpus=4)
  dataflow = beam_profiles.beam_pipeline_args('dataflow', dict(
      project='p', region='r', temp_location='gs://b/tmp', image=IMAGE))
  _, document = compile_spec(
      tmp_path / 's.yaml', component_images={'Trainer': 'cuda:1'},
      resources=resources, gpu_type='NVIDIA_TESLA_T4',
      beam_pipeline_args=dataflow)
  trainer = executor(document, 'Trainer')['container']
  assert trainer['image'] == 'cuda:1'
  assert trainer['resources']['accelerator'] == {'type': 'NVIDIA_TESLA_T4',
                                                 'count': '4'}
  assert executor(document, 'Transform')['container']['image'] == IMAGE
  assert '--runner=DataflowRunner' in executor(
      document, 'Transform')['container']['args']


def normalise(text: str) -> str:
  """Drops what changes without a change to the pipeline: the TFX version."""
  return '\n'.join(line for line in text.splitlines()
                   if not line.startswith('sdkVersion:')) + '\n'


def test_matches_golden_file(compiled):
  text, _ = compiled
  if os.environ.get('UPDATE_GOLDEN'):
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(normalise(text))
  assert GOLDEN.exists(), 'no golden file; run with UPDATE_GOLDEN=1'
  assert normalise(text) == GOLDEN.read_text(), (
      'the compiled spec changed; if intended: UPDATE_GOLDEN=1 .venv/bin/python '
      '-m pytest kubeflow/kubeflow_v2_runner_test.py, and review the diff')
