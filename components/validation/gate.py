"""Stops the pipeline when ExampleValidator found anomalies.

ExampleValidator only records anomalies. This gate reads them and either
raises with a readable list or passes the schema on: Transform consumes the
gate's schema, so nothing downstream runs on data that failed validation.
"""
import os
from typing import List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies
from tfx.types.standard_artifacts import Schema

ANOMALIES_FILE = 'SchemaDiff.pb'
SCHEMA_FILE = 'schema.pbtxt'


class DataValidationError(RuntimeError):
  """The data does not match the curated schema."""


def describe_anomalies(anomalies_uri: str, split_names: List[str]) -> List[str]:
  """One readable line per anomaly, e.g. "split 'train', feature 'target': ..."."""
  problems = []
  for split in split_names:
    path = os.path.join(anomalies_uri, f'Split-{split}', ANOMALIES_FILE)
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(tf.io.gfile.GFile(path, 'rb').read())
    for feature, info in sorted(anomalies.anomaly_info.items()):
      problems.append(f"split '{split}', feature '{feature}': "
                      f'{info.short_description}: {info.description}')
    if anomalies.HasField('dataset_anomaly_info'):
      info = anomalies.dataset_anomaly_info
      problems.append(f"split '{split}': {info.short_description}: "
                      f'{info.description}')
  return problems


@component
def DataValidationGate(anomalies: InputArtifact[ExampleAnomalies],
                       schema: InputArtifact[Schema],
                       validated_schema: OutputArtifact[Schema]) -> None:
  """Raises DataValidationError on anomalies; otherwise forwards the schema."""
  problems = describe_anomalies(
      anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
  if problems:
    raise DataValidationError(
        'the data does not match the schema (schemas/schema.pbtxt):\n  ' +
        '\n  '.join(problems))
  # On Kubeflow nothing creates the output directory (LocalDagRunner does).
  tf.io.gfile.makedirs(validated_schema.uri)
  tf.io.gfile.copy(os.path.join(schema.uri, SCHEMA_FILE),
                   os.path.join(validated_schema.uri, SCHEMA_FILE),
                   overwrite=True)
