"""float32 against mixed_bfloat16: training speed and what bfloat16 costs.

  .venv/bin/python -m benchmarks.precision --run-dir runs/nmt-en-de \
      --config lstm --steps 1500

On a finished run's Transform outputs (any pipeline run of a configuration
with the same preprocessing), trains the configuration's model for --steps
from the same seed in each precision, then scores the validation split:
teacher-forced loss, and greedy-decoded sacreBLEU with the decoder the served
model uses. Then it separates the forward pass from training: the
float32-trained weights are loaded into a model built in bfloat16 and scored
again. Prints a markdown table. TensorFlow's CPU kernels are not bit-for-bit
deterministic, so even float32 runs of one seed differ: read a small
difference as none.
"""
import argparse
import dataclasses
import functools
import os
import sys
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from benchmarks import stages  # pylint: disable=g-import-not-at-top,wrong-import-position

PRECISIONS = ('float32', 'mixed_bfloat16')


class Setup:
  """The run's transform output, datasets and validation batches."""

  def __init__(self, run_dir: str, hparams):
    import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
    from nmt_tfx.components import preprocessing  # pylint: disable=g-import-not-at-top
    from nmt_tfx.components.model import inputs  # pylint: disable=g-import-not-at-top
    from nmt_tfx.components.text import codecs  # pylint: disable=g-import-not-at-top
    transform = os.path.join(run_dir, 'root', 'Transform')
    graph = stages.newest(f'{transform}/transform_graph/*')
    examples = stages.newest(f'{transform}/transformed_examples/*')
    self.train_files = os.path.join(examples, 'Split-train', '*')
    eval_files = os.path.join(examples, 'Split-eval', '*')
    self.preprocessing = preprocessing.load_config(graph)
    self.output = tft.TFTransformOutput(graph)
    self.codec = codecs.load(self.output, self.preprocessing)
    self.plan = inputs.plan_batches(self.train_files, hparams,
                                    self.preprocessing)
    self.eval_dataset = inputs.make_dataset(
        eval_files, self.output, hparams, self.preprocessing, self.plan,
        training=False)
    self.validation = inputs.make_validation_batches(
        eval_files, self.output, hparams, self.preprocessing,
        self.plan.batch_tokens)

  def train_dataset(self, hparams):
    from nmt_tfx.components.model import inputs  # pylint: disable=g-import-not-at-top
    return inputs.make_dataset(self.train_files, self.output, hparams,
                               self.preprocessing, self.plan, training=True)


def _model(setup: Setup, hparams, steps: int):
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  return trainer.build_model(setup.codec.source_vocab_size,
                             setup.codec.target_vocab_size, hparams, steps)


def with_weights_of(trained, setup: Setup, hparams):
  """A model built with `hparams` (its precision) holding `trained`'s
  weights."""
  model = _model(setup, hparams, 1)
  model(next(iter(setup.eval_dataset))[0], training=False)
  model.set_weights(trained.get_weights())
  return model


def score(model, setup: Setup, hparams) -> dict:
  """Validation loss (teacher forcing) and greedy validation BLEU."""
  from nmt_tfx.components.evaluation import bleu  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import decoding  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import model_selection  # pylint: disable=g-import-not-at-top
  batches, references = setup.validation
  translate = model_selection.Translations(
      model, batches, setup.codec.decode,
      functools.partial(decoding.max_output_length_for, hparams=hparams))
  loss = model.evaluate(setup.eval_dataset, steps=16, verbose=0)[0]
  return {'val_loss': float(loss),
          'val_bleu': bleu.corpus_scores(translate(), references).bleu}


def train(setup: Setup, hparams, steps: int):
  """-> (model, fit seconds) after `steps` steps from hparams.seed."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(hparams.seed)
  model = _model(setup, hparams, steps)
  start = time.perf_counter()
  model.fit(setup.train_dataset(hparams), steps_per_epoch=steps, epochs=1,
            verbose=0)
  return model, time.perf_counter() - start


def run(args) -> list:
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  base = configs.CONFIGS[args.config].hparams
  setup = Setup(args.run_dir, base)
  rows, trained = [], {}
  for precision in PRECISIONS:
    hparams = dataclasses.replace(base, precision=precision)
    model, seconds = train(setup, hparams, args.steps)
    trained[precision] = model
    rows.append({'trained': precision, 'evaluated': precision,
                 'fit_s': seconds, **score(model, setup, hparams)})
  # The float32 weights, run forward in bfloat16.
  hparams = dataclasses.replace(base, precision='mixed_bfloat16')
  model = with_weights_of(trained['float32'], setup, hparams)
  rows.append({'trained': 'float32', 'evaluated': 'mixed_bfloat16',
               'fit_s': None, **score(model, setup, hparams)})
  return rows


def format_table(rows, config: str, steps: int) -> str:
  lines = [f'`{config}`, {steps} steps from the same seed', '',
           '| trained in | run forward in | fit | speed-up | val loss '
           '| val BLEU, greedy |', '| --- | --- | --- | --- | --- | --- |']
  reference = rows[0]['fit_s']
  for r in rows:
    fit = (f"{r['fit_s']:.0f} s", f"{reference / r['fit_s']:.2f}x"
           ) if r['fit_s'] else ('', '')
    lines.append(f"| {r['trained']} | {r['evaluated']} | {fit[0]} | {fit[1]} "
                 f"| {r['val_loss']:.3f} | {r['val_bleu']:.2f} |")
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--run-dir', required=True,
                      help='a pipeline run directory (runs/nmt-en-de)')
  parser.add_argument('--config', default='lstm',
                      help='named configuration whose model is trained')
  parser.add_argument('--steps', type=int, default=1500)
  args = parser.parse_args(argv)
  print(format_table(run(args), args.config, args.steps))
  return 0


if __name__ == '__main__':
  sys.exit(main())
