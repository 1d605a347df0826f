"""Beam argument profiles and the local runner's default."""
import pytest

from nmt_tfx.pipeline import beam_profiles
from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import local_runner


def test_local_runner_defaults_to_two_direct_runner_processes():
  config = local_runner.build_config(local_runner.parse_args([]))
  assert config.beam_pipeline_args == [
      '--direct_running_mode=multi_processing', '--direct_num_workers=2']
  assert configs.PipelineConfig().beam_pipeline_args == (
      beam_profiles.beam_pipeline_args('local'))


def test_in_memory_profile_from_the_command_line():
  config = local_runner.build_config(
      local_runner.parse_args(['--beam-profile', 'in-memory']))
  assert '--direct_running_mode=in_memory' in config.beam_pipeline_args


@pytest.mark.parametrize('profile, runner', [
    ('dataflow', '--runner=DataflowRunner'), ('flink', '--runner=FlinkRunner'),
    ('spark', '--runner=SparkRunner')])
def test_cluster_profiles_need_their_options(profile, runner):
  names = beam_profiles.placeholders(profile)
  assert names
  with pytest.raises(ValueError, match='--beam-option'):
    beam_profiles.beam_pipeline_args(profile, {})
  args = beam_profiles.beam_pipeline_args(profile, {n: f'<{n}>' for n in names})
  assert runner in args
  assert not any('{' in a for a in args)


def test_parse_options():
  assert beam_profiles.parse_options(['project=p', 'region=europe-west4']) == {
      'project': 'p', 'region': 'europe-west4'}
  with pytest.raises(ValueError):
    beam_profiles.parse_options(['project'])
  with pytest.raises(ValueError, match='unknown Beam profile'):
    beam_profiles.beam_pipeline_args('yarn')
