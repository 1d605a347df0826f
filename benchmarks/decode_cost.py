"""Decoding cost per sentence of named configurations' models, side by side.

  .venv/bin/python -m benchmarks.decode_cost --configs default quality

What TF Serving spends on a batch, without the text ends: encode a batch of
B source sentences of S tokens, expanded to K hypotheses each, then L
`decode_step`s over the B x K hypotheses, each followed by the reordering of
the decoder state that beam search does when hypotheses change parents (its
cost depends on the model: an LSTM's state is a vector per hypothesis, a
Transformer's every cached key and value). The rest of
`decoding.beam_search`'s bookkeeping is the same code for every model and
is left out.
Random weights and a fixed number of steps, so the models are compared at
equal output lengths: a trained model's lengths depend on its training.
Prints a markdown table: milliseconds a batch and a sentence (median of
--repeats after one traced call).
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def measure(config_name: str, vocab_size: int, batch: int, beam: int,
            source_length: int, steps: int, repeats: int) -> dict:
  """Milliseconds for one batch: encode + `steps` decode steps."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import features  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import trainer  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.text import vocabulary  # pylint: disable=g-import-not-at-top
  from nmt_tfx.pipeline import configs  # pylint: disable=g-import-not-at-top
  hparams = configs.CONFIGS[config_name].hparams
  model = trainer.build_model(vocab_size, vocab_size, hparams)
  first = vocabulary.EOS_ID + 1
  source = tf.random.uniform([batch, source_length], first, vocab_size,
                             tf.int64, seed=1)
  model({features.SOURCE_IDS: source,
         features.TARGET_IN: source}, training=False)

  @tf.function
  def decode(source_ids):
    encoded, keys = model.encode(tf.repeat(source_ids, beam, axis=0))
    state = encoded.state
    tokens = tf.fill([batch * beam], tf.constant(vocabulary.BOS_ID, tf.int64))
    total = tf.zeros([batch * beam])
    # Every hypothesis continues its neighbour in the beam: a full reorder.
    rows = tf.reshape(tf.roll(tf.reshape(tf.range(batch * beam),
                                         [batch, beam]), 1, axis=1), [-1])
    for _ in range(steps):
      log_probs, state, _ = model.decode_step(tokens, state, encoded, keys)
      state = tf.nest.map_structure(lambda t: tf.gather(t, rows), state)
      tokens = tf.argmax(log_probs, -1)
      total += tf.reduce_max(log_probs, -1)
    return total

  decode(source).numpy()   # traced once
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    decode(source).numpy()
    times.append(time.perf_counter() - start)
  batch_ms = 1000 * statistics.median(times)
  params = sum(int(tf.size(v)) for v in model.trainable_variables)
  return {'config': config_name, 'params': params, 'batch_ms': batch_ms,
          'sentence_ms': batch_ms / batch}


def format_table(rows, args) -> str:
  lines = [f'batch {args.batch} x beam {args.beam}, source {args.source_length}'
           f' tokens, {args.steps} decode steps, vocabulary {args.vocab_size}'
           f' (median of {args.repeats})', '',
           '| config | params | ms a batch | ms a sentence | vs first |',
           '| --- | --- | --- | --- | --- |']
  for r in rows:
    lines.append(f"| {r['config']} | {r['params'] / 1e6:.1f}M "
                 f"| {r['batch_ms']:.0f} | {r['sentence_ms']:.2f} "
                 f"| {r['sentence_ms'] / rows[0]['sentence_ms']:.2f}x |")
  return '\n'.join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--configs', nargs='+', default=['default', 'quality'])
  parser.add_argument('--vocab-size', type=int, default=10000)
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--beam', type=int, default=5)
  parser.add_argument('--source-length', type=int, default=15)
  parser.add_argument('--steps', type=int, default=16,
                      help='decode steps (about a Multi30k German sentence)')
  parser.add_argument('--repeats', type=int, default=7)
  args = parser.parse_args(argv)
  rows = [measure(name, args.vocab_size, args.batch, args.beam,
                  args.source_length, args.steps, args.repeats)
          for name in args.configs]
  print(format_table(rows, args))
  return 0


if __name__ == '__main__':
  sys.exit(main())
