"""A watcher that polls a serving directory as TF Serving would.

The versions the server would load: those named by `<serving_dir>/models.config`
(a `specific` version policy) when the directory has one, else every integer
directory (the `latest` policy). Any such version seen without a complete
model is recorded.
"""
import os
import re
import threading
import time

REQUIRED_FILES = ('saved_model.pb', os.path.join('variables', 'variables.index'))


def _configured_versions(serving_dir):
  """The versions models.config names, or None if there is no such file."""
  try:
    with open(os.path.join(serving_dir, 'models.config'),
              encoding='utf-8') as f:
      text = f.read()
  except FileNotFoundError:
    return None
  policy = re.search(r'specific\s*\{([^}]*)\}', text)
  return re.findall(r'versions:\s*(\d+)', policy.group(1)) if policy else None


class ServingDirWatcher(threading.Thread):
  """Records any version the server would load that is not complete.

  server_view=False: every integer directory counts, whatever models.config
  says (a server with the `latest` policy)."""

  def __init__(self, serving_dir, server_view=True, interval=0.01):
    super().__init__(daemon=True)
    self.serving_dir, self.server_view = serving_dir, server_view
    self.interval, self.incomplete, self.seen = interval, [], set()
    self._halt = threading.Event()

  def _loadable(self):
    """(versions, whether models.config named them)."""
    configured = _configured_versions(self.serving_dir) if (
        self.server_view) else None
    if configured is not None:
      return configured, True
    try:
      return [n for n in os.listdir(self.serving_dir) if n.isdigit()], False
    except FileNotFoundError:
      return [], False

  def run(self):
    while not self._halt.is_set():
      names, configured = self._loadable()
      for name in names:
        version = os.path.join(self.serving_dir, name)
        if not all(os.path.exists(os.path.join(version, f))
                   for f in REQUIRED_FILES):
          # A directory removed meanwhile is no fault; a configured version
          # missing is.
          if configured or os.path.exists(version):
            self.incomplete.append(name)
        self.seen.add(name)
      time.sleep(self.interval)

  def stop(self):
    self._halt.set()
    self.join()
