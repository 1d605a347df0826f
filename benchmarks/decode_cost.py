"""Decoding cost per sentence of named configurations' models, side by side.

  .venv/bin/python -m benchmarks.decode_cost --configs default quality

What TF Serving spends on a batch, without the text ends: encode a batch of
B source sentences of S tokens once, copy each one's state to its K
hypotheses, then L `decode_step`s over the B x K hypotheses in one
tf.while_loop traced for any batch and length (as the exported signatures
are), each followed by the reordering of
the decoder state that beam search does when hypotheses change parents (its
cost depends on the model: an LSTM's state is a vector per hypothesis, a
Transformer's every cached key and value). The rest of
`decoding.beam_search`'s bookkeeping is the same code for every model and
is left out.
Random weights and a fixed number of steps, so the models are compared at
equal output lengths: a trained model's lengths depend on its training.
Prints a markdown table: milliseconds a batch and a sentence (median over
--repeats rounds, after one traced call), and each configuration's cost
against the first one's timed in the same round.
"""
import argparse
import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def build_decoder(config_name: str, vocab_size: int, batch: int, beam: int,
                  source_length: int, steps: int):
  """-> (decode, source, parameters): decode(source) runs encode + `steps`
  decode steps of the configuration's model, traced once."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.data import features  # pylint: disable=g-import-not-at-top
  from nmt_tfx.components.model import decoding  # pylint: disable=g-import-not-at-top
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

  # As served: batch and lengths unknown when traced, one tf.while_loop
  # whose state changes shape every step.
  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64)])
  def decode(source_ids):
    # Each sentence encoded once, then its state copied to its K
    # hypotheses, as decoding.beam_search does.
    encoded, keys = tf.nest.map_structure(
        lambda t: tf.repeat(t, beam, axis=0), model.encode(source_ids))
    state = encoded.state
    hypotheses = tf.shape(source_ids)[0] * beam
    tokens = tf.fill([hypotheses], tf.constant(vocabulary.BOS_ID, tf.int64))
    total = tf.zeros([hypotheses])
    # Every hypothesis continues its neighbour in the beam: a full reorder.
    rows = tf.reshape(tf.roll(tf.reshape(tf.range(hypotheses), [-1, beam]),
                              1, axis=1), [-1])
    for _ in tf.range(steps):
      tf.autograph.experimental.set_loop_options(
          shape_invariants=[(state, decoding.any_shape(state))])
      log_probs, state, _ = model.decode_step(tokens, state, encoded, keys)
      state = tf.nest.map_structure(lambda t: tf.gather(t, rows), state)
      tokens = tf.argmax(log_probs, -1)
      total += tf.reduce_max(log_probs, -1)
    return total

  decode(source).numpy()   # traced once
  params = sum(int(tf.size(v)) for v in model.trainable_variables)
  return decode, source, params


def measure(config_names, vocab_size: int, batch: int, beam: int,
            source_length: int, steps: int, repeats: int) -> list:
  """One row per configuration: milliseconds for one batch (median), and
  its cost against the first configuration's in the same round (median and
  range of the rounds' ratios; `measure.time_in_turn`)."""
  from benchmarks import measure as measure_lib  # pylint: disable=g-import-not-at-top
  decoders = [build_decoder(name, vocab_size, batch, beam, source_length,
                            steps) for name in config_names]
  timed = measure_lib.time_in_turn(
      [lambda d=d, s=s: d(s).numpy() for d, s, _ in decoders], repeats)
  rows = []
  for name, t, (_, _, params) in zip(config_names, timed, decoders):
    rows.append({'config': name, 'params': params,
                 'batch_ms': 1000 * t.median_s,
                 'sentence_ms': 1000 * t.median_s / batch,
                 'ratio': t.ratio, 'ratio_range': t.ratio_range,
                 'slower_rounds': t.slower_rounds})
  return rows


def format_table(rows, args) -> str:
  from benchmarks import measure as measure_lib  # pylint: disable=g-import-not-at-top
  return measure_lib.in_turn_table(
      f'batch {args.batch} x beam {args.beam}, source {args.source_length}'
      f' tokens, {args.steps} decode steps, vocabulary {args.vocab_size}'
      f' ({args.repeats} rounds, each configuration once a round)',
      ['ms a batch (median)', 'ms a sentence'], rows,
      lambda r: [f"{r['batch_ms']:.0f}", f"{r['sentence_ms']:.2f}"],
      args.repeats)


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
  parser.add_argument('--repeats', type=int, default=15,
                      help='rounds')
  args = parser.parse_args(argv)
  rows = measure(args.configs, args.vocab_size, args.batch, args.beam,
                 args.source_length, args.steps, args.repeats)
  print(format_table(rows, args))
  return 0


if __name__ == '__main__':
  sys.exit(main())
