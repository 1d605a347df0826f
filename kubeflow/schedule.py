"""Uploads, schedules and starts the compiled pipeline on Kubeflow Pipelines.

  python -m nmt_tfx.kubeflow.schedule upload --package nmt-en-de.yaml
  python -m nmt_tfx.kubeflow.schedule schedule --pipeline nmt-en-de \\
      --cron '0 3 * * *' --param data_dir=gs://BUCKET/multi30k
  python -m nmt_tfx.kubeflow.schedule run --pipeline nmt-en-de --train-steps 600

upload:   the spec becomes a new version of the named pipeline (created on
          first upload).
schedule: creates the recurring run `<pipeline>-schedule` on the pipeline's
          newest version from a cron expression, at most one run at a time,
          no catch-up of missed runs; an existing recurring run of that name
          is replaced (KFP cannot edit one): the new one is created first,
          then the old one deleted.
run:      starts one run of the newest version.

The endpoint is --endpoint or $KFP_ENDPOINT (e.g. http://localhost:8080 after
`kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80`). Pipeline
parameters: --param NAME=VALUE (names: pipeline.RUNTIME_PARAMETERS), and
--train-steps N for the train_args parameter. Exit codes: 2 bad arguments,
3 endpoint unreachable, 4 the server refused the request.
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Optional

from nmt_tfx.pipeline import pipeline as pipeline_lib

ENDPOINT_ENV = 'KFP_ENDPOINT'
DEFAULT_EXPERIMENT = 'nmt-scheduled'
_FLOAT_PARAMETERS = ('bleu_floor', 'significance_level')


class EndpointUnreachable(Exception):
  pass


def kfp_cron(expression: str) -> str:
  """KFP's cron has a leading seconds field: '0 3 * * *' -> '0 0 3 * * *'."""
  fields = expression.split()
  if len(fields) == 5:
    return ' '.join(['0'] + fields)
  if len(fields) == 6:
    return ' '.join(fields)
  raise ValueError(f'cron expression {expression!r}: expected 5 fields '
                   '(minute hour day month weekday) or 6 (seconds first)')


def pipeline_parameters(pairs: List[str], train_steps: Optional[int] = None
                        ) -> Dict[str, Any]:
  """['name=value', ...] (+ train steps) -> KFP run parameters."""
  params = {}
  for pair in pairs or []:
    name, sep, value = pair.partition('=')
    if not sep or name not in pipeline_lib.RUNTIME_PARAMETERS:
      raise ValueError(f'--param {pair!r}: expected NAME=VALUE with NAME one '
                       f'of {", ".join(pipeline_lib.RUNTIME_PARAMETERS)}')
    params[name] = float(value) if name in _FLOAT_PARAMETERS else value
  if train_steps is not None:
    params['train_args'] = json.dumps({'num_steps': train_steps,
                                       'splits': ['train']}, sort_keys=True)
  return params


def resolve_endpoint(flag: Optional[str]) -> str:
  endpoint = flag or os.environ.get(ENDPOINT_ENV)
  if not endpoint:
    raise ValueError(f'no endpoint: pass --endpoint or set {ENDPOINT_ENV}')
  return endpoint if '://' in endpoint else f'http://{endpoint}'


def check_reachable(endpoint: str, timeout: float = 10.0) -> None:
  """Raises EndpointUnreachable unless something answers HTTP there (an
  HTTP error status still means the server is up, e.g. behind a login)."""
  try:
    urllib.request.urlopen(f'{endpoint.rstrip("/")}/apis/v2beta1/healthz',
                           timeout=timeout).close()
  except urllib.error.HTTPError:
    return
  except (urllib.error.URLError, OSError, ValueError) as e:
    reason = getattr(e, 'reason', e)
    raise EndpointUnreachable(
        f'cannot reach Kubeflow Pipelines at {endpoint}: {reason}') from e


# --- Requests (pure: every server call goes through `client`) -------------

def newest_version_id(client, pipeline_id: str) -> str:
  response = client.list_pipeline_versions(pipeline_id=pipeline_id,
                                           sort_by='created_at desc',
                                           page_size=1)
  versions = response.pipeline_versions or []
  if not versions:
    raise LookupError(f'pipeline {pipeline_id} has no versions')
  return versions[0].pipeline_version_id


def pipeline_id_of(client, name: str) -> str:
  pipeline_id = client.get_pipeline_id(name)
  if not pipeline_id:
    raise LookupError(f'no pipeline named {name!r}: run `upload` first')
  return pipeline_id


def upload(client, package: str, pipeline_name: str,
           version_name: Optional[str] = None) -> Dict[str, str]:
  """A new version of `pipeline_name` (the pipeline itself on first upload)."""
  pipeline_id = client.get_pipeline_id(pipeline_name)
  if not pipeline_id:
    pipeline_id = client.upload_pipeline(
        pipeline_package_path=package, pipeline_name=pipeline_name).pipeline_id
  else:
    client.upload_pipeline_version(
        pipeline_package_path=package,
        pipeline_version_name=version_name or
        f'{pipeline_name}-{time.strftime("%Y%m%d-%H%M%S")}',
        pipeline_id=pipeline_id)
  return {'pipeline_id': pipeline_id,
          'version_id': newest_version_id(client, pipeline_id)}


def recurring_runs_named(client, experiment_id: str, name: str) -> List[Any]:
  found, token = [], ''
  while True:
    response = client.list_recurring_runs(page_token=token, page_size=100,
                                          experiment_id=experiment_id)
    found += [r for r in response.recurring_runs or []
              if r.display_name == name]
    token = response.next_page_token
    if not token:
      return found


def schedule(client, pipeline_name: str, cron: str, params: Dict[str, Any],
             experiment: str = DEFAULT_EXPERIMENT,
             job_name: Optional[str] = None) -> Dict[str, Any]:
  """Creates (or replaces) the recurring run: newest version, `cron`, at
  most one run at a time, no catch-up."""
  pipeline_id = pipeline_id_of(client, pipeline_name)
  version_id = newest_version_id(client, pipeline_id)
  experiment_id = client.create_experiment(name=experiment).experiment_id
  job_name = job_name or f'{pipeline_name}-schedule'
  old = recurring_runs_named(client, experiment_id, job_name)
  new = client.create_recurring_run(
      experiment_id=experiment_id, job_name=job_name,
      description=f'{pipeline_name} on cron {cron}',
      cron_expression=kfp_cron(cron), max_concurrency=1, no_catchup=True,
      params=params, pipeline_id=pipeline_id, version_id=version_id,
      enabled=True)
  for run in old:
    client.delete_recurring_run(run.recurring_run_id)
  return {'recurring_run_id': new.recurring_run_id, 'version_id': version_id,
          'replaced': [r.recurring_run_id for r in old]}


def run(client, pipeline_name: str, params: Dict[str, Any],
        experiment: str = DEFAULT_EXPERIMENT,
        run_name: Optional[str] = None) -> Dict[str, Any]:
  """Starts one run of the newest version."""
  pipeline_id = pipeline_id_of(client, pipeline_name)
  version_id = newest_version_id(client, pipeline_id)
  experiment_id = client.create_experiment(name=experiment).experiment_id
  result = client.run_pipeline(
      experiment_id=experiment_id,
      job_name=run_name or f'{pipeline_name}-{time.strftime("%Y%m%d-%H%M%S")}',
      params=params, pipeline_id=pipeline_id, version_id=version_id)
  return {'run_id': result.run_id, 'version_id': version_id}


# --- Command line ----------------------------------------------------------

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='python -m nmt_tfx.kubeflow.schedule', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--endpoint', help=f'KFP API endpoint (${ENDPOINT_ENV})')
  commands = parser.add_subparsers(dest='command', required=True)
  up = commands.add_parser('upload', help='upload the spec as a new version')
  up.add_argument('--package', required=True, help='compiled spec (.yaml)')
  up.add_argument('--pipeline', help='pipeline name (default: the spec name)')
  up.add_argument('--version', help='version name (default: name-timestamp)')
  for name, text in (('schedule', 'create or replace the recurring run'),
                     ('run', 'start one run')):
    sub = commands.add_parser(name, help=text)
    sub.add_argument('--pipeline', required=True, help='pipeline name')
    sub.add_argument('--experiment', default=DEFAULT_EXPERIMENT)
    sub.add_argument('--name', help='recurring run / run name')
    sub.add_argument('--param', action='append', default=[],
                     metavar='NAME=VALUE')
    sub.add_argument('--train-steps', type=int)
    if name == 'schedule':
      sub.add_argument('--cron', required=True,
                       help="e.g. '0 3 * * *' (daily 03:00)")
  return parser.parse_args(argv)


def _spec_name(package: str) -> str:
  import yaml  # pylint: disable=g-import-not-at-top
  with open(package) as f:
    return yaml.safe_load(f)['pipelineInfo']['name']


def make_client(endpoint: str):
  import kfp  # pylint: disable=g-import-not-at-top
  return kfp.Client(host=endpoint)


def main(argv: Optional[List[str]] = None,
         client_factory: Callable[[str], Any] = make_client,
         reachable: Callable[[str], None] = check_reachable) -> int:
  args = parse_args(argv)
  try:
    endpoint = resolve_endpoint(args.endpoint)
    if args.command == 'upload':
      if not os.path.isfile(args.package):
        raise ValueError(f'{args.package}: no such file')
      name = args.pipeline or _spec_name(args.package)
    else:
      cron = kfp_cron(args.cron) if args.command == 'schedule' else None
      params = pipeline_parameters(args.param, args.train_steps)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  try:
    reachable(endpoint)
    client = client_factory(endpoint)
    if args.command == 'upload':
      result = upload(client, args.package, name, args.version)
    elif args.command == 'schedule':
      result = schedule(client, args.pipeline, cron, params, args.experiment,
                        args.name)
    else:
      result = run(client, args.pipeline, params, args.experiment, args.name)
  except EndpointUnreachable as e:
    print(f'error: {e}', file=sys.stderr)
    return 3
  except LookupError as e:
    print(f'error: {e}', file=sys.stderr)
    return 4
  except Exception as e:  # pylint: disable=broad-except
    if _is_connection_error(e):
      print(f'error: cannot reach Kubeflow Pipelines at {endpoint}: '
            f'{type(e).__name__}', file=sys.stderr)
      return 3
    status = getattr(e, 'status', None)
    if status is None:
      raise
    print(f'error: Kubeflow Pipelines refused the request: HTTP {status} '
          f'{getattr(e, "reason", "")}'.rstrip(), file=sys.stderr)
    return 4
  print(json.dumps(result, sort_keys=True))
  return 0


def _is_connection_error(error: BaseException) -> bool:
  import urllib3  # pylint: disable=g-import-not-at-top
  return isinstance(error, (ConnectionError, urllib3.exceptions.HTTPError))


if __name__ == '__main__':
  sys.exit(main())
