"""Infra validation: does the candidate load and answer as TF Serving needs?

Before a model is blessed, a fresh Python process (this module run as a
script) does what TF Serving does with it: loads the SavedModel's `serve`
graph with only TensorFlow and the TF Text ops, finds the signatures of the
serving contract (components/serving/contract.py), and replays the warm-up
requests of `assets.extra/tf_serving_warmup_requests` when the export wrote
them (TF Serving refuses a model whose warm-up fails). It then times the
`translate` signature on real sentences at each batch size. A fresh process
catches what the Evaluator's own process would hide: ops or modules that are
only there because the Evaluator imported them.

`validate` runs the probe and judges its numbers against a latency budget:
the p95 of one request, at every batch size measured.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')  # before TensorFlow loads.

import dataclasses  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

from nmt_tfx.components.serving import contract

WARMUP_FILE = contract.WARMUP_FILE   # export.py writes it
SERVING_TAG = 'serve'
REQUIRED_SIGNATURES = {
    contract.TRANSLATE_SIGNATURE: (
        [contract.TEXT_INPUT],
        [contract.TRANSLATION_OUTPUT, contract.LENGTH_OUTPUT,
         contract.SCORE_OUTPUT]),
    contract.EXAMPLES_SIGNATURE: (
        [contract.EXAMPLES_INPUT],
        [contract.TRANSLATION_OUTPUT, contract.LENGTH_OUTPUT,
         contract.SCORE_OUTPUT]),
    contract.OPTIONS_SIGNATURE: (
        [contract.TEXT_INPUT, contract.BEAM_SIZE_INPUT,
         contract.LENGTH_PENALTY_INPUT],
        [contract.TRANSLATION_OUTPUT, contract.LENGTH_OUTPUT,
         contract.SCORE_OUTPUT]),
}


@dataclasses.dataclass(frozen=True)
class Budget:
  """What the candidate must meet, and how it is measured."""
  latency_ms: float              # p95 of one request, at every batch size.
  batch_sizes: Tuple[int, ...] = (1, 64)
  requests: int = 10             # timed requests per batch size.
  timeout_seconds: float = 900.0  # for the whole probe, loading included.

  def __post_init__(self):
    if not self.batch_sizes or min(self.batch_sizes) < 1 or self.requests < 1:
      raise ValueError(f'{self}: needs batch sizes and requests of at least 1')


@dataclasses.dataclass(frozen=True)
class Latency:
  batch_size: int
  p50_ms: float
  p95_ms: float
  requests: int


@dataclasses.dataclass(frozen=True)
class Result:
  """ok, or the problem in `reason`; the numbers measured so far."""
  ok: bool
  reason: str
  budget_ms: float
  load_seconds: Optional[float] = None
  warmup_requests: int = 0       # replayed from assets.extra (0: none).
  latencies: List[Latency] = dataclasses.field(default_factory=list)


# --- In the fresh process ----------------------------------------------------

def _check_contract(loaded) -> None:
  """Raises ValueError unless every contract signature is there with its
  input and output names."""
  for name, (inputs, outputs) in REQUIRED_SIGNATURES.items():
    if name not in loaded.signatures:
      raise ValueError(f'no signature {name!r} (has '
                       f'{sorted(loaded.signatures)})')
    fn = loaded.signatures[name]
    have_inputs = set(fn.structured_input_signature[1])
    have_outputs = set(fn.structured_outputs)
    missing = sorted((set(inputs) - have_inputs) | (set(outputs) -
                                                    have_outputs))
    if missing:
      raise ValueError(f'signature {name!r} lacks {", ".join(missing)}')


def _replay_warmup(loaded, export_dir: str) -> int:
  """Runs every warm-up request through its signature, as TF Serving does at
  load; returns how many. Raises on a request TF Serving would fail on."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  path = os.path.join(export_dir, WARMUP_FILE)
  if not tf.io.gfile.exists(path):
    return 0
  count = 0
  for record in tf.data.TFRecordDataset(path):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    if log.WhichOneof('log_type') != 'predict_log':
      raise ValueError(f'warm-up request {count + 1}: '
                       f'{log.WhichOneof("log_type")} is not replayed here')
    request = log.predict_log.request
    signature = request.model_spec.signature_name or 'serving_default'
    if signature not in loaded.signatures:
      raise ValueError(f'warm-up request {count + 1}: no signature '
                       f'{signature!r}')
    loaded.signatures[signature](**{
        key: tf.constant(tf.make_ndarray(tensor))
        for key, tensor in request.inputs.items()})
    count += 1
  return count


def _time_requests(fn, sentences: Sequence[str], batch_size: int,
                   requests: int) -> Latency:
  """p50 and p95 of `requests` timed calls (after one untimed call)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  repeated = (list(sentences) * (batch_size // max(len(sentences), 1) + 1))
  batch = tf.constant(repeated[:batch_size], tf.string)
  fn(**{contract.TEXT_INPUT: batch})
  seconds = []
  for _ in range(requests):
    start = time.perf_counter()
    fn(**{contract.TEXT_INPUT: batch})[contract.TRANSLATION_OUTPUT].numpy()
    seconds.append(time.perf_counter() - start)
  ms = 1000 * np.array(seconds)
  return Latency(batch_size, float(np.percentile(ms, 50)),
                 float(np.percentile(ms, 95)), requests)


def probe(export_dir: str, sentences: Sequence[str],
          batch_sizes: Sequence[int], requests: int) -> dict:
  """Loads, checks, warms up and times the model; the findings as a dict
  (`error`: the stage and reason it stopped at, if it did)."""
  found: dict = {'latencies': [], 'warmup_requests': 0}
  stage = 'load'
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
    start = time.time()
    loaded = tf.saved_model.load(export_dir, tags=[SERVING_TAG])
    stage = 'serving contract'
    _check_contract(loaded)
    stage = 'warm-up'
    found['warmup_requests'] = _replay_warmup(loaded, export_dir)
    found['load_seconds'] = time.time() - start
    stage = 'latency'
    for size in batch_sizes:
      found['latencies'].append(dataclasses.asdict(_time_requests(
          loaded.signatures[contract.TRANSLATE_SIGNATURE], sentences, size,
          requests)))
  except Exception as e:  # pylint: disable=broad-except
    from nmt_tfx.components.model import loading  # pylint: disable=g-import-not-at-top
    found['error'] = f'{stage}: {loading.reason_of(e)}'
  return found


def main(argv: List[str]) -> int:
  """argv: [request JSON path, findings JSON path]."""
  with open(argv[0], encoding='utf-8') as f:
    request = json.load(f)
  found = probe(request['export_dir'], request['sentences'],
                request['batch_sizes'], request['requests'])
  with open(argv[1], 'w', encoding='utf-8') as f:
    json.dump(found, f)
  return 1 if 'error' in found else 0


# --- In the Evaluator --------------------------------------------------------

def _run_probe(export_dir: str, sentences: Sequence[str],
               budget: Budget) -> dict:
  """The probe's findings from a fresh Python process."""
  with tempfile.TemporaryDirectory(prefix='infra-validation-') as tmp:
    request_path = os.path.join(tmp, 'request.json')
    found_path = os.path.join(tmp, 'found.json')
    with open(request_path, 'w', encoding='utf-8') as f:
      json.dump({'export_dir': export_dir, 'sentences': list(sentences),
                 'batch_sizes': list(budget.batch_sizes),
                 'requests': budget.requests}, f)
    try:
      process = subprocess.run(
          [sys.executable, '-m', __spec__.name, request_path, found_path],
          capture_output=True, text=True, timeout=budget.timeout_seconds,
          check=False)
    except subprocess.TimeoutExpired:
      return {'error': f'no answer within {budget.timeout_seconds:.0f} s'}
    if os.path.exists(found_path):
      with open(found_path, encoding='utf-8') as f:
        return json.load(f)
    tail = (process.stderr.strip().splitlines() or ['no output'])[-1]
    return {'error': f'the process exited with {process.returncode}: {tail}'}


def over_budget(latencies: Sequence[Latency], budget_ms: float
                ) -> Optional[str]:
  """Why the latencies exceed the budget, or None."""
  over = [l for l in latencies if l.p95_ms > budget_ms]
  if not over:
    return None
  return '; '.join(f'p95 latency at batch {l.batch_size} is {l.p95_ms:.1f} '
                   f'ms, over the budget of {budget_ms:g} ms' for l in over)


def validate(export_dir: str, sentences: Sequence[str],
             budget: Budget) -> Result:
  """Probes the model in a fresh process and judges it against `budget`."""
  found = _run_probe(export_dir, sentences, budget)
  latencies = [Latency(**l) for l in found.get('latencies', [])]
  numbers = dict(budget_ms=budget.latency_ms,
                 load_seconds=found.get('load_seconds'),
                 warmup_requests=found.get('warmup_requests', 0),
                 latencies=latencies)
  if 'error' in found:
    return Result(False, f"{export_dir} does not serve: {found['error']}",
                  **numbers)
  problem = over_budget(latencies, budget.latency_ms)
  if problem:
    return Result(False, problem, **numbers)
  slowest = max(l.p95_ms for l in latencies)
  return Result(True, f'loads in a fresh process, {numbers["warmup_requests"]} '
                f'warm-up requests replayed, p95 latency at most '
                f'{slowest:.1f} ms (budget {budget.latency_ms:g} ms)',
                **numbers)


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
