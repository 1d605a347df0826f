"""The local runner's default Beam profile (DirectRunner, 2 worker processes)
runs the pipeline's Beam stages, ExampleGen to Transform, on a Multi30k slice."""
import gzip

import pytest
from tfx.orchestration import pipeline as tfx_pipeline

from nmt_tfx.pipeline import beam_profiles
from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import pipeline

pytestmark = pytest.mark.slow

BEAM_STAGES = ('ParallelTextExampleGen', 'StatisticsGen', 'ImportSchemaGen',
               'ExampleValidator', 'DataValidationGate', 'Transform')


def count_records(directory):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return sum(1 for path in directory.glob('*.gz')
             for _ in tf.data.TFRecordDataset(str(path), compression_type='GZIP'))


def test_beam_stages_with_two_direct_runner_workers(e2e_data_dir, tmp_path):
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  config = configs.CONFIGS['smoke']
  assert config.beam_pipeline_args == beam_profiles.beam_pipeline_args('local')
  assert '--direct_num_workers=2' in config.beam_pipeline_args
  full = pipeline.create_pipeline(
      config, data_dir=str(e2e_data_dir), pipeline_root=str(tmp_path / 'root'),
      serving_dir=str(tmp_path / 'serving'),
      metadata_connection_config=tfx.orchestration.metadata
      .sqlite_metadata_connection_config(str(tmp_path / 'mlmd.sqlite')))
  # A partial run: Transform and everything upstream of it.
  tfx.orchestration.LocalDagRunner().run(
      full, run_options=tfx_pipeline.RunOptions(to_nodes=['Transform']))
  assert {p.name for p in (tmp_path / 'root').iterdir()} == set(BEAM_STAGES)

  lines = lambda name: len(gzip.open(e2e_data_dir / name, 'rt').readlines())
  [examples] = (tmp_path / 'root' / 'ParallelTextExampleGen' /
                'examples').iterdir()
  assert count_records(examples / 'Split-train') == lines('train.en.gz')
  assert count_records(examples / 'Split-test') == lines('test_2016_flickr.en.gz')
  [transformed] = (tmp_path / 'root' / 'Transform' /
                   'transformed_examples').iterdir()
  assert count_records(transformed / 'Split-train') == lines('train.en.gz')
  assert list((tmp_path / 'root' / 'Transform' / 'transform_graph').glob(
      '*/transform_fn/assets/source_vocab'))
