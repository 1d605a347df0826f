"""Compiles `create_pipeline(...)` with KubeflowV2DagRunner to a KFP v2 spec.

  python -m nmt_tfx.kubeflow.kubeflow_v2_runner --output kubeflow/nmt-en-de.yaml \\
      --image REGISTRY/nmt-tfx:TAG --data-dir gs://BUCKET/multi30k \\
      --pipeline-root gs://BUCKET/root --serving-dir gs://BUCKET/serving/nmt-en-de

The YAML is what `kfp.Client().upload_pipeline(...)` takes (see
kubeflow/schedule.py). The image must hold this package (its components
import `nmt_tfx`; kubeflow/Dockerfile); the schema path is the one inside the
image. Pipeline parameters (pipeline.RUNTIME_PARAMETERS) default to the
values given here. Each component gets the CPU, memory and GPU requests of
COMPONENT_RESOURCES; the Trainer's MirroredStrategy spans the GPUs it gets.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import argparse  # pylint: disable=g-import-not-at-top,g-bad-import-order
import dataclasses
import sys
from typing import Dict, List, Mapping, Optional

from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from nmt_tfx.pipeline import beam_profiles
from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import flags
from nmt_tfx.pipeline import pipeline

# Where the package's schema lives in the image (see kubeflow/Dockerfile).
IMAGE_SCHEMA_FILE = '/pipeline/schemas/schema.pbtxt'
# The Kubernetes resource name of a GPU for open-source KFP (on Vertex AI:
# an accelerator type such as NVIDIA_TESLA_T4).
DEFAULT_GPU_TYPE = 'nvidia.com/gpu'

ResourceSpec = (pipeline_spec_pb2.PipelineDeploymentConfig
                .PipelineContainerSpec.ResourceSpec)


@dataclasses.dataclass(frozen=True)
class Resources:
  """A component's pod: CPU (vCPU) and memory (GB) requested; memory is
  also the limit (a Beam worker over it is killed rather than the node)."""
  cpu: float
  memory_gb: float
  gpus: int = 0

  def to_proto(self, gpu_type: str) -> ResourceSpec:
    spec = ResourceSpec(cpu_request=self.cpu, memory_request=self.memory_gb,
                        memory_limit=self.memory_gb)
    if self.gpus:
      spec.accelerator.type = gpu_type
      spec.accelerator.count = self.gpus
    return spec


# Component id -> pod resources. The Beam components run the DirectRunner in
# the pod with one worker process per CPU (beam profile `kubeflow`).
COMPONENT_RESOURCES: Dict[str, Resources] = {
    # The DirectRunner holds ExampleGen's shuffles in memory: about 5.5 GiB
    # at 1M pairs with 2 workers, 2 GiB more each further million.
    'ParallelTextExampleGen': Resources(cpu=2, memory_gb=8),
    'StatisticsGen': Resources(cpu=2, memory_gb=4),
    'Transform': Resources(cpu=4, memory_gb=8),
    'Trainer': Resources(cpu=4, memory_gb=16, gpus=1),
    'BleuEvaluator': Resources(cpu=2, memory_gb=8),
}


def apply_resources(tfx_pipeline, resources: Mapping[str, Resources],
                    gpu_type: str) -> None:
  for component in tfx_pipeline.components:
    if component.id in resources:
      component.with_platform_config(resources[component.id].to_proto(gpu_type))


def _patch_example_gen_resources(job: dict, tfx_pipeline) -> None:
  """TFX 1.16's compiler drops platform_config for FileBasedExampleGen
  (step_builder._build_file_based_example_gen_spec); put it back."""
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  spec = job['pipelineSpec']
  for component in tfx_pipeline.components:
    if component.platform_config is None:
      continue
    executor = spec['root']['dag']['tasks'][component.id]['componentRef']['name']
    label = spec['components'][executor]['executorLabel']
    container = spec['deploymentSpec']['executors'][label]['container']
    container.setdefault('resources',
                         json_format.MessageToDict(component.platform_config))


def _set_parameter_defaults(job: dict, tfx_pipeline) -> None:
  """TFX leaves pipeline parameters without defaults (it puts them in the
  job's runtimeConfig, which the YAML omits), so every run would have to
  set all of them; write each RuntimeParameter's default into the spec."""
  from tfx.orchestration import data_types  # pylint: disable=g-import-not-at-top
  declared = job['pipelineSpec']['root']['inputDefinitions']['parameters']
  for component in tfx_pipeline.components:
    for value in component.exec_properties.values():
      if isinstance(value, data_types.RuntimeParameter):
        declared[value.name].update(defaultValue=value.default, isOptional=True)


def compile_pipeline(config: configs.PipelineConfig, *, image: str,
                     data_dir: str, pipeline_root: str, serving_dir: str,
                     output: str,
                     component_images: Optional[Mapping[str, str]] = None,
                     resources: Optional[Mapping[str, Resources]] = None,
                     gpu_type: str = DEFAULT_GPU_TYPE,
                     beam_pipeline_args: Optional[List[str]] = None) -> str:
  """Writes the pipeline spec to `output` (.yaml); returns its path."""
  tfx_pipeline = pipeline.create_pipeline(
      config, data_dir=data_dir, pipeline_root=pipeline_root,
      serving_dir=serving_dir,
      beam_pipeline_args=(beam_pipeline_args if beam_pipeline_args is not None
                          else beam_profiles.beam_pipeline_args('kubeflow')),
      runtime_parameters=True)
  apply_resources(tfx_pipeline, COMPONENT_RESOURCES if resources is None
                  else resources, gpu_type)
  images = {kubeflow_v2_dag_runner._DEFAULT_IMAGE_PATH_KEY: image,  # pylint: disable=protected-access
            **(component_images or {})}
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
          default_image=images if component_images else image,
          # Schema 2.1 (what the KFP 2 SDK writes): typed pipeline parameters.
          use_pipeline_spec_2_1=True))
  job = runner.run(tfx_pipeline, write_out=False)
  _patch_example_gen_resources(job, tfx_pipeline)
  _set_parameter_defaults(job, tfx_pipeline)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  kubeflow_v2_dag_runner._write_pipeline_spec_to_file(  # pylint: disable=protected-access
      job, f'{config.pipeline_name}: parallel text in, TF Serving model out.',
      output)
  return output


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--output', required=True, help='pipeline spec (.yaml)')
  parser.add_argument('--image', required=True, help='component image')
  parser.add_argument('--data-dir', required=True,
                      help='default of the data_dir pipeline parameter')
  parser.add_argument('--pipeline-root', required=True)
  parser.add_argument('--serving-dir', required=True,
                      help="the production model's directory (TF Serving's "
                      'model_base_path); fixed per compiled pipeline')
  flags.add_config_flags(parser)
  parser.set_defaults(warm_start=True)  # scheduled runs continue production
  parser.add_argument('--trainer-image', help='image for the Trainer only '
                      '(e.g. a CUDA build); default: --image')
  parser.add_argument('--gpus', type=int,
                      default=COMPONENT_RESOURCES['Trainer'].gpus,
                      help='GPUs for the Trainer (0: train on CPU)')
  parser.add_argument('--gpu-type', default=DEFAULT_GPU_TYPE)
  parser.add_argument('--beam-profile', default='kubeflow',
                      choices=sorted(beam_profiles.PROFILES))
  parser.add_argument('--beam-option', action='append', default=[],
                      metavar='NAME=VALUE', help='fills the Beam profile '
                      'placeholders, e.g. project=my-project')
  return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  try:
    config = flags.config_from_flags(
        args, schema_file=args.schema_file or IMAGE_SCHEMA_FILE)
    beam_args = beam_profiles.beam_pipeline_args(
        args.beam_profile, beam_profiles.parse_options(args.beam_option))
  except ValueError as e:   # configs.ConfigError included
    print(f'error: {e}', file=sys.stderr)
    return 2
  resources = dict(COMPONENT_RESOURCES)
  resources['Trainer'] = dataclasses.replace(resources['Trainer'],
                                             gpus=args.gpus)
  print(compile_pipeline(
      config, image=args.image, data_dir=args.data_dir,
      pipeline_root=args.pipeline_root, serving_dir=args.serving_dir,
      output=args.output, resources=resources, gpu_type=args.gpu_type,
      component_images=({'Trainer': args.trainer_image}
                        if args.trainer_image else None),
      beam_pipeline_args=beam_args))
  return 0


if __name__ == '__main__':
  sys.exit(main())
