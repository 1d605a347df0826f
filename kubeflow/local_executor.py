"""Executes a compiled KFP v2 pipeline spec on this machine, task by task.

  python -m nmt_tfx.kubeflow.local_executor --spec nmt-en-de.yaml \\
      --pipeline-root runs/kfp-root --param language_pair=en-fr \\
      --param bleu_floor=10

What runs is what a Kubeflow pod runs: each task's container command and
arguments from the spec's deploymentSpec, unchanged (for TFX components the
KFP v2 entrypoint `kubeflow_v2_run_executor` with the component's executor
class), given the executor input the KFP driver would give it. Tasks run one
at a time in topological order, each in a subprocess of this Python
environment, which stands in for the image:

* The image's `python` (the command's first word) becomes `sys.executable`,
  as `python` on PATH need not be this environment's.
* The subprocess gets this process's environment and the container's `env`
  entries; this module sets TF_USE_LEGACY_KERAS=1 as the image does.
* Pipeline parameters: the spec's defaults, overridden by NAME=VALUE pairs,
  converted to the declared types. KFP's `kfp.local.executor_input_utils`
  builds the executor input's parameters and output artifacts, and
  `kfp.local.placeholder_utils` fills in the command's placeholders.
* Input artifacts, which `kfp.local` does not support, come from
  `driver_input_artifacts`, the local stand-in for the KFP driver: each is
  the producer's output artifact as its executor output reported it (URI,
  metadata, name), typed by the consumer's input definition. Importer tasks
  are resolved as the driver resolves them, with nothing to run.
* A container's `lifecycle.preCacheCheck` (FileBasedExampleGen's driver)
  runs first with the same executor input; the entrypoint then reads the
  properties it updated from the executor output file.

Artifacts go under PIPELINE_ROOT/<pipeline>-<timestamp>/<task>/<output>, each
task's stdout and stderr to `task.log` there. No caching, retries or ML
Metadata: every run executes every task. Conditions, loops, sub-DAGs and
Resolver nodes (which open-source KFP cannot run for TFX either) are refused
before anything runs.

Exit codes: 0 every task succeeded; 1 a task failed (its name and log file
are printed); 2 bad arguments or a spec this cannot execute.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')

import argparse  # pylint: disable=g-import-not-at-top,g-bad-import-order
import dataclasses
import json
import subprocess
import sys
import time
from typing import Any, Dict, List, Mapping, Optional

from google.protobuf import json_format
from kfp.local import executor_input_utils
from kfp.local import executor_output_utils
from kfp.local import placeholder_utils
from kfp.pipeline_spec import pipeline_spec_pb2
import yaml

TASK_LOG = 'task.log'
_PYTHONS = ('python', 'python3', 'python3.10')
ParameterType = pipeline_spec_pb2.ParameterType
ExecutorSpec = pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec
ArtifactList = pipeline_spec_pb2.ArtifactList
# Output key -> artifacts, of one task.
Outputs = Dict[str, ArtifactList]


class SpecError(ValueError):
  """The spec or the parameters cannot be executed here."""


class TaskFailed(RuntimeError):
  """A task's process exited non-zero."""

  def __init__(self, task: str, returncode: int, log_file: str):
    super().__init__(f'task {task} failed (exit code {returncode}); '
                     f'log: {log_file}')
    self.task, self.returncode, self.log_file = task, returncode, log_file


@dataclasses.dataclass(frozen=True)
class TaskResult:
  name: str
  task_root: str
  seconds: float
  outputs: Outputs


# --- The spec ----------------------------------------------------------------

def load_spec(path: str) -> pipeline_spec_pb2.PipelineSpec:
  """The PipelineSpec in a compiled .yaml or .json file (also inside a
  PipelineJob JSON, under `pipelineSpec`)."""
  if not os.path.isfile(path):
    raise SpecError(f'{path}: no such file')
  with open(path) as f:
    document = yaml.safe_load(f)  # JSON is YAML too
  if isinstance(document, dict) and 'pipelineSpec' in document:
    document = document['pipelineSpec']
  spec = pipeline_spec_pb2.PipelineSpec()
  try:
    json_format.ParseDict(document, spec)
  except (json_format.ParseError, TypeError, AttributeError) as e:
    raise SpecError(f'{path}: not a KFP pipeline spec: {e}') from e
  return spec


def executors(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, ExecutorSpec]:
  """Executor label -> ExecutorSpec (deploymentSpec is a Struct in the spec)."""
  config = pipeline_spec_pb2.PipelineDeploymentConfig()
  json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec),
                        config, ignore_unknown_fields=True)
  return dict(config.executors)


def check_supported(spec: pipeline_spec_pb2.PipelineSpec) -> None:
  """Refuses, before any task runs, what this executor does not implement."""
  specs = executors(spec)
  for name, task in spec.root.dag.tasks.items():
    component = spec.components[task.component_ref.name]
    if component.WhichOneof('implementation') != 'executor_label':
      raise SpecError(f'task {name}: sub-DAGs are not supported')
    if task.trigger_policy.condition or task.WhichOneof('iterator'):
      raise SpecError(f'task {name}: conditions and loops are not supported')
    kind = specs[component.executor_label].WhichOneof('spec')
    if kind not in ('container', 'importer'):
      raise SpecError(f'task {name}: {kind} executors are not supported' + (
          ' (nor can open-source KFP run TFX Resolver nodes)'
          if kind == 'resolver' else ''))


def _upstream(task: pipeline_spec_pb2.PipelineTaskSpec) -> set:
  """The tasks `task` depends on or reads outputs of."""
  artifacts = [spec.task_output_artifact.producer_task
               for spec in task.inputs.artifacts.values()
               if spec.WhichOneof('kind') == 'task_output_artifact']
  parameters = [spec.task_output_parameter.producer_task
                for spec in task.inputs.parameters.values()
                if spec.WhichOneof('kind') == 'task_output_parameter']
  return set(task.dependent_tasks) | set(artifacts) | set(parameters)


def topological_order(dag: pipeline_spec_pb2.DagSpec) -> List[str]:
  """Task names, each after every task it depends on (ties by name)."""
  upstream = {name: _upstream(task) for name, task in dag.tasks.items()}
  for name, deps in upstream.items():
    if deps - set(upstream):
      raise SpecError(f'task {name} depends on unknown tasks '
                      f'{sorted(deps - set(upstream))}')
  order: List[str] = []
  while len(order) < len(upstream):
    ready = sorted(n for n, deps in upstream.items()
                   if n not in order and deps <= set(order))
    if not ready:
      raise SpecError('the DAG has a cycle among '
                      f'{sorted(set(upstream) - set(order))}')
    order += ready
  return order


# --- Pipeline parameters -------------------------------------------------------

def _typed(name: str, text: str, parameter_type: int) -> Any:
  try:
    if parameter_type == ParameterType.NUMBER_DOUBLE:
      return float(text)
    if parameter_type == ParameterType.NUMBER_INTEGER:
      return int(text)
    if parameter_type == ParameterType.BOOLEAN:
      if text.lower() not in ('true', 'false'):
        raise ValueError('expected true or false')
      return text.lower() == 'true'
    if parameter_type in (ParameterType.LIST, ParameterType.STRUCT):
      return json.loads(text)
  except ValueError as e:
    raise SpecError(f'parameter {name}={text!r}: not a '
                    f'{ParameterType.ParameterTypeEnum.Name(parameter_type)}'
                    f' ({e})') from e
  return text


def _default(parameter: pipeline_spec_pb2.ComponentInputsSpec.ParameterSpec
             ) -> Any:
  """A declared default as Python (a protobuf number is a float)."""
  value = executor_output_utils.pb2_value_to_python(parameter.default_value)
  return (int(value) if parameter.parameter_type == ParameterType.NUMBER_INTEGER
          else value)


def pipeline_parameters(spec: pipeline_spec_pb2.PipelineSpec,
                        pairs: List[str]) -> Dict[str, Any]:
  """The run's pipeline parameters: declared defaults, then NAME=VALUE pairs
  converted to the declared types."""
  declared = spec.root.input_definitions.parameters
  values = {name: _default(p) for name, p in declared.items()
            if p.HasField('default_value')}
  for pair in pairs:
    name, sep, text = pair.partition('=')
    if not sep or name not in declared:
      raise SpecError(f'--param {pair!r}: expected NAME=VALUE with NAME one '
                      f'of {", ".join(sorted(declared))}')
    values[name] = _typed(name, text, declared[name].parameter_type)
  missing = sorted(set(declared) - set(values))
  if missing:
    raise SpecError(f'pipeline parameters without a value: {", ".join(missing)}')
  return values


# --- The KFP driver's part, locally ------------------------------------------

def task_parameters(task: pipeline_spec_pb2.PipelineTaskSpec,
                    pipeline_values: Mapping[str, Any],
                    parameter_outputs: Mapping[str, Mapping[str, Any]]
                    ) -> Dict[str, Any]:
  """The task's input parameters: constants, pipeline parameters and
  upstream tasks' output parameters."""
  values = {}
  for name, spec in task.inputs.parameters.items():
    kind = spec.WhichOneof('kind')
    if kind == 'runtime_value':
      values[name] = executor_output_utils.pb2_value_to_python(
          spec.runtime_value.constant)
    elif kind == 'component_input_parameter':
      values[name] = pipeline_values[spec.component_input_parameter]
    elif kind == 'task_output_parameter':
      producer = spec.task_output_parameter
      values[name] = parameter_outputs[producer.producer_task][
          producer.output_parameter_key]
    else:
      raise SpecError(f'task {task.task_info.name}: parameter {name} of kind '
                      f'{kind} is not supported')
  return values


def driver_input_artifacts(task: pipeline_spec_pb2.PipelineTaskSpec,
                           component: pipeline_spec_pb2.ComponentSpec,
                           artifact_outputs: Mapping[str, Outputs]
                           ) -> Dict[str, ArtifactList]:
  """The task's input artifacts as the KFP driver resolves them: the
  producer's output artifacts as recorded from its executor output, with
  the type the consuming component declares."""
  resolved = {}
  for name, spec in task.inputs.artifacts.items():
    if spec.WhichOneof('kind') != 'task_output_artifact':
      raise SpecError(f'task {task.task_info.name}: input artifact {name} '
                      'from a pipeline input is not supported')
    source = spec.task_output_artifact
    artifacts = ArtifactList()
    artifacts.CopyFrom(artifact_outputs[source.producer_task][
        source.output_artifact_key])
    for artifact in artifacts.artifacts:
      artifact.type.CopyFrom(
          component.input_definitions.artifacts[name].artifact_type)
    resolved[name] = artifacts
  return resolved


def importer_outputs(importer: pipeline_spec_pb2.PipelineDeploymentConfig
                     .ImporterSpec,
                     component: pipeline_spec_pb2.ComponentSpec,
                     parameters: Mapping[str, Any]) -> Outputs:
  """An importer's artifact as the KFP driver makes it: the URI (a constant
  or the named input parameter), the declared type and metadata."""
  uri_spec = importer.artifact_uri
  uri = (parameters[uri_spec.runtime_parameter]
         if uri_spec.WhichOneof('value') == 'runtime_parameter' else
         executor_output_utils.pb2_value_to_python(uri_spec.constant))
  (key,) = component.output_definitions.artifacts
  artifact = pipeline_spec_pb2.RuntimeArtifact(
      name=uri, uri=uri, type=importer.type_schema, metadata=importer.metadata)
  return {key: ArtifactList(artifacts=[artifact])}


def executor_input(component: pipeline_spec_pb2.ComponentSpec,
                   parameters: Mapping[str, Any],
                   artifacts: Mapping[str, ArtifactList],
                   task_root: str) -> pipeline_spec_pb2.ExecutorInput:
  """KFP's executor input for the task, with its input artifacts added
  (kfp.local builds the rest; it refuses components with input artifacts,
  so it is given the component without them)."""
  without_artifacts = pipeline_spec_pb2.ComponentSpec()
  without_artifacts.CopyFrom(component)
  without_artifacts.input_definitions.ClearField('artifacts')
  result = executor_input_utils.construct_executor_input(
      without_artifacts, dict(parameters), task_root)
  for name, artifact_list in artifacts.items():
    result.inputs.artifacts[name].CopyFrom(artifact_list)
  return result


def command_line(command: List[str], args: List[str],
                 executor_input_message: pipeline_spec_pb2.ExecutorInput,
                 component: pipeline_spec_pb2.ComponentSpec,
                 pipeline_resource_name: str, task_name: str,
                 pipeline_root: str) -> List[str]:
  """The container's command + args with placeholders filled in by KFP; the
  image's python is this environment's."""
  resolved = placeholder_utils.replace_placeholders(
      full_command=list(command) + list(args),
      executor_input_dict=executor_input_utils.executor_input_to_dict(
          executor_input_message, component),
      pipeline_resource_name=pipeline_resource_name,
      task_resource_name=task_name, pipeline_root=pipeline_root)
  if resolved and resolved[0] in _PYTHONS:
    resolved[0] = sys.executable
  return resolved


def read_outputs(executor_input_message: pipeline_spec_pb2.ExecutorInput
                 ) -> Dict[str, Any]:
  """{'artifacts': key -> ArtifactList, 'parameters': key -> value} from the
  task's executor output; an artifact it does not report keeps the URI it
  was given, as in KFP."""
  output = executor_output_utils.load_executor_output(
      executor_input_message.outputs.output_file)
  artifacts = {}
  for key, given in executor_input_message.outputs.artifacts.items():
    artifacts[key] = ArtifactList()
    artifacts[key].CopyFrom(output.artifacts[key] if key in output.artifacts
                            else given)
  parameters = {key: executor_output_utils.pb2_value_to_python(value)
                for key, value in output.parameter_values.items()}
  return {'artifacts': artifacts, 'parameters': parameters}


# --- Running --------------------------------------------------------------------

def run_process(task_name: str, command: List[str], env: Mapping[str, str],
                log_file: str) -> None:
  """Runs one process of the task, appending its output to `log_file`."""
  with open(log_file, 'a') as log:
    log.write(f'$ {" ".join(command[:3])} ...\n')
    log.flush()
    try:
      returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, **env},
                                  check=False).returncode
    except OSError as e:  # no such program, as a shell would say
      log.write(f'{e}\n')
      returncode = 127
  if returncode:
    raise TaskFailed(task_name, returncode, log_file)


def run_container_task(task_name: str,
                       container: pipeline_spec_pb2.PipelineDeploymentConfig
                       .PipelineContainerSpec,
                       component: pipeline_spec_pb2.ComponentSpec,
                       message: pipeline_spec_pb2.ExecutorInput,
                       pipeline_resource_name: str, pipeline_root: str,
                       task_root: str) -> None:
  """The container's pre-cache check (if any), then its main process."""
  env = {variable.name: variable.value for variable in container.env}
  log_file = os.path.join(task_root, TASK_LOG)
  steps = ([container.lifecycle.pre_cache_check]
           if container.lifecycle.HasField('pre_cache_check') else [])
  for step in steps + [container]:
    run_process(task_name, command_line(
        step.command, step.args, message, component, pipeline_resource_name,
        task_name, pipeline_root), env, log_file)


def run_pipeline(spec: pipeline_spec_pb2.PipelineSpec, pipeline_root: str,
                 parameters: Mapping[str, Any],
                 on_task_done=lambda result: None) -> Dict[str, TaskResult]:
  """Runs every task in topological order; raises TaskFailed at the first
  failure. Returns task name -> result."""
  check_supported(spec)
  specs = executors(spec)
  pipeline_root = os.path.abspath(pipeline_root)
  resource_name = executor_input_utils.get_local_pipeline_resource_name(
      spec.pipeline_info.name)
  artifact_outputs: Dict[str, Outputs] = {}
  parameter_outputs: Dict[str, Dict[str, Any]] = {}
  results = {}
  for name in topological_order(spec.root.dag):
    start = time.time()
    task = spec.root.dag.tasks[name]
    component = spec.components[task.component_ref.name]
    executor = specs[component.executor_label]
    values = task_parameters(task, parameters, parameter_outputs)
    task_root = executor_input_utils.construct_local_task_root(
        pipeline_root, resource_name, name)
    os.makedirs(task_root, exist_ok=True)
    if executor.WhichOneof('spec') == 'importer':
      outputs = {'artifacts': importer_outputs(executor.importer, component,
                                               values), 'parameters': {}}
    else:
      message = executor_input(
          component, values,
          driver_input_artifacts(task, component, artifact_outputs), task_root)
      run_container_task(name, executor.container, component, message,
                         resource_name, pipeline_root, task_root)
      outputs = read_outputs(message)
    artifact_outputs[name] = outputs['artifacts']
    parameter_outputs[name] = outputs['parameters']
    results[name] = TaskResult(name, task_root, time.time() - start,
                               outputs['artifacts'])
    on_task_done(results[name])
  return results


# --- Command line ---------------------------------------------------------------

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='python -m nmt_tfx.kubeflow.local_executor', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--spec', required=True,
                      help='compiled pipeline spec (.yaml or .json)')
  parser.add_argument('--pipeline-root', required=True,
                      help='local directory for the artifacts and task logs')
  parser.add_argument('--param', action='append', default=[],
                      metavar='NAME=VALUE', help='a pipeline parameter '
                      '(default: the spec\'s default)')
  return parser.parse_args(argv)


def _print_done(result: TaskResult) -> None:
  print(f'[done] {result.name} ({result.seconds:.0f} s): {result.task_root}',
        flush=True)


def main(argv: Optional[List[str]] = None) -> int:
  args = parse_args(argv)
  try:
    spec = load_spec(args.spec)
    parameters = pipeline_parameters(spec, args.param)
    run_pipeline(spec, args.pipeline_root, parameters, _print_done)
  except (SpecError, TaskFailed) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1 if isinstance(e, TaskFailed) else 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
