"""The Trainer's input pipeline on small synthetic transformed files."""
import collections
import numpy as np
import pytest
import tensorflow as tf

from nmt_tfx.components.model import inputs
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.components.text import vocabulary

SPEC = {
    **{k: tf.io.RaggedFeature(tf.int64, value_key=f'{k}$ragged_values',
                              partitions=[], row_splits_dtype=tf.int64)
       for k in inputs.SEQUENCES},
    'source_length': tf.io.FixedLenFeature([], tf.int64),
    'target_length': tf.io.FixedLenFeature([], tf.int64),
    'target_text': tf.io.FixedLenFeature([], tf.string)}
CAPS = PreprocessingConfig(max_source_length=10, max_target_length=10)


class _TransformOutput:
  """What the input pipeline uses of a TFTransformOutput."""

  def transformed_feature_spec(self):
    return dict(SPEC)


def _ints(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _record(source, target) -> bytes:
  """A transformed pair as Transform writes it; target_text names the ids."""
  text = ' '.join(map(str, source)).encode()
  return tf.train.Example(features=tf.train.Features(feature={
      'source_ids$ragged_values': _ints(source),
      'source_length': _ints([len(source)]),
      'target_in$ragged_values': _ints([vocabulary.BOS_ID] + target),
      'target_out$ragged_values': _ints(target + [vocabulary.EOS_ID]),
      'target_length': _ints([len(target) + 1]),
      'target_text': tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[text]))})).SerializeToString()


def _write(path, pairs):
  with tf.io.TFRecordWriter(str(path), 'GZIP') as writer:
    for source, target in pairs:
      writer.write(_record(source, target))
  return str(path)


def _files(tmp_path, count=4, per_file=24, seed=0):
  """`count` files; every id in file k is 4 + k; lengths 1..12 tokens."""
  rng = np.random.default_rng(seed)
  def pair(k):
    return ([4 + k] * int(rng.integers(1, 13)),
            [4 + k] * int(rng.integers(1, 12)))
  return [_write(tmp_path / f'data-{k}.gz',
                 [pair(k) for _ in range(per_file)]) for k in range(count)]


def _batches(files, hparams, plan, training, count):
  ds = inputs.make_dataset(files, _TransformOutput(), hparams, CAPS, plan,
                           training=training)
  return [(f['source_ids'].numpy(), f['target_in'].numpy(), labels.numpy())
          for f, labels in ds.take(count)]


def test_pairs_over_the_caps_are_dropped_not_truncated(tmp_path):
  long_source, long_target = [5] * 11, [6] * 10   # 11 > 10; 10 + EOS > 10
  files = [_write(tmp_path / 'd.gz', [([4] * 10, [7] * 9), (long_source, [8]),
                                      ([9], long_target), ([4, 5], [6, 7])])]
  plan = inputs.BatchPlan([], [2], 100, 0.0, 0)   # one bucket, 2 a batch
  (source, target_in, target_out), = _batches(files, HParams(), plan, False, 1)
  assert source.shape == (2, 10) and target_out.shape == (2, 10)
  assert target_out[0].tolist() == [7] * 9 + [vocabulary.EOS_ID]
  assert target_in[0].tolist() == [vocabulary.BOS_ID] + [7] * 9
  assert target_out[1].tolist() == [6, 7, vocabulary.EOS_ID] + [0] * 7


def test_batches_hold_the_token_budget_padded_to_their_longest(tmp_path):
  files = _files(tmp_path)
  hparams = HParams(batch_tokens=40, length_sample=1000)
  plan = inputs.plan_batches(files, hparams, CAPS)
  assert plan.batch_tokens == 40 and len(plan.batch_sizes) > 1
  batches = _batches(files, hparams, plan, True, 30)
  for source, target_in, target_out in batches:
    width = max(source.shape[1], target_in.shape[1])
    assert source.shape[0] * width <= 40
    assert source[:, -1].any() and target_out[:, -1].any()  # no extra PAD
  assert len({b[0].shape[0] for b in batches}) > 1   # sizes by bucket
  # The global budget is the per-replica budget times the replicas.
  three = inputs.plan_batches(files, hparams, CAPS, replicas=3)
  assert three.batch_tokens == 120 and three.batch_sizes == [
      120 // min(b - 1, 10) for b in three.boundaries] + [120 // 10]


def test_buckets_are_token_mass_quantiles_of_the_sample():
  lengths = np.repeat(np.arange(1, 41), 10)        # 1..40 tokens, uniform
  plan = inputs.plan_from_lengths(lengths, lengths, HParams(
      length_bucket_count=4), PreprocessingConfig(max_source_length=40,
                                                  max_target_length=40))
  assert len(plan.boundaries) == 3 and plan.over_cap == 0.0
  edges = [0] + plan.boundaries + [41]
  mass = [lengths[(lengths >= lo) & (lengths < hi)].sum()
          for lo, hi in zip(edges, edges[1:])]
  assert max(mass) < 1.3 * min(mass)               # similar token mass
  short = inputs.plan_from_lengths(lengths // 4 + 1, lengths // 4 + 1, HParams(
      length_bucket_count=4), PreprocessingConfig(max_source_length=40,
                                                  max_target_length=40))
  assert short.boundaries != plan.boundaries       # follows the data
  # sentences a batch = budget // the bucket's longest length
  budget = HParams().batch_tokens
  assert plan.batch_sizes == [budget // (b - 1) for b in plan.boundaries] + [
      budget // 40]


def test_over_cap_estimate_and_explicit_buckets():
  source, target = np.array([5, 5, 30, 5]), np.array([5, 40, 5, 5])
  plan = inputs.plan_from_lengths(source, target, HParams(
      length_buckets=(4, 8), batch_tokens=100), CAPS)
  assert plan.over_cap == 0.5 and plan.sampled == 4
  assert plan.boundaries == [4, 8] and plan.batch_sizes == [33, 14, 10]


def test_the_length_sample_is_bounded(tmp_path):
  files = _files(tmp_path)
  source, target = inputs.sample_lengths(files, HParams(length_sample=30))
  assert len(source) == len(target) == 30
  assert len(inputs.sample_lengths(files, HParams())[0]) == 4 * 24


def _ops(dataset):
  graph = tf.compat.v1.GraphDef()
  graph.ParseFromString(dataset._as_serialized_graph().numpy())  # pylint: disable=protected-access
  return {node.op for node in graph.node}


def test_no_cache_unless_asked(tmp_path):
  files = _files(tmp_path, count=1)
  plan = inputs.BatchPlan([], [4], 100, 0.0, 0)
  def ops(hparams):
    return _ops(inputs.make_dataset(files, _TransformOutput(), hparams, CAPS,
                                    plan, training=True))
  assert not any('Cache' in op for op in ops(HParams()))
  assert any('Cache' in op for op in ops(HParams(cache_dataset=True)))


def test_training_batches_mix_files_even_without_a_shuffle_buffer(tmp_path):
  files = _files(tmp_path)
  hparams = HParams(shuffle_buffer=1, interleave_files=4)
  plan = inputs.BatchPlan([], [8], 100, 0.0, 0)
  for source, _, _ in _batches(files, hparams, plan, True, 5):
    assert len(set(source[source > 0].tolist())) > 1   # ids name the file


def test_file_order_is_shuffled_every_pass(tmp_path):
  files = [_write(tmp_path / f'd-{k}.gz', [([4 + k], [4])]) for k in range(8)]
  hparams = HParams(shuffle_buffer=1, interleave_files=1)
  plan = inputs.BatchPlan([], [8], 100, 0.0, 0)
  passes = [tuple(s[:, 0]) for s, _, _ in _batches(files, hparams, plan,
                                                    True, 4)]
  # Training interleaves non-deterministically (read_records), so a record
  # may cross into a neighbouring batch at a pass boundary: every file is
  # read once a pass, give or take that one record, in an order that changes
  # from pass to pass.
  assert len(set(passes)) > 1
  counts = collections.Counter(v for p in passes for v in p)
  assert sorted(counts) == list(range(4, 12))
  assert all(abs(n - len(passes)) <= 1 for n in counts.values()), counts


@pytest.mark.parametrize('files,workers,policy', [
    (4, 2, tf.data.experimental.AutoShardPolicy.FILE),
    (1, 2, tf.data.experimental.AutoShardPolicy.DATA)])
def test_each_worker_reads_its_own_files_when_there_are_enough(
    tmp_path, files, workers, policy):
  plan = inputs.BatchPlan([], [4], 100, 0.0, 0)
  ds = inputs.make_dataset(_files(tmp_path, count=files), _TransformOutput(),
                           HParams(), CAPS, plan, training=True,
                           workers=workers)
  assert ds.options().experimental_distribute.auto_shard_policy == policy


def test_length_ordered_batches_cover_every_index_within_the_budget():
  lengths = [7, 1, 3, 9, 3, 2, 12]
  batches = inputs.length_ordered_batches(lengths, budget=12)
  assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
  flat = [lengths[i] for b in batches for i in b]
  assert flat == sorted(lengths)
  assert all(len(b) * max(lengths[i] for i in b) <= 12 for b in batches)


def test_validation_batches_are_a_bounded_sample_in_length_order(tmp_path):
  rng = np.random.default_rng(1)
  pairs = [([4 + int(i)] * int(n), [5]) for i, n in
           enumerate(rng.integers(1, 15, size=40))]
  files = _write(tmp_path / 'eval.gz', pairs)
  batches, references = inputs.make_validation_batches(
      files, _TransformOutput(), HParams(validation_sentences=30), CAPS, 40)
  assert len(references) == 30
  lengths = [int(n) for _, lengths in batches for n in lengths.numpy()]
  assert lengths == sorted(lengths) and max(lengths) == 10   # capped
  rows = [row[row > 0].tolist() for ids, _ in batches for row in ids.numpy()]
  expected = sorted((p[0] for p in pairs[:30]), key=lambda s: min(len(s), 10))
  for row, reference, source in zip(rows, references, expected):
    assert row == source[:10]                     # aligned with its target
    assert reference.split()[:10] == [str(i) for i in row]
  assert all(ids.shape[0] * ids.shape[1] <= 40 and ids.numpy()[:, -1].any()
             for ids, _ in batches)
