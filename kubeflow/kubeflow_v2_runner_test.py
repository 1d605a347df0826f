"""The KFP v2 spec compiles, parses as a PipelineSpec and has every stage."""
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from nmt_tfx.kubeflow import kubeflow_v2_runner
from nmt_tfx.pipeline import configs

IMAGE = 'registry.example/nmt-tfx:test'


def test_compiles_to_a_pipeline_spec(tmp_path):
  output = kubeflow_v2_runner.compile_pipeline(
      configs.CONFIGS['default'], image=IMAGE, data_dir='gs://b/multi30k',
      pipeline_root='gs://b/root', serving_dir='gs://b/serving/nmt-en-de',
      output=str(tmp_path / 'spec.yaml'))
  document = yaml.safe_load(open(output))
  spec = pipeline_spec_pb2.PipelineSpec()
  json_format.ParseDict(document, spec, ignore_unknown_fields=True)
  tasks = set(spec.root.dag.tasks)
  assert tasks == {'ParallelTextExampleGen', 'StatisticsGen',
                   'ImportSchemaGen', 'ExampleValidator',
                   'DataValidationGate', 'Transform', 'Trainer',
                   'BleuEvaluator', 'VersionedPusher'}
  text = open(output).read()
  assert 'resolver' not in text.lower()
  executors = document['deploymentSpec']['executors']
  assert executors and all(e['container']['image'] == IMAGE
                           for e in executors.values())
  assert 'nmt_tfx.components.model.trainer.run_fn' in text
  assert 'gs://b/serving/nmt-en-de' in text
