"""The executor: its settings, and its Beam pipeline on the in-memory
DirectRunner (shards, line ranges, duplicates across workers, counts)."""
import json

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from google.protobuf import json_format
import pytest
import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts

from nmt_tfx.components.data import corpus
from nmt_tfx.components.data import example_gen


def test_settings_from_proto_json_and_from_pipeline_parameter():
  proto = json_format.MessageToJson(
      example_gen.make_custom_config('en', 'fr', lines_per_range=7))
  assert example_gen.read_config({'custom_config': proto}) == (
      example_gen.ReadConfig('en', 'fr', 7))
  pair = example_gen.language_pair('en', 'cs')
  assert example_gen.read_config({'custom_config': pair}) == (
      example_gen.ReadConfig('en', 'cs', corpus.DEFAULT_LINES_PER_RANGE))


@pytest.mark.parametrize('bad', ['', 'en', 'en-', 'en_de', 'en--de', '{}'])
def test_anything_else_is_rejected_with_what_is_expected(bad):
  with pytest.raises(ValueError, match=f'custom_config {bad!r} is neither a '
                     'language pair such as "en-de"'):
    example_gen.read_config({'custom_config': bad})


def test_split_pattern_of_shards_fingerprints_every_shard(tmp_path):
  from tfx.utils import io_utils  # pylint: disable=g-import-not-at-top
  for name in ('train-000.en', 'train-000.de', 'train-001.en.gz',
               'train-001.de.gz', 'val.en'):
    (tmp_path / name).write_bytes(b'a\n')
  fingerprint = io_utils.generate_fingerprint(
      'train', str(tmp_path / example_gen.split_pattern('train-*')))
  assert 'num_files:4,' in fingerprint


def test_fingerprint_tells_apart_pairs_that_only_move_a_tab():
  assert example_gen.fingerprint('a\tb', 'c') != example_gen.fingerprint(
      'a', 'b\tc')
  assert example_gen.fingerprint('a', 'b') == example_gen.fingerprint('a', 'b')


def _write_lines(path, lines):
  path.write_text(''.join(f'{line}\n' for line in lines))


def _run(directory, stem, lines_per_range, check_rows=None, check_stats=None,
         stats_file=None):
  """Runs ReadParallelText; returns the Beam counters {name: value}."""
  pipeline = beam.Pipeline()
  kept, stats = pipeline | example_gen.ReadParallelText(  # pylint: disable=no-value-for-parameter
      str(directory), stem, 'train',
      example_gen.ReadConfig('en', 'de', lines_per_range), stats_file)
  if check_rows is not None:
    assert_that(kept, equal_to(check_rows), label='Rows')
  if check_stats is not None:
    assert_that(stats, equal_to([check_stats]), label='Stats')
  result = pipeline.run()
  result.wait_until_finish()
  counters = result.metrics().query(MetricsFilter().with_namespace(
      example_gen.METRICS_NAMESPACE))['counters']
  return {c.key.metric.name: c.committed for c in counters}


def test_duplicates_across_shards_are_dropped_once_and_counted(tmp_path):
  _write_lines(tmp_path / 'train-000.en', ['a', 'b', 'a', 'c'])
  _write_lines(tmp_path / 'train-000.de', ['x', 'y', 'x', 'z'])
  _write_lines(tmp_path / 'train-001.en', ['b', 'd', 'b'])
  _write_lines(tmp_path / 'train-001.de', ['y', 'w', 'v'])
  first, second = 0, 1   # shards numbered in name order
  counters = _run(
      tmp_path, 'train-*', lines_per_range=1,
      check_rows=[((first, 1, 'a', 'x'), 2), ((first, 2, 'b', 'y'), 2),
                  ((first, 4, 'c', 'z'), 1), ((second, 2, 'd', 'w'), 1),
                  ((second, 3, 'b', 'v'), 1)],
      check_stats={'split': 'train', 'pattern': 'train-*', 'source_lang': 'en',
                   'target_lang': 'de', 'shards': 2, 'ranges': 7, 'pairs_read': 7, 'duplicates_dropped': 2,
                   'pairs': 5})
  assert counters == {'train.ranges': 7, 'train.pairs_read': 7,
                      'train.duplicates_dropped': 2, 'train.pairs': 5}


def test_one_large_file_read_in_ranges_equals_reading_it_whole(tmp_path):
  lines = [f'sentence {i}' for i in range(1, 11)]
  _write_lines(tmp_path / 'train.en', lines)
  _write_lines(tmp_path / 'train.de', [f'Satz {i}' for i in range(1, 11)])
  [shard] = corpus.find_shards(str(tmp_path), 'train', 'en', 'de')
  whole = [((0, p.line, p.source, p.target), 1)
           for p in corpus.read_shard(shard)]
  counters = _run(tmp_path, 'train', lines_per_range=3, check_rows=whole)
  assert counters['train.ranges'] == 4 and counters['train.pairs'] == 10


def test_a_bad_line_in_a_range_fails_the_pipeline_with_its_file_and_line(
    tmp_path):
  _write_lines(tmp_path / 'train.en', [f's{i}' for i in range(1, 11)])
  _write_lines(tmp_path / 'train.de', [f't{i}' if i != 8 else ' '
                                       for i in range(1, 11)])
  with pytest.raises(corpus.CorpusError, match=r'train\.de:8: empty target'):
    _run(tmp_path, 'train', lines_per_range=3)


def test_a_split_without_pairs_fails(tmp_path):
  for name in ('train-0.en', 'train-0.de', 'train-1.en', 'train-1.de'):
    (tmp_path / name).write_bytes(b'')
  with pytest.raises(corpus.CorpusError,
                     match=r"train-0\.en: split 'train-\*' has no sentence"):
    _run(tmp_path, 'train-*', lines_per_range=3)


def _execute(data_dir, out_dir, stem, lines_per_range):
  examples = standard_artifacts.Examples()
  examples.uri = str(out_dir)
  split = example_gen_pb2.Input.Split(name='train',
                                      pattern=example_gen.split_pattern(stem))
  example_gen.Executor().Do({}, {'examples': [examples]}, {
      'input_base': str(data_dir),
      'input_config': json_format.MessageToJson(
          example_gen_pb2.Input(splits=[split])),
      'output_config': json_format.MessageToJson(example_gen_pb2.Output()),
      'custom_config': json_format.MessageToJson(
          example_gen.make_custom_config('en', 'de', lines_per_range)),
      'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE})


def test_executor_writes_examples_and_the_split_stats_beside_them(tmp_path):
  data = tmp_path / 'data'
  data.mkdir()
  _write_lines(data / 'train-0.en', ['a', 'b', 'c'])
  _write_lines(data / 'train-0.de', ['x', 'y', 'z'])
  _write_lines(data / 'train-1.en', ['a', 'd'])
  _write_lines(data / 'train-1.de', ['x', 'w'])
  _execute(data, tmp_path / 'out', 'train-*', lines_per_range=2)
  split_files = tf.io.gfile.glob(str(tmp_path / 'out' / 'Split-train' / '*'))
  records = [tf.train.Example.FromString(r.numpy())
             for path in split_files
             for r in tf.data.TFRecordDataset(path, 'GZIP')]
  assert sorted(e.features.feature['source'].bytes_list.value[0]
                for e in records) == [b'a', b'b', b'c', b'd']
  stats = json.loads(open(example_gen.stats_path(
      str(tmp_path / 'out'), 'train')).read())
  assert stats == example_gen.read_stats(str(tmp_path / 'out'), 'train')
  assert stats == {'split': 'train', 'pattern': 'train-*', 'source_lang': 'en',
                   'target_lang': 'de', 'shards': 2, 'ranges': 3, 'pairs_read': 5, 'duplicates_dropped': 1,
                   'pairs': 4}
  assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
      'Split-train', example_gen.STATS_DIR]
