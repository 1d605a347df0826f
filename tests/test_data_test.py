"""Where the test suite finds Multi30k, and its download on a fresh machine."""
import shutil

import pytest

from conftest import locate_multi30k
from nmt_tfx.components.data import multi30k
from nmt_tfx.components.data.corpus import CorpusError


def test_a_complete_copy_is_used_as_it_is(tmp_path, multi30k_dir):
  empty, complete = tmp_path / 'empty', tmp_path / 'complete'
  empty.mkdir()
  shutil.copytree(multi30k_dir, complete)
  nowhere = f'file://{tmp_path}/nowhere/{{name}}'  # any download would fail
  assert locate_multi30k([empty, complete], tmp_path / 'dl', nowhere) == complete
  assert not (tmp_path / 'dl').exists()


def test_a_fresh_machine_downloads_it_verified(tmp_path, multi30k_dir):
  partial, download_to = tmp_path / 'partial', tmp_path / 'data' / 'multi30k'
  partial.mkdir()
  shutil.copy(multi30k_dir / 'val.en.gz', partial)  # incomplete: not used
  mirror = f'file://{multi30k_dir}/{{name}}'  # stands in for the network
  assert locate_multi30k([partial, download_to], download_to,
                         mirror) == download_to
  assert sorted(p.name for p in download_to.iterdir()) == sorted(
      multi30k.checksums())
  # Next session: found in place, nothing fetched.
  assert locate_multi30k([partial, download_to], download_to,
                         f'file://{tmp_path}/nowhere/{{name}}') == download_to


def test_a_corrupt_copy_is_an_error_not_a_silent_download(tmp_path,
                                                          multi30k_dir):
  corrupt = tmp_path / 'corrupt'
  shutil.copytree(multi30k_dir, corrupt)
  (corrupt / 'train.de.gz').write_bytes(b'not Multi30k')
  with pytest.raises(CorpusError, match=r'train\.de\.gz: SHA256'):
    locate_multi30k([corrupt], tmp_path / 'dl', f'file://{multi30k_dir}/{{name}}')
