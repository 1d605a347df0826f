"""Reads aligned parallel text and rejects bad data with file:line errors.

A split is named by a file stem, or a glob of stems such as ``train-*``, and
is one or more shards. For a pair ``src``-``tgt`` a shard ``s`` is either

* aligned files ``s.src`` and ``s.tgt`` (each optionally ``.gz``), one
  sentence per line, line N of one the translation of line N of the other;
  shards pair up by their common stem (``train-003.en`` with ``train-003.de``);
* one TSV file ``s.tsv`` (optionally ``.gz``) whose header row names the
  language columns, e.g. ``en<TAB>de``.

Every problem raises `CorpusError` with the file and 1-based line number.

Reading in parallel: every shard is its own unit of work, and an uncompressed
shard is further cut into `LineRange`s of a fixed number of lines
(`plan_ranges` only counts newlines, in large blocks, to find where they
start), so one large file pair is read by many workers. A gzip stream cannot
be entered in the middle, so a ``.gz`` shard is always read whole, by one
worker: shard large gzip corpora before compressing them, e.g.
``split -l 1000000 -d --additional-suffix=.en train.en train-`` (and the same
for ``.de``), then ``gzip train-*``, and name the split ``train-*``.
"""
import dataclasses
import gzip
import itertools
from typing import BinaryIO, Dict, Iterator, List, Optional, Tuple

import tensorflow as tf


# A "sentence" longer than this is a missing newline or not text at all.
MAX_SENTENCE_CHARS = 5000
# Lines per range of an uncompressed shard (PipelineConfig.lines_per_range).
DEFAULT_LINES_PER_RANGE = 1_000_000
# How much of a file `plan_ranges` reads at a time, and a reader.
PLAN_BLOCK_BYTES = 16 << 20
READ_BLOCK_BYTES = 1 << 20
# Far beyond MAX_SENTENCE_CHARS: the reader stops at a line this long.
MAX_LINE_BYTES = 1 << 20


class CorpusError(ValueError):
  """Bad parallel data. The message names the file and line."""


@dataclasses.dataclass(frozen=True)
class Shard:
  """One aligned file pair, or one TSV file, of a split."""
  stem: str          # the file name without language and .gz: 'train-003'
  source_path: str
  target_path: Optional[str] = None  # None for the TSV layout.
  source_lang: str = ''
  target_lang: str = ''

  @property
  def is_tsv(self) -> bool:
    return self.target_path is None

  @property
  def is_gzip(self) -> bool:
    return any(path and path.endswith('.gz')
               for path in (self.source_path, self.target_path))


@dataclasses.dataclass(frozen=True)
class LineRange:
  """`line_count` lines of a shard from 1-based line `first_line`, which
  starts at the given byte offsets; a `line_count` of None reads to the end."""
  shard: Shard
  first_line: int = 1
  source_offset: int = 0
  target_offset: int = 0
  line_count: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Pair:
  line: int  # 1-based line number in the source file.
  source: str
  target: str


def _files_by_stem(data_dir: str, stem: str, suffix: str) -> Dict[str, str]:
  """Shard stem -> path of the files `{stem}{suffix}[.gz]` (plain first)."""
  found = {}
  for gz in ('', '.gz'):
    for path in sorted(tf.io.gfile.glob(f'{data_dir}/{stem}{suffix}{gz}')):
      name = path.rsplit('/', 1)[-1]
      found.setdefault(name[:len(name) - len(suffix + gz)], path)
  return found


def find_shards(data_dir: str, stem: str, source_lang: str,
                target_lang: str) -> List[Shard]:
  """The shards of split `stem` (a stem or a glob of stems), by name;
  raises CorpusError if there are none or one has no partner."""
  data_dir = data_dir.rstrip('/')
  sources = _files_by_stem(data_dir, stem, f'.{source_lang}')
  targets = _files_by_stem(data_dir, stem, f'.{target_lang}')
  tsvs = _files_by_stem(data_dir, stem, '.tsv')
  shards, unpaired = [], []
  for name in sorted({*sources, *targets, *tsvs}):
    if name in sources and name in targets:
      shards.append(Shard(name, sources[name], targets[name], source_lang,
                          target_lang))
    elif name in tsvs:
      shards.append(Shard(name, tsvs[name], None, source_lang, target_lang))
    else:
      lang = target_lang if name in sources else source_lang
      unpaired.append((sources.get(name) or targets[name], f'{name}.{lang}'))
  if not shards:
    missing = [f'{stem}.{lang}[.gz]' for lang, files in
               ((source_lang, sources), (target_lang, targets)) if not files]
    raise CorpusError(
        f'{data_dir}: split {stem!r} not found: missing {", ".join(missing)} '
        f'(or a {stem}.tsv[.gz] with a header row naming {source_lang} and '
        f'{target_lang})')
  if unpaired:
    path, partner = unpaired[0]
    raise CorpusError(f'{path}: shard has no partner: no {partner}[.gz] in '
                      f'{data_dir}' + (f' ({len(unpaired)} shards unpaired)'
                                       if len(unpaired) > 1 else ''))
  return shards


def empty_split_error(stem: str, shards: List[Shard]) -> CorpusError:
  return CorpusError(f'{shards[0].source_path}: split {stem!r} has no '
                     'sentence pairs')


def _nth_newline(block: bytes, n: int, start: int) -> int:
  """Index of the n-th newline (n >= 1) at or after `start`, which must
  exist: halves the search window with C-speed counts."""
  low, high = start, len(block)
  while high - low > 4096:
    middle = (low + high) // 2
    count = block.count(b'\n', low, middle)
    if count >= n:
      high = middle
    else:
      low, n = middle, n - count
  at = low - 1
  for _ in range(n):
    at = block.index(b'\n', at + 1)
  return at


def _line_offsets(path: str, every: int) -> Tuple[List[int], int]:
  """Byte offsets where lines 1, every + 1, 2 * every + 1, ... start (those
  the file has, or at its end), and the file's size; reads blocks, never
  holds a whole line list."""
  offsets, position, need = [0], 0, every
  with tf.io.gfile.GFile(path, 'rb') as stream:
    while block := stream.read(PLAN_BLOCK_BYTES):
      start, left = 0, block.count(b'\n')
      while left >= need:
        at = _nth_newline(block, need, start)
        offsets.append(position + at + 1)
        start, left, need = at + 1, left - need, every
      need -= left
      position += len(block)
  return offsets, position


def plan_ranges(shard: Shard, lines_per_range: int) -> List[LineRange]:
  """The shard as ranges of `lines_per_range` lines (the last to the end),
  or, for gzip, one range; reading them all equals reading it whole."""
  if shard.is_gzip:
    return [LineRange(shard)]
  sources, source_size = _line_offsets(shard.source_path, lines_per_range)
  targets, target_size = (([0] * len(sources), 0) if shard.is_tsv else
                          _line_offsets(shard.target_path, lines_per_range))
  count = min(len(sources), len(targets))
  if count > 1 and (sources[count - 1], targets[count - 1]) == (source_size,
                                                                target_size):
    count -= 1  # both files end where the last range would start
  return [LineRange(shard, 1 + i * lines_per_range, sources[i], targets[i],
                    lines_per_range if i < count - 1 else None)
          for i in range(count)]


def _open(path: str, offset: int = 0) -> BinaryIO:
  raw = tf.io.gfile.GFile(path, 'rb')
  if path.endswith('.gz'):
    return gzip.GzipFile(fileobj=raw, mode='rb')
  if offset:
    raw.seek(offset)
  return raw


def _split_lines(stream: BinaryIO) -> Iterator[bytes]:
  """The stream's lines without their b'\\n', split in blocks at C speed;
  a line growing past MAX_LINE_BYTES is yielded as it is, for the checks to
  reject, so memory stays bounded whatever the file holds."""
  rest = b''
  while block := stream.read(READ_BLOCK_BYTES):
    lines = (rest + block).split(b'\n')
    rest = lines.pop()
    yield from lines
    if len(rest) > MAX_LINE_BYTES:
      yield rest
      return
  if rest:
    yield rest


def _lines(path: str, first_line: int = 1, offset: int = 0,
           count: Optional[int] = None) -> Iterator[Tuple[int, str]]:
  """Yields (line number, text without the newline) for `count` lines from
  `first_line`, which starts at byte `offset`; checks encoding."""
  number = first_line - 1
  with _open(path, offset) as stream:
    try:
      for number, raw in enumerate(
          itertools.islice(_split_lines(stream), count), start=first_line):
        try:
          text = raw.decode('utf-8')
        except UnicodeDecodeError as e:
          raise CorpusError(
              f'{path}:{number}: invalid UTF-8 at byte {e.start} '
              f'({raw[max(0, e.start - 10):e.start + 10]!r})') from None
        yield number, text.rstrip('\r')
    except (EOFError, OSError, gzip.BadGzipFile) as e:
      raise CorpusError(
          f'{path}: unreadable after line {number}: {e} '
          '(truncated or corrupt gzip file?)') from None


def _check_text(path: str, number: int, text: str, side: str) -> str:
  stripped = text.strip()
  if not stripped:
    raise CorpusError(f'{path}:{number}: empty {side} sentence')
  if len(stripped) > MAX_SENTENCE_CHARS:
    raise CorpusError(
        f'{path}:{number}: {side} sentence of {len(stripped):,} characters '
        f'(the limit is {MAX_SENTENCE_CHARS:,}): a missing line break?')
  return stripped


def _aligned_pairs(lines: LineRange) -> Iterator[Pair]:
  shard = lines.shard
  sources = _lines(shard.source_path, lines.first_line, lines.source_offset,
                   lines.line_count)
  targets = _lines(shard.target_path, lines.first_line, lines.target_offset,
                   lines.line_count)
  while True:
    src, tgt = next(sources, None), next(targets, None)
    if src is None and tgt is None:
      return
    if src is None or tgt is None:
      short, long_, (number, _) = ((shard.target_path, shard.source_path, src)
                                   if tgt is None else
                                   (shard.source_path, shard.target_path, tgt))
      raise CorpusError(
          f'{long_}:{number}: line has no partner: {short} ends after line '
          f'{number - 1} (the two files must have the same number of lines)')
    yield Pair(src[0],
               _check_text(shard.source_path, src[0], src[1], 'source'),
               _check_text(shard.target_path, tgt[0], tgt[1], 'target'))


def _tsv_columns(shard: Shard) -> Tuple[int, int, int]:
  """(source column, target column, number of columns) from the header."""
  path = shard.source_path
  first = next(_lines(path, count=1), None)
  if first is None:
    raise CorpusError(f'{path}: empty file (expected a header row)')
  header: List[str] = first[1].split('\t')
  try:
    return (header.index(shard.source_lang), header.index(shard.target_lang),
            len(header))
  except ValueError:
    raise CorpusError(
        f'{path}:1: header {header!r} must name the columns '
        f'{shard.source_lang!r} and {shard.target_lang!r}') from None


def _tsv_pairs(lines: LineRange) -> Iterator[Pair]:
  shard, path = lines.shard, lines.shard.source_path
  src_col, tgt_col, width = _tsv_columns(shard)
  rows = _lines(path, lines.first_line, lines.source_offset, lines.line_count)
  if lines.first_line == 1:
    next(rows, None)  # the header
  for number, text in rows:
    fields = text.split('\t')
    if len(fields) != width:
      raise CorpusError(
          f'{path}:{number}: {len(fields)} tab-separated fields, the header '
          f'has {width}')
    yield Pair(number,
               _check_text(path, number, fields[src_col], shard.source_lang),
               _check_text(path, number, fields[tgt_col], shard.target_lang))


def read_range(lines: LineRange) -> Iterator[Pair]:
  """Yields the range's sentence pairs in order; raises CorpusError on bad
  data. Duplicates are kept (ExampleGen drops them across the split)."""
  return _tsv_pairs(lines) if lines.shard.is_tsv else _aligned_pairs(lines)


def read_shard(shard: Shard, max_lines: Optional[int] = None) -> Iterator[Pair]:
  """The shard's pairs, or those in its first `max_lines` lines."""
  return read_range(LineRange(shard, line_count=max_lines))


@dataclasses.dataclass(frozen=True)
class HeadCheck:
  shards: List[Shard]
  pairs: int       # pairs read (the first `max_lines` lines of each shard)
  max_lines: Optional[int]


def check_split_head(data_dir: str, stem: str, source_lang: str,
                     target_lang: str,
                     max_lines: Optional[int]) -> HeadCheck:
  """Finds the split's shards and reads the first `max_lines` lines of each:
  time and memory bounded by shards x max_lines, whatever the corpus size.
  Raises CorpusError; what lies further on, ExampleGen's workers check."""
  shards = find_shards(data_dir, stem, source_lang, target_lang)
  pairs = sum(1 for shard in shards for _ in read_shard(shard, max_lines))
  if not pairs:
    raise empty_split_error(stem, shards)
  return HeadCheck(shards, pairs, max_lines)
