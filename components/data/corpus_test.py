import gzip

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
  split = corpus.find_split_files(str(tmp_path), 'train', 'en', 'de')
  return list(corpus.read_pairs(split))


def test_reads_aligned_gzip_and_plain(tmp_path):
  got = _pairs(tmp_path, b'A dog.\r\nA cat.\n', 'Ein Hund.\nEine Katze.\n'.encode(),
               gz=True)
  assert [(p.line, p.source, p.target) for p in got] == [
      (1, 'A dog.', 'Ein Hund.'), (2, 'A cat.', 'Eine Katze.')]
  plain = tmp_path / 'plain'
  plain.mkdir()
  assert len(_pairs(plain, b'x\n', b'y')) == 1   # no final newline is fine


def test_reads_real_multi30k(multi30k_dir):
  split = corpus.find_split_files(str(multi30k_dir), 'val', 'en', 'fr')
  assert corpus.check_split(split).pairs == 1014


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
  with pytest.raises(corpus.CorpusError, match='has no sentence pairs'):
    _pairs(tmp_path, b'', b'')


def test_truncated_gzip_is_an_error(tmp_path):
  data = gzip.compress(b''.join(b'sentence %d\n' % i for i in range(5000)))
  (tmp_path / 'train.en.gz').write_bytes(data[:len(data) // 2])
  _write(tmp_path / 'train.de.gz',
         b''.join(b'satz %d\n' % i for i in range(5000)), gz=True)
  split = corpus.find_split_files(str(tmp_path), 'train', 'en', 'de')
  with pytest.raises(corpus.CorpusError, match=r'train\.en\.gz: unreadable '
                     r'after line \d+: .*truncated or corrupt'):
    corpus.check_split(split)


def test_missing_split_lists_what_is_missing(tmp_path):
  _write(tmp_path / 'train.en', b'a\n')
  with pytest.raises(corpus.CorpusError,
                     match=r"split 'train' not found: missing train\.de\[\.gz\]"):
    corpus.find_split_files(str(tmp_path), 'train', 'en', 'de')


def test_duplicate_pairs_are_dropped_and_counted(tmp_path):
  _write(tmp_path / 'train.en', b'a\nb\na\na\n')
  _write(tmp_path / 'train.de', b'x\ny\nx\nz\n')   # line 4: same source only
  split = corpus.find_split_files(str(tmp_path), 'train', 'en', 'de')
  stats = corpus.ReadStats()
  pairs = list(corpus.read_pairs(split, stats))
  assert [(p.line, p.source, p.target) for p in pairs] == [
      (1, 'a', 'x'), (2, 'b', 'y'), (4, 'a', 'z')]
  assert (stats.pairs, stats.duplicates) == (3, 1)


def test_absurdly_long_line_names_file_and_line(tmp_path):
  with pytest.raises(corpus.CorpusError,
                     match=r'train\.de:2: target sentence of 6,000 characters'):
    _pairs(tmp_path, b'a\nb\n', b'x\n' + b'y' * 6000 + b'\n')


def test_tsv_with_header(tmp_path):
  _write(tmp_path / 'dev.tsv', 'de\ten\nEin Hund.\tA dog.\n'.encode())
  split = corpus.find_split_files(str(tmp_path), 'dev', 'en', 'de')
  assert [(p.source, p.target) for p in corpus.read_pairs(split)] == [
      ('A dog.', 'Ein Hund.')]


@pytest.mark.parametrize('content, message', [
    (b'en\tde\na\tb\tc\n', r'dev\.tsv:2: 3 tab-separated fields, the header has 2'),
    (b'en\tde\nonly one\n', r'dev\.tsv:2: 1 tab-separated fields'),
    (b'source\ttarget\na\tb\n', r"dev\.tsv:1: header .* must name the columns 'en'"),
    (b'en\tde\na\t\n', r'dev\.tsv:2: empty de sentence'),
])
def test_tsv_errors(tmp_path, content, message):
  _write(tmp_path / 'dev.tsv', content)
  split = corpus.find_split_files(str(tmp_path), 'dev', 'en', 'de')
  with pytest.raises(corpus.CorpusError, match=message):
    corpus.check_split(split)
