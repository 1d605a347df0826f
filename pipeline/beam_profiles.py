"""Beam pipeline arguments by profile: where ExampleGen, StatisticsGen,
ExampleValidator and Transform run.

  local      DirectRunner, 2 worker processes (the local runner's default)
  in-memory  DirectRunner, one in-process worker (least start-up cost)
  kubeflow   DirectRunner inside the component's pod, one process per CPU
  dataflow, flink, spark
             a cluster; `{placeholders}` are filled from `options`
             (`--beam-option name=value` on the command line). They cannot
             run without the cluster, so they are checked only for shape.

The component image (kubeflow/Dockerfile) is also the Beam SDK worker image
for dataflow, flink and spark, so workers import the same `nmt_tfx`.
"""
import re
import string
from typing import Dict, List, Mapping, Optional

PROFILES: Dict[str, List[str]] = {
    'local': ['--direct_running_mode=multi_processing',
              '--direct_num_workers=2'],
    'in-memory': ['--direct_running_mode=in_memory', '--direct_num_workers=1'],
    'kubeflow': ['--direct_running_mode=multi_processing',
                 '--direct_num_workers=0'],
    'dataflow': ['--runner=DataflowRunner', '--project={project}',
                 '--region={region}', '--temp_location={temp_location}',
                 '--sdk_container_image={image}',
                 '--experiments=use_runner_v2'],
    # Portable Flink runner; workers as a Beam worker-pool sidecar of the
    # Flink task managers (environment EXTERNAL).
    'flink': ['--runner=FlinkRunner', '--flink_master={flink_master}',
              '--flink_submit_uber_jar', '--environment_type=EXTERNAL',
              '--environment_config={worker_pool}', '--parallelism={parallelism}'],
    # Portable Spark runner; the SDK workers run in the component image.
    'spark': ['--runner=SparkRunner', '--spark_master_url={spark_master}',
              '--environment_type=DOCKER', '--environment_config={image}'],
}
DEFAULT_LOCAL = 'local'


def placeholders(profile: str) -> List[str]:
  """Names a profile needs filled in, in order of appearance."""
  names = [field for arg in PROFILES[profile]
           for _, field, _, _ in string.Formatter().parse(arg) if field]
  return list(dict.fromkeys(names))


def beam_pipeline_args(profile: str,
                       options: Optional[Mapping[str, str]] = None) -> List[str]:
  """The profile's arguments with `options` filled in; ValueError if one is
  missing or the profile is unknown."""
  if profile not in PROFILES:
    raise ValueError(f'unknown Beam profile {profile!r}; '
                     f'known: {", ".join(PROFILES)}')
  options = dict(options or {})
  missing = [name for name in placeholders(profile) if name not in options]
  if missing:
    raise ValueError(f'Beam profile {profile!r} needs '
                     + ', '.join(f'--beam-option {m}=...' for m in missing))
  return [arg.format(**options) for arg in PROFILES[profile]]


def parse_options(pairs: List[str]) -> Dict[str, str]:
  """['name=value', ...] -> {name: value}."""
  options = {}
  for pair in pairs or []:
    match = re.fullmatch(r'(\w+)=(.*)', pair)
    if not match:
      raise ValueError(f'--beam-option {pair!r}: expected name=value')
    options[match.group(1)] = match.group(2)
  return options
