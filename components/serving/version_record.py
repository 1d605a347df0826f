"""What the Pusher records inside each version it publishes.

`assets.extra/version_record.json` (TF Serving copies `assets.extra/` but
never reads it) says what the version translates and how it was judged: the
language pair, the BLEU it scored on the blessing split, the test that
decided, the evaluation report and when it was pushed. Beside it,
`assets.extra/model_config.json` (components/model/model_config.py) says how
the model was made. The Evaluator refuses to compare a candidate with a
production model of another language pair; `nmt-serving list` prints both.
"""
import json
import os
from typing import Any, Dict, Optional

import tensorflow as tf

FILE = os.path.join('assets.extra', 'version_record.json')


def make(*, language_pair: Optional[str], bleu: float, blessing_split: str,
         decided_by: str, report: str, pushed_at: float) -> Dict[str, Any]:
  """language_pair: 'en-de' (None if the run's data did not say)."""
  return {'language_pair': language_pair, 'bleu': bleu,
          'blessing_split': blessing_split, 'decided_by': decided_by,
          'report': report, 'pushed_at': pushed_at}


def encode(record: Dict[str, Any]) -> bytes:
  return json.dumps(record, indent=1, sort_keys=True).encode('utf-8')


def read(version_dir: str) -> Optional[Dict[str, Any]]:
  """The version's record; None for a version pushed without one."""
  path = os.path.join(version_dir, FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


def language_pair(record: Optional[Dict[str, Any]]) -> Optional[str]:
  return record.get('language_pair') if record else None


def describe(record: Optional[Dict[str, Any]]) -> str:
  """One line for an operator."""
  if record is None:
    return 'no version_record.json (pushed before versions carried one)'
  return (f"{language_pair(record) or 'languages unknown'}, "
          f"{record['blessing_split']} BLEU "
          f"{record['bleu']:.2f} ({record['decided_by']}), report "
          f"{record['report']}")
