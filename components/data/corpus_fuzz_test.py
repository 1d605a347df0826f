"""Fuzzing the readers: any bytes either read as pairs or fail with CorpusError."""
import gzip

import hypothesis
from hypothesis import strategies as st

from nmt_tfx.components.data import corpus

LINES = st.lists(st.one_of(
    st.binary(max_size=40).filter(lambda b: b'\n' not in b and b'\r' not in b),
    st.text(max_size=40).map(lambda t: t.replace('\n', ' ').replace('\r', ' ')
                             .encode('utf-8'))), max_size=12)


def _read(split):
  try:
    return list(corpus.read_pairs(split)), None
  except corpus.CorpusError as e:
    return None, e


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(source=LINES, target=LINES, compress=st.booleans())
def test_aligned_reader(tmp_path_factory, source, target, compress):
  directory = tmp_path_factory.mktemp('fuzz')
  suffix = '.gz' if compress else ''
  for lang, lines in (('en', source), ('de', target)):
    data = b''.join(line + b'\n' for line in lines)
    (directory / f'train.{lang}{suffix}').write_bytes(
        gzip.compress(data) if compress else data)
  pairs, error = _read(corpus.find_split_files(str(directory), 'train', 'en', 'de'))
  if error is not None:
    assert 'train.' in str(error)          # names the file
    return
  assert len(source) == len(target) and pairs
  for pair in pairs:
    assert pair.source == source[pair.line - 1].decode('utf-8').strip()
    assert pair.target == target[pair.line - 1].decode('utf-8').strip()


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(rows=LINES)
def test_tsv_reader(tmp_path_factory, rows):
  directory = tmp_path_factory.mktemp('fuzz')
  (directory / 'dev.tsv').write_bytes(b'en\tde\n' + b''.join(r + b'\n' for r in rows))
  pairs, error = _read(corpus.find_split_files(str(directory), 'dev', 'en', 'de'))
  if error is not None:
    assert 'dev.tsv' in str(error)
    return
  for pair in pairs:
    fields = rows[pair.line - 2].decode('utf-8').split('\t')
    assert (pair.source, pair.target) == (fields[0].strip(), fields[1].strip())
