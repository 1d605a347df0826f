import multiprocessing

import pytest

from nmt_tfx.pipeline import run_lock


def _try_lock(run_dir, queue):
  try:
    with run_lock.exclusive_run(run_dir):
      queue.put('acquired')
  except run_lock.RunLockedError as e:
    queue.put(str(e))


def _in_other_process(run_dir):
  queue = multiprocessing.get_context('spawn').Queue()
  process = multiprocessing.get_context('spawn').Process(
      target=_try_lock, args=(run_dir, queue))
  process.start()
  process.join(60)
  return queue.get(timeout=5)


def test_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
  with run_lock.exclusive_run(str(tmp_path)):
    message = _in_other_process(str(tmp_path))
  assert message.startswith(f'another run is using {tmp_path}')
  assert '"pid"' in message
  assert _in_other_process(str(tmp_path)) == 'acquired'  # released


def test_lock_is_released_on_error(tmp_path):
  with pytest.raises(ValueError):
    with run_lock.exclusive_run(str(tmp_path)):
      raise ValueError('boom')
  with run_lock.exclusive_run(str(tmp_path)):
    pass
