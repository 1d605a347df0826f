"""The evaluation report's figures (matplotlib Figures; `png` renders one).

matplotlib draws on its Agg canvas directly (no pyplot, no display, no global
figure state), in the Evaluator's process only: nothing here is part of the
served model. Inputs are the plain lists and dicts of report.json.
"""
import io
from typing import Dict, List, Optional, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CANDIDATE_COLOR, PRODUCTION_COLOR = '#1f77b4', '#aaaaaa'

# Panels of the training curves: title -> history keys drawn in it. A panel
# is drawn when any of its keys is in the history.
TRAINING_PANELS = (
    ('loss', ('loss', 'val_loss')),
    ('token accuracy', ('masked_accuracy', 'val_masked_accuracy')),
    ('validation BLEU', ('val_bleu',)),
    ('learning rate', ('lr', 'learning_rate')),
)


def png(figure: Figure) -> bytes:
  FigureCanvasAgg(figure)
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=100, bbox_inches='tight')
  return buffer.getvalue()


def bucket_figure(buckets: Dict[str, Dict[str, Optional[List[dict]]]]
                  ) -> Figure:
  """BLEU (top) and chrF (bottom) by source-length bucket, one column a split,
  candidate and production side by side.

  buckets: split -> {'candidate': rows, 'production': rows or None}, rows as
  bleu.BucketScores dicts.
  """
  splits = list(buckets)
  figure = Figure(figsize=(5.0 * len(splits), 6.0))
  axes = figure.subplots(2, len(splits), squeeze=False)
  for column, split in enumerate(splits):
    candidate = buckets[split]['candidate']
    production = buckets[split].get('production')
    positions = range(len(candidate))
    width = 0.4 if production else 0.7
    for row, metric in enumerate(('bleu', 'chrf')):
      ax = axes[row][column]
      ax.bar([p - (width / 2 if production else 0) for p in positions],
             [b[metric] or 0.0 for b in candidate], width,
             color=CANDIDATE_COLOR, label='candidate')
      if production:
        ax.bar([p + width / 2 for p in positions],
               [b[metric] or 0.0 for b in production], width,
               color=PRODUCTION_COLOR, label='production')
      ax.set_xticks(list(positions))
      ax.set_xticklabels([f"{b['bucket']}\nn={b['sentences']}"
                          for b in candidate], fontsize=8)
      ax.set_ylabel('BLEU' if metric == 'bleu' else 'chrF')
      ax.set_title(f"{split}: {'BLEU' if metric == 'bleu' else 'chrF'} by "
                   'source length (words)', fontsize=10)
      ax.grid(axis='y', alpha=0.3)
      if production:
        ax.legend(fontsize=8)
  figure.tight_layout()
  return figure


def training_figure(history: Dict[str, Sequence[float]],
                    best_epoch: Optional[int] = None) -> Optional[Figure]:
  """Per-epoch curves of the Keras history, a dotted line at best_epoch
  (1-based; the epoch validation BLEU chose); None if it has none we draw."""
  panels = [(title, [k for k in keys if history.get(k)])
            for title, keys in TRAINING_PANELS]
  panels = [(title, keys) for title, keys in panels if keys]
  if not panels:
    return None
  figure = Figure(figsize=(4.0 * len(panels), 3.2))
  axes = figure.subplots(1, len(panels), squeeze=False)[0]
  for ax, (title, keys) in zip(axes, panels):
    for key in keys:
      values = history[key]
      ax.plot(range(1, len(values) + 1), values, marker='o', markersize=3,
              label=key)
    if best_epoch:
      ax.axvline(best_epoch, color='#888888', linestyle=':', linewidth=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel('epoch')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  figure.tight_layout()
  return figure


def attention_figure(source_tokens: Sequence[str],
                     target_tokens: Sequence[str],
                     weights: Sequence[Sequence[float]],
                     title: str = '') -> Figure:
  """weights [len(target), len(source)]: a row per generated token."""
  width = 1.5 + 0.4 * max(len(source_tokens), 1)
  # A row a target token, and room for the source tokens' labels (rotated,
  # below the image), the axis labels and the title.
  label_room = 0.09 * max((len(token) for token in source_tokens), default=1)
  height = 1.6 + label_room + 0.35 * max(len(target_tokens), 1)
  figure = Figure(figsize=(min(width, 14.0), min(height, 14.0)))
  ax = figure.subplots()
  image = ax.imshow(weights, cmap='viridis', vmin=0.0, vmax=1.0,
                    aspect='auto', interpolation='nearest')
  ax.set_xticks(range(len(source_tokens)))
  ax.set_xticklabels(source_tokens, rotation=90, fontsize=9)
  ax.set_yticks(range(len(target_tokens)))
  ax.set_yticklabels(target_tokens, fontsize=9)
  ax.set_xlabel('source')
  ax.set_ylabel('translation')
  if title:
    ax.set_title(title if len(title) <= 70 else title[:67] + '...',
                 fontsize=9)
  figure.colorbar(image, ax=ax, fraction=0.04)
  figure.tight_layout()
  return figure
