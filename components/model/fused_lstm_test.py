"""FusedLSTM computes what tf.keras.layers.LSTM computes, gradients included."""
import numpy as np
import pytest
import tensorflow as tf

from nmt_tfx.components.model import fused_lstm

INPUTS = tf.random.stateless_normal([3, 5, 4], seed=[1, 2])      # [B, T, E]
MASK = tf.constant([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]) > 0
STATE = [tf.random.stateless_normal([3, 6], seed=[3, 4]),
         tf.random.stateless_normal([3, 6], seed=[5, 6])]


def _pair(**kwargs):
  """A FusedLSTM and a Keras LSTM with the same weights."""
  fused = fused_lstm.FusedLSTM(6, return_sequences=True, return_state=True,
                               **kwargs)
  keras = tf.keras.layers.LSTM(6, return_sequences=True, return_state=True,
                               **kwargs)
  fused(INPUTS)
  keras(INPUTS)
  keras.set_weights(fused.get_weights())
  return fused, keras


def _outputs_and_gradients(layer, mask, initial_state):
  with tf.GradientTape() as tape:
    tape.watch([INPUTS, *STATE])
    outputs, h, c = layer(INPUTS, mask=mask, initial_state=initial_state)
    # A loss that weighs every output step and both final states.
    loss = (tf.reduce_sum(tf.sin(outputs) * tf.range(1.0, 6.0)[:, None])
            + tf.reduce_sum(h * h) + tf.reduce_sum(tf.cos(c)))
  return [outputs, h, c] + tape.gradient(
      loss, [INPUTS, *STATE, *layer.trainable_variables])


@pytest.mark.parametrize('masked', [False, True])
@pytest.mark.parametrize('go_backwards', [False, True])
@pytest.mark.parametrize('zero_output_for_mask', [False, True])
@pytest.mark.parametrize('initial_state', [False, True])
def test_equals_keras_lstm(masked, go_backwards, zero_output_for_mask,
                           initial_state):
  fused, keras = _pair(go_backwards=go_backwards)
  fused.zero_output_for_mask = keras.zero_output_for_mask = zero_output_for_mask
  args = (MASK if masked else None, STATE if initial_state else None)
  expected = _outputs_and_gradients(keras, *args)
  actual = tf.function(lambda: _outputs_and_gradients(fused, *args))()
  names = ['outputs', 'h', 'c', 'd inputs', 'd h0', 'd c0', 'd kernel',
           'd recurrent_kernel', 'd bias']
  if not initial_state:   # no gradient to a state that is not an input
    names, expected, actual = (
        [v for i, v in enumerate(x) if i not in (4, 5)]
        for x in (names, expected, actual))
  for name, want, got in zip(names, expected, actual):
    np.testing.assert_allclose(got, want, atol=2e-5, err_msg=name)


def test_masked_steps_keep_the_state():
  fused, _ = _pair()
  outputs, h, c = fused(INPUTS, mask=MASK, initial_state=STATE)
  short, h_short, c_short = fused(INPUTS[2:, :1], initial_state=[
      s[2:] for s in STATE])
  np.testing.assert_allclose(h[2:], h_short, atol=1e-6)
  np.testing.assert_allclose(c[2:], c_short, atol=1e-6)
  np.testing.assert_allclose(outputs[2, 1:], np.tile(h_short, [4, 1]),
                             atol=1e-6)


def test_runs_its_own_loop_on_cpu_and_keras_where_it_cannot():
  fused, _ = _pair()
  assert fused._fused(INPUTS)   # pylint: disable=protected-access
  with_dropout, _ = _pair(dropout=0.5)
  assert not with_dropout._fused(INPUTS)   # pylint: disable=protected-access
  # Still an LSTM: no dropout at inference, same outputs as Keras's.
  keras = tf.keras.layers.LSTM(6, return_sequences=True, return_state=True)
  keras(INPUTS)
  keras.set_weights(with_dropout.get_weights())
  np.testing.assert_allclose(with_dropout(INPUTS)[0], keras(INPUTS)[0],
                             atol=1e-6)
