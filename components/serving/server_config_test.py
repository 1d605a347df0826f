from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from nmt_tfx.components.serving import admin
from nmt_tfx.components.serving import server_config
from nmt_tfx.components.serving.server_config import ServedModel


def _parse(text):
  return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def test_a_fresh_config_serves_and_labels_the_newest_two():
  model = server_config.next_model('nmt-en-de', '/models/nmt-en-de',
                                   [100, 200, 300], previous=None)
  (config,) = _parse(server_config.models_config(model)).model_config_list.config
  assert config.name == 'nmt-en-de' and config.base_path == '/models/nmt-en-de'
  assert list(config.model_version_policy.specific.versions) == [200, 300]
  assert dict(config.version_labels) == {'canary': 300, 'stable': 200}


def test_no_versions_yet_means_no_labels():
  model = server_config.next_model('m', '/models/m', [], previous=None)
  config = _parse(server_config.models_config(model)).model_config_list.config[0]
  assert not config.version_labels


def test_labels_move_only_onto_versions_the_server_was_serving():
  """TF Serving refuses a label on a version it has not loaded."""
  previous = ServedModel('m', '/m', (200, 300), {'canary': 300, 'stable': 200})
  pushed = server_config.next_model('m', '/m', [200, 300, 400], previous)
  assert pushed.labels == {'canary': 300, 'stable': 300}
  assert pushed.versions == (300, 400)
  for label, version in pushed.labels.items():
    assert version in previous.versions, label
  relabelled = server_config.next_model('m', '/m', [200, 300, 400], pushed)
  assert relabelled.labels == {'canary': 400, 'stable': 300}


def test_write_and_read_round_trip(tmp_path):
  model = ServedModel('m', '/models/m', (5, 7), {'canary': 7, 'stable': 5})
  server_config.write(str(tmp_path), model)
  assert server_config.read(str(tmp_path)) == model
  assert [p.name for p in tmp_path.iterdir()] == ['models.config']
  assert server_config.read(str(tmp_path / 'none')) is None


def test_admin_prints_a_config_for_the_serving_dir(tmp_path, capsys):
  for version in ('5', '7', '9.retired'):
    (tmp_path / version).mkdir()
    (tmp_path / version / 'saved_model.pb').write_bytes(b'graph')
  assert admin.main(['models-config', '--serving-dir', str(tmp_path),
                     '--model-name', 'nmt-en-de', '--base-path', '/models/x']) == 0
  model = _parse(capsys.readouterr().out).model_config_list.config[0]
  assert dict(model.version_labels) == {'canary': 7, 'stable': 5}
  assert model.base_path == '/models/x'
