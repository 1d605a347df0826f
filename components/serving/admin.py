"""Operates a TF Serving model directory: list, roll back, restore.

  nmt-serving list     --serving-dir runs/nmt-en-de/serving/nmt-en-de
  nmt-serving rollback --serving-dir ...   # newest version -> <N>.retired
  nmt-serving restore  --serving-dir ... --version N
  nmt-serving models-config --serving-dir ... --model-name nmt-en-de \
      --base-path /models/nmt-en-de > models.config

TF Serving (default `latest` version policy) serves the highest integer
directory; a retired one is no longer an integer and is unloaded.
"""
import argparse
import os
import sys
from typing import List, Optional

from nmt_tfx.components.serving import model_dir
from nmt_tfx.components.serving import server_config


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='nmt-serving', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('command',
                      choices=['list', 'rollback', 'restore', 'models-config'])
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
      print(server_config.models_config(
          args.model_name, args.base_path or args.serving_dir,
          model_dir.versions(args.serving_dir)), end='')
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
    present = model_dir.versions(args.serving_dir)
    if args.command == 'list':
      from nmt_tfx.components.model import model_config  # pylint: disable=g-import-not-at-top
      for version in present:
        config = model_config.load(os.path.join(args.serving_dir, str(version)))
        print(f'{version}  {model_config.describe(config)}')
    print('versions: ' + (', '.join(map(str, present)) or 'none') +
          (f' (serving {present[-1]})' if present else ''))
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
