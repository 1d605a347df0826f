"""The CLI's stderr sieve, in a fresh process with a child that inherits it."""
import os
import subprocess
import sys
import textwrap

from nmt_tfx.pipeline import console

NOISE = ('2026-12-01 13:45:48.108210: E external/local_xla/xla/stream_executor/'
         'cuda/cuda_dnn.cc:10575] Unable to register cuDNN factory: Attempting '
         'to register factory for plugin cuDNN when one has already been '
         'registered')


def test_noise_pattern_matches_runtime_lines_only():
  assert console.RUNTIME_NOISE.search(NOISE)
  assert console.RUNTIME_NOISE.search(
      'E tensorflow/core/util/util.cc:131] oneDNN supports DT_INT64 only on '
      'platforms with AVX-512. Falling back to the default Eigen-based '
      'implementation if present.')
  assert not console.RUNTIME_NOISE.search('error: train.en:3: empty line')
  assert not console.RUNTIME_NOISE.search(
      'E tensorflow/core/framework/op_kernel.cc] OOM when allocating tensor')


def test_sieve_moves_runtime_lines_of_the_process_and_its_children_to_the_log(
    tmp_path):
  log = tmp_path / 'run.log'
  child = 'import os; os.write(2, os.environ["NOISE"].encode() + b"\\n" + b"child: a real error\\n")'
  script = textwrap.dedent(f'''
      import os, subprocess, sys
      from nmt_tfx.pipeline import console
      sieve = console.StderrSieve().start()
      os.write(2, os.environ['NOISE'].encode() + b'\\n')  # before attach
      sieve.attach({str(log)!r})
      subprocess.run([sys.executable, '-c', {child!r}], check=True)
      print('parent: traceback line', file=sys.stderr)
      sieve.stop()
      print('after stop', file=sys.stderr)
      ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, check=True,
                          env={**os.environ, 'NOISE': NOISE})
  assert result.stderr.splitlines() == [
      'child: a real error', 'parent: traceback line']
  # After stop (the run is over), what the interpreter prints while it shuts
  # down goes to the log.
  assert log.read_text().splitlines() == [NOISE, NOISE, 'after stop']


def test_without_a_log_stop_gives_the_terminal_back():
  script = textwrap.dedent('''
      import sys
      from nmt_tfx.pipeline import console
      sieve = console.StderrSieve().start()
      print('during', file=sys.stderr)
      sieve.stop()
      print('after stop', file=sys.stderr)
      ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, check=True)
  assert result.stderr.splitlines() == ['during', 'after stop']


def test_only_the_cli_process_installs_it():
  assert console.is_cli_process('__main__')
  assert not console.is_cli_process('nmt_tfx.pipeline.local_runner')
