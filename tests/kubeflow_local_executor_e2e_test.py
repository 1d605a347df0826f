"""End to end on the Kubeflow path, without a cluster: the pipeline compiled
for Kubeflow (smoke configuration, the end-to-end model size), executed task
by task by kubeflow/local_executor.py through TFX's KFP v2 entrypoint, with
pipeline parameters other than the compiled defaults: English->French on a
slice that has no German, a BLEU floor, the training steps.

Two runs share one serving directory (slow: about 3 minutes each on 2 cores):
1. warm start on (what the compile command writes), nothing in production:
   blessed, pushed, and the pushed model translates in a fresh process with
   the BLEU the Evaluator reported;
2. warm start on, a changed training split (so other vocabularies: the
   Trainer starts from scratch, saying why), 1 step: worse, not pushed.
The restore itself, and warm start off, are
components/model/warm_start_test.py's; the compiled warm-start setting,
kubeflow/kubeflow_v2_runner_test.py's.
"""
import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from nmt_tfx.components.serving import model_dir

from conftest import E2E_EVAL
from conftest import E2E_HPARAMS
from conftest import E2E_TRAIN
from conftest import fresh_process_bleu
from conftest import write_e2e_slice
from nmt_tfx.pipeline import beam_profiles
from nmt_tfx.pipeline import configs

pytestmark = pytest.mark.slow

LANGS = ('en', 'fr')
FLOOR = 10


def compile_spec(directory, serving_dir) -> str:
  """The smoke configuration with the end-to-end model, warm start on,
  Beam in-memory (multi-process workers cost minutes on 2 cores) and this
  checkout's schema; compiled by the project's Kubeflow compiler."""
  from nmt_tfx.kubeflow import kubeflow_v2_runner  # pylint: disable=g-import-not-at-top
  smoke = configs.CONFIGS['smoke']
  config = dataclasses.replace(
      smoke, warm_start=True,
      hparams=dataclasses.replace(smoke.hparams, **E2E_HPARAMS))
  return kubeflow_v2_runner.compile_pipeline(
      config, image='registry.example/nmt-tfx:e2e', data_dir='/nowhere',
      pipeline_root='/unused', serving_dir=str(serving_dir),
      output=str(directory / 'pipeline.yaml'),
      beam_pipeline_args=beam_profiles.beam_pipeline_args('in-memory'))


def execute(spec, pipeline_root, data_dir, steps, floor=0):
  """An English->French run by the local executor's CLI; returns (process,
  task -> task root)."""
  params = dict(data_dir=data_dir, language_pair='en-fr', bleu_floor=floor,
                train_args=json.dumps({'num_steps': steps,
                                       'splits': ['train']}))
  command = [sys.executable, '-m', 'nmt_tfx.kubeflow.local_executor',
             '--spec', spec, '--pipeline-root', str(pipeline_root)]
  for name, value in params.items():
    command += ['--param', f'{name}={value}']
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stdout + result.stderr[-5000:]
  return result, dict(re.findall(r'^\[done\] (\S+) \(\d+ s\): (\S+)$',
                                 result.stdout, re.M))


def report(tasks):
  with open(os.path.join(tasks['BleuEvaluator'], 'evaluation',
                         'report.json')) as f:
    return json.load(f)


def pushed(tasks):
  """The PushedModel's metadata, as the Pusher's executor output reports."""
  with open(os.path.join(tasks['VersionedPusher'],
                         'executor_output.json')) as f:
    output = json.load(f)
  return output['artifacts']['pushed_model']['artifacts'][0]['metadata']


def trainer_log(tasks):
  with open(os.path.join(tasks['Trainer'], 'task.log')) as f:
    return f.read()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """The two runs, in order; each (CompletedProcess, tasks)."""
  base = tmp_path_factory.mktemp('kfp')
  data = write_e2e_slice(base / 'data', LANGS)
  changed = write_e2e_slice(base / 'changed', LANGS, train=E2E_TRAIN - 50)
  serving, root = base / 'serving', base / 'root'
  spec = compile_spec(base, serving)
  return {'serving': serving, 'data': data,
          'first': execute(spec, root, data, steps=400, floor=FLOOR),
          'changed': execute(spec, root, changed, steps=1)}


def versions(serving):
  """The published version directories (models.config and the publish lock
  sit beside them)."""
  return [str(v) for v in model_dir.versions(str(serving))]


def test_every_task_ran_with_its_log(runs):
  _, tasks = runs['first']
  assert set(tasks) == {
      'ParallelTextExampleGen', 'StatisticsGen', 'ImportSchemaGen',
      'ExampleValidator', 'DataValidationGate', 'Transform', 'Trainer',
      'BleuEvaluator', 'VersionedPusher'}
  for root in tasks.values():
    assert os.path.getsize(os.path.join(root, 'task.log')) > 0
  # The Trainer got the parameter's steps: 400 of 100 an epoch.
  assert 'Epoch 4/4' in trainer_log(tasks)


def test_first_run_is_blessed_and_pushed(runs):
  _, tasks = runs['first']
  first = report(tasks)
  assert first['blessed'], first['reason']
  assert first['bleu_floor'] == FLOOR
  assert first['blessing_split'] == 'test'
  assert first['scores']['test']['bleu'] >= FLOOR
  assert first['production'] is None
  assert 'Warm start: training from scratch: no model in production' in (
      trainer_log(tasks))
  # English in, French references: the language_pair parameter was used.
  assert first['samples'][0]['source'].startswith('A ')
  entries = versions(runs['serving'])
  assert len(entries) == 1 and entries[0].isdigit(), entries
  assert os.path.exists(runs['serving'] / entries[0] / 'saved_model.pb')
  assert pushed(tasks)['pushed'] == 1
  assert pushed(tasks)['pushed_destination'] == str(
      runs['serving'] / entries[0])


def test_pushed_model_in_a_fresh_process_matches_reported_bleu(runs):
  """The pushed SavedModel translates the eval split (English->French)
  through its text signature; sacrebleu scores it as the Evaluator did."""
  entries = versions(runs['serving'])
  fresh_bleu = fresh_process_bleu(runs['serving'] / entries[0],
                                  runs['data'] / 'val.en.gz',
                                  runs['data'] / 'val.fr.gz')
  scores = report(runs['first'][1])['scores']['eval']
  assert scores['sentences'] == E2E_EVAL
  assert fresh_bleu == pytest.approx(scores['bleu'], abs=1e-9)


def test_worse_model_is_not_pushed(runs):
  _, tasks = runs['changed']
  worse = report(tasks)
  assert not worse['blessed']
  assert 'is significantly below production' in worse['reason']
  assert worse['decided_by'] == 'paired bootstrap'
  assert worse['production_scores']['test']['bleu'] >= FLOOR
  assert worse['production'] == str(runs['serving'] /
                                    versions(runs['serving'])[0])
  assert re.search(r'Warm start: training from scratch: .*vocabularies differ',
                   trainer_log(tasks))
  assert pushed(tasks)['pushed'] == 0
  assert len(versions(runs['serving'])) == 1

