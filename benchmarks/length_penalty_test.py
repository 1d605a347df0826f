"""The length-penalty sweep: scores per alpha, the alpha validation picks."""
import pytest

from benchmarks import length_penalty


def test_each_alpha_reaches_the_decoder_and_validation_picks_the_best():
  seen = []

  def translate(sentences, beam, alpha):  # a double for the served model
    seen.append((beam, alpha))
    # alpha 1.0 translates perfectly, the others drop the last word.
    return [s if alpha == 1.0 else s.rsplit(' ', 1)[0] for s in sentences]

  sentences = ['ein Hund läuft über die Wiese .', 'zwei Männer sitzen da .']
  splits = {'val': (sentences, sentences), 'test': (sentences, sentences)}
  rows = length_penalty.sweep(translate, splits, [0.0, 1.0, 1.5], beam_size=5)
  assert seen == [(5, 0.0)] * 2 + [(5, 1.0)] * 2 + [(5, 1.5)] * 2
  assert [r['alpha'] for r in rows] == [0.0, 1.0, 1.5]
  assert rows[1]['val'] == (pytest.approx(100.0), pytest.approx(100.0))
  assert rows[0]['test'][0] < 90.0
  lines = length_penalty.format_table(rows).splitlines()
  assert lines[0] == ('| alpha | val BLEU | val BLEU, lc | test BLEU '
                      '| test BLEU, lc |')
  assert lines[3] == ('| 1 (best on val) | 100.00 | 100.00 | 100.00 '
                      '| 100.00 |')
  assert '(best' not in lines[2] + lines[4]


def test_the_served_signature_translates_every_sentence_at_each_alpha(
    tiny_export):
  translate = length_penalty.served_translate(str(tiny_export))
  sentences = ['A dog runs.', 'Two men sit on a bench.', 'A girl.']
  for alpha in (0.0, 2.0):
    out = translate(sentences, 3, alpha)
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
  rows = length_penalty.sweep(translate, {'val': (sentences, sentences)},
                              [0.0, 2.0], beam_size=3)
  assert [r['alpha'] for r in rows] == [0.0, 2.0]
  assert all(0.0 <= r['val'][0] <= 100.0 for r in rows)
