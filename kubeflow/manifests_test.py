"""Static checks of what cannot be built or applied here (no docker, no
cluster): the component image definition and the TFJob manifest."""
import importlib.util
import json
import pathlib
import re
import types

import pytest
import tensorflow as tf
import yaml

from nmt_tfx.components.model import distributed_train
from nmt_tfx.components.model import distribution
from nmt_tfx.kubeflow import kubeflow_v2_runner
from nmt_tfx.pipeline import configs

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_image_is_the_pinned_tfx_image_with_the_schema_where_the_spec_says():
  dockerfile = (ROOT / 'kubeflow' / 'Dockerfile').read_text()
  pinned = re.search(r'^tfx==(\S+)$', (ROOT / 'requirements.lock').read_text(),
                     re.M).group(1)
  assert re.search(rf'^FROM tensorflow/tfx:{re.escape(pinned)}$', dockerfile,
                   re.M)
  assert 'COPY schemas/ schemas/' in dockerfile and 'WORKDIR /pipeline' in dockerfile
  assert kubeflow_v2_runner.IMAGE_SCHEMA_FILE == '/pipeline/schemas/schema.pbtxt'
  assert (ROOT / 'schemas' / 'schema.pbtxt').exists()
  for line in dockerfile.splitlines():  # every COPY source exists
    if line.startswith('COPY '):
      for source in line.split()[1:-1]:
        assert (ROOT / source).exists(), source


@pytest.fixture(scope='module')
def tfjob():
  return yaml.safe_load((ROOT / 'deploy' / 'tfjob' / 'tfjob.yaml').read_text())


def test_tfjob_runs_the_distributed_trainer_on_several_workers(tfjob):
  assert (tfjob['apiVersion'], tfjob['kind']) == ('kubeflow.org/v1', 'TFJob')
  workers = tfjob['spec']['tfReplicaSpecs']['Worker']
  assert workers['replicas'] >= 2
  [container] = workers['template']['spec']['containers']
  assert container['name'] == 'tensorflow'
  assert container['command'][:2] == ['python', '-m']
  assert importlib.util.find_spec(container['command'][2])
  assert container['resources']['limits']['nvidia.com/gpu'] >= 1
  flags = {a.split('=')[0] for a in container['args']}
  assert {'--examples', '--transform-graph', '--serving-model-dir',
          '--config'} <= flags
  # The manifest's arguments are the trainer's: they parse, and name a
  # configuration the trainer knows (preprocessing comes from Transform).
  args = distributed_train.parse_args(container['args'])
  assert distributed_train.config_from_args(args) == configs.CONFIGS[args.config]


def operator_tf_config(replicas, index):
  """The TF_CONFIG the training operator gives worker `index`."""
  return {'cluster': {'worker': [f'nmt-en-de-train-worker-{i}.kubeflow.svc:2222'
                                 for i in range(replicas)]},
          'task': {'type': 'worker', 'index': index}}


def test_operator_tf_config_selects_multi_worker_and_one_chief(tfjob,
                                                              monkeypatch):
  replicas = tfjob['spec']['tfReplicaSpecs']['Worker']['replicas']
  chiefs = []
  for index in range(replicas):
    config = operator_tf_config(replicas, index)
    assert distribution.num_workers(config) == replicas
    monkeypatch.setenv('TF_CONFIG', json.dumps(config))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    chiefs.append(distribution.is_chief(
        types.SimpleNamespace(cluster_resolver=resolver)))
  assert chiefs == [True] + [False] * (replicas - 1)


def test_chief_task_is_the_chief_when_present(monkeypatch):
  config = {'cluster': {'chief': ['c:1'], 'worker': ['w:1']},
            'task': {'type': 'worker', 'index': 0}}
  assert distribution.num_workers(config) == 2
  monkeypatch.setenv('TF_CONFIG', json.dumps(config))
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  assert not distribution.is_chief(types.SimpleNamespace(cluster_resolver=resolver))


def test_one_machine_without_tf_config(monkeypatch):
  monkeypatch.delenv('TF_CONFIG', raising=False)
  assert distribution.num_workers() == 0
  assert distribution.is_chief(tf.distribute.get_strategy())
