"""Benchmark stages run in fresh processes (so memory and imports are per
measurement); a stage prints one RESULT line of JSON. No TensorFlow here:
the driver stays light."""
import json
import subprocess
import sys

RESULT = 'RESULT '  # prefix of the one JSON line a stage prints


def report(result: dict) -> None:
  """What a stage prints last."""
  print(RESULT + json.dumps(result), flush=True)


def run(cmd, name: str) -> dict:
  """Runs a stage command; returns its RESULT, or raises with its output."""
  proc = subprocess.run(cmd, capture_output=True, text=True)
  results = [l for l in proc.stdout.splitlines() if l.startswith(RESULT)]
  if proc.returncode or not results:
    sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
    raise RuntimeError(f'stage {name} failed ({proc.returncode})')
  return json.loads(results[-1][len(RESULT):])
