import gzip
import re

import pytest

from nmt_tfx.components.data import corpus


def _write(path, data: bytes, gz=False):
  if gz:
    data = gzip.compress(data)
  path.write_bytes(data)
  return path


def _pairs(tmp_path, src: bytes, tgt: bytes, gz=False):
  suffix = '.gz' if gz else ''
  _write(tmp_path / f'train.en{suffix}', src, gz)
  _write(tmp_path / f'train.de{suffix}', tgt, gz)
  return _read(tmp_path, 'train')


def _read(directory, stem):
  [shard] = corpus.find_shards(str(directory), stem, 'en', 'de')
  return list(corpus.read_shard(shard))


def test_reads_aligned_gzip_and_plain(tmp_path):
  got = _pairs(tmp_path, b'A dog.\r\nA cat.\n', 'Ein Hund.\nEine Katze.\n'.encode(),
               gz=True)
  assert [(p.line, p.source, p.target) for p in got] == [
      (1, 'A dog.', 'Ein Hund.'), (2, 'A cat.', 'Eine Katze.')]
  plain = tmp_path / 'plain'
  plain.mkdir()
  assert len(_pairs(plain, b'x\n', b'y')) == 1   # no final newline is fine


def test_reads_real_multi30k(multi30k_dir):
  check = corpus.check_split_head(str(multi30k_dir), 'val', 'en', 'fr',
                                  max_lines=None)
  assert check.pairs == 1014


def test_mismatched_line_counts_name_the_longer_file(tmp_path):
  with pytest.raises(corpus.CorpusError,
                     match=r'train\.de:3: line has no partner: .*train\.en '
                     r'ends after line 2'):
    _pairs(tmp_path, b'a\nb\n', b'x\ny\nz\n')


def test_empty_line_names_file_and_line(tmp_path):
  with pytest.raises(corpus.CorpusError, match=r'train\.de:2: empty target'):
    _pairs(tmp_path, b'a\nb\n', b'x\n  \n')


def test_invalid_utf8_names_file_line_and_byte(tmp_path):
  with pytest.raises(corpus.CorpusError,
                     match=r'train\.en:2: invalid UTF-8 at byte 3'):
    _pairs(tmp_path, b'ok\nabc\xff\xfedef\n', b'x\ny\n')


def test_empty_files_are_an_error(tmp_path):
  assert _pairs(tmp_path, b'', b'') == []
  with pytest.raises(corpus.CorpusError,
                     match=r"train\.en: split 'train' has no sentence pairs"):
    corpus.check_split_head(str(tmp_path), 'train', 'en', 'de', 10)


def test_truncated_gzip_is_an_error(tmp_path):
  data = gzip.compress(b''.join(b'sentence %d\n' % i for i in range(5000)))
  (tmp_path / 'train.en.gz').write_bytes(data[:len(data) // 2])
  _write(tmp_path / 'train.de.gz',
         b''.join(b'satz %d\n' % i for i in range(5000)), gz=True)
  with pytest.raises(corpus.CorpusError, match=r'train\.en\.gz: unreadable '
                     r'after line \d+: .*truncated or corrupt'):
    _read(tmp_path, 'train')


def test_missing_split_lists_what_is_missing(tmp_path):
  _write(tmp_path / 'train.en', b'a\n')
  with pytest.raises(corpus.CorpusError,
                     match=r"split 'train' not found: missing train\.de\[\.gz\]"):
    corpus.find_shards(str(tmp_path), 'train', 'en', 'de')


def test_absurdly_long_line_names_file_and_line(tmp_path):
  with pytest.raises(corpus.CorpusError,
                     match=r'train\.de:2: target sentence of 6,000 characters'):
    _pairs(tmp_path, b'a\nb\n', b'x\n' + b'y' * 6000 + b'\n')


def test_a_file_without_line_breaks_is_rejected_without_reading_it_all(
    tmp_path):
  with pytest.raises(corpus.CorpusError,
                     match=r'train\.en:2: source sentence of ([\d,]+) '
                     'characters') as raised:
    _pairs(tmp_path, b'a\n' + b'x' * (4 * corpus.MAX_LINE_BYTES), b'x\ny\n')
  read = int(re.search(r'of ([\d,]+)', str(raised.value)).group(1)
             .replace(',', ''))
  assert read <= corpus.MAX_LINE_BYTES + corpus.READ_BLOCK_BYTES


def test_a_gzip_bomb_is_rejected_after_a_bounded_read(tmp_path):
  """256 MiB of one line compress to a quarter of a MiB: the reader stops at
  MAX_LINE_BYTES instead of holding the line."""
  with gzip.open(tmp_path / 'train.en.gz', 'wb', compresslevel=1) as f:
    f.write(b'a\n')
    for _ in range(256):
      f.write(b'x' * (1 << 20))
  _write(tmp_path / 'train.de.gz', b'x\ny\n', gz=True)
  assert (tmp_path / 'train.en.gz').stat().st_size < 2 << 20
  with pytest.raises(corpus.CorpusError,
                     match=r'train\.en\.gz:2: source sentence of ([\d,]+) '
                     'characters') as raised:
    _read(tmp_path, 'train')
  read = int(re.search(r'of ([\d,]+)', str(raised.value)).group(1)
             .replace(',', ''))
  assert read <= corpus.MAX_LINE_BYTES + corpus.READ_BLOCK_BYTES


def test_tsv_with_header(tmp_path):
  _write(tmp_path / 'dev.tsv', 'de\ten\nEin Hund.\tA dog.\n'.encode())
  assert [(p.source, p.target) for p in _read(tmp_path, 'dev')] == [
      ('A dog.', 'Ein Hund.')]


@pytest.mark.parametrize('content, message', [
    (b'en\tde\na\tb\tc\n', r'dev\.tsv:2: 3 tab-separated fields, the header has 2'),
    (b'en\tde\nonly one\n', r'dev\.tsv:2: 1 tab-separated fields'),
    (b'source\ttarget\na\tb\n', r"dev\.tsv:1: header .* must name the columns 'en'"),
    (b'en\tde\na\t\n', r'dev\.tsv:2: empty de sentence'),
])
def test_tsv_errors(tmp_path, content, message):
  _write(tmp_path / 'dev.tsv', content)
  with pytest.raises(corpus.CorpusError, match=message):
    _read(tmp_path, 'dev')


# --- Shards ------------------------------------------------------------------
def _shard_names(directory, stem='train-*'):
  return [(s.stem, s.source_path.rsplit('/', 1)[-1],
           s.target_path and s.target_path.rsplit('/', 1)[-1])
          for s in corpus.find_shards(str(directory), stem, 'en', 'de')]


def test_shards_pair_up_by_their_common_stem(tmp_path):
  _write(tmp_path / 'train-001.de', b'y\n')
  _write(tmp_path / 'train-000.en.gz', b'a\n', gz=True)
  _write(tmp_path / 'train-001.en', b'b\n')
  _write(tmp_path / 'train-000.de.gz', b'x\n', gz=True)
  _write(tmp_path / 'train-002.tsv', b'en\tde\nc\tz\n')
  _write(tmp_path / 'val.en', b'not a shard\n')
  assert _shard_names(tmp_path) == [
      ('train-000', 'train-000.en.gz', 'train-000.de.gz'),
      ('train-001', 'train-001.en', 'train-001.de'),
      ('train-002', 'train-002.tsv', None)]
  pairs = [(p.source, p.target) for shard in corpus.find_shards(
      str(tmp_path), 'train-*', 'en', 'de') for p in corpus.read_shard(shard)]
  assert pairs == [('a', 'x'), ('b', 'y'), ('c', 'z')]


def test_a_shard_without_partner_is_named(tmp_path):
  for name in ('train-000.en', 'train-000.de', 'train-001.en'):
    _write(tmp_path / name, b'a\n')
  with pytest.raises(corpus.CorpusError,
                     match=r'train-001\.en: shard has no partner: no '
                     r'train-001\.de\[\.gz\]'):
    corpus.find_shards(str(tmp_path), 'train-*', 'en', 'de')


# --- Line ranges -------------------------------------------------------------
SOURCE = b''.join(b'source %d\n' % i for i in range(1, 10)) + b'\r\nlast'
TARGET = b''.join(b'target %d\r\n' % i for i in range(1, 11)) + b'end\n'


def _ranges_and_whole(directory, every):
  [shard] = corpus.find_shards(str(directory), 'train', 'en', 'de')
  ranges = corpus.plan_ranges(shard, every)
  return ranges, [p for r in ranges for p in corpus.read_range(r)], list(
      corpus.read_shard(shard))


@pytest.mark.parametrize('every', [1, 2, 3, 4, 10, 11, 12, 100])
@pytest.mark.parametrize('block', [3, 5, 4096, corpus.PLAN_BLOCK_BYTES])
def test_line_ranges_read_the_same_pairs_as_the_whole_file(tmp_path, monkeypatch,
                                                           every, block):
  monkeypatch.setattr(corpus, 'PLAN_BLOCK_BYTES', block)
  monkeypatch.setattr(corpus, 'READ_BLOCK_BYTES', block)
  _write(tmp_path / 'train.en', SOURCE.replace(b'\r\n', b'source 10\n'))
  _write(tmp_path / 'train.de', TARGET)
  ranges, in_ranges, whole = _ranges_and_whole(tmp_path, every)
  assert len(whole) == 11 and in_ranges == whole
  # A range starts at every line the source file has a newline before.
  assert [r.first_line for r in ranges] == list(range(1, 12, every))
  assert {r.line_count for r in ranges[:-1]} <= {every}
  assert ranges[-1].line_count is None


@pytest.mark.parametrize('every', [2, 3, 7])
@pytest.mark.parametrize('source, target, message', [
    (SOURCE, TARGET, r'train\.en:10: empty source sentence'),
    (SOURCE.replace(b'\r\nlast', b''), TARGET,
     r'train\.de:10: line has no partner: .*train\.en ends after line 9'),
    (SOURCE.replace(b'\r\n', b'x\n'), TARGET.replace(b'end\n', b''),
     r'train\.en:11: line has no partner: .*train\.de ends after line 10'),
    (SOURCE.replace(b'source 5', b'source \xff'), TARGET,
     r'train\.en:5: invalid UTF-8'),
])
def test_line_ranges_report_the_same_file_and_line(tmp_path, every, source,
                                                   target, message):
  _write(tmp_path / 'train.en', source)
  _write(tmp_path / 'train.de', target)
  [shard] = corpus.find_shards(str(tmp_path), 'train', 'en', 'de')
  with pytest.raises(corpus.CorpusError, match=message):
    list(corpus.read_shard(shard))
  with pytest.raises(corpus.CorpusError, match=message):
    for lines in corpus.plan_ranges(shard, every):
      list(corpus.read_range(lines))


def test_tsv_line_ranges_keep_the_header_and_line_numbers(tmp_path):
  rows = b''.join(b'a%d\tb%d\n' % (i, i) for i in range(2, 9))
  _write(tmp_path / 'dev.tsv', b'de\ten\n' + rows + b'only one\n')
  [shard] = corpus.find_shards(str(tmp_path), 'dev', 'en', 'de')
  ranges = corpus.plan_ranges(shard, 3)
  assert [r.first_line for r in ranges] == [1, 4, 7]
  pairs = []
  with pytest.raises(corpus.CorpusError,
                     match=r'dev\.tsv:9: 1 tab-separated fields'):
    for lines in ranges:
      pairs.extend(corpus.read_range(lines))
  assert [(p.line, p.source, p.target) for p in pairs] == [
      (i, f'b{i}', f'a{i}') for i in range(2, 9)]


def test_gzip_shards_are_one_range(tmp_path):
  _write(tmp_path / 'train.en.gz', b'a\nb\nc\n', gz=True)
  _write(tmp_path / 'train.de.gz', b'x\ny\nz\n', gz=True)
  [shard] = corpus.find_shards(str(tmp_path), 'train', 'en', 'de')
  assert corpus.plan_ranges(shard, 1) == [corpus.LineRange(shard)]


# --- The bounded up-front check ----------------------------------------------
def test_head_check_reads_only_the_first_lines_of_each_shard(tmp_path):
  good = b''.join(b'line %d\n' % i for i in range(100))
  for name in ('train-0.en', 'train-0.de', 'train-1.en'):
    _write(tmp_path / name, good)
  _write(tmp_path / 'train-1.de', good.replace(b'line 60\n', b'\n'))
  check = corpus.check_split_head(str(tmp_path), 'train-*', 'en', 'de', 50)
  assert (len(check.shards), check.pairs) == (2, 100)
  with pytest.raises(corpus.CorpusError, match=r'train-1\.de:61: empty target'):
    corpus.check_split_head(str(tmp_path), 'train-*', 'en', 'de', 61)
