"""Whether the training devices multiply bfloat16 natively.

bfloat16 matmuls are fast only on hardware built for them: Intel CPUs with
AMX or AVX512-BF16 (oneDNN), NVIDIA GPUs of compute capability 8.0 and up.
Elsewhere they are emulated and slower than float32, so 'auto' choices of
a bfloat16 computation ask here first.
"""
from typing import Iterable, Optional, Sequence, Tuple

import tensorflow as tf

# /proc/cpuinfo flags of CPUs whose oneDNN matmuls take bfloat16 natively.
CPU_FLAGS = ('amx_bf16', 'avx512_bf16')
GPU_MIN_CAPABILITY = (8, 0)
# What a setting that `resolve` reads may say.
CHOICES = ('float32', 'bfloat16', 'auto')


def cpu_flags(cpuinfo: str = '/proc/cpuinfo') -> Tuple[str, ...]:
  """The first processor's flags (() where the file cannot be read)."""
  try:
    with open(cpuinfo) as f:
      for line in f:
        if line.startswith('flags'):
          return tuple(line.partition(':')[2].split())
  except OSError:
    pass
  return ()


def gpu_capabilities() -> Tuple[Tuple[int, int], ...]:
  """Each visible GPU's compute capability (() without GPUs)."""
  return tuple(
      tuple(tf.config.experimental.get_device_details(gpu).get(
          'compute_capability', (0, 0)))
      for gpu in tf.config.list_physical_devices('GPU'))


def is_native(flags: Iterable[str],
              capabilities: Sequence[Tuple[int, int]]) -> bool:
  """True if training runs where bfloat16 matmuls are native: on GPUs, all
  of them at 8.0 or more; without GPUs, a CPU with one of CPU_FLAGS."""
  if capabilities:
    return all(tuple(c) >= GPU_MIN_CAPABILITY for c in capabilities)
  return bool(set(CPU_FLAGS) & set(flags))


def resolve(dtype: str, native: Optional[bool] = None) -> str:
  """'float32' or 'bfloat16' for a setting of 'float32', 'bfloat16' or 'auto'
  ('auto': bfloat16 where `native`, by default this machine's `is_native`)."""
  if dtype not in CHOICES:
    raise ValueError(f"unknown dtype {dtype!r}: expected 'float32', "
                     "'bfloat16' or 'auto'")
  if dtype != 'auto':
    return dtype
  if native is None:
    native = is_native(cpu_flags(), gpu_capabilities())
  return 'bfloat16' if native else 'float32'
