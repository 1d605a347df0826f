"""The TFX pipeline: parallel text in, a served translation model out."""
import dataclasses
from typing import Any

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx
from tfx.components import FileBasedExampleGen
from google.protobuf import json_format
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from nmt_tfx.components import transform_component
from nmt_tfx.components.data import example_gen
from nmt_tfx.components.evaluation.evaluator import BleuEvaluator
from nmt_tfx.components.model import warm_start
from nmt_tfx.components.serving.pusher import VersionedPusher
from nmt_tfx.components.validation.gate import DataValidationGate
from nmt_tfx.pipeline.configs import PipelineConfig

PREPROCESSING_FN = 'nmt_tfx.components.preprocessing.preprocessing_fn'
RUN_FN = 'nmt_tfx.components.model.trainer.run_fn'

# What a scheduler varies between runs of the compiled (Kubeflow) pipeline:
# pipeline parameter -> the component property it sets.
RUNTIME_PARAMETERS = {
    'data_dir': 'ParallelTextExampleGen.input_base',
    'language_pair': 'ParallelTextExampleGen.custom_config',  # "en-de"
    'train_args': 'Trainer.train_args',  # TrainArgs JSON, e.g. num_steps
    'bleu_floor': 'BleuEvaluator.bleu_floor',
    'significance_level': 'BleuEvaluator.significance_level',
}
# The Trainer picks weights and stops early on this split.
SELECTION_SPLIT = 'eval'


def check_blessing_split(config: PipelineConfig) -> None:
  """Raises ValueError unless the blessing split is one ExampleGen makes and
  neither trains the model nor selects its weights."""
  split = config.blessing_split
  if split not in config.split_stems:
    raise ValueError(f'blessing split {split!r}: not one of the splits '
                     f'{sorted(config.split_stems)}')
  if split in ('train', SELECTION_SPLIT):
    raise ValueError(f'blessing split {split!r}: the Trainer uses it, so the '
                     'model would be judged on data that chose it')


def _value(name: str, value: Any, runtime: bool) -> Any:
  """`value`, or a RuntimeParameter named `name` defaulting to it."""
  if not runtime:
    return value
  return tfx.dsl.experimental.RuntimeParameter(name=name, ptype=type(value),
                                               default=value)


def create_pipeline(config: PipelineConfig, *, data_dir: str,
                    pipeline_root: str, serving_dir: str,
                    metadata_connection_config=None,
                    beam_pipeline_args=None,
                    runtime_parameters: bool = False) -> tfx.dsl.Pipeline:
  """ExampleGen -> validation -> Transform -> Trainer -> Evaluator -> Pusher.

  With `runtime_parameters` (Kubeflow), the values named in
  RUNTIME_PARAMETERS become pipeline parameters whose defaults are the
  values given here; LocalDagRunner needs concrete values (the default).
  """
  check_blessing_split(config)
  runtime = runtime_parameters
  splits = [example_gen_pb2.Input.Split(
      name=name, pattern=example_gen.split_pattern(stem))
            for name, stem in config.split_stems.items()]
  # A pipeline parameter cannot sit inside the custom_config proto, so on
  # Kubeflow the whole property is the string "en-de" (example_gen accepts it).
  examples = FileBasedExampleGen(
      input_base=_value('data_dir', data_dir, runtime),
      input_config=example_gen_pb2.Input(splits=splits),
      custom_config=(_value('language_pair', example_gen.language_pair(
          config.source_lang, config.target_lang), runtime) if runtime else
                     example_gen.make_custom_config(
                         config.source_lang, config.target_lang,
                         config.lines_per_range)),
      custom_executor_spec=executor_spec.BeamExecutorSpec(
          example_gen.Executor)).with_id('ParallelTextExampleGen')

  # Bounded whatever the corpus size: sketches for top-k and distinct counts
  # (TFDV's exact ones count every distinct sentence), and a sample of the
  # examples where the configuration asks for one.
  statistics = tfx.components.StatisticsGen(
      examples=examples.outputs['examples'],
      stats_options=tfdv.StatsOptions(
          sample_rate=config.statistics_sample_rate,
          use_sketch_based_topk_uniques=True))
  schema = tfx.components.ImportSchemaGen(schema_file=config.schema_file)
  validator = tfx.components.ExampleValidator(
      statistics=statistics.outputs['statistics'],
      schema=schema.outputs['schema'])
  gate = DataValidationGate(anomalies=validator.outputs['anomalies'],
                            schema=schema.outputs['schema'])

  transform = transform_component.Transform(
      examples=examples.outputs['examples'],
      schema=gate.outputs['validated_schema'],
      preprocessing_fn=PREPROCESSING_FN,
      custom_config=dataclasses.asdict(config.preprocessing),
      # StatisticsGen has described the raw data already; the statistics
      # Transform computes by default (of raw and transformed data) would be
      # two more passes over the corpus that nothing reads.
      disable_statistics=True,
      splits_config=tfx.proto.SplitsConfig(analyze=['train'],
                                           transform=['train',
                                                      SELECTION_SPLIT]))
  train_args = tfx.proto.TrainArgs(splits=['train'],
                                   num_steps=config.train_steps)
  trainer = tfx.components.Trainer(
      run_fn=RUN_FN,
      examples=transform.outputs['transformed_examples'],
      transform_graph=transform.outputs['transform_graph'],
      # Nor inside TrainArgs: on Kubeflow the parameter is its JSON.
      train_args=(_value('train_args', json_format.MessageToJson(
          train_args, sort_keys=True, indent=None,
          preserving_proto_field_name=True), runtime)
                  if runtime else train_args),
      eval_args=tfx.proto.EvalArgs(splits=[SELECTION_SPLIT],
                                   num_steps=config.eval_steps),
      custom_config={**config.trainer_config(), warm_start.CONFIG_KEY:
                     serving_dir if config.warm_start else None})
  evaluator = BleuEvaluator(
      examples=examples.outputs['examples'], model=trainer.outputs['model'],
      model_run=trainer.outputs['model_run'],  # training curves in the report
      serving_dir=serving_dir,
      blessing_split=config.blessing_split,
      bleu_floor=_value('bleu_floor', float(config.bleu_floor), runtime),
      significance_level=_value('significance_level',
                                float(config.significance_level), runtime),
      latency_budget_ms=float(config.latency_budget_ms),
      num_samples=config.num_samples)
  pusher = VersionedPusher(model=trainer.outputs['model'],
                           blessing=evaluator.outputs['blessing'],
                           serving_dir=serving_dir)

  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=pipeline_root,
      components=[examples, statistics, schema, validator, gate, transform,
                  trainer, evaluator, pusher],
      enable_cache=config.enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=(config.beam_pipeline_args
                          if beam_pipeline_args is None else beam_pipeline_args))

