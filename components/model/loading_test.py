"""A damaged SavedModel is reported in one line, whatever the damage."""
import pytest

from nmt_tfx.components.model import loading
from nmt_tfx.components.model.export import SavedModelTranslator

from conftest import DAMAGES
from conftest import UNREGISTERED_OP
from conftest import damaged_copy


def test_an_intact_export_loads(tiny_export):
  assert loading.load(str(tiny_export), SavedModelTranslator)(['a man']) != []


@pytest.mark.parametrize('damage, says', [
    ('truncated saved_model.pb', 'Cannot parse file'),
    ('no variables directory', 'variables'),
    ('no variables data file', 'No such file'),
    ('unregistered op', f"Op type not registered '{UNREGISTERED_OP}'"),
])
def test_each_damage_is_one_unloadable_model_error(tiny_export, tmp_path,
                                                   damage, says):
  assert set(DAMAGES) >= {damage}
  broken = damaged_copy(tiny_export, tmp_path / '7', damage)
  with pytest.raises(loading.UnloadableModelError) as raised:
    loading.load(str(broken))
  error = raised.value
  assert error.path == str(broken)
  assert says in error.reason
  assert str(error).startswith(f'{broken} cannot be loaded: ')
  assert '\n' not in str(error)
  assert len(error.reason) <= loading.MAX_REASON_CHARS


def test_reason_is_type_and_first_line_cut_to_length():
  assert loading.reason_of(ValueError('bad\nadvice')) == 'ValueError: bad'
  assert loading.reason_of(KeyError()) == 'KeyError'
  long = loading.reason_of(OSError('x' * 1000))
  assert len(long) == loading.MAX_REASON_CHARS and long.endswith('...')
