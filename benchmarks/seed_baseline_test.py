"""The speed benchmark's comparators compute the same things as the project:
the Python-loop decoder finds the same hypotheses as the in-graph beam
search, and the seed-style train step learns, one graph per target length."""
import numpy as np
import tensorflow as tf

from nmt_tfx.components.model import decoding
from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model.hparams import HParams

from benchmarks import measure
from benchmarks import seed_baseline

SMALL = HParams(embedding_dim=16, encoder_units=8, decoder_units=12,
                attention_units=10, dropout=0.0)


def _sharp_model():
  tf.random.set_seed(5)
  model = seq2seq.AttentionSeq2Seq(30, 40, SMALL)
  source = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 12, 13]], tf.int64)
  model({'source_ids': source, 'target_in': tf.constant([[2]] * 3, tf.int64)})
  model.decoder.project.kernel.assign(model.decoder.project.kernel * 20.0)
  return model, source


def test_python_loop_finds_what_the_graph_beam_search_finds():
  model, source = _sharp_model()
  for beam in (1, 4):
    graph = decoding.beam_search(model, source, tf.constant(9), beam, 0.0)
    expected = [row[:n].tolist() for row, n in
                zip(graph.ids.numpy(), graph.lengths.numpy())]
    assert seed_baseline.python_loop_decode(model, source, 9, beam) == expected
    assert any(expected), 'degenerate: every hypothesis empty'


def test_seed_style_step_learns_with_one_graph_per_target_length():
  model = seed_baseline.SeedStyleSeq2Seq(30, 40, SMALL)
  step = seed_baseline.make_train_step(model, tf.keras.optimizers.Adam(0.05))
  batches = []
  for length in (3, 5):
    target = tf.constant(np.random.RandomState(length).randint(4, 40, [4, length]))
    batches.append(({'source_ids': tf.constant([[5, 6, 7]] * 4, tf.int64),
                     'target_in': target}, target))
  first = [float(step(*b)) for b in batches]
  for _ in range(30):
    last = [float(step(*b)) for b in batches]
  assert all(l < 0.5 * f for f, l in zip(first, last)), (first, last)


def test_training_flops_counts_real_tokens_only():
  features = {'source_ids': tf.constant([[5, 6, 0], [7, 0, 0]], tf.int64)}
  labels = tf.constant([[4, 3, 0, 0], [5, 6, 3, 0]], tf.int64)
  src, tgt = measure.lengths(features, labels)
  assert src.numpy().tolist() == [2, 1] and tgt.numpy().tolist() == [2, 3]
  hp = HParams(embedding_dim=1, encoder_units=1, decoder_units=1,
               attention_units=1)
  # Per real token, with every size 1 and a vocabulary of 10:
  # source 2*2*2*4 + 2*2 = 36, target 2*2*4 + 2 + 2*3 + 2*10 = 44,
  # each source-target pair 2*3 = 6; backward doubles the forward pass.
  expected = 3 * (3 * 36 + 5 * 44 + (2 * 2 + 1 * 3) * 6)
  assert measure.training_flops(src, tgt, hp, 10) == expected
