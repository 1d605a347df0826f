"""Benchmark stages run in fresh processes (so memory and imports are per
measurement); a stage prints one RESULT line of JSON. No TensorFlow here:
the driver stays light."""
import json
import os
import subprocess
import sys
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RESULT = 'RESULT '  # prefix of the one JSON line a stage prints


def newest(pattern: str) -> str:
  """The most recently modified path matching `pattern` (a run's newest
  artifact of a kind); FileNotFoundError if there is none."""
  import glob  # pylint: disable=g-import-not-at-top
  found = sorted(glob.glob(pattern), key=os.path.getmtime)
  if not found:
    raise FileNotFoundError(f'{pattern}: nothing there; run the pipeline first')
  return found[-1]


def report(result: dict) -> None:
  """What a stage prints last."""
  print(RESULT + json.dumps(result), flush=True)


def command(module: str, *args: str) -> List[str]:
  """`python -m <module> args` in this interpreter (run from ROOT)."""
  return [sys.executable, '-m', module, *args]


def run(cmd, name: str) -> dict:
  """Runs a stage command from the project root; returns its RESULT, or
  raises with its output."""
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
  return result_of(proc.returncode, proc.stdout, proc.stderr, name)


def result_of(returncode: int, out: str, err: str, name: str) -> dict:
  """A finished stage's RESULT; raises with the tail of its output if it
  failed or printed none."""
  results = [l for l in out.splitlines() if l.startswith(RESULT)]
  if returncode or not results:
    sys.stderr.write(out[-3000:] + err[-5000:])
    raise RuntimeError(f'stage {name} failed ({returncode})')
  return json.loads(results[-1][len(RESULT):])
