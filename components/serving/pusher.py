"""Pusher component: blessed models only, one atomic version directory each."""
import os

from absl import logging
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Model
from tfx.types.standard_artifacts import ModelBlessing
from tfx.types.standard_artifacts import PushedModel
from tfx.utils import path_utils

from nmt_tfx.components.serving import model_dir


@component
def VersionedPusher(model: InputArtifact[Model],
                    blessing: InputArtifact[ModelBlessing],
                    pushed_model: OutputArtifact[PushedModel],
                    serving_dir: Parameter[str]) -> None:
  """Pushes `model` to `<serving_dir>/<version>/` if `blessing` says so."""
  if not blessing.get_int_custom_property('blessed'):
    logging.info('Model not blessed; nothing pushed.')
    pushed_model.set_int_custom_property('pushed', 0)
    return
  version = model_dir.push(path_utils.serving_model_path(model.uri),
                           serving_dir)
  destination = os.path.join(serving_dir, str(version))
  logging.info('Pushed model version %d to %s', version, destination)
  pushed_model.set_int_custom_property('pushed', 1)
  pushed_model.set_int_custom_property('pushed_version', version)
  pushed_model.set_string_custom_property('pushed_destination', destination)
