"""ExampleGen executor for parallel text: tf.Examples with `source`, `target`.

Used through `FileBasedExampleGen(custom_executor_spec=...)`: each split's
pattern is ``"<stem>.*"`` relative to ``input_base`` (so TFX's driver can
fingerprint the files), and the language pair comes from ``custom_config``:
the proto from `make_custom_config`, or (a Kubeflow pipeline parameter, which
cannot sit inside the proto) the plain string ``"en-de"``.
"""
import json
import re
from typing import Any, Dict, Iterator

import apache_beam as beam
from google.protobuf import json_format
from google.protobuf import struct_pb2
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.proto import example_gen_pb2

from nmt_tfx.components.data import corpus
from nmt_tfx.components.data import features


def split_pattern(stem: str) -> str:
  return f'{stem}.*'


def make_custom_config(source_lang: str,
                       target_lang: str) -> example_gen_pb2.CustomConfig:
  config = example_gen_pb2.CustomConfig()
  config.custom_config.Pack(struct_pb2.Struct(fields={
      'source_lang': struct_pb2.Value(string_value=source_lang),
      'target_lang': struct_pb2.Value(string_value=target_lang)}))
  return config


def language_pair(source_lang: str, target_lang: str) -> str:
  return f'{source_lang}-{target_lang}'


_PAIR = re.compile(r'\s*([A-Za-z_]+)-([A-Za-z_]+)\s*')


def _languages(exec_properties: Dict[str, Any]):
  config = example_gen_pb2.CustomConfig()
  raw = exec_properties.get('custom_config') or '{}'
  pair = _PAIR.fullmatch(raw) if isinstance(raw, str) else None
  if pair:
    return pair.group(1), pair.group(2)
  json_format.Parse(raw if isinstance(raw, str) else json.dumps(raw), config)
  fields = struct_pb2.Struct()
  if not config.custom_config.Unpack(fields):
    raise ValueError('ParallelTextExampleGen needs custom_config from '
                     'make_custom_config(source_lang, target_lang) or a '
                     'language pair such as "en-de"')
  return fields['source_lang'], fields['target_lang']


def to_example(pair: corpus.Pair) -> tf.train.Example:
  def feature(text: str) -> tf.train.Feature:
    return tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[text.encode('utf-8')]))
  return tf.train.Example(features=tf.train.Features(feature={
      features.SOURCE: feature(pair.source),
      features.TARGET: feature(pair.target)}))


def _examples(split: corpus.SplitFiles) -> Iterator[tf.train.Example]:
  for pair in corpus.read_pairs(split):
    yield to_example(pair)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ParallelTextToExample(pipeline: beam.Pipeline,
                           exec_properties: Dict[str, Any],
                           split_pattern: str) -> beam.pvalue.PCollection:  # pylint: disable=redefined-outer-name
  source_lang, target_lang = _languages(exec_properties)
  stem = split_pattern[:-2] if split_pattern.endswith('.*') else split_pattern
  split = corpus.find_split_files(exec_properties['input_base'], stem,
                                  source_lang, target_lang)
  return (pipeline
          | 'Split' >> beam.Create([split])
          | 'ReadPairs' >> beam.FlatMap(_examples))


class Executor(BaseExampleGenExecutor):
  """Reads aligned files or TSV; fails with file:line on bad data."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _ParallelTextToExample
