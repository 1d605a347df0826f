"""Infra validation loads the model in a fresh process as TF Serving would,
replays its warm-up requests and times it; what fails there fails here."""
import shutil

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from nmt_tfx.components.evaluation import infra_validation
from nmt_tfx.components.model import export

from conftest import damaged_copy

SENTENCES = ['A man is riding a bike.', 'Two dogs play in the snow.', '']
QUICK = dict(batch_sizes=(1, 4), requests=3)


def with_warmup_for(export_dir, target, signature):
  """A copy whose warm-up requests name `signature` (TF Serving fails to
  load a model when a warm-up request fails)."""
  shutil.copytree(export_dir, target)
  path = str(target / export.WARMUP_FILE)
  logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(path)]
  with tf.io.TFRecordWriter(path) as writer:
    for log in logs:
      log.predict_log.request.model_spec.signature_name = signature
      writer.write(log.SerializeToString())
  return target


def test_a_good_model_loads_warms_up_and_is_timed(tiny_export):
  result = infra_validation.validate(
      str(tiny_export), SENTENCES, infra_validation.Budget(60_000, **QUICK))
  assert result.ok, result.reason
  assert result.warmup_requests == len(export.warmup_requests()) == 2
  assert [l.batch_size for l in result.latencies] == [1, 4]
  for latency in result.latencies:
    assert 0 < latency.p50_ms <= latency.p95_ms < 60_000
    assert latency.requests == 3
  assert result.load_seconds > 0
  assert 'loads in a fresh process, 2 warm-up requests replayed' in (
      result.reason)


@pytest.mark.parametrize('make, says', [
    (lambda src, dst: damaged_copy(src, dst, 'truncated saved_model.pb'),
     'load: OSError: Cannot parse file'),
    (lambda src, dst: with_warmup_for(src, dst, 'no_such_signature'),
     "warm-up: ValueError: warm-up request 1: no signature "
     "'no_such_signature'"),
], ids=['truncated graph', 'failing warm-up'])
def test_a_model_that_does_not_load_in_a_fresh_process_fails(
    tiny_export, tmp_path, make, says):
  broken = make(tiny_export, tmp_path / 'model')
  result = infra_validation.validate(
      str(broken), SENTENCES, infra_validation.Budget(60_000, **QUICK))
  assert not result.ok
  assert result.reason.startswith(f'{broken} does not serve: {says}')
  assert result.latencies == []


def test_over_budget_names_each_batch_size():
  latencies = [infra_validation.Latency(1, 10.0, 12.5, 3),
               infra_validation.Latency(64, 90.0, 130.0, 3)]
  assert infra_validation.over_budget(latencies, 200) is None
  assert infra_validation.over_budget(latencies, 100) == (
      'p95 latency at batch 64 is 130.0 ms, over the budget of 100 ms')
  both = infra_validation.over_budget(latencies, 0)
  assert both.count('over the budget') == 2


def test_reads_the_warmup_file_the_export_writes():
  assert infra_validation.WARMUP_FILE == export.WARMUP_FILE
