"""Choosing the weights to export by decoded validation BLEU.

Teacher-forced validation loss says little about translations; this callback
translates the validation split (greedy, with the same `beam_search` the
served model uses) after every epoch and scores it with sacreBLEU. It keeps
the best weights, optionally averages the last few snapshots (checkpoint
averaging), stops early when BLEU stops improving, and at the end of training
leaves the model with the best of: the best snapshot and the average.
"""
from typing import Callable, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from nmt_tfx.components.evaluation import bleu
from nmt_tfx.components.model import decoding

VAL_BLEU = 'val_bleu'   # the Keras log / history key


class Translations:
  """Greedy translations of a fixed set of transformed validation batches.

  batches: (source_ids [B, S], source_length [B]) pairs; decode: ragged
  target ids -> [B] strings (the codec's `decode`).
  """

  def __init__(self, model, batches: Sequence[Tuple[tf.Tensor, tf.Tensor]],
               decode: Callable[[tf.RaggedTensor], tf.Tensor],
               max_length: Callable[[tf.Tensor], tf.Tensor]):
    self._batches = list(batches)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64),
                                  tf.TensorSpec([None], tf.int64)])
    def translate(source_ids, source_length):
      decoded = decoding.beam_search(model, source_ids,
                                     max_length(source_length), beam_size=1)
      return decode(tf.RaggedTensor.from_tensor(decoded.ids,
                                                lengths=decoded.lengths))
    self._translate = translate

  def __call__(self) -> List[str]:
    return [t.decode('utf-8') for source_ids, source_length in self._batches
            for t in self._translate(source_ids, source_length).numpy()]


def _average(snapshots: Sequence[List[np.ndarray]]) -> List[np.ndarray]:
  return [np.mean(values, axis=0).astype(values[0].dtype)
          for values in zip(*snapshots)]


class ValidationBleu(tf.keras.callbacks.Callback):
  """Adds `val_bleu` to the logs each epoch; keeps and restores the best.

  average_last: average the weights of the last N epochs' snapshots at the
    end, and keep the average if it scores better (0/1: off).
  patience: stop after this many epochs without a better BLEU (0: never).
  """

  def __init__(self, translate: Callable[[], List[str]],
               references: Sequence[str], average_last: int = 0,
               patience: int = 0):
    super().__init__()
    self._translate = translate
    self._references = list(references)
    self._average_last = average_last
    self._patience = patience
    self._snapshots: List[List[np.ndarray]] = []
    self.best_bleu = -1.0
    self.best_epoch: Optional[int] = None
    self._best_weights: Optional[List[np.ndarray]] = None
    self.selection = {}   # what was exported and why, for the summary

  def score(self) -> float:
    return bleu.corpus_scores(self._translate(), self._references).bleu

  def on_epoch_end(self, epoch, logs=None):
    value = self.score()
    if logs is not None:
      logs[VAL_BLEU] = value
    weights = self.model.get_weights()
    if value > self.best_bleu:
      self.best_bleu, self.best_epoch, self._best_weights = value, epoch, weights
    if self._average_last > 1:
      self._snapshots = (self._snapshots + [weights])[-self._average_last:]
    logging.info('epoch %d: validation BLEU %.2f (best %.2f at epoch %d)',
                 epoch + 1, value, self.best_bleu, self.best_epoch + 1)
    if self._patience and epoch - self.best_epoch >= self._patience:
      logging.info('no better validation BLEU for %d epochs: stopping',
                   self._patience)
      self.model.stop_training = True

  def on_train_end(self, logs=None):
    if self._best_weights is None:
      return
    chosen, bleu_value = f'epoch {self.best_epoch + 1}', self.best_bleu
    if len(self._snapshots) > 1:
      self.model.set_weights(_average(self._snapshots))
      averaged = self.score()
      logging.info('average of the last %d epochs: validation BLEU %.2f',
                   len(self._snapshots), averaged)
      if averaged > bleu_value:
        chosen = f'average of the last {len(self._snapshots)} epochs'
        bleu_value = averaged
      self.selection['averaged_bleu'] = averaged
    if chosen.startswith('epoch'):
      self.model.set_weights(self._best_weights)
    self.selection.update(exported=chosen, val_bleu=bleu_value,
                          best_epoch=self.best_epoch + 1,
                          best_epoch_bleu=self.best_bleu)
    logging.info('exporting %s (validation BLEU %.2f)', chosen, bleu_value)
