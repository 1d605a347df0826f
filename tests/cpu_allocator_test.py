"""Processes of the package reuse freed CPU memory across training steps."""
import subprocess
import sys
import textwrap

# Allocates and frees a 128 MB tensor 10 times; prints the page faults.
_PROGRAM = textwrap.dedent('''
    import resource
    {imports}
    import tensorflow as tf
    def faults():
      return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step = tf.function(lambda x: tf.reduce_sum(tf.exp(x + 1.0)))
    x = tf.zeros([32 * 2 ** 20])
    step(x)
    before = faults()
    for _ in range(10):
      step(x).numpy()
    print(faults() - before)
''')
_PAGES = 128 * 2 ** 20 // 4096   # the temporary's pages


def _faults(imports: str) -> int:
  out = subprocess.run([sys.executable, '-c', _PROGRAM.format(imports=imports)],
                       check=True, capture_output=True, text=True,
                       env={'PATH': '/usr/bin:/bin', 'TF_CPP_MIN_LOG_LEVEL': '3'})
  return int(out.stdout.split()[-1])


def test_importing_the_package_keeps_freed_blocks_for_the_next_step():
  # The baseline shows the test can fail: without the package's setting,
  # each step faults in its temporary's pages anew.
  assert _faults('') > 5 * _PAGES
  assert _faults('import nmt_tfx') < _PAGES
