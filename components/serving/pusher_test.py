"""The Pusher's decision, run as its TFX executor runs it: the component's
function with real artifacts."""
import logging
import os

from tfx.types.standard_artifacts import Model
from tfx.types.standard_artifacts import ModelBlessing
from tfx.types.standard_artifacts import PushedModel

from nmt_tfx.components.serving import model_dir
from nmt_tfx.components.serving.pusher import VersionedPusher

run_pusher = VersionedPusher.EXECUTOR_SPEC.executor_class._FUNCTION  # pylint: disable=protected-access


def _model(tmp_path):
  model = Model()
  model.uri = str(tmp_path / 'trainer' / 'model')
  export = tmp_path / 'trainer' / 'model' / 'Format-Serving'
  (export / 'variables').mkdir(parents=True, exist_ok=True)
  (export / 'saved_model.pb').write_bytes(b'graph')
  (export / 'variables' / 'variables.index').write_bytes(b'index')
  return model


def _blessing(baseline=None, blessed=1):
  blessing = ModelBlessing()
  blessing.set_int_custom_property('blessed', blessed)
  if baseline is not None:
    blessing.set_string_custom_property('baseline_model', baseline)
  return blessing


def _push(tmp_path, blessing):
  pushed = PushedModel()
  run_pusher(model=_model(tmp_path), blessing=blessing, pushed_model=pushed,
             serving_dir=str(tmp_path / 'serving'), model_name='',
             serving_base_path='')
  return {k: pushed.get_custom_property(k) for k in
          ('pushed', 'superseded', 'pushed_version')}


def test_pushes_when_production_is_what_the_evaluator_compared_against(
    tmp_path):
  first = _push(tmp_path, _blessing())        # no production model yet
  assert first['pushed'] == 1 and first['superseded'] == 0
  judged = os.path.join(str(tmp_path / 'serving'), str(first['pushed_version']))
  second = _push(tmp_path, _blessing(judged))
  assert second['pushed'] == 1
  assert model_dir.versions(str(tmp_path / 'serving')) == [
      first['pushed_version'], second['pushed_version']]


def test_superseded_push_writes_nothing_and_says_so(tmp_path, caplog):
  first = _push(tmp_path, _blessing())
  caplog.set_level(logging.WARNING)
  # Judged against no production model (empty or absent baseline_model) ...
  for blessing in (_blessing(), _blessing('')):
    outcome = _push(tmp_path, blessing)
    assert outcome == {'pushed': 0, 'superseded': 1, 'pushed_version': None}
  # ... or against a version that is no longer production.
  stale = os.path.join(str(tmp_path / 'serving'), '12')
  assert _push(tmp_path, _blessing(stale))['superseded'] == 1
  assert model_dir.versions(str(tmp_path / 'serving')) == [
      first['pushed_version']]
  assert (f'Superseded: nothing pushed. The Evaluator compared against '
          f'version 12, but production in {tmp_path / "serving"} is now '
          f'version {first["pushed_version"]}') in caplog.text


def test_unblessed_model_is_not_pushed(tmp_path):
  assert _push(tmp_path, _blessing(blessed=0))['pushed'] == 0
  assert not (tmp_path / 'serving').exists()


def test_the_pushed_version_records_what_it_translates_and_its_verdict(
    tmp_path):
  from nmt_tfx.components.serving import version_record  # pylint: disable=g-import-not-at-top
  blessing = _blessing()
  blessing.set_string_custom_property('language_pair', 'en-fr')
  blessing.set_float_custom_property('bleu', 31.5)
  blessing.set_string_custom_property('blessing_split', 'test')
  blessing.set_string_custom_property('decided_by', 'paired bootstrap')
  blessing.set_string_custom_property('report', '/runs/report.html')
  pushed = _push(tmp_path, blessing)
  version_dir = os.path.join(str(tmp_path / 'serving'),
                             str(pushed['pushed_version']))
  record = version_record.read(version_dir)
  assert {k: record[k] for k in ('language_pair', 'bleu', 'blessing_split',
                                 'decided_by', 'report')} == {
      'language_pair': 'en-fr', 'bleu': 31.5, 'blessing_split': 'test',
      'decided_by': 'paired bootstrap', 'report': '/runs/report.html'}
  assert version_record.describe(record) == (
      'en-fr, test BLEU 31.50 (paired bootstrap), report /runs/report.html')
