"""preprocessing_fn run through tensorflow-transform (analyze + transform)."""
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from conftest import TINY_PREPROCESSING
from conftest import run_transform
from nmt_tfx.components import preprocessing
from nmt_tfx.components.text import vocabulary as vocab

CONFIG = {'min_frequency': 2, 'max_source_length': 6, 'max_target_length': 5}
PAIRS = [('a dog runs .', 'ein hund läuft .'),
         ('a cat runs .', 'eine katze läuft .'),
         ('a dog sleeps .', 'ein hund schläft .'),
         ('the very long sentence goes on and on', 'der satz ist so lang')]


def _transformed(out: pathlib.Path):
  tft_out = tft.TFTransformOutput(str(out / 'transform'))
  spec = tft_out.transformed_feature_spec()
  files = tf.io.gfile.glob(str(out / 'data*'))
  records = [tf.io.parse_single_example(r, spec) for r in
             tf.data.TFRecordDataset(files, compression_type='GZIP')]
  by_text = {r['target_text'].numpy().decode(): r for r in records}
  return tft_out, by_text


@pytest.fixture(scope='module')
def transformed(tmp_path_factory):
  return _transformed(run_transform(PAIRS, tmp_path_factory.mktemp('t'), CONFIG))


def test_ids_unpadded_untruncated_and_shifted(transformed):
  tft_out, rows = transformed
  target_vocab = tft_out.vocabulary_by_name(vocab.TARGET_VOCAB)
  # min_frequency=2 keeps only tokens seen twice in the training data.
  assert sorted(t.decode() for t in target_vocab) == ['.', 'ein', 'hund', 'läuft']
  ids = {t.decode(): i + vocab.NUM_RESERVED for i, t in enumerate(target_vocab)}

  row = rows['ein hund läuft .']
  words = [ids['ein'], ids['hund'], ids['läuft'], ids['.']]
  assert row['target_in'].numpy().tolist() == [vocab.BOS_ID] + words
  assert row['target_out'].numpy().tolist() == words + [vocab.EOS_ID]
  assert row['target_length'].numpy() == 5

  row = rows['eine katze läuft .']   # unknown words -> UNK
  assert row['target_in'].numpy().tolist() == [
      vocab.BOS_ID, vocab.UNK_ID, vocab.UNK_ID, ids['läuft'], ids['.']]

  # Longer than both caps (6 and 5): kept whole; the Trainer drops it.
  row = rows['der satz ist so lang']
  assert row['source_ids'].shape == (8,) and row['source_length'].numpy() == 8
  assert row['target_out'].numpy().tolist() == [vocab.UNK_ID] * 5 + [vocab.EOS_ID]
  assert row['target_length'].numpy() == 6

  row = rows['ein hund schläft .']   # no padding
  assert row['source_length'].numpy() == 4 and row['source_ids'].shape == (4,)


def test_serving_applies_the_same_graph_to_source_alone(transformed):
  tft_out, rows = transformed
  layer = tft_out.transform_features_layer()
  served = layer({'source': tf.constant([['a dog runs .']])})
  assert 'target_in' not in served
  np.testing.assert_array_equal(served['source_ids'].to_list()[0],
                                rows['ein hund läuft .']['source_ids'].numpy())


def test_transform_graph_carries_the_config_it_was_made_with(tiny_transform,
                                                             tmp_path):
  config = preprocessing.load_config(str(tiny_transform / 'transform'))
  assert config == preprocessing.PreprocessingConfig.from_dict(
      TINY_PREPROCESSING)
  with pytest.raises(FileNotFoundError, match=r'preprocessing_config\.json: '
                     "missing; the transform graph was not made by this"):
    preprocessing.load_config(str(tmp_path))
  (tmp_path / preprocessing.CONFIG_FILE).write_text('{"colour": "red"}')
  with pytest.raises(ValueError, match=r"unknown settings \['colour'\]"):
    preprocessing.load_config(str(tmp_path))
