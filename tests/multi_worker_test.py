"""MultiWorkerMirroredStrategy across two worker processes on loopback ports,
each with its own TF_CONFIG, as the Kubeflow training operator runs a TFJob;
only the chief exports the SavedModel."""
import json
import os
import socket
import subprocess
import sys

from nmt_tfx.components.model.export import SavedModelTranslator

HPARAMS = dict(embedding_dim=16, encoder_units=16, decoder_units=32,
                     attention_units=16, dropout=0.0, batch_tokens=32,
                     learning_rate=0.01, steps_per_epoch=5, shuffle_buffer=16,
                     validation_bleu=False)   # not covered here: see the README


def free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_two_workers_train_together_and_only_the_chief_exports(
    tiny_transform, tmp_path):
  examples = tmp_path / 'examples'
  for split in ('Split-train', 'Split-eval'):
    (examples / split).mkdir(parents=True)
    for data in tiny_transform.glob('data-*'):
      os.symlink(data, examples / split / data.name)
  export_dir = tmp_path / 'serving_model'
  workers = [f'localhost:{port}' for port in free_ports(2)]
  processes = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps({
        'cluster': {'worker': workers},
        'task': {'type': 'worker', 'index': index}}))
    processes.append(subprocess.Popen(
        [sys.executable, '-m', 'nmt_tfx.components.model.distributed_train',
         '--examples', str(examples),
         '--transform-graph', str(tiny_transform / 'transform'),
         '--serving-model-dir', str(export_dir), '--train-steps', '10',
         '--eval-steps', '1', '--log-dir', str(tmp_path / 'logs'),
         '--config', 'smoke', '--hparams', json.dumps(HPARAMS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
  outputs = []
  try:
    for process in processes:
      outputs.append(process.communicate(timeout=600))   # 2 busy cores
  finally:
    for process in processes:
      process.kill()
  reports = []
  for process, (stdout, stderr) in zip(processes, outputs):
    assert process.returncode == 0, stderr[-4000:]
    reports.append(json.loads(stdout.strip().splitlines()[-1]))
  assert [r['chief'] for r in reports] == [True, False]
  assert all(r['workers'] == 2 and r['replicas'] == 2 for r in reports)
  # Synchronous training: both workers saw the same (all-reduced) losses.
  assert reports[0]['loss'] == reports[1]['loss']
  assert reports[0]['loss'][-1] < reports[0]['loss'][0]
  assert (export_dir / 'saved_model.pb').exists()
  assert isinstance(SavedModelTranslator(str(export_dir))(['A dog.'])[0], str)
  # TensorBoard logs and the training summary: the chief's at the top,
  # every other worker's in its own directory.
  assert sorted(p.name for p in (tmp_path / 'logs').iterdir()) == [
      'train', 'training_summary.json', 'validation', 'worker-1']
  assert (tmp_path / 'logs' / 'worker-1' / 'training_summary.json').exists()
