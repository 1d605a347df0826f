"""Every knob of the pipeline, in one place.

`PipelineConfig` holds what a run needs (its field defaults describe the
word-level LSTM, `lstm`); `CONFIGS` names the configurations that ship with
the project (``default`` is the README's main job).
"""
import dataclasses
import os
from typing import Any, Dict, List, Mapping, Optional

from nmt_tfx import schemas
from nmt_tfx.pipeline import beam_profiles
from nmt_tfx.components.data import corpus
from nmt_tfx.components.model import native_bfloat16
from nmt_tfx.components.model import schedules
from nmt_tfx.components.model import transformer_layers
from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """A pipeline run: data, model, judging and where outputs go."""
  data_dir: str = 'data/multi30k'
  source_lang: str = 'en'
  target_lang: str = 'de'
  # Pipeline split -> file stem in data_dir (Multi30k's names by default), or
  # a glob of shard stems such as 'train-*' (components/data/corpus.py).
  split_stems: Dict[str, str] = dataclasses.field(default_factory=lambda: {
      'train': 'train', 'eval': 'val', 'test': 'test_2016_flickr'})
  # ExampleGen cuts uncompressed shards into ranges of this many lines, each
  # read by one Beam worker (gzip shards are read whole).
  lines_per_range: int = corpus.DEFAULT_LINES_PER_RANGE
  # The check before a run reads this many lines of every shard; ExampleGen
  # checks every line.
  data_check_lines: int = 10_000
  runs_dir: str = 'runs'
  schema_file: str = schemas.SCHEMA_FILE   # the curated raw-data schema.
  preprocessing: PreprocessingConfig = PreprocessingConfig()
  hparams: HParams = HParams()
  train_steps: int = 3000
  eval_steps: int = 16
  # Fraction of the examples StatisticsGen reads (None: all). For corpora of
  # millions of pairs a sample describes the data as well, at its cost.
  statistics_sample_rate: Optional[float] = None
  # The split the Evaluator blesses on. The Trainer picks weights and stops
  # early on `eval`, so blessing there would judge a model on the data that
  # chose it; `test` is used for nothing else.
  blessing_split: str = 'test'
  bleu_floor: float = 5.0          # on the blessing split, cased sacreBLEU.
  # A candidate below production is refused only if sacreBLEU's paired
  # bootstrap test finds the drop significant: p < this (0: never refuse).
  significance_level: float = 0.05
  # Infra validation refuses a candidate whose p95 latency at batch 1 or 64,
  # loaded in a fresh process as TF Serving will, exceeds this. Generous by
  # default; set it to what the serving deployment must meet.
  latency_budget_ms: float = 60_000.0
  num_samples: int = 10
  enable_cache: bool = True
  # Continue training from the model in production (the newest version in the
  # serving directory) when its vocabularies equal this run's; see
  # components/model/warm_start.py. On for the scheduled (Kubeflow) pipeline.
  warm_start: bool = False
  beam_pipeline_args: List[str] = dataclasses.field(
      default_factory=lambda: beam_profiles.beam_pipeline_args(
          beam_profiles.DEFAULT_LOCAL))

  @property
  def pipeline_name(self) -> str:
    return f'nmt-{self.source_lang}-{self.target_lang}'

  @property
  def run_dir(self) -> str:
    return os.path.join(os.path.abspath(self.runs_dir), self.pipeline_name)

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.run_dir, 'root')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.run_dir, 'metadata.sqlite')

  @property
  def serving_dir(self) -> str:
    """What TF Serving's --model_base_path points at."""
    return os.path.join(self.run_dir, 'serving', self.pipeline_name)

  def trainer_config(self) -> dict:
    """The Trainer's custom_config: the hyperparameters. (Preprocessing
    settings reach it recorded in Transform's graph.)"""
    return self.hparams.to_dict()


class ConfigError(ValueError):
  """An override names a setting that does not exist, or has the wrong kind."""


def check_fields(kind: type, values: Mapping[str, Any], where: str) -> dict:
  """`values` as a dict, if every key is a field of the dataclass `kind`."""
  known = {f.name for f in dataclasses.fields(kind)}
  unknown = sorted(set(values) - known)
  if unknown:
    raise ConfigError(f'{where}: unknown {", ".join(unknown)}; known: '
                      f'{", ".join(sorted(known))}')
  return dict(values)


# Splits a run reads; the defaults are Multi30k's file stems.
SPLITS = ('train', 'eval', 'test')


def merge(config: PipelineConfig, overrides: Mapping[str, Any],
          where: str = 'config') -> PipelineConfig:
  """`config` with `overrides` applied: PipelineConfig fields by name, and
  `hparams`, `preprocessing` and `split_stems` as mappings merged into the
  config's own. The one place settings are combined: every CLI calls it.
  Unknown names raise ConfigError, naming `where` and the known ones."""
  overrides = check_fields(PipelineConfig, overrides, where)
  if 'hparams' in overrides:
    overrides['hparams'] = dataclasses.replace(config.hparams, **check_fields(
        HParams, overrides['hparams'], f'{where}: hparams'))
  if 'preprocessing' in overrides:
    overrides['preprocessing'] = dataclasses.replace(
        config.preprocessing, **check_fields(
            PreprocessingConfig, overrides['preprocessing'],
            f'{where}: preprocessing'))
  if 'split_stems' in overrides:
    unknown = sorted(set(overrides['split_stems']) - set(SPLITS))
    if unknown:
      raise ConfigError(f'{where}: split_stems: unknown {", ".join(unknown)};'
                        f' known: {", ".join(SPLITS)}')
    overrides['split_stems'] = {**config.split_stems,
                                **overrides['split_stems']}
  return check_consistent(dataclasses.replace(config, **overrides), where)


def check_consistent(config: PipelineConfig,
                     where: str = 'config') -> PipelineConfig:
  """`config`, if its settings can work together; else ConfigError."""
  hparams, preprocessing = config.hparams, config.preprocessing
  if hparams.share_embeddings:
    if hparams.model != 'transformer':
      raise ConfigError(f'{where}: share_embeddings is a Transformer option, '
                        f'not one of model {hparams.model!r}')
    if not (preprocessing.tokenizer == 'wordpiece'
            and preprocessing.joint_vocabulary):
      raise ConfigError(
          f'{where}: share_embeddings needs one joint vocabulary for both '
          "languages (tokenizer 'wordpiece', joint_vocabulary true); got "
          f'tokenizer {preprocessing.tokenizer!r}, joint_vocabulary '
          f'{preprocessing.joint_vocabulary}. Set share_embeddings false to '
          'use two vocabularies')
  if hparams.output_matmul_dtype not in native_bfloat16.CHOICES:
    raise ConfigError(f'{where}: output_matmul_dtype must be float32, '
                      f'bfloat16 or auto; got {hparams.output_matmul_dtype!r}')
  if hparams.output_matmul_dtype != 'float32' and not (
      hparams.model == 'transformer' and hparams.tie_target_embeddings):
    raise ConfigError(
        f'{where}: output_matmul_dtype {hparams.output_matmul_dtype!r} is an '
        'option of the Transformer with tied target embeddings, not of '
        f'model {hparams.model!r} (tie_target_embeddings '
        f'{hparams.tie_target_embeddings})')
  if hparams.lr_schedule not in schedules.SCHEDULES:
    raise ConfigError(f'{where}: lr_schedule must be one of '
                      f'{", ".join(schedules.SCHEDULES)}; got '
                      f'{hparams.lr_schedule!r}')
  if not 0.0 <= hparams.lr_final_fraction <= 1.0:
    raise ConfigError(f'{where}: lr_final_fraction must be in [0, 1]; got '
                      f'{hparams.lr_final_fraction!r}')
  if hparams.transformer_norm not in transformer_layers.NORMS:
    raise ConfigError(f'{where}: transformer_norm must be one of '
                      f'{", ".join(transformer_layers.NORMS)}; got '
                      f'{hparams.transformer_norm!r}')
  try:
    hparams.epochs(config.train_steps)
  except ValueError as e:
    raise ConfigError(f'{where}: {e}') from None
  if not 0.0 < hparams.adam_beta2 < 1.0:
    raise ConfigError(f'{where}: adam_beta2 must be in (0, 1); got '
                      f'{hparams.adam_beta2!r}')
  return config


# Transformer-Tiny (Wu et al., ACL 2021), the best published recipe for
# small data such as Multi30k: 4+4 pre-norm layers of size 128, feed-forward
# 256, 4 heads, dropout 0.3, label smoothing 0.1; one joint WordPiece
# vocabulary of 10k whose embedding matrix is shared by source, target and
# output (2.5M parameters); Adam at a peak of 0.005 after a linear warm-up.
# Per token it is cheap: many passes over the data fit in a CPU budget. For a
# fixed budget the rate decays along a cosine to 1% at the last step (the
# published recipe's 1/sqrt(step) leaves it high, and the weights noisy, when
# a short run stops: two seeds of the default were 2.0 BLEU apart with it,
# 0.5 with the cosine, at the same mean; benchmarks/README.md).
SUBWORDS_10K = PreprocessingConfig(tokenizer='wordpiece',
                                   subword_vocab_size=10000)
TRANSFORMER_TINY = HParams(
    model='transformer', transformer_layers=4, transformer_heads=4,
    transformer_dim=128, transformer_ff_dim=256, share_embeddings=True,
    dropout=0.3, label_smoothing=0.1, learning_rate=5e-3,
    lr_schedule='cosine', warmup_steps=500, batch_tokens=4096,
    steps_per_epoch=200)

CONFIGS: Dict[str, PipelineConfig] = {
    # The README's main job: Multi30k En->De in about 15 minutes on 2 CPU
    # cores. Transformer-Tiny for 1,600 updates of 4,096 tokens (about 22
    # passes over Multi30k), weights chosen by validation BLEU every 200.
    'default': PipelineConfig(preprocessing=SUBWORDS_10K,
                              hparams=TRANSFORMER_TINY, train_steps=1600),
    # The default's layers regrouped as 6 in the encoder and 2 in the
    # decoder (Kasai et al., 2021, "Deep Encoder, Shallow Decoder"): the same
    # training cost, decoding (which runs the decoder once per token) in
    # about 0.8 of the default's time, and 1.5 BLEU below it at this budget
    # (benchmarks/README.md). For serving where decoding cost dominates.
    'deep_shallow': PipelineConfig(
        preprocessing=SUBWORDS_10K,
        hparams=dataclasses.replace(TRANSFORMER_TINY, transformer_layers=6,
                                    transformer_decoder_layers=2),
        train_steps=1600),
    # The same recipe for about 35 minutes of training on 2 CPU cores (the
    # budget of the peer comparison in benchmarks/README.md): 5,000 updates,
    # a longer warm-up, the last 5 checkpoints averaged.
    'transformer_tiny': PipelineConfig(
        preprocessing=SUBWORDS_10K,
        hparams=dataclasses.replace(TRANSFORMER_TINY, warmup_steps=1000,
                                    average_last_checkpoints=5),
        train_steps=5000),
    # The recipe's updates of about 8k tokens, for at most 2 hours of
    # training on 2 CPU cores: 6,000 updates (about 105 passes) on the
    # cosine after 1,000 warm-up steps, the output projection's training
    # matmuls in bfloat16 where the hardware has it (0.90x an update on an
    # AMX CPU), the last 10 checkpoints averaged. En-de, one run: 111 min
    # of training, test 38.5 cased; the published 8,000 updates at
    # 1/sqrt(step) after 2,000 scored 39.6 in 130 min (benchmarks/README.md).
    'long': PipelineConfig(
        preprocessing=SUBWORDS_10K,
        hparams=dataclasses.replace(TRANSFORMER_TINY, batch_tokens=8192,
                                    warmup_steps=1000,
                                    output_matmul_dtype='auto',
                                    average_last_checkpoints=10),
        train_steps=6000),
    # The word-level attention LSTM (BiLSTM encoder, 4.9M parameters) that
    # PipelineConfig's own defaults describe: the model the speed and scale
    # benchmarks measure.
    'lstm': PipelineConfig(),
    # The quality benchmark's attention LSTM: WordPiece subwords, a wider
    # model, label smoothing, cosine decay, weights chosen by validation BLEU
    # with checkpoint averaging. About 35 min of training on 2 CPU cores.
    'quality': PipelineConfig(
        preprocessing=PreprocessingConfig(tokenizer='wordpiece',
                                          subword_vocab_size=8000),
        hparams=HParams(embedding_dim=256, encoder_units=192,
                        decoder_units=384, attention_units=192, dropout=0.3,
                        label_smoothing=0.1, lr_schedule='cosine',
                        warmup_steps=200, steps_per_epoch=500,
                        average_last_checkpoints=3),
        train_steps=6000),
    # A wider Transformer (components/model/transformer.py) on word-level
    # vocabularies: 3+3 pre-norm layers, 4 heads, size 256, feed-forward 1024,
    # tied target embeddings.
    'transformer': PipelineConfig(
        hparams=HParams(model='transformer', transformer_layers=3,
                        transformer_heads=4, transformer_dim=256,
                        transformer_ff_dim=1024, dropout=0.1,
                        label_smoothing=0.1, lr_schedule='rsqrt',
                        warmup_steps=400)),
    # A minutes-long run for smoke tests: tiny model, few steps, no floor,
    # beam 2 (an untrained model decodes to the length cap: keep that cheap).
    'smoke': PipelineConfig(
        hparams=HParams(embedding_dim=32, encoder_units=32, decoder_units=64,
                        attention_units=32, steps_per_epoch=20, beam_size=2),
        train_steps=40, eval_steps=2, bleu_floor=0.0),
}
