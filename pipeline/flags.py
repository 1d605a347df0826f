"""Command-line flags that choose and adjust a PipelineConfig.

Shared by the local runner (`nmt-tfx`) and the Kubeflow compiler, so that a
flag means the same in both; `config_from_flags` hands everything to
`configs.merge`, the one place settings are combined.
"""
import argparse
import json
from typing import Any, Dict

from nmt_tfx.components.model.hparams import HParams
from nmt_tfx.components.preprocessing import PreprocessingConfig
from nmt_tfx.pipeline import configs


def add_config_flags(parser: argparse.ArgumentParser) -> None:
  """The flags that set the corpus, the preprocessing, the model and the
  judging of a run (each defaults to the named configuration's value)."""
  parser.add_argument('--config', default='default',
                      choices=sorted(configs.CONFIGS),
                      help='named configuration (pipeline/configs.py)')
  parser.add_argument('--source-lang', help='source file suffix, e.g. en')
  parser.add_argument('--target-lang', help='target file suffix, e.g. de')
  stems = configs.PipelineConfig().split_stems
  for split in configs.SPLITS:
    parser.add_argument(
        f'--{split}', metavar='STEM', help=f'file stem of the {split} split in '
        f'the data directory, or a glob of shard stems such as "{split}-*" '
        f'(files STEM.<lang>[.gz]; default: {stems[split]})')
  parser.add_argument('--tokenizer', choices=['word', 'wordpiece'],
                      help='word vocabularies, or WordPiece subwords learned '
                      'from the training split')
  parser.add_argument('--vocab-size', type=int, help='vocabulary size: per '
                      'language for word, at most, in total for wordpiece')
  parser.add_argument('--preprocessing', default='{}', metavar='JSON',
                      help='JSON object overriding preprocessing settings '
                      '(components/preprocessing.py: PreprocessingConfig), '
                      'e.g. {"max_source_length": 80}')
  parser.add_argument('--hparams', default='{}', metavar='JSON',
                      help='JSON object overriding model hyperparameters '
                      '(components/model/hparams.py)')
  parser.add_argument('--train-steps', type=int)
  parser.add_argument('--bleu-floor', type=float,
                      help='least eval BLEU a model needs to be pushed')
  parser.add_argument('--significance-level', type=float,
                      help='refuse a candidate significantly below '
                      'production: paired bootstrap p below this (0: never)')
  parser.add_argument('--latency-budget-ms', type=float,
                      help='refuse a candidate whose p95 latency (batch 1 '
                      'or 64, loaded as TF Serving will) exceeds this')
  parser.add_argument('--schema-file', help='curated schema the raw data must '
                      'match (default: schemas/schema.pbtxt)')
  parser.add_argument('--warm-start', action=argparse.BooleanOptionalAction,
                      help='continue training from the model in production '
                      'when the vocabularies match')


def json_fields(text: str, flag: str, kind: type) -> Dict[str, Any]:
  """The JSON object `text`, whose keys must be fields of `kind`."""
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise configs.ConfigError(f'{flag}: not JSON ({e})') from None
  if not isinstance(value, dict):
    raise configs.ConfigError(f'{flag}: must be a JSON object, got {text!r}')
  return configs.check_fields(kind, value, flag)


def overrides_from_flags(args: argparse.Namespace) -> Dict[str, Any]:
  """What the flags set (PipelineConfig field names; see configs.merge)."""
  base = configs.CONFIGS[args.config]
  overrides = {name: value for name, value in {
      'source_lang': args.source_lang, 'target_lang': args.target_lang,
      'train_steps': args.train_steps, 'bleu_floor': args.bleu_floor,
      'significance_level': args.significance_level,
      'latency_budget_ms': args.latency_budget_ms,
      'schema_file': args.schema_file, 'warm_start': args.warm_start,
  }.items() if value is not None}
  stems = {split: getattr(args, split) for split in configs.SPLITS
           if getattr(args, split)}
  if stems:
    overrides['split_stems'] = stems
  preprocessing = {}
  if args.tokenizer:
    preprocessing['tokenizer'] = args.tokenizer
  if args.vocab_size:
    tokenizer = args.tokenizer or base.preprocessing.tokenizer
    preprocessing.update(
        {'subword_vocab_size': args.vocab_size} if tokenizer == 'wordpiece'
        else {'source_vocab_size': args.vocab_size,
              'target_vocab_size': args.vocab_size})
  preprocessing.update(json_fields(args.preprocessing, '--preprocessing',
                                   PreprocessingConfig))
  if preprocessing:
    overrides['preprocessing'] = preprocessing
  hparams = json_fields(args.hparams, '--hparams', HParams)
  if hparams:
    overrides['hparams'] = hparams
  return overrides


def config_from_flags(args: argparse.Namespace,
                      **settings: Any) -> configs.PipelineConfig:
  """The named configuration with the flags (then `settings`) applied;
  ConfigError names a flag or setting that does not exist."""
  return configs.merge(configs.CONFIGS[args.config],
                       {**overrides_from_flags(args), **settings},
                       where='flags')
