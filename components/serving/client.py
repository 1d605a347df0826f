"""Client for a TF Serving model exported by this pipeline, REST or gRPC.

  nmt-translate --server localhost:8500 --protocol grpc --model nmt-en-de < in.txt
  nmt-translate --server http://localhost:8501 --protocol rest --model nmt-en-de in.txt

Sentences are sent in batches (at most MAX_REQUEST_SENTENCES, the server's
max_batch_size) to the `translate` signature (with --beam-size:
`translate_with_options`, which takes a beam size and length penalty per
sentence; this client sends the same pair for every sentence; 1 is greedy
decoding); a request that finds the server unavailable (connection refused,
gRPC UNAVAILABLE, HTTP 503) is retried with exponential backoff; any other
failure, an answer that is not TF Serving's JSON included, raises
ServingError naming the server, the model and what the server said.
gRPC message limits follow the batch size (`grpc_message_limit`).
"""
import argparse
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Callable, List, Optional, Sequence

from nmt_tfx.components.serving.contract import BEAM_SIZE_INPUT
from nmt_tfx.components.serving.contract import LENGTH_PENALTY_INPUT
from nmt_tfx.components.serving.contract import MAX_REQUEST_SENTENCES
from nmt_tfx.components.serving.contract import OPTIONS_SIGNATURE
from nmt_tfx.components.serving.contract import TEXT_INPUT
from nmt_tfx.components.serving.contract import TRANSLATE_SIGNATURE
from nmt_tfx.components.serving.contract import TRANSLATION_OUTPUT


# Bytes a sentence may take in a request or an answer: a 5,000-character
# sentence is at most 20,000 bytes of UTF-8; its translation, length and
# score are far less.
SENTENCE_BYTES = 64 * 1024
MESSAGE_OVERHEAD_BYTES = 1024 * 1024


def grpc_message_limit(batch_size: int) -> int:
  """Largest gRPC message (bytes) a batch of `batch_size` sentences needs:
  the client's send and receive limit (gRPC's own default receive limit,
  4 MiB, is too small for large batches of long sentences)."""
  return MESSAGE_OVERHEAD_BYTES + batch_size * SENTENCE_BYTES


class ServingError(RuntimeError):
  """The server answered with an error, or could not be reached in time."""


class ServingUnavailable(ServingError):
  """The server could not be reached (after every retry)."""


class TranslationClient:
  """Translates lists of sentences through TF Serving."""

  def __init__(self, server: str, model: str, protocol: str = 'grpc',
               timeout: float = 30.0, retries: int = 3, backoff: float = 0.5,
               batch_size: int = 64, version: Optional[int] = None,
               beam_size: Optional[int] = None, length_penalty: float = 0.6):
    """beam_size None: the model's export-time decoding (`translate`)."""
    if protocol not in ('grpc', 'rest'):
      raise ValueError(f'protocol must be grpc or rest, not {protocol!r}')
    if not 1 <= batch_size <= MAX_REQUEST_SENTENCES:
      raise ValueError(f'batch_size must be 1..{MAX_REQUEST_SENTENCES} (the '
                       f"server's max_batch_size), not {batch_size}")
    self.server, self.model, self.protocol = server, model, protocol
    self.timeout, self.retries, self.backoff = timeout, retries, backoff
    self.batch_size, self.version = batch_size, version
    self.beam_size, self.length_penalty = beam_size, length_penalty
    self._stub = None

  @property
  def signature(self) -> str:
    return TRANSLATE_SIGNATURE if self.beam_size is None else OPTIONS_SIGNATURE

  def translate(self, sentences: Sequence[str]) -> List[str]:
    send = self._predict_grpc if self.protocol == 'grpc' else self._predict_rest
    out: List[str] = []
    for start in range(0, len(sentences), self.batch_size):
      out.extend(self._with_retries(send,
                                    list(sentences[start:start + self.batch_size])))
    return out

  def _with_retries(self, send: Callable, batch: List[str]) -> List[str]:
    for attempt in range(self.retries + 1):
      try:
        return send(batch)
      except ServingUnavailable:
        if attempt == self.retries:
          raise
        time.sleep(self.backoff * 2 ** attempt)
    raise AssertionError('unreachable')

  def _options(self, rows: int) -> dict:
    """The options inputs of `translate_with_options`, one value per row
    (none for `translate`)."""
    if self.beam_size is None:
      return {}
    return {BEAM_SIZE_INPUT: [self.beam_size] * rows,
            LENGTH_PENALTY_INPUT: [self.length_penalty] * rows}

  def _where(self) -> str:
    return f'model {self.model!r} at {self.server} ({self.protocol})'

  # --- gRPC: tensorflow_serving.apis PredictionService -----------------------
  def _predict_grpc(self, batch: List[str]) -> List[str]:
    import grpc  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
    from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
    if self._stub is None:
      limit = grpc_message_limit(self.batch_size)
      self._stub = prediction_service_pb2_grpc.PredictionServiceStub(
          grpc.insecure_channel(self.server, options=[
              ('grpc.max_send_message_length', limit),
              ('grpc.max_receive_message_length', limit)]))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = self.model
    request.model_spec.signature_name = self.signature
    if self.version is not None:
      request.model_spec.version.value = self.version
    request.inputs[TEXT_INPUT].CopyFrom(tf.make_tensor_proto(
        [s.encode('utf-8') for s in batch], dtype=tf.string))
    for key, values in self._options(len(batch)).items():
      request.inputs[key].CopyFrom(tf.make_tensor_proto(
          values, dtype=tf.int32 if key == BEAM_SIZE_INPUT else tf.float32))
    try:
      response = self._stub.Predict(request, timeout=self.timeout)
    except grpc.RpcError as e:
      message = f'{self._where()}: {e.code().name}: {e.details()}'
      if e.code() == grpc.StatusCode.UNAVAILABLE:
        raise ServingUnavailable(message) from None
      raise ServingError(message) from None
    return [t.decode('utf-8') for t in
            tf.make_ndarray(response.outputs[TRANSLATION_OUTPUT]).tolist()]

  # --- REST: /v1/models/NAME[/versions/N]:predict ----------------------------
  def _predict_rest(self, batch: List[str]) -> List[str]:
    base = self.server if '://' in self.server else f'http://{self.server}'
    version = f'/versions/{self.version}' if self.version is not None else ''
    url = f'{base.rstrip("/")}/v1/models/{self.model}{version}:predict'
    if self.beam_size is None:   # row format: one instance per sentence
      body = {'signature_name': self.signature, 'instances': batch}
    else:                        # columnar format: one list per input
      body = {'signature_name': self.signature, 'inputs': {
          TEXT_INPUT: batch, **self._options(len(batch))}}
    body = json.dumps(body).encode('utf-8')
    request = urllib.request.Request(
        url, data=body, headers={'Content-Type': 'application/json'})
    try:
      with urllib.request.urlopen(request, timeout=self.timeout) as response:
        body = response.read()
    except urllib.error.HTTPError as e:
      detail = _error_detail(e.read().decode('utf-8', 'replace'))
      message = f'{self._where()}: HTTP {e.code}: {detail}'
      if e.code == 503:
        raise ServingUnavailable(message) from None
      raise ServingError(message) from None
    except (socket.timeout, TimeoutError):
      raise ServingError(f'{self._where()}: no answer within '
                         f'{self.timeout:g} s') from None
    except urllib.error.URLError as e:
      if isinstance(e.reason, (socket.timeout, TimeoutError)):
        raise ServingError(f'{self._where()}: no answer within '
                           f'{self.timeout:g} s') from None
      raise ServingUnavailable(f'{self._where()}: {e.reason}') from None
    translations = _translations(body)
    if translations is None or len(translations) != len(batch):
      raise ServingError(f'{self._where()}: HTTP 200 but not a prediction '
                         f'for {len(batch)} sentences: {_excerpt(body)}')
    return translations


def _excerpt(body, limit: int = 200) -> str:
  text = body.decode('utf-8', 'replace') if isinstance(body, bytes) else body
  return repr(text[:limit] + ('...' if len(text) > limit else ''))


def _error_detail(body: str) -> str:
  """TF Serving's `{"error": "..."}`, else the body as it came."""
  try:
    answer = json.loads(body)
  except ValueError:
    return body
  if isinstance(answer, dict) and 'error' in answer:
    return str(answer['error'])
  return body


def _translations(body: bytes) -> Optional[List[str]]:
  """The translations in a REST predict answer (columnar `outputs` or row
  `predictions`); None if the body is not such an answer."""
  try:
    answer = json.loads(body)
  except ValueError:
    return None
  if not isinstance(answer, dict):
    return None
  if 'outputs' in answer:
    rows = answer['outputs']
    rows = rows.get(TRANSLATION_OUTPUT) if isinstance(rows, dict) else rows
  else:
    rows = [p.get(TRANSLATION_OUTPUT) if isinstance(p, dict) else p
            for p in answer.get('predictions') or []] or None
  if not isinstance(rows, list) or not all(isinstance(r, str) for r in rows):
    return None
  return rows


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='nmt-translate', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('input', nargs='?', help='file, one sentence a line '
                      '(default: standard input)')
  parser.add_argument('--server', required=True,
                      help='host:port (gRPC, usually 8500) or URL (REST, 8501)')
  parser.add_argument('--model', required=True, help='TF Serving model name')
  parser.add_argument('--protocol', choices=['grpc', 'rest'], default='grpc')
  parser.add_argument('--version', type=int, help='pin a model version')
  parser.add_argument('--batch-size', type=int, default=64)
  parser.add_argument('--timeout', type=float, default=30.0)
  parser.add_argument('--retries', type=int, default=3)
  parser.add_argument('--beam-size', type=int,
                      help='per-request beam size (1: greedy); default: the '
                      "model's own")
  parser.add_argument('--length-penalty', type=float, default=0.6,
                      help='with --beam-size: GNMT alpha (0: raw log-prob)')
  args = parser.parse_args(argv)
  stream = open(args.input, encoding='utf-8') if args.input else sys.stdin
  with stream:
    sentences = [line.rstrip('\n') for line in stream]
  try:
    client = TranslationClient(args.server, args.model, args.protocol,
                               timeout=args.timeout, retries=args.retries,
                               batch_size=args.batch_size, version=args.version,
                               beam_size=args.beam_size,
                               length_penalty=args.length_penalty)
  except ValueError as e:
    parser.error(str(e))
  try:
    for translation in client.translate(sentences):
      print(translation)
  except ServingError as e:
    print(f'error: {e}', file=sys.stderr)
    return 3
  return 0


if __name__ == '__main__':
  sys.exit(main())
