"""Learning-rate schedules, chosen by HParams.lr_schedule.

  constant  learning_rate throughout (after warm-up, if any)
  rsqrt     linear warm-up to learning_rate, then decay with 1/sqrt(step)
            (the Transformer paper's shape, peak set by learning_rate)
  cosine    linear warm-up, then cosine decay over the training steps to
            final_fraction of the peak (1% unless set)
"""
import math

import tensorflow as tf

SCHEDULES = ('constant', 'rsqrt', 'cosine')


class WarmupSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
  """step -> learning rate; `decay` is one of SCHEDULES."""

  def __init__(self, peak: float, warmup_steps: int, decay: str,
               total_steps: int, final_fraction: float = 0.01):
    if decay not in SCHEDULES:
      raise ValueError(f'unknown lr_schedule {decay!r}; choose one of '
                       f'{list(SCHEDULES)}')
    if not 0.0 <= final_fraction <= 1.0:
      raise ValueError('lr_final_fraction must be in [0, 1]; got '
                       f'{final_fraction!r}')
    self.peak, self.warmup_steps = float(peak), int(warmup_steps)
    self.decay, self.total_steps = decay, int(total_steps)
    self.final_fraction = float(final_fraction)

  def __call__(self, step):
    step = tf.cast(step, tf.float32) + 1.0
    warmup = float(max(self.warmup_steps, 1))
    rate = self.peak * tf.minimum(1.0, step / warmup)
    if self.decay == 'rsqrt':
      rate *= tf.minimum(1.0, tf.math.rsqrt(step / warmup))
    elif self.decay == 'cosine':
      span = float(max(self.total_steps - self.warmup_steps, 1))
      progress = tf.clip_by_value((step - warmup) / span, 0.0, 1.0)
      floor = self.final_fraction
      rate *= floor + (1.0 - floor) * 0.5 * (1.0 + tf.cos(math.pi * progress))
    return rate

  def get_config(self):
    return {'peak': self.peak, 'warmup_steps': self.warmup_steps,
            'decay': self.decay, 'total_steps': self.total_steps,
            'final_fraction': self.final_fraction}
