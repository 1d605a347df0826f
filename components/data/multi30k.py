"""Multi30k (task 1, raw): fetch or reuse the files, always verifying SHA256.

A directory that already holds the files (a mirror, or ``../shared`` in CI) is
used as it is, read-only; missing files are downloaded next to them.
"""
import hashlib
import os
import pathlib
import urllib.request
from typing import Dict, Iterable, Optional

from nmt_tfx.components.data.corpus import CorpusError

URL_TEMPLATE = ('https://github.com/multi30k/dataset/raw/master/'
                'data/task1/raw/{name}')
# A mirror (an internal artifact store, or file:///path/{name}) replaces it.
URL_ENV = 'NMT_MULTI30K_URL'

LANGUAGES = ('en', 'de', 'fr', 'cs')
# Pipeline split name -> Multi30k file stem.
SPLIT_STEMS = {'train': 'train', 'eval': 'val', 'test': 'test_2016_flickr'}


def checksums() -> Dict[str, str]:
  """File name -> SHA256, from the SHA256SUMS shipped with this package."""
  text = (pathlib.Path(__file__).parent / 'multi30k.sha256').read_text()
  return {name: digest for digest, name in
          (line.split() for line in text.splitlines() if line.strip())}


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _download(url: str, path: str, expected: str) -> None:
  partial = f'{path}.part-{os.getpid()}'
  try:
    with urllib.request.urlopen(url, timeout=60) as response, \
        open(partial, 'wb') as out:
      while block := response.read(1 << 20):
        out.write(block)
  except OSError as e:
    if os.path.exists(partial):
      os.remove(partial)
    raise CorpusError(
        f'cannot download {url}: {e}. Without internet, point --data-dir at a '
        'directory that already holds the Multi30k files.') from None
  actual = _sha256(partial)
  if actual != expected:
    os.remove(partial)
    raise CorpusError(f'{url}: SHA256 {actual} does not match the expected '
                      f'{expected}; nothing was kept')
  os.replace(partial, path)


def source_url_template() -> str:
  """Where missing files come from: $NMT_MULTI30K_URL, else GitHub."""
  template = os.environ.get(URL_ENV) or URL_TEMPLATE
  if '{name}' not in template:
    raise CorpusError(f'${URL_ENV}={template!r} must contain {{name}}, e.g. '
                      'https://mirror.example/multi30k/{name}')
  return template


def prepare(data_dir: str, languages: Iterable[str],
            stems: Iterable[str] = tuple(SPLIT_STEMS.values()),
            download: bool = True,
            url_template: Optional[str] = None) -> str:
  """Makes sure `data_dir` holds verified files; returns `data_dir`.

  Files present are verified against SHA256SUMS; missing ones are downloaded
  (if `download`) from `url_template` (default: `source_url_template()`) and
  verified before they become visible.
  """
  sums = checksums()
  for lang in languages:
    if lang not in LANGUAGES:
      raise CorpusError(f'Multi30k has no language {lang!r}; it has '
                        f'{", ".join(LANGUAGES)}')
  for stem in stems:
    for lang in languages:
      name = f'{stem}.{lang}.gz'
      if name not in sums:
        continue  # e.g. a test split that does not exist for this language.
      path = os.path.join(data_dir, name)
      if os.path.exists(path):
        actual = _sha256(path)
        if actual != sums[name]:
          raise CorpusError(
              f'{path}: SHA256 {actual} does not match SHA256SUMS '
              f'({sums[name]}); the file is corrupt or not Multi30k')
      elif not download:
        raise CorpusError(f'{path}: missing, and downloading is disabled')
      else:
        os.makedirs(data_dir, exist_ok=True)
        _download((url_template or source_url_template()).format(name=name),
                  path, sums[name])
  return data_dir
