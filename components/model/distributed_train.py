"""Runs the Trainer's training outside TFX, e.g. on every replica of a TFJob.

  python -m nmt_tfx.components.model.distributed_train \\
      --examples gs://BUCKET/root/.../Transform/transformed_examples/ID \\
      --transform-graph gs://BUCKET/root/.../Transform/transform_graph/ID \\
      --serving-model-dir gs://BUCKET/models/nmt-en-de/1 \\
      --config default [--hparams JSON] [--train-steps N]

Every replica runs the same command; the Kubeflow training operator gives each
its TF_CONFIG, so training uses MultiWorkerMirroredStrategy across them
(components/model/distribution.py) and only the chief writes the SavedModel.
The inputs are a pipeline run's Transform outputs; the preprocessing settings
are read from the transform graph (Transform recorded them), the
hyperparameters and steps are the named configuration's (pipeline/configs.py)
with --hparams merged in, as the pipeline's own flags do. Prints one JSON line.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import argparse  # pylint: disable=g-import-not-at-top,g-bad-import-order
import json
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--examples', required=True,
                      help='transformed examples (with Split-train, Split-eval)')
  parser.add_argument('--transform-graph', required=True)
  parser.add_argument('--serving-model-dir', required=True)
  parser.add_argument('--config', default='default', help='named '
                      'configuration the pipeline ran with (pipeline/configs.py)')
  parser.add_argument('--hparams', default='{}', metavar='JSON',
                      help='hyperparameters overriding the configuration\'s, '
                      'as the pipeline was given them')
  parser.add_argument('--train-steps', type=int)
  parser.add_argument('--eval-steps', type=int)
  parser.add_argument('--log-dir')
  return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace):
  """The pipeline configuration the flags name (configs.merge)."""
  from nmt_tfx.components.model.hparams import HParams  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import flags  # pylint: disable=g-import-not-at-top
  if args.config not in configs.CONFIGS:
    raise configs.ConfigError(f'--config: unknown {args.config!r}; known: '
                              f'{", ".join(sorted(configs.CONFIGS))}')
  hparams = flags.json_fields(args.hparams, '--hparams', HParams)
  return configs.merge(configs.CONFIGS[args.config], {
      'hparams': hparams, **{k: v for k, v in {
          'train_steps': args.train_steps,
          'eval_steps': args.eval_steps}.items() if v is not None}},
                       where='flags')


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  try:
    config = config_from_args(args)
  except ValueError as e:   # configs.ConfigError
    print(f'error: {e}', file=sys.stderr)
    return 2

  from nmt_tfx.components.model import distribution  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  strategy = distribution.make_strategy()
  chief = distribution.is_chief(strategy)
  log_dir = args.log_dir
  if log_dir and not chief:
    resolver = strategy.cluster_resolver
    log_dir = os.path.join(log_dir, f'{resolver.task_type}-{resolver.task_id}')
  history = trainer.train_and_export(
      train_files=os.path.join(args.examples, 'Split-train', '*'),
      eval_files=os.path.join(args.examples, 'Split-eval', '*'),
      transform_output=args.transform_graph,
      serving_model_dir=args.serving_model_dir, log_dir=log_dir,
      train_steps=config.train_steps, eval_steps=config.eval_steps,
      custom_config=config.trainer_config(), strategy=strategy)
  print(json.dumps({'chief': chief, 'workers': distribution.num_workers(),
                    'replicas': strategy.num_replicas_in_sync,
                    'loss': history.history['loss']}), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
