"""The gate reads real ExampleValidator output (TFDV anomalies)."""
import pathlib
import shutil

import pandas as pd
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from nmt_tfx import schemas
from nmt_tfx.components.validation import gate


def _write_anomalies(tmp_path, split, frame):
  schema = io_utils.SchemaReader().read(schemas.SCHEMA_FILE)
  stats = tfdv.generate_statistics_from_dataframe(frame)
  anomalies = tfdv.validate_statistics(stats, schema)
  path = tmp_path / f'Split-{split}'
  path.mkdir()
  (path / gate.ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())


def test_clean_split_has_no_problems(tmp_path):
  _write_anomalies(tmp_path, 'train', pd.DataFrame(
      {'source': ['A dog.', 'A cat.'], 'target': ['Ein Hund.', 'Eine Katze.']}))
  assert gate.describe_anomalies(str(tmp_path), ['train']) == []


def test_missing_feature_is_named_with_its_split(tmp_path):
  _write_anomalies(tmp_path, 'train', pd.DataFrame(
      {'source': ['A dog.', 'A cat.'], 'target': ['Ein Hund.', 'Eine Katze.']}))
  _write_anomalies(tmp_path, 'eval', pd.DataFrame({'source': ['A dog.']}))
  problems = gate.describe_anomalies(str(tmp_path), ['train', 'eval'])
  assert len(problems) == 1
  assert problems[0].startswith("split 'eval', feature 'target': ")
  assert 'missing' in problems[0].lower()


def test_gate_forwards_the_schema_into_a_directory_it_creates(tmp_path):
  """As on Kubeflow, where nothing creates the output directory first."""
  anomalies = standard_artifacts.ExampleAnomalies()
  schema = standard_artifacts.Schema()
  anomalies.uri, schema.uri = str(tmp_path / 'anomalies'), str(tmp_path / 'schema')
  anomalies.split_names = artifact_utils.encode_split_names(['train'])
  (tmp_path / 'anomalies').mkdir()
  _write_anomalies(tmp_path / 'anomalies', 'train', pd.DataFrame(
      {'source': ['A dog.'], 'target': ['Ein Hund.']}))
  (tmp_path / 'schema').mkdir()
  shutil.copy(schemas.SCHEMA_FILE, tmp_path / 'schema' / gate.SCHEMA_FILE)
  validated = standard_artifacts.Schema()
  validated.uri = str(tmp_path / 'gate' / 'validated_schema')
  gate.DataValidationGate_Executor().Do(
      {'anomalies': [anomalies], 'schema': [schema]},
      {'validated_schema': [validated]}, {})
  assert ((tmp_path / 'gate' / 'validated_schema' / gate.SCHEMA_FILE)
          .read_text() == pathlib.Path(schemas.SCHEMA_FILE).read_text())
