"""Flags -> PipelineConfig, through configs.merge (shared by both runners)."""
import argparse

import pytest

from nmt_tfx.pipeline import configs
from nmt_tfx.pipeline import flags


def config_of(*argv):
  parser = argparse.ArgumentParser()
  flags.add_config_flags(parser)
  return flags.config_from_flags(parser.parse_args(list(argv)))


def test_defaults_are_the_named_configuration():
  assert config_of() == configs.CONFIGS['default']
  assert config_of('--config', 'quality') == configs.CONFIGS['quality']


def test_split_stems_and_languages_by_flag():
  config = config_of('--train', 'corpus-*', '--test', 'newstest2014',
                     '--source-lang', 'de', '--target-lang', 'en')
  assert config.split_stems == {'train': 'corpus-*', 'eval': 'val',
                                'test': 'newstest2014'}
  assert (config.source_lang, config.target_lang) == ('de', 'en')


def test_tokenizer_and_vocabulary_size_by_flag():
  words = config_of('--config', 'lstm', '--vocab-size', '32000').preprocessing
  assert (words.tokenizer, words.source_vocab_size,
          words.target_vocab_size) == ('word', 32000, 32000)
  pieces = config_of('--config', 'lstm', '--tokenizer', 'wordpiece',
                     '--vocab-size', '16000')
  assert pieces.preprocessing.subword_vocab_size == 16000
  assert pieces.preprocessing.source_vocab_size == 20000  # untouched
  # The default and quality configurations already use WordPiece.
  for name in ('default', 'quality'):
    assert config_of('--config', name, '--vocab-size', '4000'
                     ).preprocessing.subword_vocab_size == 4000


@pytest.mark.parametrize('flags', [
    ['--tokenizer', 'word'],
    ['--preprocessing', '{"joint_vocabulary": false}'],
    ['--config', 'lstm', '--hparams', '{"share_embeddings": true}']])
def test_shared_embeddings_without_one_joint_vocabulary_are_refused(flags):
  # Refused before any stage runs, not when the Trainer builds the model.
  with pytest.raises(configs.ConfigError, match='share_embeddings'):
    config_of(*flags)


@pytest.mark.parametrize('hparams, message', [
    ('{"lr_schedule": "noam"}',
     "lr_schedule must be one of constant, rsqrt, cosine; got 'noam'"),
    ('{"lr_final_fraction": -0.1}',
     r'lr_final_fraction must be in \[0, 1\]; got -0.1'),
    ('{"adam_beta2": 1.0}', r'adam_beta2 must be in \(0, 1\); got 1.0'),
    ('{"transformer_norm": "sandwich"}',
     "transformer_norm must be one of pre, post; got 'sandwich'")])
def test_hyperparameters_that_cannot_run_are_refused_before_any_stage(
    hparams, message):
  with pytest.raises(configs.ConfigError, match=message):
    config_of('--hparams', hparams)


@pytest.mark.parametrize('flags, message', [
    (['--config', 'lstm', '--hparams', '{"output_matmul_dtype": "auto"}'],
     "output_matmul_dtype 'auto' is an option of the Transformer"),
    (['--hparams', '{"tie_target_embeddings": false, '
      '"output_matmul_dtype": "bfloat16"}'], 'tie_target_embeddings False'),
    (['--hparams', '{"output_matmul_dtype": "float16"}'],
     "output_matmul_dtype must be float32, bfloat16 or auto; got 'float16'")])
def test_output_matmul_dtype_is_refused_where_it_cannot_apply(flags, message):
  with pytest.raises(configs.ConfigError, match=message):
    config_of(*flags)


def test_train_steps_that_are_not_whole_epochs_are_refused():
  # The default validates every 200 steps: 1,300 would train 1,200.
  with pytest.raises(configs.ConfigError,
                     match='train_steps 1300 is not a whole number of epochs '
                     'of steps_per_epoch 200: set train_steps to 1200 or 1400'):
    config_of('--config', 'default', '--train-steps', '1300')
  assert config_of('--config', 'default',
                   '--train-steps', '1400').train_steps == 1400


def test_json_overrides_merge_into_the_named_configuration():
  config = config_of('--config', 'quality', '--preprocessing',
                     '{"max_source_length": 80}', '--hparams',
                     '{"dropout": 0.1}', '--train-steps', '10')
  quality = configs.CONFIGS['quality']
  assert config.preprocessing.max_source_length == 80
  assert config.preprocessing.tokenizer == 'wordpiece'
  assert config.hparams.dropout == 0.1
  assert config.hparams.encoder_units == quality.hparams.encoder_units
  assert config.train_steps == 10


@pytest.mark.parametrize('argv, message', [
    (['--preprocessing', '{"max_len": 80}'],
     r'--preprocessing: unknown max_len; known: .*max_source_length'),
    (['--hparams', '{"units": 8}'], r'--hparams: unknown units; known: '),
    (['--hparams', '[8]'], r'--hparams: must be a JSON object'),
    (['--preprocessing', '{max_source_length: 8}'], r'--preprocessing: not JSON'),
])
def test_unknown_or_malformed_overrides_are_refused(argv, message):
  with pytest.raises(configs.ConfigError, match=message):
    config_of(*argv)


def test_merge_refuses_unknown_settings_at_every_level():
  base = configs.CONFIGS['default']
  with pytest.raises(configs.ConfigError, match='x: unknown colour'):
    configs.merge(base, {'colour': 1}, where='x')
  with pytest.raises(configs.ConfigError, match='split_stems: unknown dev'):
    configs.merge(base, {'split_stems': {'dev': 'newsdev'}})
  assert configs.merge(base, {}) == base


def test_every_named_configuration_is_consistent():
  for name, config in configs.CONFIGS.items():
    assert configs.check_consistent(config, name) is config
