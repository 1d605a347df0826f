"""Evaluator component: BLEU by real decoding through the exported signature.

The candidate and the model in production (the newest version in the serving
directory, read directly so this works on any orchestrator, with no Resolver)
translate the same splits with the same exported code; the blessing rule then
compares their BLEU on the blessing split. The report (report.py) adds BLEU
by source length, the candidate's attention on a few sentences and, when the
Trainer's model_run is wired in, its training curves.
"""
import dataclasses
import json
import os
import time
from typing import Dict, List, Optional, Tuple

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

from nmt_tfx.components.data import features
from nmt_tfx.components.evaluation import bleu
from nmt_tfx.components.evaluation import blessing as blessing_lib
from nmt_tfx.components.evaluation import report
from nmt_tfx.components.model import trainer
from nmt_tfx.components.model.export import SavedModelTranslator
from nmt_tfx.components.serving import model_dir


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


def evaluate(examples: Examples, candidate_dir: str, serving_dir: str,
             bleu_floor: float, regression_margin: float, blessing_split: str,
             report_splits: List[str], batch_size: int, num_samples: int,
             num_attention: int = 4) -> Tuple[blessing_lib.Verdict, dict]:
  """Scores candidate and production model; returns the verdict and report."""
  splits = list(dict.fromkeys([blessing_split] + report_splits))
  data = {split: read_split(examples, split) for split in splits}
  candidate = SavedModelTranslator(candidate_dir)
  scores, hypotheses = score_model(candidate, candidate_dir, data, batch_size)
  baseline_dir = model_dir.latest_version_dir(serving_dir)
  baseline_scores: Optional[Dict[str, bleu.Scores]] = None
  baseline_hypotheses: Dict[str, List[str]] = {}
  if baseline_dir:
    baseline_scores, baseline_hypotheses = score_model(
        SavedModelTranslator(baseline_dir), baseline_dir, data, batch_size)
  verdict = blessing_lib.judge(
      scores[blessing_split].bleu,
      baseline_scores[blessing_split].bleu if baseline_scores else None,
      bleu_floor, regression_margin)
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
      'production': baseline_dir,
      'production_scores': ({s: dataclasses.asdict(v)
                             for s, v in baseline_scores.items()}
                            if baseline_scores else None),
      'blessing_split': blessing_split,
      'bleu_floor': bleu_floor,
      'regression_margin': regression_margin,
      'blessed': verdict.blessed,
      'reason': verdict.reason,
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
  blessing.set_string_custom_property('current_model', model_uri)
  blessing.set_float_custom_property('bleu', result['scores'][split]['bleu'])
  if result['production_scores']:
    blessing.set_float_custom_property(
        'baseline_bleu', result['production_scores'][split]['bleu'])
    blessing.set_string_custom_property('baseline_model', result['production'])


@component
def BleuEvaluator(examples: InputArtifact[Examples],
                  model: InputArtifact[Model],
                  blessing: OutputArtifact[ModelBlessing],
                  evaluation: OutputArtifact[ModelEvaluation],
                  serving_dir: Parameter[str],
                  model_run: InputArtifact[ModelRun] = None,
                  bleu_floor: Parameter[float] = 0.0,
                  regression_margin: Parameter[float] = 1.0,
                  blessing_split: Parameter[str] = 'eval',
                  report_splits: Parameter[str] = 'eval,test',
                  batch_size: Parameter[int] = 64,
                  num_samples: Parameter[int] = 10,
                  num_attention: Parameter[int] = 4) -> None:
  """Blesses the model iff its BLEU clears the floor and does not regress.

  model_run (optional): the Trainer's, for the report's training curves.
  """
  candidate_dir = path_utils.serving_model_path(model.uri)
  verdict, result = evaluate(
      examples, candidate_dir, serving_dir, bleu_floor, regression_margin,
      blessing_split, [s for s in report_splits.split(',') if s], batch_size,
      num_samples, num_attention)
  logging.info('Blessing: %s', verdict.reason)
  result['training'] = read_training_summary(model_run)
  paths = report.write(result, evaluation.uri)

  write_blessing(blessing, verdict, result, model.uri)
  evaluation.set_string_custom_property('report',
                                       paths[report.REPORT_MARKDOWN])
  evaluation.set_string_custom_property('report_html',
                                       paths[report.REPORT_HTML])
