"""What the pipeline CLI shows on the terminal, and what only its log keeps.

TensorFlow's C++ runtime writes start-up lines straight to file descriptor 2
in every process that loads it (the CLI and each Beam worker): CUDA plugin
factories registered twice, oneDNN type fallbacks, TensorRT not found. They
say nothing about the run. `StderrSieve` sits on descriptor 2, so it also sees
the workers, which inherit it: those lines go to the run's log file, every
other line to the terminal unchanged.

What an interpreter prints while it shuts down (TensorFlow's function
finalizers failing on half-torn-down modules, a traceback each) is kept in
the log too, not shown: a Beam worker's when its stage ends
(`FINALIZER_TRACEBACK`), and the CLI's own, as descriptor 2 goes to the log
file once the run is over (`stop`).

Google packages print FutureWarnings as they are imported, in every
process: google-api-core, for each google package, that Python 3.10 is past
its support window; google-cloud-aiplatform, that it will want
google-cloud-storage 3. Nothing a user of the pipeline can act on:
`quiet_google_notices` turns them off in the CLI and in the processes it
starts.

No TensorFlow here: the sieve must be in place before TensorFlow loads.
"""
import os
import re
import sys
import threading
import warnings
from typing import List, Optional

# Start-up lines of TensorFlow's C++ runtime that carry no information.
RUNTIME_NOISE = re.compile(
    r'Unable to register cu(DNN|FFT|BLAS) factory'
    r'|oneDNN supports DT_\w+ only on platforms with AVX-512'
    r'|TF-TRT Warning: Could not find TensorRT'
    r'|Could not find cuda drivers on your machine'
    r'|computation placer already registered'
    r'|This TensorFlow binary is optimized to use available CPU instructions'
    r'|^To enable the following instructions: .* rebuild TensorFlow')

# First line of the traceback an exiting interpreter prints for each
# TensorFlow function it cannot finalize; the traceback's own lines
# (indented, or "Traceback ...") and its exception line follow.
FINALIZER_TRACEBACK = re.compile(
    r'^Exception ignored in: <function AtomicFunction\.__del__ ')

# The modules that issue those notices. PYTHONWARNINGS names a module
# exactly, so the processes the CLI starts get one filter for each.
NOTICE_MODULES = ('google.api_core._python_version_support',
                  'google.cloud.aiplatform.models')

CLI_NAME = 'nmt-tfx'


def is_cli_process(module_name: str) -> bool:
  """True when `module_name`'s module is running as the pipeline CLI
  (`python -m ...` or the `nmt-tfx` console script), not imported."""
  return (module_name == '__main__'
          or os.path.basename(sys.argv[0] if sys.argv else '') == CLI_NAME)


def quiet_google_notices() -> None:
  """FutureWarnings of google packages off in this process and, for
  `NOTICE_MODULES`, through PYTHONWARNINGS in the processes it starts (Beam
  workers)."""
  warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\.')
  filters = [f for f in os.environ.get('PYTHONWARNINGS', '').split(',') if f]
  filters += [f'ignore::FutureWarning:{module}' for module in NOTICE_MODULES
              if f'ignore::FutureWarning:{module}' not in filters]
  os.environ['PYTHONWARNINGS'] = ','.join(filters)


class NoiseFilter:
  """Tells, line by line, what belongs in the log only: `RUNTIME_NOISE`
  lines and whole `FINALIZER_TRACEBACK`s.

  Lines of processes writing at once can interleave; a line of another
  process inside such a traceback goes to the log with it.
  """

  def __init__(self):
    self._in_traceback = False

  def is_noise(self, line: str) -> bool:
    if self._in_traceback:
      # Its exception line, the first neither indented nor the header, ends it.
      self._in_traceback = line.startswith(
          (' ', 'Traceback (most recent call last):'))
      return True
    if FINALIZER_TRACEBACK.search(line):
      self._in_traceback = True
      return True
    return bool(RUNTIME_NOISE.search(line))


class StderrSieve:
  """Moves what `NoiseFilter` calls noise off descriptor 2 into a log file.

  Until `attach` names the log file, sifted lines are held in memory (a few
  dozen lines); a process that ends before that drops them.
  """

  def __init__(self):
    self._terminal: Optional[int] = None
    self._held: List[bytes] = []
    self._log = None
    self._lock = threading.Lock()
    self._reader: Optional[threading.Thread] = None

  def start(self) -> 'StderrSieve':
    read_end, write_end = os.pipe()
    self._terminal = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    self._reader = threading.Thread(target=self._sift, args=(read_end,),
                                    name='stderr-sieve', daemon=True)
    self._reader.start()
    return self

  def attach(self, log_path: str) -> None:
    """From now on, sifted lines are appended to `log_path`."""
    with self._lock:
      self._log = open(log_path, 'ab')  # pylint: disable=consider-using-with
      self._log.writelines(self._held)
      self._log.flush()
      self._held = []

  def stop(self, timeout: float = 5.0) -> None:
    """Writes out what is still in the pipe; from then on descriptor 2 is
    the log file (once attached; else the terminal again).

    Worker processes that are still alive keep the pipe open; their lines
    after `timeout` seconds are lost."""
    if self._terminal is None:
      return
    sys.stderr.flush()
    with self._lock:
      after = self._log.fileno() if self._log else self._terminal
    os.dup2(after, 2)   # closes the pipe's last write end here
    self._reader.join(timeout)

  def _sift(self, read_end: int) -> None:
    noise = NoiseFilter()
    with os.fdopen(read_end, 'rb') as pipe:
      for line in pipe:
        if noise.is_noise(line.decode('utf-8', 'replace')):
          with self._lock:
            if self._log:
              self._log.write(line)
              self._log.flush()
            else:
              self._held.append(line)
        else:
          while line:
            line = line[os.write(self._terminal, line):]
