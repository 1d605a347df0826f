"""The report's figures: what they draw, and that they render as PNG."""
import struct
import warnings

import numpy as np
import pytest

from nmt_tfx.components.evaluation import plots

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def png_size(data: bytes):
  """(width, height) from a PNG's IHDR chunk, after checking the magic."""
  assert data[:8] == PNG_MAGIC
  assert data[12:16] == b'IHDR'
  return struct.unpack('>II', data[16:24])


def _rows(bleus, chrfs, counts=(3, 2, 0)):
  return [{'bucket': label, 'sentences': n, 'bleu': b, 'chrf': c}
          for label, n, b, c in zip(('1-8', '9-12', '13+'), counts, bleus,
                                    chrfs)]


def _bar_heights(ax):
  return [round(p.get_height(), 6) for p in ax.patches]


@pytest.mark.parametrize('with_production', [True, False])
def test_bucket_figure_draws_each_score(with_production):
  buckets = {split: {'candidate': _rows((30.0, 20.0, None), (55.0, 50.0, None)),
                     'production': (_rows((25.0, 22.0, None), (52.0, 51.0, None))
                                    if with_production else None)}
             for split in ('eval', 'test')}
  figure = plots.bucket_figure(buckets)
  axes = figure.get_axes()
  assert len(axes) == 4    # BLEU and chrF for each split
  bleu_ax = axes[0]
  expected = [30.0, 20.0, 0.0] + ([25.0, 22.0, 0.0] if with_production else [])
  assert _bar_heights(bleu_ax) == expected
  assert [t.get_text() for t in bleu_ax.get_xticklabels()] == [
      '1-8\nn=3', '9-12\nn=2', '13+\nn=0']
  assert bool(bleu_ax.get_legend()) == with_production
  width, height = png_size(plots.png(figure))
  assert width > 500 and height > 400


def test_training_figure_panels_follow_the_history():
  base = {'loss': [3.0, 2.0, 1.5], 'val_loss': [3.1, 2.4, 2.0],
          'masked_accuracy': [0.1, 0.3, 0.4],
          'val_masked_accuracy': [0.1, 0.25, 0.3]}
  two = plots.training_figure(base)
  assert [ax.get_title() for ax in two.get_axes()] == ['loss', 'token accuracy']
  loss_lines = two.get_axes()[0].get_lines()
  assert [l.get_label() for l in loss_lines] == ['loss', 'val_loss']
  np.testing.assert_allclose(loss_lines[1].get_ydata(), base['val_loss'])
  np.testing.assert_allclose(loss_lines[1].get_xdata(), [1, 2, 3])

  four = plots.training_figure({**base, 'val_bleu': [1.0, 5.0, 9.0],
                                'lr': [1e-3, 1e-3, 5e-4]})
  assert [ax.get_title() for ax in four.get_axes()] == [
      'loss', 'token accuracy', 'validation BLEU', 'learning rate']
  np.testing.assert_allclose(four.get_axes()[2].get_lines()[0].get_ydata(),
                             [1.0, 5.0, 9.0])
  marked = plots.training_figure(base, best_epoch=2).get_axes()[0].get_lines()
  assert len(marked) == 3 and list(marked[2].get_xdata()) == [2, 2]
  assert png_size(plots.png(four))[0] > 1.6 * png_size(plots.png(two))[0]


def test_training_figure_without_known_curves_is_none():
  assert plots.training_figure({}) is None
  assert plots.training_figure({'loss': [], 'something_else': [1.0]}) is None


def test_attention_figure_is_labelled_with_tokens():
  source = ['A', 'man', 'rides', '.']
  target = ['Ein', 'Mann', 'fährt', '.', '</s>']
  weights = np.eye(5, 4) * 0.7 + 0.075
  figure = plots.attention_figure(source, target, weights)
  ax = figure.get_axes()[0]
  assert [t.get_text() for t in ax.get_xticklabels()] == source
  assert [t.get_text() for t in ax.get_yticklabels()] == target
  np.testing.assert_allclose(ax.get_images()[0].get_array(), weights)
  small = png_size(plots.png(figure))
  longer = png_size(plots.png(plots.attention_figure(
      source * 3, target * 3, np.full((15, 12), 1 / 12))))
  assert longer[0] > small[0] and longer[1] > small[1]
  assert len(plots.png(figure)) > 5000


def test_attention_figure_has_room_for_a_one_token_translation():
  """An untrained model's translation is '</s>' alone: one row, under a
  title, above rotated source labels, still laid out (no warning)."""
  source = ['Zwei', 'Hunde', 'spielen', 'ausgelassen', 'im', 'Schnee', '.']
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    figure = plots.attention_figure(source, ['</s>'], np.full((1, 7), 1 / 7),
                                    title='Zwei Hunde spielen im Schnee .')
    plots.png(figure)
