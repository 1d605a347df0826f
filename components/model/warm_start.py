"""Warm start: continue training from the model in production.

The model in production is the newest integer version in the serving
directory. Its weights are only meaningful with the same vocabularies, and
Transform rebuilds them every run, so a warm start happens only when every
vocabulary file of this run's transform graph equals the production model's
copy (its SavedModel `assets/`). Then every variable of the new model is set
from the production model's variable of the same name and shape; if any
variable of either model has no such counterpart (the architecture or sizes
changed), nothing is restored.
The optimizer starts fresh. In every other case training starts from scratch,
and the log says why; a production model that cannot be loaded (a damaged
version directory, an op this process lacks) is one of those cases, logged
as a warning, so it cannot stop the Trainer.

The Trainer reads the serving directory from `custom_config[CONFIG_KEY]`
(None: warm start off).
"""
import os
import re
from typing import Dict, List, NamedTuple, Optional

from absl import logging
import tensorflow as tf

from nmt_tfx.components.model import export
from nmt_tfx.components.model import loading
from nmt_tfx.components.serving import model_dir

CONFIG_KEY = 'warm_start_from'


class Outcome(NamedTuple):
  restored: bool
  reason: str
  # The production model could not be loaded: worth a warning, not a crash.
  unloadable: bool = False


def _assets(directory: str) -> Dict[str, bytes]:
  if not tf.io.gfile.isdir(directory):
    return {}
  return {name: tf.io.gfile.GFile(os.path.join(directory, name), 'rb').read()
          for name in tf.io.gfile.listdir(directory)
          if not tf.io.gfile.isdir(os.path.join(directory, name))}


def vocabularies_match(transform_output_dir: str, production_dir: str
                       ) -> Optional[str]:
  """None if every asset of the transform graph (the vocabularies) is in the
  production model's assets with the same bytes, else what differs."""
  new = _assets(os.path.join(transform_output_dir, 'transform_fn', 'assets'))
  old = _assets(os.path.join(production_dir, 'assets'))
  if not new:
    return 'this run has no vocabulary files'
  differ = sorted(name for name in new if old.get(name) != new[name])
  return f'vocabularies differ: {", ".join(differ)}' if differ else None


def _name(variable) -> str:
  return variable.name.split(':')[0]


def _build(model: tf.keras.Model, input_spec) -> None:
  """Creates the variables of a not yet built model with a dummy batch."""
  if model.variables:
    return
  dummy = tf.nest.map_structure(
      lambda s: tf.zeros([1 if d is None else d for d in s.shape], s.dtype),
      input_spec)
  with model.distribute_strategy.scope():
    model(dummy, training=False)


def _canonical(name: str) -> str:
  """Without the numbers Keras appends to layers built twice in a process
  (`forward_lstm_1` -> `forward_lstm`)."""
  return re.sub(r'_\d+(?=/|$)', '', name)


def _counterparts(targets: List[tf.Variable], sources: List[tf.Variable]):
  """([(target, source)], '') pairing every target and every source by name
  and shape, else (if Keras numbered the layers differently) by position
  with equal canonical names and shapes; or ([], what does not pair)."""
  by_name = {_name(v): v for v in sources}
  missing = [_name(v) for v in targets if _name(v) not in by_name
             or by_name[_name(v)].shape != v.shape]
  unused = sorted(set(by_name) - {_name(v) for v in targets})
  if not missing and not unused:
    return [(v, by_name[_name(v)]) for v in targets], ''
  if len(targets) == len(sources) and all(
      _canonical(_name(t)) == _canonical(_name(s)) and t.shape == s.shape
      for t, s in zip(targets, sources)):
    return list(zip(targets, sources)), ''
  if missing:
    return [], (f'{len(missing)} of {len(targets)} variables have no '
                'counterpart of the same name and shape (e.g. '
                f'{missing[0]})')
  # A production model with more layers, or one more normalization.
  return [], (f'{len(unused)} of the production model\'s {len(sources)} '
              f'variables have no counterpart here (e.g. {unused[0]})')


def restore_variables(model: tf.keras.Model, saved_model_dir: str) -> Outcome:
  """Assigns every variable of `model` from the SavedModel's model variable
  of the same name and shape; all or nothing. A SavedModel that cannot be
  loaded restores nothing."""
  try:
    loaded = loading.load(saved_model_dir)
  except loading.UnloadableModelError as e:
    return Outcome(False, f'production model {e}', unloadable=True)
  pairs, unpaired = _counterparts(model.variables,
                                  export.model_variables(loaded))
  if unpaired:
    return Outcome(False, f'{unpaired}: architecture changed')
  for variable, value in pairs:
    variable.assign(value)
  return Outcome(True, f'restored {len(model.variables)} variables from '
                 f'{saved_model_dir}')


def maybe_restore(model: tf.keras.Model, serving_dir: Optional[str],
                  transform_output_dir: str, input_spec) -> Outcome:
  """Warm-starts `model` from the production model in `serving_dir` when
  compatible. `input_spec` (the dataset's features spec) builds the model."""
  if not serving_dir:
    outcome = Outcome(False, 'warm start off')
  else:
    production = model_dir.latest_version_dir(serving_dir)
    mismatch = production and vocabularies_match(transform_output_dir,
                                                 production)
    if not production:
      outcome = Outcome(False, f'no model in production in {serving_dir}')
    elif mismatch:
      outcome = Outcome(False, f'{production}: {mismatch}')
    else:
      _build(model, input_spec)
      outcome = restore_variables(model, production)
  log = logging.warning if outcome.unloadable else logging.info
  log('Warm start: %s%s', '' if outcome.restored else
      'training from scratch: ', outcome.reason)
  return outcome
