"""The 'auto' choice of bfloat16: by the training devices' native support."""
import pytest

from nmt_tfx.components.model import native_bfloat16


@pytest.mark.parametrize('flags, capabilities, native', [
    (('avx512f', 'amx_bf16', 'amx_tile'), (), True),    # Sapphire Rapids
    (('avx512f', 'avx512_bf16'), (), True),              # Cooper Lake, Zen 4
    (('avx2', 'avx512f', 'fma'), (), False),             # Skylake: emulated
    ((), (), False),                                     # flags unknown
    (('amx_bf16',), ((8, 0), (9, 0)), True),             # A100, H100
    (('amx_bf16',), ((8, 0), (7, 5)), False),            # one T4 among them
    (('sse4_2',), ((8, 6),), True),                      # the GPUs decide
])
def test_native_where_the_training_devices_multiply_bfloat16(
    flags, capabilities, native):
  assert native_bfloat16.is_native(flags, capabilities) is native


def test_resolve_keeps_explicit_dtypes_and_decides_auto():
  assert native_bfloat16.resolve('float32', native=True) == 'float32'
  assert native_bfloat16.resolve('bfloat16', native=False) == 'bfloat16'
  assert native_bfloat16.resolve('auto', native=True) == 'bfloat16'
  assert native_bfloat16.resolve('auto', native=False) == 'float32'
  with pytest.raises(ValueError, match="unknown dtype 'float16'"):
    native_bfloat16.resolve('float16')


def test_cpu_flags_are_the_first_processors(tmp_path):
  cpuinfo = tmp_path / 'cpuinfo'
  cpuinfo.write_text('processor\t: 0\nflags\t\t: fpu avx512f amx_bf16\n\n'
                     'processor\t: 1\nflags\t\t: fpu\n')
  assert native_bfloat16.cpu_flags(str(cpuinfo)) == ('fpu', 'avx512f',
                                                     'amx_bf16')
  assert native_bfloat16.cpu_flags(str(tmp_path / 'missing')) == ()
