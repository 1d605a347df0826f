"""TFX's Transform, recording the PreprocessingConfig it ran with.

The configuration comes from the component's `custom_config` (what
`preprocessing_fn` receives); after tensorflow-transform has written the
transform graph, it is saved beside it (`preprocessing.CONFIG_FILE`), so
whatever reads the graph later (the Trainer, distributed training, the
benchmarks) reads the same settings instead of being told them again.
"""
import json
from typing import Any, Dict, List

from tfx import types
from tfx.components.transform import component
from tfx.components.transform import executor
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_component_specs

from nmt_tfx.components import preprocessing


class Executor(executor.Executor):
  """Transform's executor, then the configuration next to its graph."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    super().Do(input_dict, output_dict, exec_properties)
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    config = preprocessing.PreprocessingConfig.from_dict(
        json.loads(raw) if isinstance(raw, str) else raw)
    [graph] = output_dict[standard_component_specs.TRANSFORM_GRAPH_KEY]
    preprocessing.save_config(config, graph.uri)


class Transform(component.Transform):
  """`tfx.components.Transform` whose graph carries its PreprocessingConfig."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
