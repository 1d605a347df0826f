"""Warm start from the production model: only with equal vocabularies and an
unchanged architecture; otherwise training starts from scratch."""
import logging
import shutil

import pytest
import tensorflow as tf
import tensorflow_transform as tft

from nmt_tfx.components.model import export
from nmt_tfx.components.model import inputs
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model import warm_start
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.components.text import vocabulary

from conftest import PIPELINE_DAMAGES
from conftest import TINY_PREPROCESSING
from conftest import damaged_copy

# The architecture conftest's tiny_export was trained with.
TINY = HParams(embedding_dim=16, encoder_units=16, decoder_units=32,
               attention_units=16, batch_tokens=64)


def new_model(tiny_transform, hparams=TINY):
  output = tft.TFTransformOutput(str(tiny_transform / 'transform'))
  model = trainer.build_model(
      vocabulary.vocabulary_size(output, vocabulary.SOURCE_VOCAB),
      vocabulary.vocabulary_size(output, vocabulary.TARGET_VOCAB), hparams)
  files = str(tiny_transform / 'data*')
  preprocessing = PreprocessingConfig.from_dict(TINY_PREPROCESSING)
  plan = inputs.plan_batches(files, hparams, preprocessing)
  spec = inputs.make_dataset(files, output, hparams, preprocessing, plan,
                             training=False).element_spec[0]
  return model, spec


@pytest.fixture
def serving_dir(tiny_export, tmp_path):
  shutil.copytree(tiny_export, tmp_path / 'serving' / '7')
  return tmp_path / 'serving'


def restore(model, spec, serving_dir, tiny_transform):
  return warm_start.maybe_restore(model, str(serving_dir),
                                  str(tiny_transform / 'transform'), spec)


def test_restores_every_weight_of_the_production_model(tiny_transform,
                                                       serving_dir):
  model, spec = new_model(tiny_transform)
  outcome = restore(model, spec, serving_dir, tiny_transform)
  assert outcome.restored, outcome.reason
  production = export.model_variables(
      tf.saved_model.load(str(serving_dir / '7')))
  # (Keras numbers layers built twice in one process, e.g. lstm_1, so
  # compare in order.)
  assert len(model.variables) == len(production) > 0
  for variable, expected in zip(model.variables, production):
    assert variable.shape == expected.shape
    assert (variable.numpy() == expected.numpy()).all(), variable.name


def test_different_vocabulary_trains_from_scratch(tiny_transform, serving_dir):
  vocab = serving_dir / '7' / 'assets' / vocabulary.TARGET_VOCAB
  vocab.write_text(vocab.read_text() + 'neuwort\n')
  model, spec = new_model(tiny_transform)
  outcome = restore(model, spec, serving_dir, tiny_transform)
  assert not outcome.restored
  assert 'vocabularies differ: target_vocab' in outcome.reason


def test_changed_architecture_trains_from_scratch(tiny_transform, serving_dir):
  model, spec = new_model(tiny_transform,
                          HParams(embedding_dim=8, encoder_units=16,
                                  decoder_units=32, attention_units=16))
  before = [v.numpy() for v in model.variables]
  outcome = restore(model, spec, serving_dir, tiny_transform)
  assert not outcome.restored and 'architecture changed' in outcome.reason
  assert all((b == v.numpy()).all() for b, v in zip(before, model.variables))


def test_a_production_model_with_variables_this_one_lacks_is_not_used():
  """A deeper production model, or a pre-norm Transformer's final norms
  under a post-norm one: every new variable has a counterpart, but the
  production model's weights mean something else without the rest."""
  def variables(*names):
    return [tf.Variable(tf.zeros([2]), name=n) for n in names]
  pairs, unpaired = warm_start._counterparts(  # pylint: disable=protected-access
      variables('encoder/layer_0/w'),
      variables('encoder/layer_0/w', 'encoder/norm/gamma'))
  assert pairs == []
  assert unpaired == ("1 of the production model's 2 variables have no "
                      'counterpart here (e.g. encoder/norm/gamma)')
  pairs, unpaired = warm_start._counterparts(  # pylint: disable=protected-access
      variables('encoder/layer_0/w'), variables('encoder/layer_0/w'))
  assert len(pairs) == 1 and unpaired == ''


def test_no_production_model_or_switched_off(tiny_transform, tmp_path):
  model, spec = new_model(tiny_transform)
  outcome = restore(model, spec, tmp_path / 'empty', tiny_transform)
  assert not outcome.restored and 'no model in production' in outcome.reason
  assert warm_start.maybe_restore(model, None, 'unused', spec).reason == (
      'warm start off')


@pytest.mark.parametrize('damage', PIPELINE_DAMAGES)
def test_unloadable_production_model_trains_from_scratch(
    tiny_transform, tiny_export, tmp_path, damage, caplog):
  serving = tmp_path / 'serving'
  broken = damaged_copy(tiny_export, serving / '7', damage)
  model, spec = new_model(tiny_transform)
  before = [v.numpy() for v in model.variables]
  with caplog.at_level(logging.WARNING):
    outcome = restore(model, spec, serving, tiny_transform)
  assert not outcome.restored and outcome.unloadable
  assert outcome.reason.startswith(f'production model {broken} cannot be '
                                   'loaded: ')
  assert all((b == v.numpy()).all() for b, v in zip(before, model.variables))
  warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
  assert any('training from scratch' in r.getMessage() and
             'cannot be loaded' in r.getMessage() for r in warnings)
