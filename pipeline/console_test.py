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


# What a Beam worker's interpreter prints as it exits, for each TensorFlow
# function it cannot finalize (this one from a real run, paths shortened).
FINALIZER_TRACEBACK = [
    'Exception ignored in: <function AtomicFunction.__del__ at 0x7febf75f4280>',
    'Traceback (most recent call last):',
    '  File "/venv/lib/python3.10/site-packages/tensorflow/python/eager/'
    'polymorphic_function/atomic_function.py", line 291, in __del__',
    "TypeError: 'NoneType' object is not subscriptable",
]

# A child that ends the same way: a real unraisable exception in a finalizer
# of that name, printed by its interpreter.
DYING_CHILD = textwrap.dedent('''
    import os, sys
    os.write(2, b"child: a real error\\n")
    class AtomicFunction:
      def __del__(self):
        table = None   # as a module global is, at shutdown
        table[0]
    finalized = AtomicFunction()
    del finalized
    print("Traceback (most recent call last):", file=sys.stderr)
    ''')


def test_noise_filter_takes_finalizer_tracebacks_whole():
  noise = console.NoiseFilter()
  lines = ['real line'] + FINALIZER_TRACEBACK * 2 + [
      'Traceback (most recent call last):', '  File "x.py", line 1',
      'ValueError: a real failure', NOISE]
  assert [noise.is_noise(line) for line in lines] == (
      [False] + [True] * 8 + [False, False, False, True])
  # The exception line alone after the header (no traceback lines).
  assert [noise.is_noise(line) for line in (
      FINALIZER_TRACEBACK[0], FINALIZER_TRACEBACK[3], 'next')] == [
          True, True, False]


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
      subprocess.run([sys.executable, '-c', {DYING_CHILD!r}], check=True)
      print('parent: traceback line', file=sys.stderr)
      sieve.stop()
      print('after stop', file=sys.stderr)
      ''')
  result = subprocess.run([sys.executable, '-c', script], capture_output=True,
                          text=True, check=True,
                          env={**os.environ, 'NOISE': NOISE})
  assert result.stderr.splitlines() == [
      'child: a real error', 'child: a real error',
      'Traceback (most recent call last):', 'parent: traceback line']
  # After stop (the run is over), what the interpreter prints while it shuts
  # down goes to the log.
  # The dying child's finalizer traceback, whole, is in the log.
  logged = log.read_text().splitlines()
  assert logged[:2] == [NOISE, NOISE] and len(logged) == 7, logged
  assert console.FINALIZER_TRACEBACK.search(logged[2])
  assert logged[3] == 'Traceback (most recent call last):'
  assert logged[4].startswith('  File "<string>", line ')
  assert logged[5:] == ["TypeError: 'NoneType' object is not subscriptable",
                        'after stop']


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


def test_google_notices_are_off_in_the_cli_and_the_processes_it_starts():
  # google-api-core's own check, and a warning issued as aiplatform's is.
  warn = textwrap.dedent('''
      import datetime
      from google.api_core import _python_version_support as support
      support.check_python_version(package='google-api-core',
                                   today=datetime.date(2099, 1, 1))
      exec('import warnings; warnings.warn("storage < 3", FutureWarning)',
           {'__name__': 'google.cloud.aiplatform.models'})
      ''')
  script = textwrap.dedent(f'''
      import subprocess, sys
      from nmt_tfx.pipeline import console
      if sys.argv[1] == 'quiet':
        console.quiet_google_notices()
      exec({warn!r})   # this process
      subprocess.run([sys.executable, '-c', {warn!r}], check=True)   # a child
      ''')
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'}
  stderr = lambda mode: subprocess.run(
      [sys.executable, '-c', script, mode], capture_output=True, text=True,
      check=True, env=env).stderr
  loud = stderr('loud')
  assert loud.count('FutureWarning: You are using a non-supported '
                    'Python version') >= 2   # both processes
  assert loud.count('FutureWarning: storage < 3') == 2
  assert 'FutureWarning' not in stderr('quiet')
