"""Renders the Evaluator's result for people: report.md, and report.html with
every figure embedded (one file to open or mail), the PNGs beside them.

`result` is what the Evaluator writes to report.json; keys added after the
first version (buckets, attention, training) may be missing.
"""
import base64
import html
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from nmt_tfx.components.evaluation import plots

REPORT_JSON = 'report.json'
REPORT_MARKDOWN = 'report.md'
REPORT_HTML = 'report.html'
BUCKETS_PNG = 'buckets.png'
TRAINING_PNG = 'training.png'
ATTENTION_PNG = 'attention-{}.png'   # numbered from 1

Table = Tuple[List[str], List[List[str]]]   # header, rows of cells


def _number(value: Optional[float], digits: int = 2) -> str:
  return '-' if value is None else f'{value:.{digits}f}'


# --- What the report says, as plain tables (Markdown and HTML draw them) ----

def verdict_line(result: dict) -> str:
  return (f"{'BLESSED' if result['blessed'] else 'NOT BLESSED'}: "
          f"{result['reason']}")


def rule_line(result: dict) -> str:
  """The blessing rule the verdict applied."""
  rule = f"{result['blessing_split']} BLEU ≥ {result['bleu_floor']:.2f}"
  if 'significance_level' in result:
    return (f"{rule}, and not below the production model's with paired "
            f"bootstrap p < {result['significance_level']:g}")
  return (f"{rule}, and ≥ the production model's BLEU − "   # older reports
          f"{result['regression_margin']:.2f}")


def decision_line(result: dict) -> Optional[str]:
  """Which test decided, with its p-value; None for older reports."""
  if 'decided_by' not in result:
    return None
  line = f"Decided by: {result['decided_by']}"
  comparison = result.get('comparison')
  if result.get('p_value') is not None and comparison:
    line += (f", p = {result['p_value']:.4f} (candidate "
             f"{comparison['candidate_bleu']:.2f} vs production "
             f"{comparison['production_bleu']:.2f} BLEU; sacreBLEU "
             f"{comparison['signature']})")
  return line


def infra_line(result: dict) -> Optional[str]:
  """Infra validation's outcome, load time and warm-up; None if not run."""
  served = result.get('infra_validation')
  if not served:
    return None
  line = f"{'passed' if served['ok'] else 'FAILED'}: {served['reason']}"
  if served.get('load_seconds') is not None:
    line += (f". Loaded with {served['warmup_requests']} warm-up requests in "
             f"{served['load_seconds']:.1f} s")
  return line + f"; budget: p95 ≤ {served['budget_ms']:g} ms."


def infra_table(result: dict) -> Table:
  """Latency of the candidate in a fresh process, per batch size."""
  return (['batch size', 'requests', 'p50 (ms)', 'p95 (ms)'],
          [[str(l['batch_size']), str(l['requests']), _number(l['p50_ms'], 1),
            _number(l['p95_ms'], 1)]
           for l in result['infra_validation']['latencies']])


def production_line(result: dict) -> str:
  """Which model in production the candidate was compared with, or why not."""
  if result.get('production_error'):
    return f"{result['production_error']} (not compared)"
  return result['production'] or 'none'


def scores_table(result: dict) -> Table:
  """A row per split and model: BLEU, chrF, decoding time."""
  production = result.get('production_scores') or {}
  header = ['split', 'model', 'sentences', 'BLEU', 'BLEU (lowercased)', 'chrF',
            'decoding (s)']
  if production:
    header.append('BLEU vs production')
  rows = []
  for split, scores in result['scores'].items():
    models = [('candidate', scores)]
    if split in production:
      models.append(('production', production[split]))
    for model, s in models:
      row = [split, model, str(s['sentences']), _number(s['bleu']),
             _number(s['bleu_lowercase']), _number(s['chrf']),
             _number(s.get('decode_seconds'), 1)]
      if production:
        row.append(f"{s['bleu'] - production[split]['bleu']:+.2f}"
                   if model == 'candidate' and split in production else '')
      rows.append(row)
  return header, rows


def bucket_table(split_buckets: dict) -> Table:
  """BLEU and chrF by source-length bucket of one split."""
  candidate, production = split_buckets['candidate'], split_buckets.get(
      'production')
  header = ['source words', 'sentences', 'BLEU', 'chrF']
  if production:
    header += ['production BLEU', 'production chrF']
  rows = []
  for i, b in enumerate(candidate):
    row = [b['bucket'], str(b['sentences']), _number(b['bleu']),
           _number(b['chrf'])]
    if production:
      row += [_number(production[i]['bleu']), _number(production[i]['chrf'])]
    rows.append(row)
  return header, rows


def training_table(summary: dict) -> Table:
  """How training went: its size, which weights were exported (when chosen
  by validation BLEU) and the last epoch's metrics."""
  rows = [[key, str(summary[key])] for key in
          ('epochs', 'planned_epochs', 'steps', 'replicas', 'global_batch')
          if key in summary]
  batches = summary.get('batches') or {}
  if batches:
    rows += [['tokens a batch', str(batches['batch_tokens'])],
             ['length buckets', str(batches['boundaries'])],
             ['sentences a batch', str(batches['batch_sizes'])],
             ['over the length caps (dropped)',
              f"{100 * batches['over_cap']:.2f}% of {batches['sampled']}"]]
  if 'fit_seconds' in summary:
    rows.append(['fit time (s)', _number(summary['fit_seconds'], 1)])
  selection = summary.get('selection') or {}
  if 'exported' in selection:
    rows.append(['exported weights', f"{selection['exported']} (validation "
                 f"BLEU {_number(selection.get('val_bleu'))})"])
  for key, values in sorted((summary.get('history') or {}).items()):
    if values:
      rows.append([f'{key} (last epoch)', f'{values[-1]:.4g}'])
  return ['', 'value'], rows


def samples_table(result: dict) -> Table:
  samples = result['samples']
  with_production = any('production' in s for s in samples)
  header = ['source', 'reference', 'translation'] + (
      ['production'] if with_production else [])
  return header, [[s['source'], s['reference'], s['translation']] +
                  ([s.get('production', '')] if with_production else [])
                  for s in samples]


# --- Figures ------------------------------------------------------------------

def figures(result: dict) -> Dict[str, bytes]:
  """PNG file name -> bytes, for what the result has data for."""
  out = {}
  if result.get('buckets'):
    out[BUCKETS_PNG] = plots.png(plots.bucket_figure(result['buckets']))
  history = (result.get('training') or {}).get('history')
  best = ((result.get('training') or {}).get('selection') or {}).get(
      'best_epoch')
  curves = plots.training_figure(history, best) if history else None
  if curves:
    out[TRAINING_PNG] = plots.png(curves)
  for i, item in enumerate(result.get('attention') or [], 1):
    out[ATTENTION_PNG.format(i)] = plots.png(plots.attention_figure(
        item['source_tokens'], item['target_tokens'], item['weights'],
        title=item['source']))
  return out


def _heatmaps(result: dict, names) -> List[Tuple[str, dict]]:
  """(PNG name, attention entry) of the heatmaps among `names`."""
  return [(ATTENTION_PNG.format(i), item)
          for i, item in enumerate(result.get('attention') or [], 1)
          if ATTENTION_PNG.format(i) in names]


def _caption(attention_item: dict) -> str:
  return f"{attention_item['source']} → {attention_item['translation']}"


# --- Markdown -----------------------------------------------------------------

def _md_table(table: Table) -> List[str]:
  header, rows = table
  cell = lambda text: text.replace('|', '\\|')
  return ([f"| {' | '.join(header)} |", '|' + '---|' * len(header)] +
          [f"| {' | '.join(cell(c) for c in row)} |" for row in rows])


def to_markdown(result: dict, figure_names: Sequence[str] = ()) -> str:
  """The report in Markdown; links the PNGs named in figure_names."""
  first = next(iter(result['scores'].values()))
  decision = decision_line(result)
  lines = ['# Evaluation report', '', f'**{verdict_line(result)}**', '',
           f'Blessing rule: {rule_line(result)}.', '',
           *([decision, ''] if decision else []),
           *_md_table(scores_table(result)), '',
           f"sacreBLEU signature: `{first['signature']}`", '',
           f"Candidate: `{result['candidate']}`  ",
           f"Production: `{production_line(result)}`", '']
  if infra_line(result):
    lines += ['## Infra validation', '', infra_line(result), '']
    if result['infra_validation']['latencies']:
      lines += [*_md_table(infra_table(result)), '']
  if result.get('buckets'):
    lines += ['## By source length', '']
    for split, buckets in result['buckets'].items():
      lines += [f'{split}:', '', *_md_table(bucket_table(buckets)), '']
    if BUCKETS_PNG in figure_names:
      lines += [f'![BLEU and chrF by source length]({BUCKETS_PNG})', '']
  if result.get('training'):
    lines += ['## Training', '', *_md_table(training_table(result['training'])),
              '']
    if TRAINING_PNG in figure_names:
      lines += [f'![training curves]({TRAINING_PNG})', '']
  attention = _heatmaps(result, figure_names)
  if attention:
    lines += ['## Attention', ''] + [
        f"![{_caption(item).replace(']', ' ')}]({n})"
        for n, item in attention] + ['']
  lines += ['## Samples', '']
  for sample in result['samples']:
    lines += [f"- source: {sample['source']}",
              f"  - reference: {sample['reference']}",
              f"  - translation: {sample['translation']}"]
    if 'production' in sample:
      lines.append(f"  - production: {sample['production']}")
  return '\n'.join(lines) + '\n'


# --- HTML ---------------------------------------------------------------------

_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto;
       color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
.verdict { padding: 0.8em 1em; font-size: 1.1em; border-radius: 4px; }
.blessed { background: #e3f4e1; border: 1px solid #4caf50; }
.not-blessed { background: #fde8e6; border: 1px solid #e53935; }
img { max-width: 100%; }
figure { display: inline-block; margin: 0 1em 1em 0; }
figcaption { font-size: 0.9em; color: #555; max-width: 600px; }
code { font-size: 0.9em; }
"""


def _html_table(table: Table) -> str:
  header, rows = table
  head = ''.join(f'<th>{html.escape(h)}</th>' for h in header)
  body = ''.join('<tr>' + ''.join(f'<td>{html.escape(c)}</td>' for c in row) +
                 '</tr>' for row in rows)
  return f'<table><tr>{head}</tr>{body}</table>'


def _html_image(name: str, png: bytes, caption: str) -> str:
  data = base64.b64encode(png).decode('ascii')
  return (f'<figure><img src="data:image/png;base64,{data}" '
          f'alt="{html.escape(caption)}" title="{name}">'
          f'<figcaption>{html.escape(caption)}</figcaption></figure>')


def to_html(result: dict, pngs: Dict[str, bytes]) -> str:
  """A self-contained page: the figures are embedded as data: URIs."""
  esc = html.escape
  first = next(iter(result['scores'].values()))
  verdict = 'blessed' if result['blessed'] else 'not-blessed'
  parts = [
      '<h1>Evaluation report</h1>',
      f'<p class="verdict {verdict}"><b>{esc(verdict_line(result))}</b></p>',
      f'<p>Blessing rule: {esc(rule_line(result))}.</p>',
      *([f'<p>{esc(decision_line(result))}</p>'] if decision_line(result)
        else []),
      '<h2>Scores</h2>', _html_table(scores_table(result)),
      f"<p>sacreBLEU signature: <code>{esc(first['signature'])}</code><br>"
      f"Candidate: <code>{esc(result['candidate'])}</code><br>"
      f"Production: <code>{esc(production_line(result))}</code></p>"]
  if infra_line(result):
    parts += ['<h2>Infra validation</h2>', f'<p>{esc(infra_line(result))}</p>']
    if result['infra_validation']['latencies']:
      parts.append(_html_table(infra_table(result)))
  if result.get('buckets'):
    parts.append('<h2>By source length (words)</h2>')
    for split, buckets in result['buckets'].items():
      parts += [f'<h3>{esc(split)}</h3>', _html_table(bucket_table(buckets))]
    if BUCKETS_PNG in pngs:
      parts.append(_html_image(BUCKETS_PNG, pngs[BUCKETS_PNG],
                               'BLEU and chrF by source length'))
  parts.append('<h2>Training</h2>')
  if result.get('training'):
    parts.append(_html_table(training_table(result['training'])))
    if TRAINING_PNG in pngs:
      parts.append(_html_image(TRAINING_PNG, pngs[TRAINING_PNG],
                               'training curves, per epoch'))
  else:
    parts.append('<p>No training summary was given to the Evaluator.</p>')
  attention = _heatmaps(result, pngs)
  if attention:
    parts += ['<h2>Attention</h2>',
              '<p>What the decoder attended to while producing each word of '
              'its own translation (teacher-forced; a row per target '
              'token).</p>']
    parts += [_html_image(n, pngs[n], _caption(item)) for n, item in attention]
  parts += ['<h2>Sample translations</h2>',
            _html_table(samples_table(result))]
  return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<title>Evaluation report</title><style>{_STYLE}</style></head>'
          '<body>\n' + '\n'.join(parts) + '\n</body></html>\n')


# --- Files --------------------------------------------------------------------

def write(result: dict, directory: str) -> Dict[str, str]:
  """Writes report.json, report.md, report.html and the PNGs to directory
  (any tf.io.gfile path); returns file name -> path."""
  pngs = figures(result)
  contents = {REPORT_JSON: json.dumps(result, indent=2, ensure_ascii=False),
              REPORT_MARKDOWN: to_markdown(result, list(pngs)),
              REPORT_HTML: to_html(result, pngs), **pngs}
  tf.io.gfile.makedirs(directory)
  paths = {}
  for name, content in contents.items():
    paths[name] = os.path.join(directory, name)
    with tf.io.gfile.GFile(paths[name],
                           'wb' if isinstance(content, bytes) else 'w') as f:
      f.write(content)
  return paths
