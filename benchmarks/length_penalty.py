"""Beam search's length penalty, chosen on validation and checked on test.

  .venv/bin/python -m benchmarks.length_penalty --run-dir runs/nmt-en-de \
      --data-dir ../shared/data/multi30k --pair en-de --alphas 0 0.6 1.0 1.5

NMT toolkits leave the length penalty to the user, to be tuned on a
development set (fairseq's --lenpen, OpenNMT's length_penalty, Marian's
--normalize). The pipeline decodes with HParams.length_penalty (GNMT's
alpha, 0.6); the served model takes another per request
(`translate_with_options`). This translates Multi30k val and
test_2016_flickr with a finished run's pushed SavedModel at each alpha
(beam 5 unless --beam) and prints sacreBLEU cased and lowercased side by
side, marking the alpha validation would choose: whether that choice holds
on test is what says if tuning it is worth it.
"""
import argparse
import os
import sys
from typing import Callable, Dict, List, Sequence, Tuple

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from benchmarks import quality  # pylint: disable=g-import-not-at-top,wrong-import-position

VAL_STEM = 'val'
SPLITS = (VAL_STEM, quality.TEST_STEM)

# (sentences, beam size, alpha) -> translations
Translate = Callable[[Sequence[str], int, float], List[str]]


def sweep(translate: Translate,
          splits: Dict[str, Tuple[List[str], List[str]]],
          alphas: Sequence[float], beam_size: int) -> List[dict]:
  """A row an alpha: {'alpha', split: (BLEU, lowercased BLEU), ...}.

  splits: name -> (sources, references).
  """
  from nmt_tfx.components.evaluation import bleu  # pylint: disable=g-import-not-at-top
  rows = []
  for alpha in alphas:
    row = {'alpha': alpha}
    for name, (sources, references) in splits.items():
      scores = bleu.corpus_scores(translate(sources, beam_size, alpha),
                                  references)
      row[name] = (scores.bleu, scores.bleu_lowercase)
    rows.append(row)
  return rows


def format_table(rows: List[dict], choose_on: str = VAL_STEM) -> str:
  """Markdown, a row an alpha; the alpha with the best `choose_on` BLEU is
  marked, the first of equals."""
  names = [k for k in rows[0] if k != 'alpha']
  chosen = max(rows, key=lambda r: r[choose_on][0])
  lines = ['| alpha | ' + ' | '.join(f'{n} BLEU | {n} BLEU, lc'
                                     for n in names) + ' |',
           '|' + ' --- |' * (1 + 2 * len(names))]
  for r in rows:
    mark = f' (best on {choose_on})' if r is chosen else ''
    lines.append(f"| {r['alpha']:g}{mark} | " + ' | '.join(
        f'{r[n][0]:.2f} | {r[n][1]:.2f}' for n in names) + ' |')
  return '\n'.join(lines)


def served_translate(model_dir: str) -> Translate:
  """The pushed SavedModel's `translate_with_options`, in this process."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # pylint: disable=g-import-not-at-top,unused-import
  from nmt_tfx.components.serving import contract  # pylint: disable=g-import-not-at-top
  signature = tf.saved_model.load(model_dir).signatures[
      contract.OPTIONS_SIGNATURE]
  return lambda sentences, beam, alpha: quality.translate_sentences(
      signature, list(sentences), beam, alpha)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--run-dir', required=True,
                      help="a finished run's directory (runs/nmt-SRC-TGT)")
  parser.add_argument('--data-dir', required=True, help='Multi30k')
  parser.add_argument('--pair', required=True, help='e.g. en-de')
  parser.add_argument('--alphas', nargs='+', type=float,
                      default=[0.0, 0.6, 1.0, 1.5])
  parser.add_argument('--beam', type=int, default=5)
  args = parser.parse_args(argv)
  from benchmarks.speed import RunArtifacts  # pylint: disable=g-import-not-at-top
  source, target = args.pair.split('-')
  splits = {stem: (quality.read_split(args.data_dir, stem, source),
                   quality.read_split(args.data_dir, stem, target))
            for stem in SPLITS}
  model = RunArtifacts(args.run_dir).model
  rows = sweep(served_translate(model), splits, args.alphas, args.beam)
  print(f'{model}, beam {args.beam}\n')
  print(format_table(rows))
  return 0


if __name__ == '__main__':
  sys.exit(main())
