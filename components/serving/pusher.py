"""Pusher component: blessed models only, published with compare-and-publish.

The Evaluator judged the model against the production version it found
(the blessing's `baseline_model`, absent when there was none). If another
pipeline has published or rolled back meanwhile, that judgement is stale:
the push is superseded, nothing is written, and the run still succeeds
(like a model that is not blessed), with `pushed` 0 and `superseded` 1 on
the PushedModel artifact and a warning saying which version is in
production now. Rerun the pipeline to judge the model against it.
"""
import os
import time

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
from nmt_tfx.components.serving import version_record

BASELINE_PROPERTY = 'baseline_model'   # set by the Evaluator


@component
def VersionedPusher(model: InputArtifact[Model],
                    blessing: InputArtifact[ModelBlessing],
                    pushed_model: OutputArtifact[PushedModel],
                    serving_dir: Parameter[str],
                    model_name: Parameter[str] = '',
                    serving_base_path: Parameter[str] = '') -> None:
  """Pushes `model` to `<serving_dir>/<version>/` if `blessing` says so and
  production is still the version it was judged against.

  model_name, serving_base_path: models.config's model name and base path
  (the serving directory as the server sees it); default: the serving
  directory's name and path.
  """
  pushed_model.set_int_custom_property('superseded', 0)
  if not blessing.get_int_custom_property('blessed'):
    logging.info('Model not blessed; nothing pushed.')
    pushed_model.set_int_custom_property('pushed', 0)
    return
  baseline = blessing.get_string_custom_property(BASELINE_PROPERTY) or None
  record = version_record.make(
      language_pair=blessing.get_string_custom_property('language_pair')
      or None, bleu=blessing.get_float_custom_property('bleu'),
      blessing_split=blessing.get_string_custom_property('blessing_split'),
      decided_by=blessing.get_string_custom_property('decided_by'),
      report=blessing.get_string_custom_property('report'),
      pushed_at=time.time())
  result = model_dir.push(path_utils.serving_model_path(model.uri),
                          serving_dir, expected_production=baseline,
                          model_name=model_name or None,
                          base_path=serving_base_path or None,
                          extra_files={version_record.FILE:
                                       version_record.encode(record)})
  if result.superseded:
    logging.warning(
        'Superseded: nothing pushed. The Evaluator compared against %s, but '
        'production in %s is now %s; rerun to judge against it.',
        f'version {model_dir.version_of(baseline)}' if baseline else
        'no production model', serving_dir,
        f'version {result.production}' if result.production is not None
        else 'no version')
    pushed_model.set_int_custom_property('pushed', 0)
    pushed_model.set_int_custom_property('superseded', 1)
    return
  destination = os.path.join(serving_dir, str(result.version))
  logging.info('Pushed model version %d to %s', result.version, destination)
  pushed_model.set_int_custom_property('pushed', 1)
  pushed_model.set_int_custom_property('pushed_version', result.version)
  pushed_model.set_string_custom_property('pushed_destination', destination)
