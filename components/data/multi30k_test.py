import hashlib
import shutil

import pytest

from nmt_tfx.components.data import multi30k
from nmt_tfx.components.data.corpus import CorpusError


def test_shipped_checksums_match_the_reference_copy(multi30k_dir):
  shipped = multi30k.checksums()
  assert len(shipped) == 12
  multi30k.prepare(str(multi30k_dir), ['en', 'de', 'fr', 'cs'],
                   download=False)  # verifies all 12, downloads nothing


def test_corrupt_file_is_rejected(tmp_path, multi30k_dir):
  shutil.copy(multi30k_dir / 'val.en.gz', tmp_path / 'val.en.gz')
  with open(tmp_path / 'val.en.gz', 'ab') as f:
    f.write(b'junk')
  with pytest.raises(CorpusError, match=r'val\.en\.gz: SHA256 .* does not match'):
    multi30k.prepare(str(tmp_path), ['en'], ['val'], download=False)


def test_download_verifies_before_the_file_appears(tmp_path, multi30k_dir):
  mirror = f'file://{multi30k_dir}/{{name}}'
  target = tmp_path / 'data'
  multi30k.prepare(str(target), ['en', 'de'], ['val'], url_template=mirror)
  assert (hashlib.sha256((target / 'val.de.gz').read_bytes()).hexdigest()
          == multi30k.checksums()['val.de.gz'])

  bad_mirror = tmp_path / 'bad'
  bad_mirror.mkdir()
  (bad_mirror / 'test_2016_flickr.en.gz').write_bytes(b'not the file')
  with pytest.raises(CorpusError, match='does not match the expected'):
    multi30k.prepare(str(target), ['en'], ['test_2016_flickr'],
                     url_template=f'file://{bad_mirror}/{{name}}')
  assert sorted(p.name for p in target.iterdir()) == ['val.de.gz', 'val.en.gz']


def test_unreachable_source_says_how_to_work_offline(tmp_path):
  with pytest.raises(CorpusError, match='point --data-dir at a directory'):
    multi30k.prepare(str(tmp_path), ['en'], ['val'],
                     url_template=f'file://{tmp_path}/nowhere/{{name}}')


def test_mirror_from_the_environment_replaces_github(tmp_path, monkeypatch,
                                                     multi30k_dir):
  monkeypatch.setenv(multi30k.URL_ENV, f'file://{multi30k_dir}/{{name}}')
  multi30k.prepare(str(tmp_path), ['en'], ['val'])
  assert [p.name for p in tmp_path.iterdir()] == ['val.en.gz']

  monkeypatch.setenv(multi30k.URL_ENV, f'file://{multi30k_dir}/')
  with pytest.raises(CorpusError, match=r'NMT_MULTI30K_URL=.* must contain \{name\}'):
    multi30k.prepare(str(tmp_path / 'other'), ['en'], ['val'])
