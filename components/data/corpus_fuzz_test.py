"""Fuzzing the readers: any bytes either read as pairs or fail with CorpusError,
the same whether a file is read whole or in line ranges."""
import gzip

import hypothesis
from hypothesis import strategies as st

from nmt_tfx.components.data import corpus

LINES = st.lists(st.one_of(
    st.binary(max_size=40).filter(lambda b: b'\n' not in b and b'\r' not in b),
    st.text(max_size=40).map(lambda t: t.replace('\n', ' ').replace('\r', ' ')
                             .encode('utf-8'))), max_size=12)


def _outcome(read):
  try:
    return list(read()), None
  except corpus.CorpusError as e:
    return None, str(e)


def _read(directory, stem):
  [shard] = corpus.find_shards(str(directory), stem, 'en', 'de')
  whole = _outcome(lambda: corpus.read_shard(shard))
  in_ranges = _outcome(lambda: (pair for lines in corpus.plan_ranges(shard, 3)
                                for pair in corpus.read_range(lines)))
  assert in_ranges == whole
  return whole


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(source=LINES, target=LINES, compress=st.booleans())
def test_aligned_reader(tmp_path_factory, source, target, compress):
  directory = tmp_path_factory.mktemp('fuzz')
  suffix = '.gz' if compress else ''
  for lang, lines in (('en', source), ('de', target)):
    data = b''.join(line + b'\n' for line in lines)
    (directory / f'train.{lang}{suffix}').write_bytes(
        gzip.compress(data) if compress else data)
  pairs, error = _read(directory, 'train')
  if error is not None:
    assert 'train.' in error          # names the file
    return
  assert len(source) == len(target) == len(pairs)
  for pair in pairs:
    assert pair.source == source[pair.line - 1].decode('utf-8').strip()
    assert pair.target == target[pair.line - 1].decode('utf-8').strip()


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(rows=LINES)
def test_tsv_reader(tmp_path_factory, rows):
  directory = tmp_path_factory.mktemp('fuzz')
  (directory / 'dev.tsv').write_bytes(b'en\tde\n' + b''.join(r + b'\n' for r in rows))
  pairs, error = _read(directory, 'dev')
  if error is not None:
    assert 'dev.tsv' in error
    return
  for pair in pairs:
    fields = rows[pair.line - 2].decode('utf-8').split('\t')
    assert (pair.source, pair.target) == (fields[0].strip(), fields[1].strip())
