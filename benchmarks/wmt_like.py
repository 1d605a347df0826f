"""A WMT-like parallel corpus of any size, generated from Multi30k.

  .venv/bin/python -m benchmarks.wmt_like --data-dir ../shared/data/multi30k \\
      --pairs 1000000 --out /tmp/wmt-like-1m [--shards 8]

Each pair joins two or three Multi30k training pairs (about 25-40 words a
side, as news sentences run), chosen so that no two pairs are the same: pair
i takes the pairs (a, b) of a fixed permutation of all ordered pairs. Words
that Multi30k does not have (invented names, spelled the same in both
languages, as names are) enter at the rate Heaps' law gives real text:
``types(tokens) = 0.135 * tokens ** 0.815``, about 10^5 word types at 300k
pairs and 10^6 at 5M; each pair also repeats a few earlier invented names,
the more common ones more often. Deterministic: the same arguments give the
same bytes. The eval and test splits are Multi30k's own (val,
test_2016_flickr), copied beside the generated train shards.
"""
import argparse
import gzip
import math
import os
import random
import shutil
from typing import Iterator, List, Sequence, Tuple

HEAPS_K, HEAPS_BETA = 0.135, 0.815
# Consonant-vowel syllables: every name spells one number (bijective base 70).
SYLLABLES = [c + v for c in 'bdfgklmnprstvz' for v in 'aeiou']
EVAL_STEMS = ('val', 'test_2016_flickr')


def read_lines(path: str) -> List[str]:
  with gzip.open(path, 'rt', encoding='utf-8') as f:
    return [line.rstrip('\n') for line in f]


def invented_word(index: int) -> str:
  """A distinct capitalised name for every index >= 0."""
  digits, n = [], index + 1
  while n:
    n, d = divmod(n - 1, len(SYLLABLES))
    digits.append(SYLLABLES[d])
  return ''.join(digits).capitalize()


def heaps_types(tokens: float) -> float:
  return HEAPS_K * tokens ** HEAPS_BETA


def _coprime_multiplier(modulus: int) -> int:
  step = int(modulus * 0.618033988749895) | 1
  while math.gcd(step, modulus) != 1:
    step += 2
  return step


def generate(source: Sequence[str], target: Sequence[str], pairs: int,
             seed: int = 1) -> Iterator[Tuple[str, str]]:
  """Yields `pairs` distinct (source, target) sentence pairs."""
  m = len(source)
  base_types = len({w for s in (source, target) for l in s for w in l.split()})
  multiplier = _coprime_multiplier(m * m)
  rng = random.Random(seed)
  invented = tokens = 0
  for i in range(pairs):
    j = (i * multiplier + seed) % (m * m)
    picks = [j // m, j % m]
    if rng.random() < 0.4:
      picks.append(rng.randrange(m))
    src = [w for k in picks for w in source[k].split()]
    tgt = [w for k in picks for w in target[k].split()]
    tokens += len(src) + len(tgt)
    names = []
    # New names: as many as Heaps' law adds over Multi30k's own types.
    wanted = max(0, int(heaps_types(tokens)) - base_types)
    while invented < wanted:
      names.append(invented_word(invented))
      invented += 1
    # Earlier names again, the earliest (most common) most often.
    for _ in range(rng.randrange(3) if invented else 0):
      names.append(invented_word(int(invented * rng.random() ** 3)))
    for name in names:
      k = rng.randrange(len(src) + 1)
      src.insert(k, name)
      tgt.insert(min(len(tgt), round(k * len(tgt) / max(len(src) - 1, 1))),
                 name)
    yield ' '.join(src), ' '.join(tgt)


def train_stem(shards: int) -> str:
  """The train split's file stem (a glob of shard stems) as written."""
  return 'train-*' if shards > 1 else 'train'


def write_corpus(data_dir: str, out_dir: str, pairs: int, shards: int = 8,
                 source_lang: str = 'en', target_lang: str = 'de') -> str:
  """Writes train-NNN.{src,tgt} shards (train.{src,tgt} if `shards` is 1;
  plain text) and Multi30k's eval and test splits into `out_dir`; returns
  it."""
  source = read_lines(os.path.join(data_dir, f'train.{source_lang}.gz'))
  target = read_lines(os.path.join(data_dir, f'train.{target_lang}.gz'))
  os.makedirs(out_dir, exist_ok=True)
  per_shard = -(-pairs // shards)
  files = []
  try:
    for pair_index, (s, t) in enumerate(generate(source, target, pairs)):
      if pair_index % per_shard == 0:
        for f in files:
          f.close()
        stem = (f'train-{pair_index // per_shard:03d}' if shards > 1 else
                'train')
        files = [open(os.path.join(out_dir, f'{stem}.{lang}'), 'w',
                      encoding='utf-8') for lang in (source_lang, target_lang)]
      files[0].write(s + '\n')
      files[1].write(t + '\n')
  finally:
    for f in files:
      f.close()
  for stem in EVAL_STEMS:
    for lang in (source_lang, target_lang):
      name = f'{stem}.{lang}.gz'
      shutil.copyfile(os.path.join(data_dir, name), os.path.join(out_dir, name))
  return out_dir


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--data-dir', required=True, help='Multi30k directory')
  parser.add_argument('--pairs', type=int, required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--shards', type=int, default=8)
  args = parser.parse_args()
  write_corpus(args.data_dir, args.out, args.pairs, args.shards)
  print(args.out)


if __name__ == '__main__':
  main()
