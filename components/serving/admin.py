"""Operates a TF Serving model directory: list, roll back, restore, relabel.

  nmt-serving list     --serving-dir runs/nmt-en-de/serving/nmt-en-de
  nmt-serving rollback --serving-dir ...   # newest version -> <N>.retired
  nmt-serving restore  --serving-dir ... --version N
  nmt-serving relabel  --serving-dir ...   # labels onto the served versions
  nmt-serving models-config --serving-dir ... --model-name nmt-en-de \
      --base-path /models/nmt-en-de > models.config

Pushes, rollback and restore rewrite <serving-dir>/models.config (the
versions TF Serving loads, `canary` and `stable` labels). A label moves only
onto a version the previous models.config already served; `relabel`, run
once the server has loaded the newest version, moves them the rest of the
way. `models-config` prints a config for a server starting afresh (the
labels as the directory calls for), e.g. with another base path.
"""
import argparse
import os
import sys
from typing import List, Optional

from nmt_tfx.components.serving import model_dir
from nmt_tfx.components.serving import server_config
from nmt_tfx.components.serving import version_record


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='nmt-serving', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('command',
                      choices=['list', 'rollback', 'restore', 'relabel',
                               'models-config'])
  parser.add_argument('--serving-dir', required=True)
  parser.add_argument('--version', type=int, help='for restore')
  parser.add_argument('--model-name', help='for models-config')
  parser.add_argument('--base-path', help='for models-config: the serving '
                      'directory as the server sees it (default: --serving-dir)')
  args = parser.parse_args(argv)
  try:
    if args.command == 'models-config':
      if not args.model_name:
        parser.error('models-config needs --model-name')
      print(server_config.models_config(server_config.next_model(
          args.model_name, args.base_path or args.serving_dir,
          model_dir.versions(args.serving_dir), previous=None)), end='')
      return 0
    if args.command == 'rollback':
      version = model_dir.retire_latest(args.serving_dir)
      print(f'retired version {version}; now serving '
            f'{model_dir.versions(args.serving_dir)[-1]}')
    elif args.command == 'restore':
      if args.version is None:
        parser.error('restore needs --version')
      model_dir.restore(args.serving_dir, args.version)
      print(f'restored version {args.version}')
    elif args.command == 'relabel':
      model_dir.publish_config(args.serving_dir)
    if args.command != 'list':
      served = server_config.read(args.serving_dir)
      print(f'models.config: versions {list(served.versions)}, labels ' +
            ', '.join(f'{k}={v}' for k, v in sorted(served.labels.items())))
    present = model_dir.versions(args.serving_dir)
    if args.command == 'list':
      from nmt_tfx.components.model import model_config  # pylint: disable=g-import-not-at-top
      for version in present:
        directory = os.path.join(args.serving_dir, str(version))
        print(f'{version}  {version_record.describe(version_record.read(directory))}'
              f'\n{" " * len(str(version))}  '
              f'{model_config.describe(model_config.load(directory))}')
    print('versions: ' + (', '.join(map(str, present)) or 'none') +
          (f' (serving {present[-1]})' if present else ''))
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
