"""Reads aligned parallel text and rejects bad data with file:line errors.

Two layouts are accepted for a split named ``stem`` and a pair ``src``-``tgt``:

* aligned files ``{stem}.{src}`` and ``{stem}.{tgt}`` (each optionally ``.gz``),
  one sentence per line, line N of one the translation of line N of the other;
* one TSV file ``{stem}.tsv`` (optionally ``.gz``) whose header row names the
  language columns, e.g. ``en<TAB>de``.

Every problem raises `CorpusError` with the file and 1-based line number.
Nothing is written, so a failed read leaves no partial output behind.
Exact duplicate pairs within a split are dropped (counted, not an error).
"""
import dataclasses
import gzip
from typing import BinaryIO, Iterator, List, Optional, Tuple

import tensorflow as tf


# A "sentence" longer than this is a missing newline or not text at all.
MAX_SENTENCE_CHARS = 5000


class CorpusError(ValueError):
  """Bad parallel data. The message names the file and line."""


@dataclasses.dataclass(frozen=True)
class SplitFiles:
  """Where one split of the corpus lives."""
  stem: str
  source_path: str
  target_path: Optional[str] = None  # None for the TSV layout.
  source_lang: str = ''
  target_lang: str = ''

  @property
  def is_tsv(self) -> bool:
    return self.target_path is None


@dataclasses.dataclass(frozen=True)
class Pair:
  line: int  # 1-based line number in the source file.
  source: str
  target: str


def find_split_files(data_dir: str, stem: str, source_lang: str,
                     target_lang: str) -> SplitFiles:
  """Locates the files of split `stem`; raises CorpusError if none fit."""
  def first_existing(name: str) -> Optional[str]:
    for candidate in (name, name + '.gz'):
      path = f'{data_dir.rstrip("/")}/{candidate}'
      if tf.io.gfile.exists(path):
        return path
    return None

  source = first_existing(f'{stem}.{source_lang}')
  target = first_existing(f'{stem}.{target_lang}')
  if source and target:
    return SplitFiles(stem, source, target, source_lang, target_lang)
  tsv = first_existing(f'{stem}.tsv')
  if tsv:
    return SplitFiles(stem, tsv, None, source_lang, target_lang)
  missing = [f'{stem}.{lang}[.gz]' for lang, path in
             ((source_lang, source), (target_lang, target)) if not path]
  raise CorpusError(
      f'{data_dir}: split {stem!r} not found: missing {", ".join(missing)} '
      f'(or a {stem}.tsv[.gz] with a header row naming {source_lang} and '
      f'{target_lang})')


def _open(path: str) -> BinaryIO:
  raw = tf.io.gfile.GFile(path, 'rb')
  if path.endswith('.gz'):
    return gzip.GzipFile(fileobj=raw, mode='rb')
  return raw


def _lines(path: str) -> Iterator[Tuple[int, str]]:
  """Yields (line number, text without the newline); checks encoding."""
  number = 0
  with _open(path) as stream:
    try:
      for number, raw in enumerate(stream, start=1):
        try:
          text = raw.decode('utf-8')
        except UnicodeDecodeError as e:
          raise CorpusError(
              f'{path}:{number}: invalid UTF-8 at byte {e.start} '
              f'({raw[max(0, e.start - 10):e.start + 10]!r})') from None
        yield number, text.rstrip('\r\n')
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


def _aligned_pairs(split: SplitFiles) -> Iterator[Pair]:
  sources, targets = _lines(split.source_path), _lines(split.target_path)
  while True:
    src, tgt = next(sources, None), next(targets, None)
    if src is None and tgt is None:
      return
    if src is None or tgt is None:
      short, long_, (number, _) = ((split.source_path, split.target_path, tgt)
                                   if src is None else
                                   (split.target_path, split.source_path, src))
      raise CorpusError(
          f'{long_}:{number}: line has no partner: {short} ends after line '
          f'{number - 1} (the two files must have the same number of lines)')
    yield Pair(src[0],
               _check_text(split.source_path, src[0], src[1], 'source'),
               _check_text(split.target_path, tgt[0], tgt[1], 'target'))


def _tsv_pairs(split: SplitFiles) -> Iterator[Pair]:
  path = split.source_path
  lines = _lines(path)
  first = next(lines, None)
  if first is None:
    raise CorpusError(f'{path}: empty file (expected a header row)')
  header: List[str] = first[1].split('\t')
  try:
    src_col = header.index(split.source_lang)
    tgt_col = header.index(split.target_lang)
  except ValueError:
    raise CorpusError(
        f'{path}:1: header {header!r} must name the columns '
        f'{split.source_lang!r} and {split.target_lang!r}') from None
  for number, text in lines:
    fields = text.split('\t')
    if len(fields) != len(header):
      raise CorpusError(
          f'{path}:{number}: {len(fields)} tab-separated fields, the header '
          f'has {len(header)}')
    yield Pair(number,
               _check_text(path, number, fields[src_col], split.source_lang),
               _check_text(path, number, fields[tgt_col], split.target_lang))


@dataclasses.dataclass
class ReadStats:
  pairs: int = 0        # pairs yielded
  duplicates: int = 0   # exact duplicate pairs dropped


def read_pairs(split: SplitFiles,
               stats: Optional[ReadStats] = None) -> Iterator[Pair]:
  """Yields the split's distinct sentence pairs, raising CorpusError on bad
  data; `stats`, if given, counts what was read and dropped."""
  stats = stats if stats is not None else ReadStats()
  seen = set()
  for pair in _tsv_pairs(split) if split.is_tsv else _aligned_pairs(split):
    key = hash((pair.source, pair.target))
    if key in seen:
      stats.duplicates += 1
      continue
    seen.add(key)
    stats.pairs += 1
    yield pair
  if stats.pairs == 0:
    raise CorpusError(f'{split.source_path}: split {split.stem!r} has no '
                      'sentence pairs')


def check_split(split: SplitFiles) -> ReadStats:
  """Reads a whole split once; returns what it holds, or raises."""
  stats = ReadStats()
  for _ in read_pairs(split, stats):
    pass
  return stats
