"""The serving contract: requests built by the client are answered by the
real exported SavedModel, through a TEST DOUBLE of tensorflow_model_server.

No tensorflow_model_server binary exists for these machines, so
`TFServingTestDouble` stands in for it: it speaks the real gRPC
PredictionService (tensorflow_serving.apis protos over grpc) and TF Serving's
REST JSON format (`/v1/models/NAME:predict`, row format), and answers by
calling the SavedModel's signatures. It can also play an unavailable or slow
server.
"""
import concurrent.futures
import http.server
import json
import re
import threading
import time

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from nmt_tfx.components.model import export
from nmt_tfx.components.model.export import SavedModelTranslator
from nmt_tfx.components.serving import client as client_lib

MODEL = 'nmt-en-de'
SENTENCES = ['A dog runs.', 'Two men are playing soccer on a field.', '',
             'A woman in a red dress.', 'Ωμέγα ☃', 'A child.', 'Kids play.']


class TFServingTestDouble:
  """TEST DOUBLE of tensorflow_model_server for one model (see module doc)."""

  def __init__(self, export_dir, model_name=MODEL):
    self.model_name = model_name
    self.loaded = tf.saved_model.load(str(export_dir))
    self.unavailable_for = 0   # answer UNAVAILABLE / 503 this many times
    self.delay = 0.0           # seconds before answering
    self.requests = 0
    self._lock = threading.Lock()

  def _admit(self) -> bool:
    time.sleep(self.delay)
    with self._lock:
      self.requests += 1
      if self.unavailable_for > 0:
        self.unavailable_for -= 1
        return False
    return True

  def predict(self, name, signature, inputs):
    if name != self.model_name:
      raise LookupError(f'Servable not found for request: Latest({name})')
    fn = self.loaded.signatures.get(signature or 'serving_default')
    if fn is None:
      raise ValueError(f"Serving signature name: '{signature}' not found")
    return {k: v.numpy() for k, v in fn(**{
        k: tf.constant(v) for k, v in inputs.items()}).items()}

  # gRPC --------------------------------------------------------------------
  def start_grpc(self) -> str:
    double = self

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):

      def Predict(self, request, context):  # pylint: disable=invalid-name
        if not double._admit():  # pylint: disable=protected-access
          context.abort(grpc.StatusCode.UNAVAILABLE, 'test double: unavailable')
        try:
          outputs = double.predict(
              request.model_spec.name, request.model_spec.signature_name,
              {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        except LookupError as e:
          context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
          context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for key, value in outputs.items():
          response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    self._grpc = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        Servicer(), self._grpc)
    port = self._grpc.add_insecure_port('127.0.0.1:0')
    self._grpc.start()
    return f'127.0.0.1:{port}'

  # REST --------------------------------------------------------------------
  def start_rest(self) -> str:
    double = self
    path = re.compile(r'^/v1/models/([^/:]+)(?:/versions/\d+)?:predict$')

    class Handler(http.server.BaseHTTPRequestHandler):

      def log_message(self, *args):  # quiet
        pass

      def _reply(self, status, body):
        data = json.dumps(body).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

      def do_POST(self):  # pylint: disable=invalid-name
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        if not double._admit():  # pylint: disable=protected-access
          return self._reply(503, {'error': 'test double: unavailable'})
        match = path.match(self.path)
        if not match:
          return self._reply(404, {'error': f'Malformed request: {self.path}'})
        signature = body.get('signature_name', 'serving_default')
        if 'inputs' in body:   # columnar format: named inputs, named outputs
          try:
            outputs = double.predict(match.group(1), signature, {
                k: ([x.encode('utf-8') if isinstance(x, str) else x for x in v]
                    if isinstance(v, list) else v)
                for k, v in body['inputs'].items()})
          except LookupError as e:
            return self._reply(404, {'error': str(e)})
          except (ValueError, KeyError, TypeError,
                  tf.errors.InvalidArgumentError) as e:
            return self._reply(400, {'error': str(e)})
          return self._reply(200, {'outputs': {
              k: [x.decode('utf-8') if isinstance(x, bytes) else x.item()
                  for x in v] for k, v in outputs.items()}})
        try:
          fn = double.loaded.signatures.get(signature)
          input_name = (list(fn.structured_input_signature[1])[0]
                        if fn is not None else None)
          outputs = double.predict(match.group(1), signature, {
              input_name: [s.encode('utf-8') for s in body['instances']]})
        except LookupError as e:
          return self._reply(404, {'error': str(e)})
        except (ValueError, KeyError, TypeError) as e:
          return self._reply(400, {'error': str(e)})
        rows = [{k: (v[i].decode('utf-8') if isinstance(v[i], bytes)
                     else v[i].item()) for k, v in outputs.items()}
                for i in range(len(body['instances']))]
        return self._reply(200, {'predictions': rows})

    self._http = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=self._http.serve_forever, daemon=True).start()
    return f'http://127.0.0.1:{self._http.server_address[1]}'

  def stop(self):
    if getattr(self, '_grpc', None):
      self._grpc.stop(0)
    if getattr(self, '_http', None):
      self._http.shutdown()
      self._http.server_close()


@pytest.fixture(scope='module')
def server(tiny_export):
  double = TFServingTestDouble(tiny_export)
  addresses = {'grpc': double.start_grpc(), 'rest': double.start_rest()}
  yield double, addresses
  double.stop()


@pytest.fixture(scope='module')
def local_translate(tiny_export):
  """What the SavedModel itself answers, loaded in-process."""
  return SavedModelTranslator(str(tiny_export))


@pytest.fixture(autouse=True)
def healthy(server):
  double, _ = server
  double.unavailable_for, double.delay = 0, 0.0


@pytest.mark.parametrize('protocol', ['grpc', 'rest'])
def test_client_gets_what_the_saved_model_gives(server, local_translate,
                                               protocol):
  double, addresses = server
  expected = local_translate(SENTENCES)
  before = double.requests
  client = client_lib.TranslationClient(addresses[protocol], MODEL, protocol,
                                        batch_size=3)
  assert client.translate(SENTENCES) == expected
  assert double.requests - before == 3          # 7 sentences in batches of 3
  assert expected[2] == ''                      # empty in, empty out


@pytest.mark.parametrize('protocol', ['grpc', 'rest'])
def test_per_request_beam_size_and_length_penalty(server, tiny_export,
                                                  protocol):
  _, addresses = server
  options = tf.saved_model.load(str(tiny_export)).signatures[
      'translate_with_options']
  for beam, alpha in ((1, 0.0), (3, 1.0)):
    expected = [t.decode('utf-8') for t in options(**export.options_inputs(
        tf.constant(SENTENCES), beam, alpha))['translation'].numpy()]
    client = client_lib.TranslationClient(
        addresses[protocol], MODEL, protocol, batch_size=4, beam_size=beam,
        length_penalty=alpha)
    assert client.signature == 'translate_with_options'
    assert client.translate(SENTENCES) == expected


@pytest.mark.parametrize('protocol', ['grpc', 'rest'])
def test_retries_while_the_server_is_unavailable(server, protocol):
  double, addresses = server
  double.unavailable_for = 2
  before = double.requests
  client = client_lib.TranslationClient(addresses[protocol], MODEL, protocol,
                                        retries=3, backoff=0.01)
  assert len(client.translate(SENTENCES[:2])) == 2
  assert double.requests - before == 3

  double.unavailable_for = 10
  client = client_lib.TranslationClient(addresses[protocol], MODEL, protocol,
                                        retries=2, backoff=0.01)
  with pytest.raises(client_lib.ServingUnavailable, match='unavailable'):
    client.translate(SENTENCES[:1])


@pytest.mark.parametrize('protocol', ['grpc', 'rest'])
def test_unknown_model_is_a_clear_error(server, protocol):
  _, addresses = server
  client = client_lib.TranslationClient(addresses[protocol], 'no-such-model',
                                        protocol, retries=0)
  with pytest.raises(client_lib.ServingError,
                     match=r"model 'no-such-model' at .*(NOT_FOUND|HTTP 404)"):
    client.translate(['A dog.'])


@pytest.mark.parametrize('protocol', ['grpc', 'rest'])
def test_timeout_is_reported(server, protocol):
  double, addresses = server
  double.delay = 1.5
  client = client_lib.TranslationClient(addresses[protocol], MODEL, protocol,
                                        timeout=0.3, retries=0)
  with pytest.raises(client_lib.ServingError,
                     match='DEADLINE_EXCEEDED|no answer within 0.3 s'):
    client.translate(['A dog.'])


def test_nothing_listening_is_unavailable_after_retries():
  client = client_lib.TranslationClient('127.0.0.1:9', MODEL, 'rest',
                                        retries=1, backoff=0.01, timeout=2)
  with pytest.raises(client_lib.ServingUnavailable, match=r'127\.0\.0\.1:9'):
    client.translate(['A dog.'])


def test_warmup_requests_are_accepted_over_grpc(server, tiny_export):
  _, addresses = server
  stub = prediction_service_pb2_grpc.PredictionServiceStub(
      grpc.insecure_channel(addresses['grpc']))
  path = str(tiny_export / export.WARMUP_FILE)
  for record in tf.data.TFRecordDataset(path):
    request = prediction_log_pb2.PredictionLog.FromString(
        record.numpy()).predict_log.request
    request.model_spec.name = MODEL
    response = stub.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs['translation']).shape == (3,)


def test_translate_command(server, local_translate, tmp_path, capsys):
  _, addresses = server
  source = tmp_path / 'in.txt'
  source.write_text('\n'.join(SENTENCES[:4]) + '\n', encoding='utf-8')
  assert client_lib.main([str(source), '--server', addresses['grpc'],
                          '--model', MODEL, '--batch-size', '2']) == 0
  lines = capsys.readouterr().out.split('\n')[:4]
  assert lines == local_translate(SENTENCES[:4])
  assert client_lib.main([str(source), '--server', addresses['rest'],
                          '--protocol', 'rest', '--model', 'nope',
                          '--retries', '0']) == 3
  assert "error: model 'nope'" in capsys.readouterr().err


class CannedRestTestDouble:
  """TEST DOUBLE of a misbehaving REST endpoint: every POST gets `status`
  and `body` as they are (e.g. a proxy's HTML page)."""

  def __init__(self, status: int, body: bytes):
    double = self
    self.status, self.body = status, body

    class Handler(http.server.BaseHTTPRequestHandler):

      def log_message(self, *args):  # quiet
        pass

      def do_POST(self):  # pylint: disable=invalid-name
        self.rfile.read(int(self.headers['Content-Length']))
        self.send_response(double.status)
        self.send_header('Content-Length', str(len(double.body)))
        self.end_headers()
        self.wfile.write(double.body)

    self._http = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=self._http.serve_forever, daemon=True).start()
    self.address = f'http://127.0.0.1:{self._http.server_address[1]}'

  def stop(self):
    self._http.shutdown()
    self._http.server_close()


@pytest.mark.parametrize('status,body,message', [
    (200, b'<html>gateway</html>', "HTTP 200 but not a prediction for 1 "
     "sentences: '<html>gateway</html>'"),
    (200, b'["a list"]', 'HTTP 200 but not a prediction'),
    (200, b'{"predictions": [1]}', 'HTTP 200 but not a prediction'),
    (500, b'["not", "an", "object"]', 'HTTP 500: ["not", "an", "object"]'),
    (400, b'"just a string"', 'HTTP 400: "just a string"'),
    (404, b'{"error": "Servable not found"}', 'HTTP 404: Servable not found'),
])
def test_rest_answers_that_are_not_tf_serving_json_exit_3(
    tmp_path, capsys, status, body, message):
  double = CannedRestTestDouble(status, body)
  source = tmp_path / 'in.txt'
  source.write_text('A dog.\n', encoding='utf-8')
  try:
    code = client_lib.main([str(source), '--server', double.address,
                            '--protocol', 'rest', '--model', MODEL,
                            '--retries', '0'])
  finally:
    double.stop()
  assert code == 3
  err = capsys.readouterr().err
  assert err.startswith(f"error: model '{MODEL}' at "), err
  assert message in err, err


class LargeAnswerTestDouble(prediction_service_pb2_grpc.PredictionServiceServicer):
  """TEST DOUBLE of a gRPC server whose answer is larger than gRPC's default
  4 MiB receive limit: `ANSWER_BYTES` per sentence."""
  ANSWER_BYTES = 70 * 1000

  def Predict(self, request, context):  # pylint: disable=invalid-name
    rows = tf.make_ndarray(request.inputs['text']).shape[0]
    response = predict_pb2.PredictResponse()
    response.outputs['translation'].CopyFrom(tf.make_tensor_proto(
        [b'x' * self.ANSWER_BYTES] * rows, dtype=tf.string))
    return response


def test_grpc_message_limit_follows_the_batch_size():
  batch = 64
  assert (client_lib.grpc_message_limit(batch) >=
          batch * LargeAnswerTestDouble.ANSWER_BYTES + 64 * 1024)
  assert (client_lib.grpc_message_limit(1024) >
          client_lib.grpc_message_limit(64) > 4 * 1024 * 1024)
  server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      LargeAnswerTestDouble(), server)
  port = server.add_insecure_port('127.0.0.1:0')
  server.start()
  try:
    client = client_lib.TranslationClient(f'127.0.0.1:{port}', MODEL, 'grpc',
                                          batch_size=batch, retries=0)
    out = client.translate(['A dog.'] * batch)   # about 4.5 MB in one answer
  finally:
    server.stop(0)
  assert len(out) == batch and len(out[0]) == LargeAnswerTestDouble.ANSWER_BYTES
