"""Evaluator component: BLEU by real decoding through the exported signature.

The candidate and the model in production (the newest version in the serving
directory, read directly so this works on any orchestrator, with no Resolver)
translate the same splits with the same exported code; the blessing rule then
compares them on the blessing split (blessing.py: a BLEU floor, and a paired
bootstrap test against production, significance.py). A model in production
that cannot be loaded is reported and left out: the candidate is then judged
on the floor alone, so a blessed one replaces it. Before it is blessed, the
candidate must also load and answer in time in a fresh process, as TF
Serving will run it (infra_validation.py). The report (report.py) adds BLEU
by source length, the candidate's attention on a few sentences and, when the
Trainer's model_run is wired in, its training curves.
"""
import dataclasses
import json
import os
import time
from typing import Dict, List, NamedTuple, Optional, Tuple

from absl import logging
import numpy as np
import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.annotations import OutputArtifact
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import Examples
from tfx.types.standard_artifacts import Model
from tfx.types.standard_artifacts import ModelBlessing
from tfx.types.standard_artifacts import ModelEvaluation
from tfx.types.standard_artifacts import ModelRun
from tfx.utils import path_utils

from nmt_tfx.components.data import example_gen
from nmt_tfx.components.data import features
from nmt_tfx.components.evaluation import bleu
from nmt_tfx.components.evaluation import blessing as blessing_lib
from nmt_tfx.components.evaluation import infra_validation
from nmt_tfx.components.evaluation import report
from nmt_tfx.components.evaluation import significance
from nmt_tfx.components.model import loading
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model.export import SavedModelTranslator
from nmt_tfx.components.serving import model_dir
from nmt_tfx.components.serving import version_record


def read_split(examples: Examples, split: str) -> Tuple[List[str], List[str]]:
  """(sources, references) of an ExampleGen split, in file order."""
  pattern = os.path.join(artifact_utils.get_split_uri([examples], split), '*')
  sources, references = [], []
  for path in sorted(tf.io.gfile.glob(pattern)):
    for record in tf.data.TFRecordDataset(path, compression_type='GZIP'):
      example = tf.train.Example.FromString(record.numpy())
      feature = example.features.feature
      sources.append(feature[features.SOURCE].bytes_list.value[0].decode('utf-8'))
      references.append(feature[features.TARGET].bytes_list.value[0].decode('utf-8'))
  return sources, references


def score_model(translate: SavedModelTranslator, export_dir: str,
                data: Dict[str, Tuple[List[str], List[str]]],
                batch_size: int) -> Tuple[Dict[str, bleu.Scores],
                                          Dict[str, List[str]]]:
  """Decodes every split with the exported model; returns scores, outputs."""
  scores, hypotheses = {}, {}
  for split, (sources, references) in data.items():
    start = time.time()
    hypotheses[split] = translate(sources, batch_size=batch_size)
    seconds = time.time() - start
    scores[split] = bleu.corpus_scores(hypotheses[split], references)
    logging.info('%s on %s: BLEU %.2f (%d sentences decoded in %.1f s)',
                 export_dir, split, scores[split].bleu, len(sources), seconds)
    scores[split] = dataclasses.replace(scores[split], decode_seconds=seconds)
  return scores, hypotheses


def bucket_report(data: Dict[str, Tuple[List[str], List[str]]],
                  hypotheses: Dict[str, List[str]],
                  baseline_hypotheses: Dict[str, List[str]]) -> dict:
  """split -> {'candidate': rows, 'production': rows or None} of BLEU and
  chrF by source-length bucket."""
  def rows(outputs, split):
    sources, references = data[split]
    return [dataclasses.asdict(b) for b in
            bleu.bucket_scores(sources, outputs[split], references)]
  return {split: {'candidate': rows(hypotheses, split),
                  'production': (rows(baseline_hypotheses, split)
                                 if baseline_hypotheses else None)}
          for split in data}


def attention_report(translate: SavedModelTranslator, sources: List[str],
                     translations: List[str], count: int) -> List[dict]:
  """The model's attention on its translations of the first `count`
  non-empty sources; [] if it was exported without attention."""
  picked = [i for i, s in enumerate(sources) if s.split()][:count]
  maps = translate.attention([sources[i] for i in picked],
                             [translations[i] for i in picked]) or []
  return [{'source': sources[i], 'translation': translations[i],
           'source_tokens': m.source_tokens, 'target_tokens': m.target_tokens,
           'weights': np.round(m.weights.astype(np.float64), 4).tolist()}
          for i, m in zip(picked, maps)]


def read_training_summary(model_run: Optional[ModelRun]) -> Optional[dict]:
  """The Trainer's training_summary.json, if its model_run was given."""
  if model_run is None:
    return None
  path = os.path.join(model_run.uri, trainer.TRAINING_SUMMARY)
  if not tf.io.gfile.exists(path):
    logging.warning('No training summary at %s', path)
    return None
  with tf.io.gfile.GFile(path) as f:
    return json.load(f)


class Production(NamedTuple):
  """The model in production: its directory (None: there is none yet), its
  translator if it loads, else why it does not."""
  path: Optional[str]
  translate: Optional[SavedModelTranslator] = None
  error: Optional[str] = None


def load_production(serving_dir: str) -> Production:
  """The newest version in serving_dir, loaded; a version that cannot be
  loaded is logged as a warning and reported, not raised."""
  path = model_dir.latest_version_dir(serving_dir)
  if not path:
    return Production(None)
  try:
    return Production(path, loading.load(path, SavedModelTranslator))
  except loading.UnloadableModelError as e:
    error = f'production model {e}'
    logging.warning('%s; judging the candidate on the floor alone', error)
    return Production(path, error=error)


def run_language_pair(examples: Examples, split: str) -> Optional[str]:
  """'en-de' from ExampleGen's record of the split (None if it has none)."""
  stats = example_gen.read_stats(examples.uri, split)
  return (example_gen.language_pair(stats['source_lang'], stats['target_lang'])
          if stats and 'source_lang' in stats else None)


def language_pair_mismatch(production_path: Optional[str],
                           pair: Optional[str]) -> Optional[str]:
  """Why the production model cannot be this run's baseline, if it
  translates another language pair (as its version record says)."""
  served = version_record.language_pair(
      version_record.read(production_path) if production_path else None)
  if served is None or pair is None or served == pair:
    return None
  return (f'the production model {production_path} translates {served}; this '
          f'run\'s data is {pair}: give {pair} a serving directory of its own')


def compare_with_production(
    hypotheses: List[str], baseline_hypotheses: Optional[List[str]],
    references: List[str], rule: blessing_lib.Rule
) -> Optional[significance.Comparison]:
  """The paired bootstrap test of the two models' translations of the
  blessing split; None without production translations."""
  if baseline_hypotheses is None:
    return None
  comparison = significance.paired_bootstrap(
      hypotheses, baseline_hypotheses, references, rule.bootstrap_samples,
      rule.bootstrap_seed)
  logging.info('Paired bootstrap against production: p = %.4f (%s)',
               comparison.p_value, comparison.signature)
  return comparison


def validate_infra(candidate_dir: str, sources: List[str],
                   budget: Optional[infra_validation.Budget]
                   ) -> Optional[infra_validation.Result]:
  """Infra validation of the candidate on the first of `sources` (None
  without a budget)."""
  if budget is None:
    return None
  result = infra_validation.validate(candidate_dir,
                                     sources[:max(budget.batch_sizes)], budget)
  (logging.info if result.ok else logging.warning)('Infra validation: %s',
                                                   result.reason)
  return result


def evaluate(examples: Examples, candidate_dir: str, serving_dir: str,
             rule: blessing_lib.Rule, blessing_split: str,
             report_splits: List[str], batch_size: int, num_samples: int,
             num_attention: int = 4,
             infra: Optional[infra_validation.Budget] = None
             ) -> Tuple[blessing_lib.Verdict, dict]:
  """Scores candidate and production model, and with an `infra` budget
  validates the candidate for serving; returns the verdict and report."""
  splits = list(dict.fromkeys([blessing_split] + report_splits))
  data = {split: read_split(examples, split) for split in splits}
  candidate = SavedModelTranslator(candidate_dir)
  scores, hypotheses = score_model(candidate, candidate_dir, data, batch_size)
  pair = run_language_pair(examples, blessing_split)
  mismatch = language_pair_mismatch(model_dir.latest_version_dir(serving_dir),
                                    pair)
  production = (Production(model_dir.latest_version_dir(serving_dir))
                if mismatch else load_production(serving_dir))
  baseline_scores: Optional[Dict[str, bleu.Scores]] = None
  baseline_hypotheses: Dict[str, List[str]] = {}
  if production.translate:
    baseline_scores, baseline_hypotheses = score_model(
        production.translate, production.path, data, batch_size)
  comparison = compare_with_production(
      hypotheses[blessing_split], baseline_hypotheses.get(blessing_split),
      data[blessing_split][1], rule)
  verdict = blessing_lib.require_language_pair(blessing_lib.judge(
      scores[blessing_split].bleu, rule, comparison, production.error),
                                              mismatch)
  served = validate_infra(candidate_dir, data[blessing_split][0], infra)
  verdict = blessing_lib.require_servable(
      verdict, None if served is None or served.ok else served.reason)
  sample_split = report_splits[-1]
  sources, references = data[sample_split]
  samples = [{'source': sources[i], 'reference': references[i],
              'translation': hypotheses[sample_split][i],
              **({'production': baseline_hypotheses[sample_split][i]}
                 if baseline_hypotheses else {})}
             for i in range(min(num_samples, len(sources)))]
  result = {
      'candidate': candidate_dir,
      'scores': {s: dataclasses.asdict(v) for s, v in scores.items()},
      'production': production.path,
      'production_error': production.error or mismatch,
      'language_pair': pair,
      'production_scores': ({s: dataclasses.asdict(v)
                             for s, v in baseline_scores.items()}
                            if baseline_scores else None),
      'blessing_split': blessing_split,
      'bleu_floor': rule.floor,
      'significance_level': rule.significance_level,
      'comparison': dataclasses.asdict(comparison) if comparison else None,
      'blessed': verdict.blessed,
      'reason': verdict.reason,
      'decided_by': verdict.decided_by,
      'p_value': verdict.p_value,
      'infra_validation': dataclasses.asdict(served) if served else None,
      'samples': samples,
      'buckets': bucket_report(data, hypotheses, baseline_hypotheses),
      'attention': attention_report(candidate, sources,
                                    hypotheses[sample_split], num_attention),
  }
  return verdict, result


def write_blessing(blessing: ModelBlessing, verdict: blessing_lib.Verdict,
                   result: dict, model_uri: str) -> None:
  """The BLESSED or NOT_BLESSED marker file and the blessing's properties.
  On Kubeflow nothing creates the artifact's directory beforehand."""
  tf.io.gfile.makedirs(blessing.uri)
  marker = 'BLESSED' if verdict.blessed else 'NOT_BLESSED'
  with tf.io.gfile.GFile(os.path.join(blessing.uri, marker), 'w') as f:
    f.write(verdict.reason + '\n')
  split = result['blessing_split']
  blessing.set_int_custom_property('blessed', int(verdict.blessed))
  blessing.set_string_custom_property('reason', verdict.reason)
  blessing.set_string_custom_property('decided_by', verdict.decided_by)
  if verdict.p_value is not None:
    blessing.set_float_custom_property('p_value', verdict.p_value)
  if result['infra_validation']:
    blessing.set_string_custom_property('infra_validation',
                                        result['infra_validation']['reason'])
  blessing.set_string_custom_property('current_model', model_uri)
  blessing.set_string_custom_property('blessing_split', split)
  if result['language_pair']:
    blessing.set_string_custom_property('language_pair',
                                        result['language_pair'])
  blessing.set_float_custom_property('bleu', result['scores'][split]['bleu'])
  if result['production']:
    # The production version this verdict was made against, compared or not
    # (the Pusher publishes only while it is still production).
    blessing.set_string_custom_property('baseline_model', result['production'])
    blessing.set_int_custom_property(
        'baseline_version', int(os.path.basename(result['production'])))
  if result['production_scores']:
    blessing.set_float_custom_property(
        'baseline_bleu', result['production_scores'][split]['bleu'])
  if result['production_error']:
    blessing.set_string_custom_property('production_error',
                                        result['production_error'])


@component
def BleuEvaluator(examples: InputArtifact[Examples],
                  model: InputArtifact[Model],
                  blessing: OutputArtifact[ModelBlessing],
                  evaluation: OutputArtifact[ModelEvaluation],
                  serving_dir: Parameter[str],
                  # Required: their defaults are PipelineConfig's, set once.
                  bleu_floor: Parameter[float],
                  significance_level: Parameter[float],
                  blessing_split: Parameter[str],
                  latency_budget_ms: Parameter[float],
                  num_samples: Parameter[int],
                  model_run: InputArtifact[ModelRun] = None,
                  bootstrap_samples: Parameter[int] = (
                      significance.DEFAULT_SAMPLES),
                  bootstrap_seed: Parameter[int] = significance.DEFAULT_SEED,
                  report_splits: Parameter[str] = 'eval,test',
                  batch_size: Parameter[int] = 64,
                  num_attention: Parameter[int] = 4,
                  infra_requests: Parameter[int] = 10) -> None:
  """Blesses the model iff its BLEU on the blessing split clears the floor
  and is not significantly below production's (blessing.py), and it serves:
  it loads in a fresh process and its p95 latency at batch 1 and 64 is
  within latency_budget_ms (infra_validation.py).

  model_run (optional): the Trainer's, for the report's training curves.
  """
  candidate_dir = path_utils.serving_model_path(model.uri)
  rule = blessing_lib.Rule(bleu_floor, significance_level, bootstrap_samples,
                           bootstrap_seed)
  verdict, result = evaluate(
      examples, candidate_dir, serving_dir, rule, blessing_split,
      [s for s in report_splits.split(',') if s], batch_size, num_samples,
      num_attention, infra_validation.Budget(latency_budget_ms,
                                             requests=infra_requests))
  logging.info('Blessing: %s', verdict.reason)
  result['training'] = read_training_summary(model_run)
  paths = report.write(result, evaluation.uri)

  write_blessing(blessing, verdict, result, model.uri)
  evaluation.set_string_custom_property('report',
                                       paths[report.REPORT_MARKDOWN])
  evaluation.set_string_custom_property('report_html',
                                       paths[report.REPORT_HTML])
  blessing.set_string_custom_property('report', paths[report.REPORT_HTML])
