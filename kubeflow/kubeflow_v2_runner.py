"""Compiles `create_pipeline(...)` with KubeflowV2DagRunner to a KFP v2 spec.

  python -m nmt_tfx.kubeflow.kubeflow_v2_runner --output kubeflow/nmt-en-de.yaml \\
      --image REGISTRY/nmt-tfx:TAG --data-dir gs://BUCKET/multi30k \\
      --pipeline-root gs://BUCKET/root --serving-dir gs://BUCKET/serving/nmt-en-de

The YAML is what `kfp.Client().upload_pipeline(...)` takes. The image must
hold this package (its components import `nmt_tfx`); the schema path is the
one inside the image.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import argparse  # pylint: disable=g-import-not-at-top,g-bad-import-order
import dataclasses
import sys
from typing import List, Optional

from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import pipeline

# Where the package's schema lives in the image (see the image definition).
IMAGE_SCHEMA_FILE = '/pipeline/schemas/schema.pbtxt'


def compile_pipeline(config: configs.PipelineConfig, *, image: str,
                     data_dir: str, pipeline_root: str, serving_dir: str,
                     output: str) -> str:
  """Writes the pipeline spec to `output`; returns its path."""
  tfx_pipeline = pipeline.create_pipeline(
      config, data_dir=data_dir, pipeline_root=pipeline_root,
      serving_dir=serving_dir,
      beam_pipeline_args=['--direct_running_mode=multi_processing',
                          '--direct_num_workers=0'])
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
          default_image=image),
      output_dir=os.path.dirname(os.path.abspath(output)),
      output_filename=os.path.basename(output))
  runner.run(tfx_pipeline, write_out=True)
  return output


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--output', required=True, help='pipeline spec (.yaml)')
  parser.add_argument('--image', required=True, help='component image')
  parser.add_argument('--data-dir', required=True)
  parser.add_argument('--pipeline-root', required=True)
  parser.add_argument('--serving-dir', required=True)
  parser.add_argument('--config', default='default', choices=sorted(configs.CONFIGS))
  parser.add_argument('--schema-file', default=IMAGE_SCHEMA_FILE)
  args = parser.parse_args(argv)
  config = dataclasses.replace(configs.CONFIGS[args.config],
                               schema_file=args.schema_file)
  print(compile_pipeline(config, image=args.image, data_dir=args.data_dir,
                         pipeline_root=args.pipeline_root,
                         serving_dir=args.serving_dir, output=args.output))
  return 0


if __name__ == '__main__':
  sys.exit(main())
