"""Learning-rate schedules, chosen by HParams.lr_schedule.

  constant  learning_rate throughout (after warm-up, if any)
  rsqrt     linear warm-up to learning_rate, then decay with 1/sqrt(step)
            (the Transformer paper's shape, peak set by learning_rate)
  cosine    linear warm-up, then cosine decay to 1% over the training steps
"""
import math

import tensorflow as tf

SCHEDULES = ('constant', 'rsqrt', 'cosine')


class WarmupSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
  """step -> learning rate; `decay` is one of SCHEDULES."""

  def __init__(self, peak: float, warmup_steps: int, decay: str,
               total_steps: int):
    if decay not in SCHEDULES:
      raise ValueError(f'unknown lr_schedule {decay!r}; choose one of '
                       f'{list(SCHEDULES)}')
    self.peak, self.warmup_steps = float(peak), int(warmup_steps)
    self.decay, self.total_steps = decay, int(total_steps)

  def __call__(self, step):
    step = tf.cast(step, tf.float32) + 1.0
    warmup = float(max(self.warmup_steps, 1))
    rate = self.peak * tf.minimum(1.0, step / warmup)
    if self.decay == 'rsqrt':
      rate *= tf.minimum(1.0, tf.math.rsqrt(step / warmup))
    elif self.decay == 'cosine':
      span = float(max(self.total_steps - self.warmup_steps, 1))
      progress = tf.clip_by_value((step - warmup) / span, 0.0, 1.0)
      rate *= 0.01 + 0.99 * 0.5 * (1.0 + tf.cos(math.pi * progress))
    return rate

  def get_config(self):
    return {'peak': self.peak, 'warmup_steps': self.warmup_steps,
            'decay': self.decay, 'total_steps': self.total_steps}
