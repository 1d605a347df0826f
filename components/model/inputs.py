"""The Trainer's input pipeline: transformed TFRecords -> token-budget batches.

Built to stream corpora of any size in bounded memory:
  * the file list is shuffled every pass (training) and read by a parallel
    `interleave`; the records then pass a shuffle buffer, so the corpus is
    mixed even when the files are in order;
  * pairs longer than PreprocessingConfig.max_source_length /
    max_target_length tokens are dropped (never truncated);
  * batches hold a token budget (HParams.batch_tokens per replica):
    length buckets whose sentence count is budget // the bucket's longest
    length, each batch padded to its own longest sentence;
  * the bucket boundaries are token-mass quantiles of a bounded sample
    (HParams.length_sample examples, the same cost at any corpus size),
    which also estimates the share of pairs over the caps;
  * nothing is cached unless HParams.cache_dataset says so.
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

import numpy as np
import tensorflow as tf

from nmt_tfx.components.data import features
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.components.text import vocabulary

SEQUENCES = (features.SOURCE_IDS, features.TARGET_IN, features.TARGET_OUT)
LENGTHS = (features.SOURCE_LENGTH, features.TARGET_LENGTH)
LABEL = features.TARGET_OUT
MODEL_FEATURES = (features.SOURCE_IDS, features.TARGET_IN)


class BatchPlan(NamedTuple):
  """How examples are grouped: bucket_by_sequence_length's arguments."""
  boundaries: List[int]    # bucket i holds lengths in [b[i-1], b[i])
  batch_sizes: List[int]   # sentences per batch, one per bucket
  batch_tokens: int        # the budget (all replicas) the sizes come from
  over_cap: float          # share of the sampled pairs longer than the caps
  sampled: int             # pairs in the sample

  def to_dict(self) -> dict:
    return self._asdict()


def list_files(file_pattern) -> List[str]:
  """Sorted files matching a pattern or a list of patterns."""
  patterns = file_pattern if isinstance(file_pattern, list) else [file_pattern]
  files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
  if not files:
    raise ValueError(f'no transformed examples match {file_pattern}')
  return files


def read_records(files: Sequence[str], hparams: HParams, training: bool,
                 repeat: bool) -> tf.data.Dataset:
  """Serialized records, read `hparams.interleave_files` files at a time;
  in training the file order is shuffled every pass and the order of
  records across files is not deterministic."""
  names = tf.data.Dataset.from_tensor_slices(list(files))
  if training:
    names = names.shuffle(len(files), seed=hparams.seed,
                          reshuffle_each_iteration=True)
  if repeat:
    names = names.repeat()
  return names.interleave(
      lambda f: tf.data.TFRecordDataset(f, compression_type='GZIP'),
      cycle_length=min(len(files), hparams.interleave_files), block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)


def fits(example: Dict[str, tf.Tensor], preprocessing: PreprocessingConfig
         ) -> tf.Tensor:
  """True if neither side is longer than its cap."""
  return tf.logical_and(
      example[features.SOURCE_LENGTH] <= preprocessing.max_source_length,
      example[features.TARGET_LENGTH] <= preprocessing.max_target_length)


def example_length(example: Dict[str, tf.Tensor]) -> tf.Tensor:
  """max(source, target) tokens: the width a bucket pads to; int32 []."""
  return tf.cast(tf.maximum(example[features.SOURCE_LENGTH],
                            example[features.TARGET_LENGTH]), tf.int32)


def token_quantiles(lengths: np.ndarray, count: int, cap: int) -> List[int]:
  """Bucket boundaries splitting `lengths` [N] into `count` buckets of about
  equal token mass (sum of lengths); boundaries are exclusive upper bounds,
  strictly increasing, at most `cap`."""
  if not len(lengths) or count <= 1:
    return []
  ordered = np.sort(lengths)
  mass = np.cumsum(ordered) / ordered.sum()
  cuts = np.searchsorted(mass, np.arange(1, count) / count)
  bounds = {int(ordered[min(c, len(ordered) - 1)]) + 1 for c in cuts}
  return sorted(b for b in bounds if b <= cap)


def plan_from_lengths(source_length: np.ndarray, target_length: np.ndarray,
                      hparams: HParams, preprocessing: PreprocessingConfig,
                      replicas: int = 1) -> BatchPlan:
  """The batch plan for a sample of lengths [N] (each side's tokens)."""
  cap = max(preprocessing.max_source_length, preprocessing.max_target_length)
  kept = ((source_length <= preprocessing.max_source_length) &
          (target_length <= preprocessing.max_target_length))
  lengths = np.maximum(source_length, target_length)[kept]
  boundaries = [int(b) for b in hparams.length_buckets] or token_quantiles(
      lengths, hparams.length_bucket_count, cap)
  budget = hparams.batch_tokens * replicas
  longest = [min(b - 1, cap) for b in boundaries] + [cap]
  return BatchPlan(boundaries=boundaries,
                   batch_sizes=[max(1, budget // max(1, n)) for n in longest],
                   batch_tokens=budget,
                   over_cap=float(1 - kept.mean()) if len(kept) else 0.0,
                   sampled=int(len(kept)))


def sample_lengths(files: Sequence[str], hparams: HParams
                   ) -> Tuple[np.ndarray, np.ndarray]:
  """(source_length, target_length) [N] of the first `hparams.length_sample`
  records read from the interleaved files (deterministically)."""
  spec = {k: tf.io.FixedLenFeature([], tf.int64) for k in LENGTHS}
  ds = read_records(files, hparams, training=False, repeat=False)
  ds = ds.take(hparams.length_sample).batch(1024).map(
      lambda r: tf.io.parse_example(r, spec))
  parts = list(ds.as_numpy_iterator())
  return tuple(np.concatenate([p[k] for p in parts]) if parts
               else np.zeros([0], np.int64) for k in LENGTHS)


def plan_batches(file_pattern, hparams: HParams,
                 preprocessing: PreprocessingConfig, replicas: int = 1
                 ) -> BatchPlan:
  """The batch plan, from a bounded sample of the files' lengths."""
  return plan_from_lengths(*sample_lengths(list_files(file_pattern), hparams),
                           hparams, preprocessing, replicas)


def _feature_spec(tf_transform_output, keys) -> dict:
  spec = tf_transform_output.transformed_feature_spec()
  return {k: spec[k] for k in keys}


def _to_model_inputs(batch: Dict[str, tf.Tensor]):
  return {k: batch[k] for k in MODEL_FEATURES}, batch[LABEL]


def make_dataset(file_pattern, tf_transform_output, hparams: HParams,
                 preprocessing: PreprocessingConfig, plan: BatchPlan,
                 training: bool, workers: int = 1) -> tf.data.Dataset:
  """Transformed TFRecords -> endless (features, labels) batches: features
  source_ids [B, S], target_in [B, T]; labels target_out [B, T]; S and T
  the longest in the batch; B from `plan`'s bucket of the batch.

  workers: input pipelines of a multi-worker strategy; each reads its own
  files when there are at least that many, else its own share of records.
  """
  files = list_files(file_pattern)
  spec = _feature_spec(tf_transform_output, SEQUENCES + LENGTHS)
  cache = hparams.cache_dataset
  ds = read_records(files, hparams, training, repeat=not cache)
  ds = ds.map(lambda r: tf.io.parse_single_example(r, spec),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  ds = ds.filter(lambda x: fits(x, preprocessing))
  if cache:
    ds = ds.cache().repeat()
  if training:
    ds = ds.shuffle(hparams.shuffle_buffer, seed=hparams.seed,
                    reshuffle_each_iteration=True)
  ds = ds.bucket_by_sequence_length(
      example_length, bucket_boundaries=plan.boundaries,
      bucket_batch_sizes=plan.batch_sizes)
  ds = ds.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.FILE if len(files) >= workers
      else tf.data.experimental.AutoShardPolicy.DATA)
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _padded(rows: Sequence[np.ndarray]) -> np.ndarray:
  """Rows of ids -> [len(rows), longest] int64, PAD after each row."""
  out = np.full([len(rows), max(1, max(len(r) for r in rows))],
                vocabulary.PAD_ID, np.int64)
  for i, row in enumerate(rows):
    out[i, :len(row)] = row
  return out


def length_ordered_batches(lengths: Sequence[int], budget: int
                           ) -> List[List[int]]:
  """Indices grouped into batches in order of length (shortest first);
  each batch's size x its longest length stays within `budget` (a batch
  holds at least one)."""
  batches, current = [], []
  for i in np.argsort(np.asarray(lengths), kind='stable'):
    if current and (len(current) + 1) * max(1, lengths[int(i)]) > budget:
      batches.append(current)
      current = []
    current.append(int(i))
  return batches + ([current] if current else [])


def make_validation_batches(file_pattern, tf_transform_output,
                            hparams: HParams,
                            preprocessing: PreprocessingConfig,
                            budget: int
                            ) -> Tuple[List[Tuple[tf.Tensor, tf.Tensor]],
                                       List[str]]:
  """The first `hparams.validation_sentences` eval examples (0: all) ->
  ((source_ids [B, S], source_length [B]) batches in order of source
  length, within `budget` tokens each; the raw target texts, aligned).
  Sources are truncated to max_source_length, as the served model does."""
  spec = _feature_spec(tf_transform_output,
                       (features.SOURCE_IDS, features.SOURCE_LENGTH,
                        features.TARGET_TEXT))
  ds = tf.data.TFRecordDataset(list_files(file_pattern),
                               compression_type='GZIP')
  if hparams.validation_sentences:
    ds = ds.take(hparams.validation_sentences)
  ds = ds.map(lambda r: tf.io.parse_single_example(r, spec))
  sources, references = [], []
  for example in ds.as_numpy_iterator():
    sources.append(
        example[features.SOURCE_IDS][:preprocessing.max_source_length])
    references.append(example[features.TARGET_TEXT].decode('utf-8'))
  batches, ordered = [], []
  for indices in length_ordered_batches([len(s) for s in sources], budget):
    rows = [sources[i] for i in indices]
    batches.append((tf.constant(_padded(rows)),
                    tf.constant([len(r) for r in rows], tf.int64)))
    ordered.extend(references[i] for i in indices)
  return batches, ordered
