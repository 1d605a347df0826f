"""The scale benchmark's generated corpus and its tables."""
import os
import sys

from benchmarks import scale
from benchmarks import wmt_like
from conftest import read_multi30k


def _multi30k(n=2000):
  return read_multi30k('train', 'en', n), read_multi30k('train', 'de', n)


def test_pairs_are_distinct_deterministic_and_news_length():
  source, target = _multi30k()
  pairs = list(wmt_like.generate(source, target, 20000))
  assert pairs == list(wmt_like.generate(source, target, 20000))
  assert len(set(pairs)) == len(pairs) == 20000
  words = sum(len(s.split()) for s, _ in pairs) / len(pairs)
  assert 24 <= words <= 40, words


def test_vocabulary_grows_as_heaps_law_says():
  source, target = _multi30k()
  types, tokens = set(), 0
  for s, t in wmt_like.generate(source, target, 30000):
    words = s.split() + t.split()
    types.update(words)
    tokens += len(words)
  # Invented names fill what Multi30k's own words do not reach.
  assert abs(len(types) - wmt_like.heaps_types(tokens)) < 0.1 * len(types)


def test_invented_words_are_distinct_names():
  names = [wmt_like.invented_word(i) for i in range(5000)]
  assert len(set(names)) == len(names) and all(n[0].isupper() for n in names)


def test_write_corpus_shards_and_copies_the_eval_splits(tmp_path, multi30k_dir):
  out = wmt_like.write_corpus(str(multi30k_dir), str(tmp_path / 'c'), 1000,
                              shards=4)
  names = sorted(os.listdir(out))
  assert [n for n in names if n.startswith('train')] == [
      f'train-{k:03d}.{lang}' for k in range(4) for lang in ('de', 'en')]
  assert {'val.en.gz', 'test_2016_flickr.de.gz'} <= set(names)
  lines = [open(os.path.join(out, f'train-{k:03d}.en')).read().splitlines()
           for k in range(4)]
  assert [len(l) for l in lines] == [250] * 4
  assert wmt_like.train_stem(4) == 'train-*' and wmt_like.train_stem(1) == 'train'


def test_tree_memory_counts_the_children():
  """A parent holding little and a child holding ~200 MiB: the tree's peak
  is the sum, the largest process's peak the child's."""
  code = ('import subprocess, sys; subprocess.run([sys.executable, "-c", '
          '"b = bytearray(200 * 2**20); import time; time.sleep(1.5)"])')
  result = scale.run_measured(
      [sys.executable, '-c', code + '; print("RESULT {}")'], 'memory')
  assert result['peak_process_gib'] > 0.18
  assert result['peak_tree_gib'] > result['peak_process_gib']


def _row(seconds, gib):
  return {'seconds': seconds, 'bytes': 2 ** 20, 'peak_tree_gib': gib,
          'peak_process_gib': gib / 2}


def test_tables_show_rates_growth_and_the_worker_speed_up():
  def result(pairs, factor):
    stages = {s: _row(10 * factor, 1.0 * factor) for s in scale.STAGES}
    return {'pairs': pairs, 'workers': {2: stages, 1: {
        s: _row(18 * factor, 1.0) for s in scale.STAGES}},
            'sentencepiece': {'train_seconds': 5, 'encode_seconds': 5,
                              'seconds': 10, 'peak_tree_gib': 0.5,
                              'peak_process_gib': 0.5}}
  text = scale.tables([result(100000, 1), result(300000, 3)])
  assert '| 100,000 | Transform | 10 | 10,000 | 1.00 | 0.50 | 1 |' in text
  assert '| 300,000 | **data stages** | 120 | 2,500 |' in text
  assert '| Transform | 3.00x, 3.00x |' in text
  assert '| Transform | 54 | 30 | 1.80x |' in text
