"""Every exported signature survives TF Serving's server-side batching.

With --enable_batching (deploy/tf_serving/) the server concatenates the
inputs of concurrent requests along dimension 0, runs the signature once and
splits every output back along dimension 0. `BatcherTestDouble` does the
same, with the checks and error messages of TF Serving's batching session,
against the real exported SavedModel.
"""
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

from nmt_tfx.components.model import export
from nmt_tfx.components.serving import client as client_lib
from nmt_tfx.components.serving import contract

BATCHING_PARAMETERS = (pathlib.Path(__file__).parent.parent / 'deploy' /
                       'tf_serving' / 'batching_parameters.txt')
# Two requests as concurrent clients send them: different sizes and options.
# The longest sentence of each has the same number of words, so the output
# bound (2 x the batch's longest source + 10 tokens) is the same alone and
# merged.
REQUESTS = (
    {'sentences': ['A dog runs on the beach.', 'Kids play.', ''],
     'beam_size': 1, 'length_penalty': 0.0},
    {'sentences': ['Two men are playing soccer now.', 'A child.'],
     'beam_size': 16, 'length_penalty': 5.0},
)
# The briefly trained test model ends every sentence at once, except with a
# strong length penalty (5.0): then the two option pairs give different
# outputs, which the tests below check is so.


class BatcherTestDouble:
  """TEST DOUBLE of TF Serving's batching session (batching_session.cc):
  merges the requests' inputs along dimension 0, runs the signature once,
  splits the outputs back. Refuses what the server refuses, with its
  messages."""

  def __init__(self, signature):
    self.signature = signature

  @staticmethod
  def _size(request) -> int:
    sizes = set()
    for value in request.values():
      if np.ndim(value) == 0:
        raise ValueError('Batching Run() input tensors must have at least '
                         'one dimension')
      sizes.add(np.shape(value)[0])
    if len(sizes) != 1:
      raise ValueError('Batching Run() input tensors must have equal '
                       '0th-dimension size')
    return sizes.pop()

  def run(self, requests):
    """[{input: array}] -> [{output: array}], one per request."""
    sizes = [self._size(r) for r in requests]
    merged = {name: tf.constant(np.concatenate([r[name] for r in requests]))
              for name in requests[0]}
    outputs = {k: v.numpy() for k, v in self.signature(**merged).items()}
    for value in outputs.values():
      if np.ndim(value) == 0:
        raise ValueError('Batched output tensor has 0 dimensions')
      if np.shape(value)[0] != sum(sizes):
        raise ValueError("Batched output tensor's 0th dimension does not "
                         'equal the sum of the 0th dimension sizes of the '
                         'input tensors')
    bounds = np.cumsum([0] + sizes)
    return [{k: v[a:b] for k, v in outputs.items()}
            for a, b in zip(bounds[:-1], bounds[1:])]


def _example(sentence: str) -> bytes:
  return tf.train.Example(features=tf.train.Features(feature={
      'source': tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[sentence.encode('utf-8')]))})).SerializeToString()


# How a client fills each input of a signature for one request; a signature
# with an input not listed here fails the test until it is added.
INPUTS = {
    contract.TEXT_INPUT: lambda r: np.array(r['sentences'], dtype=object),
    contract.EXAMPLES_INPUT: lambda r: np.array(
        [_example(s) for s in r['sentences']], dtype=object),
    contract.BEAM_SIZE_INPUT: lambda r: np.full(
        len(r['sentences']), r['beam_size'], np.int32),
    contract.LENGTH_PENALTY_INPUT: lambda r: np.full(
        len(r['sentences']), r['length_penalty'], np.float32),
}


@pytest.fixture(scope='module')
def loaded(tiny_export):
  return tf.saved_model.load(str(tiny_export))


def _request(signature, spec):
  names = sorted(signature.structured_input_signature[1])
  unknown = set(names) - set(INPUTS)
  assert not unknown, f'no request builder for inputs {unknown}'
  return {name: INPUTS[name](spec) for name in names}


def test_every_signature_takes_batch_major_inputs(loaded):
  for name, signature in loaded.signatures.items():
    for spec in signature.structured_input_signature[1].values():
      assert spec.shape.rank >= 1 and spec.shape[0] is None, (name, spec)


@pytest.mark.parametrize('name', [contract.TRANSLATE_SIGNATURE,
                                  contract.EXAMPLES_SIGNATURE,
                                  contract.OPTIONS_SIGNATURE])
def test_merged_requests_get_what_each_gets_alone(loaded, name):
  signature = loaded.signatures[name]
  assert set(loaded.signatures) == {contract.TRANSLATE_SIGNATURE,
                                    contract.EXAMPLES_SIGNATURE,
                                    contract.OPTIONS_SIGNATURE}
  requests = [_request(signature, spec) for spec in REQUESTS]
  merged = BatcherTestDouble(signature).run(requests)
  for request, answer in zip(requests, merged):
    alone = {k: v.numpy() for k, v in signature(**{
        k: tf.constant(v) for k, v in request.items()}).items()}
    assert sorted(answer) == sorted(alone)
    for key in alone:
      if alone[key].dtype.kind == 'f':
        np.testing.assert_allclose(answer[key], alone[key], rtol=1e-4,
                                   atol=1e-4, err_msg=f'{name} {key}')
      else:
        assert answer[key].tolist() == alone[key].tolist(), (name, key)


def test_rows_with_different_options_are_decoded_with_their_own(loaded):
  """One batch, two option pairs (as merged from two requests): each row as
  if decoded alone with its own options, not with the first row's."""
  signature = loaded.signatures[contract.OPTIONS_SIGNATURE]
  text = REQUESTS[0]['sentences'][:1] * 2
  rows = {'text': tf.constant(text),
          'beam_size': tf.constant([REQUESTS[0]['beam_size'],
                                    REQUESTS[1]['beam_size']], tf.int32),
          'length_penalty': tf.constant([REQUESTS[0]['length_penalty'],
                                         REQUESTS[1]['length_penalty']])}
  mixed = signature(**rows)
  alone = [signature(**{k: v[i:i + 1] for k, v in rows.items()})
           for i in range(2)]
  assert alone[0]['length'].numpy()[0] != alone[1]['length'].numpy()[0]
  for i in range(2):
    assert mixed['translation'].numpy()[i] == alone[i]['translation'].numpy()[0]
    assert mixed['length'].numpy()[i] == alone[i]['length'].numpy()[0]
    np.testing.assert_allclose(mixed['score'].numpy()[i],
                               alone[i]['score'].numpy()[0], atol=1e-4)


def test_options_need_one_value_per_row(loaded):
  signature = loaded.signatures[contract.OPTIONS_SIGNATURE]
  with pytest.raises(tf.errors.InvalidArgumentError, match='one value per row'):
    signature(text=tf.constant(['A dog.', 'A cat.']),
              beam_size=tf.constant([1], tf.int32),
              length_penalty=tf.constant([0.0, 0.0], tf.float32))


def test_batcher_test_double_refuses_a_scalar_input():
  def echo(text, beam_size):
    return {'translation': text}
  with pytest.raises(ValueError, match='at least one dimension'):
    BatcherTestDouble(echo).run([{'text': np.array([b'a']),
                                  'beam_size': np.int32(1)}])


def _batching_parameters():
  """batching_parameters.txt as {field: int or bool}."""
  values = re.findall(r'^(\w+)\s*\{\s*value:\s*(\w+)\s*\}',
                      BATCHING_PARAMETERS.read_text(), re.M)
  return {k: (v == 'true' if v in ('true', 'false') else int(v))
          for k, v in values}


def test_batching_parameters_accept_the_largest_client_request():
  """A request larger than max_batch_size is refused by the server; one
  request is split into decode batches of max_execution_batch_size."""
  params = _batching_parameters()
  assert params['max_batch_size'] == contract.MAX_REQUEST_SENTENCES >= 1000
  assert params['enable_large_batch_splitting'] is True
  assert params['max_execution_batch_size'] <= params['max_batch_size']
  with pytest.raises(ValueError, match='batch_size must be 1..1024'):
    client_lib.TranslationClient('localhost:8500', 'm',
                                 batch_size=contract.MAX_REQUEST_SENTENCES + 1)


def test_warmup_requests_are_batch_major(tiny_export):
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  for record in tf.data.TFRecordDataset(str(tiny_export / export.WARMUP_FILE)):
    request = prediction_log_pb2.PredictionLog.FromString(
        record.numpy()).predict_log.request
    for key, proto in request.inputs.items():
      assert len(proto.tensor_shape.dim) >= 1, key
