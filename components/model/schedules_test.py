import numpy as np
import pytest

from nmt_tfx.components.model import schedules


def _rates(schedule, steps):
  return np.array([float(schedule(s)) for s in steps])


def test_warmup_then_decay_shapes():
  steps = [0, 49, 99, 399, 999]
  constant = _rates(schedules.WarmupSchedule(1e-3, 100, 'constant', 1000), steps)
  np.testing.assert_allclose(constant, [1e-5, 5e-4, 1e-3, 1e-3, 1e-3], rtol=1e-5)
  rsqrt = _rates(schedules.WarmupSchedule(1e-3, 100, 'rsqrt', 1000), steps)
  np.testing.assert_allclose(rsqrt[2:], [1e-3, 5e-4, 1e-3 / np.sqrt(10)],
                             rtol=1e-5)
  cosine = _rates(schedules.WarmupSchedule(1e-3, 100, 'cosine', 1000),
                  [99, 549, 999, 5000])
  np.testing.assert_allclose(cosine, [1e-3, 0.505e-3, 1e-5, 1e-5], rtol=1e-2)


def test_cosine_ends_at_the_final_fraction_of_the_peak():
  rates = _rates(schedules.WarmupSchedule(1e-3, 100, 'cosine', 1000,
                                          final_fraction=0.1),
                 [99, 549, 999, 5000])
  np.testing.assert_allclose(rates, [1e-3, 0.55e-3, 1e-4, 1e-4], rtol=1e-2)
  assert schedules.WarmupSchedule(1e-3, 100, 'cosine', 1000, 0.1).get_config()[
      'final_fraction'] == 0.1


def test_a_final_fraction_outside_0_to_1_is_a_clear_error():
  with pytest.raises(ValueError, match='lr_final_fraction must be in'):
    schedules.WarmupSchedule(1e-3, 0, 'cosine', 10, final_fraction=1.5)


def test_no_warmup_starts_at_the_peak():
  assert float(schedules.WarmupSchedule(2e-3, 0, 'constant', 10)(0)) == (
      np.float32(2e-3))


def test_unknown_schedule_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown lr_schedule 'noam'"):
    schedules.WarmupSchedule(1e-3, 0, 'noam', 10)
