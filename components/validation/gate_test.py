"""The gate reads real ExampleValidator output (TFDV anomalies)."""
import pandas as pd
import tensorflow_data_validation as tfdv
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
