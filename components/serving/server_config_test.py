from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from nmt_tfx.components.serving import admin
from nmt_tfx.components.serving import server_config


def _parse(text):
  return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def test_labels_newest_canary_and_previous_stable():
  config = _parse(server_config.models_config('nmt-en-de', '/models/nmt-en-de',
                                              [100, 200, 300]))
  (model,) = config.model_config_list.config
  assert model.name == 'nmt-en-de' and model.base_path == '/models/nmt-en-de'
  assert model.model_version_policy.latest.num_versions == 2
  assert dict(model.version_labels) == {'canary': 300, 'stable': 200}


def test_no_versions_yet_means_no_labels():
  config = _parse(server_config.models_config('m', '/models/m', []))
  assert not config.model_config_list.config[0].version_labels


def test_admin_prints_a_config_for_the_serving_dir(tmp_path, capsys):
  for version in ('5', '7', '9.retired'):
    (tmp_path / version).mkdir()
  assert admin.main(['models-config', '--serving-dir', str(tmp_path),
                     '--model-name', 'nmt-en-de', '--base-path', '/models/x']) == 0
  model = _parse(capsys.readouterr().out).model_config_list.config[0]
  assert dict(model.version_labels) == {'canary': 7, 'stable': 5}
