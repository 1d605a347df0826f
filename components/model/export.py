"""The served SavedModel: raw text in, translated text out, all in-graph.

Signatures:
  translate        text [B] string -> translation [B] string, length [B] int32,
                   score [B] float32 (log-prob of the translation)
  serving_default  examples [B] serialized tf.Example (feature `source`)
                   -> the same outputs
  translate_with_options
                   text [B], beam_size [B] int32, length_penalty [B] float32
                   -> the same outputs (options per row, all three inputs the
                   same length; beam_size clamped to 1..MAX_BEAM_SIZE; 1 is
                   greedy decoding)
Every input has the batch first, so TF Serving's batcher can merge requests
along dimension 0; rows merged from requests with different options are
decoded in groups of equal options (components/model/option_groups.py).
The first two decode with the beam size and length penalty chosen at export
(HParams.beam_size, HParams.length_penalty). All run the Transform graph
(tokenize, vocabulary), the encoder, the beam search (one tf.while_loop,
components/model/decoding.py) and the detokenizer, so TF Serving needs
nothing else. Warm-up requests
for both are written to assets.extra/, so TF Serving runs them at load time
and the first user request does not pay for graph initialisation; the
configuration the model was trained with goes there too (model_config.py).

Not a signature (TF Serving never sees it), but saved on the module for the
evaluation report: `attention(text, translation)` -> the source and target
tokens and the teacher-forced attention weights between them.
"""
import os
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
import tensorflow as tf
# Registers the TF Text ops a WordPiece model's graph uses, before any
# SavedModel is loaded here (SavedModelTranslator): the Evaluator may run in
# a process (a Kubeflow container) where nothing else imported them.
import tensorflow_text  # pylint: disable=unused-import
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

from nmt_tfx.components.data import features
from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import keras_tracing
from nmt_tfx.components.model import model_config
from nmt_tfx.components.model import option_groups
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.components.serving.contract import EXAMPLES_INPUT
from nmt_tfx.components.serving.contract import EXAMPLES_SIGNATURE
from nmt_tfx.components.serving.contract import BEAM_SIZE_INPUT
from nmt_tfx.components.serving.contract import LENGTH_OUTPUT
from nmt_tfx.components.serving.contract import LENGTH_PENALTY_INPUT
from nmt_tfx.components.serving.contract import MAX_BEAM_SIZE
from nmt_tfx.components.serving.contract import OPTIONS_SIGNATURE
from nmt_tfx.components.serving.contract import SCORE_OUTPUT
from nmt_tfx.components.serving.contract import TEXT_INPUT
from nmt_tfx.components.serving.contract import TRANSLATE_SIGNATURE
from nmt_tfx.components.serving.contract import TRANSLATION_OUTPUT
from nmt_tfx.components.serving.contract import WARMUP_FILE
from nmt_tfx.components.text import vocabulary

WARMUP_SENTENCES = ('A man is riding a bike.',
                    'Two young children play with a red ball in the snow.', '')
# Outputs of Translator.attention.
SOURCE_TOKENS, TARGET_TOKENS, ATTENTION_WEIGHTS = (
    'source_tokens', 'target_tokens', 'weights')


class Translator(tf.Module):
  """Wraps a trained model with its preprocessing and postprocessing."""

  def __init__(self, model, tf_transform_output, hparams: HParams, codec,
               preprocessing: PreprocessingConfig):
    """`codec`: text/codecs.load(...) for the same transform output;
    `preprocessing`: its configuration (the length caps)."""
    super().__init__()
    self.model = model
    # The weights by their Keras names, for warm starts and inspection of the
    # loaded SavedModel (the export saves no Keras layer metadata).
    self.model_variables = list(model.variables)
    self.tft_layer = tf_transform_output.transform_features_layer()
    self.codec = codec
    self._hparams = hparams
    self._preprocessing = preprocessing

  @staticmethod
  def _dense(ids: tf.RaggedTensor, limit: int):
    """ids [B, (n)] -> (ids [B, L] PAD-padded, lengths [B] int64): each row
    cut to `limit`, L the longest row (at least 1)."""
    ids = ids[:, :limit]
    dense = ids.to_tensor(vocabulary.PAD_ID)
    missing = tf.maximum(1 - tf.shape(dense)[1], 0)   # all rows empty
    return (tf.pad(dense, [[0, 0], [0, missing]],
                   constant_values=vocabulary.PAD_ID), ids.row_lengths())

  def prepare_source(self, text):
    """text [B] -> source_ids [B, S] (at most max_source_length tokens,
    trimmed to the longest), source_length [B], and the bound on generated
    tokens: what every decoder is given."""
    transformed = self.tft_layer({features.SOURCE: tf.reshape(text, [-1, 1])})
    source_ids, source_length = self._dense(
        transformed[features.SOURCE_IDS],
        self._preprocessing.max_source_length)
    max_length = decoding.max_output_length_for(source_length, self._hparams)
    return source_ids, source_length, max_length

  def _outputs(self, source_length, decoded: decoding.Decoded):
    """The signatures' outputs for `decoded`: detokenized text, lengths and
    scores; empty or whitespace-only input -> empty output."""
    text = self.codec.decode(tf.RaggedTensor.from_tensor(
        decoded.ids, lengths=decoded.lengths))
    has_words = source_length > 0
    return {TRANSLATION_OUTPUT: tf.where(has_words, text, ''),
            LENGTH_OUTPUT: tf.where(has_words, decoded.lengths, 0),
            SCORE_OUTPUT: tf.where(has_words, decoded.scores, 0.0)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, TEXT_INPUT)])
  def translate(self, text):
    source_ids, source_length, max_length = self.prepare_source(text)
    return self._outputs(source_length, decoding.beam_search(
        self.model, source_ids, max_length, beam_size=self._hparams.beam_size,
        alpha=self._hparams.length_penalty))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, TEXT_INPUT),
      tf.TensorSpec([None], tf.int32, BEAM_SIZE_INPUT),
      tf.TensorSpec([None], tf.float32, LENGTH_PENALTY_INPUT)])
  def translate_with_options(self, text, beam_size, length_penalty):
    for name, options in ((BEAM_SIZE_INPUT, beam_size),
                          (LENGTH_PENALTY_INPUT, length_penalty)):
      tf.debugging.assert_equal(
          tf.size(options), tf.size(text),
          message=f'{name} needs one value per row of {TEXT_INPUT}')
    source_ids, source_length, max_length = self.prepare_source(text)
    return self._outputs(source_length, option_groups.beam_search_per_row(
        self.model, source_ids, max_length,
        tf.clip_by_value(beam_size, 1, MAX_BEAM_SIZE), length_penalty))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, EXAMPLES_INPUT)])
  def serve_examples(self, examples):
    parsed = tf.io.parse_example(
        examples, {features.SOURCE: tf.io.FixedLenFeature([], tf.string)})
    return self.translate(parsed[features.SOURCE])

  @staticmethod
  def _labels(ids, lengths, to_pieces):
    """ids [B, L] -> their tokens [B, L] for people to read (words or
    subword pieces, as the codec's `to_pieces` maps them), '' past
    `lengths`; reserved ids show as <unk>, </s>, ..."""
    ragged = tf.RaggedTensor.from_tensor(ids, lengths=lengths)
    flat = ragged.flat_values
    reserved = tf.gather(tf.constant(vocabulary.RESERVED_TOKENS),
                         tf.clip_by_value(flat, 0, vocabulary.NUM_RESERVED - 1))
    labels = tf.where(flat < vocabulary.NUM_RESERVED, reserved,
                      to_pieces(ragged).flat_values)
    return ragged.with_flat_values(labels).to_tensor('', shape=tf.shape(ids))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, TEXT_INPUT),
      tf.TensorSpec([None], tf.string, TRANSLATION_OUTPUT)])
  def attention(self, text, translation):
    """Teacher-forced attention of the model over its own translation.

    text, translation [B] -> source tokens [B, S], target tokens [B, T]
    (what each decoder step predicted, ending in </s>; '' on padding) and
    weights [B, T, S] float32 (each real row sums to 1 over the real source
    tokens; 0 on padding).
    """
    transformed = self.tft_layer({
        features.SOURCE: tf.reshape(text, [-1, 1]),
        features.TARGET: tf.reshape(translation, [-1, 1])})
    source_ids, source_length = self._dense(
        transformed[features.SOURCE_IDS],
        self._preprocessing.max_source_length)
    # At most max_target_length: BOS + tokens, and the same tokens + EOS.
    target_in = transformed[features.TARGET_IN][
        :, :self._preprocessing.max_target_length]
    eos = tf.RaggedTensor.from_tensor(tf.fill(
        [target_in.nrows(), 1], tf.constant(vocabulary.EOS_ID, tf.int64)))
    target_out, _ = self._dense(tf.concat([target_in[:, 1:], eos], axis=1),
                                self._preprocessing.max_target_length)
    target_in, target_length = self._dense(
        target_in, self._preprocessing.max_target_length)
    source_length = tf.cast(source_length, tf.int32)
    target_length = tf.cast(target_length, tf.int32)
    s, t = tf.shape(source_ids)[1], tf.shape(target_in)[1]
    weights = self.model.attention_weights(source_ids, target_in)
    weights *= (tf.sequence_mask(target_length, t, tf.float32)[:, :, None] *
                tf.sequence_mask(source_length, s, tf.float32)[:, None, :])
    return {SOURCE_TOKENS: self._labels(source_ids, source_length,
                                        self.codec.source_pieces),
            TARGET_TOKENS: self._labels(target_out, target_length,
                                        self.codec.target_pieces),
            ATTENTION_WEIGHTS: weights}


def options_inputs(text: tf.Tensor, beam_size: int,
                   length_penalty: float) -> dict:
  """The OPTIONS_SIGNATURE's inputs for `text` [B], one beam size and length
  penalty for every sentence (the options are per row)."""
  rows = tf.shape(text)[:1]
  return {TEXT_INPUT: text,
          BEAM_SIZE_INPUT: tf.fill(rows, tf.constant(beam_size, tf.int32)),
          LENGTH_PENALTY_INPUT: tf.fill(rows, tf.constant(length_penalty,
                                                          tf.float32))}


def _example(sentence: str) -> bytes:
  return tf.train.Example(features=tf.train.Features(feature={
      features.SOURCE: tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[sentence.encode('utf-8')]))})).SerializeToString()


def warmup_requests() -> List[prediction_log_pb2.PredictionLog]:
  """One PredictRequest per signature, as TF Serving replays them at load."""
  logs = []
  for signature, key, values in (
      (TRANSLATE_SIGNATURE, TEXT_INPUT,
       [s.encode('utf-8') for s in WARMUP_SENTENCES]),
      (EXAMPLES_SIGNATURE, EXAMPLES_INPUT,
       [_example(s) for s in WARMUP_SENTENCES])):
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature
    request.inputs[key].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
    logs.append(prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)))
  return logs


def export(translator: Translator, export_dir: str,
           config: Optional[model_config.ModelConfig] = None) -> None:
  """Saves the SavedModel with its warm-up requests and, if given, the
  configuration it was trained with (model_config.FILE)."""
  with keras_tracing.without_layer_traces():
    tf.saved_model.save(
        translator, export_dir,
        signatures={
            EXAMPLES_SIGNATURE: translator.serve_examples,
            TRANSLATE_SIGNATURE: translator.translate,
            OPTIONS_SIGNATURE: translator.translate_with_options,
        })
  warmup_path = os.path.join(export_dir, WARMUP_FILE)
  tf.io.gfile.makedirs(os.path.dirname(warmup_path))
  with tf.io.TFRecordWriter(warmup_path) as writer:
    for log in warmup_requests():
      writer.write(log.SerializeToString())
  if config:
    model_config.save(config, export_dir)


class Attention(NamedTuple):
  """One sentence's attention: weights [len(target), len(source)]."""
  source_tokens: List[str]
  target_tokens: List[str]
  weights: np.ndarray


def model_variables(loaded) -> List[tf.Variable]:
  """The model's variables in a loaded Translator SavedModel: its
  `model_variables`, or, for models exported with Keras layer traces (before
  that attribute existed), the Keras model's `variables`."""
  if hasattr(loaded, 'model_variables'):
    return list(loaded.model_variables)
  return list(getattr(getattr(loaded, 'model', None), 'variables', []))


class SavedModelTranslator:
  """Translates Python strings with an exported model's `translate` signature."""

  def __init__(self, export_dir: str):
    self._loaded = tf.saved_model.load(export_dir)  # keeps variables alive
    self._fn = self._loaded.signatures[TRANSLATE_SIGNATURE]

  def __call__(self, sentences: Sequence[str], batch_size: int = 64
               ) -> List[str]:
    """Translations in the order of `sentences`, decoded `batch_size` at a
    time in order of length (whitespace tokens), so a batch pads little."""
    order = sorted(range(len(sentences)),
                   key=lambda i: len(sentences[i].split()))
    translations = [''] * len(sentences)
    for start in range(0, len(order), batch_size):
      indices = order[start:start + batch_size]
      batch = tf.constant([sentences[i] for i in indices], tf.string)
      out = self._fn(**{TEXT_INPUT: batch})[TRANSLATION_OUTPUT]
      for i, text in zip(indices, out.numpy()):
        translations[i] = text.decode('utf-8')
    return translations

  def attention(self, sentences: Sequence[str], translations: Sequence[str]
                ) -> Optional[List[Attention]]:
    """Each pair's attention, padding cut off; None if the model was exported
    without the `attention` function."""
    if not hasattr(self._loaded, 'attention'):
      return None
    out = self._loaded.attention(tf.constant(list(sentences), tf.string),
                                 tf.constant(list(translations), tf.string))
    result = []
    for source, target, weights in zip(out[SOURCE_TOKENS].numpy(),
                                       out[TARGET_TOKENS].numpy(),
                                       out[ATTENTION_WEIGHTS].numpy()):
      source = [t.decode('utf-8') for t in source if t]
      target = [t.decode('utf-8') for t in target if t]
      result.append(Attention(source, target,
                              weights[:len(target), :len(source)]))
    return result
