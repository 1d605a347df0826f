"""The executor reads the language pair from either form of custom_config."""
from google.protobuf import json_format
import pytest

from nmt_tfx.components.data import example_gen


def test_language_pair_from_proto_json_and_from_pipeline_parameter():
  proto = json_format.MessageToJson(example_gen.make_custom_config('en', 'fr'))
  assert example_gen._languages({'custom_config': proto}) == ('en', 'fr')
  pair = example_gen.language_pair('en', 'cs')
  assert example_gen._languages({'custom_config': pair}) == ('en', 'cs')


@pytest.mark.parametrize('bad', ['', 'en', 'en-', 'en_de'])
def test_anything_else_is_rejected(bad):
  with pytest.raises(Exception):
    example_gen._languages({'custom_config': bad})
