"""An LSTM layer whose backward pass does one matmul per time step.

Keras runs an LSTM on CPU as a `tf.while_loop` over time steps and lets
autodiff derive the backward loop: per step that is four matmuls (the
gradients of the input, of the previous state, of the kernel and of the
recurrent kernel) and two weight-sized accumulations. `lstm_sequence` has
a hand-written gradient, as cuDNN's LSTM does:

  forward   the input projection x W + b for all steps in one matmul, then
            per step one matmul h R and the gates;
  backward  per step one matmul (dz R^T, the gradient flowing to the
            previous state) and the gates' derivatives; then the weight
            gradients x^T dz, h^T dz and sum(dz) in one matmul each over
            all steps at once.

`FusedLSTM` is `tf.keras.layers.LSTM` with the same weights (variables,
checkpoints and warm starts are unchanged) that uses `lstm_sequence` on
CPU hosts and Keras's own path (cuDNN) where a GPU is visible.

Shapes: T time steps, B batch, E input size, H units. Gates in Keras's
order: input, forget, cell candidate, output.
"""
from typing import Optional, Tuple

import tensorflow as tf


def lstm_sequence(inputs: tf.Tensor, h0: tf.Tensor, c0: tf.Tensor,
                  kernel: tf.Tensor, recurrent_kernel: tf.Tensor,
                  bias: tf.Tensor, mask: Optional[tf.Tensor] = None,
                  zero_output_for_mask: bool = False
                  ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Runs an LSTM over time-major inputs.

  Args:
    inputs: [T, B, E].
    h0, c0: [B, H], the initial state.
    kernel [E, 4H], recurrent_kernel [H, 4H], bias [4H]: Keras's weights.
    mask: [T, B] bool or None. A masked step keeps the state; its output is
      the last output (zeros before the first real step), or zeros with
      zero_output_for_mask: Keras's semantics.
    zero_output_for_mask: see mask.

  Returns:
    (outputs [T, B, H], final h [B, H], final c [B, H]).
  """
  masked = mask is not None
  # [T, B, 1]; an empty placeholder keeps one signature for custom_gradient.
  step_mask = (tf.cast(mask, inputs.dtype)[:, :, tf.newaxis] if masked
               else tf.zeros([0], inputs.dtype))

  @tf.custom_gradient
  def run(inputs, h0, c0, kernel, recurrent_kernel, bias, step_mask):
    steps = tf.shape(inputs)[0]
    input_part = tf.einsum('tbe,eg->tbg', inputs, kernel) + bias  # [T, B, 4H]

    def forward(t, h, c, zs, hs, cs):
      z = input_part[t] + tf.matmul(h, recurrent_kernel)
      i, f, g, o = tf.split(z, 4, axis=1)
      c_next = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
      h_next = tf.sigmoid(o) * tf.tanh(c_next)
      if masked:
        m = step_mask[t]
        c_next = c + m * (c_next - c)
        h_next = h + m * (h_next - h)
      return (t + 1, h_next, c_next, zs.write(t, z), hs.write(t, h_next),
              cs.write(t, c_next))

    def stack():
      return tf.TensorArray(inputs.dtype, size=steps)
    _, h, c, zs, hs, cs = tf.while_loop(
        lambda t, *_: t < steps, forward, (0, h0, c0, stack(), stack(),
                                           stack()))
    zs, hs, cs = zs.stack(), hs.stack(), cs.stack()   # [T, B, 4H], [T, B, H]
    if masked:
      # A masked step outputs zeros, or (as Keras) the last output, which
      # is zeros before the first real step.
      output_mask = step_mask if zero_output_for_mask else tf.cast(
          tf.cumsum(step_mask, axis=0) > 0, step_mask.dtype)
    outputs = hs * output_mask if masked else hs

    def grad(d_outputs, d_h, d_c):
      if masked:
        d_outputs *= output_mask
      h_prev = tf.concat([h0[tf.newaxis], hs[:-1]], 0)
      c_prev = tf.concat([c0[tf.newaxis], cs[:-1]], 0)
      zi, zf, zg, zo = tf.split(zs, 4, axis=2)
      i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zg), tf.sigmoid(zo)
      tanh_c = tf.tanh(f * c_prev + i * g)
      # Per step, dz = [dc, dc, dc, dh] * gate_scale and dc += dh * dc_dh.
      dc_dh = o * (1 - tanh_c * tanh_c)
      gate_scale = tf.concat([g * i * (1 - i), c_prev * f * (1 - f),
                              i * (1 - g * g), tanh_c * o * (1 - o)], 2)
      recurrent_kernel_t = tf.transpose(recurrent_kernel)

      def backward(t, d_h, d_c, dzs):
        d_h = d_outputs[t] + d_h
        d_h_step, d_c_step = d_h, d_c
        if masked:
          m = step_mask[t]
          d_h_step, d_c_step = m * d_h, m * d_c
        d_c_step += d_h_step * dc_dh[t]
        dz = tf.concat([d_c_step, d_c_step, d_c_step, d_h_step], 1) * (
            gate_scale[t])
        d_h_prev = tf.matmul(dz, recurrent_kernel_t)
        d_c_prev = d_c_step * f[t]
        if masked:   # a masked step passed the state through unchanged
          d_h_prev += (1 - m) * d_h
          d_c_prev += (1 - m) * d_c
        return t - 1, d_h_prev, d_c_prev, dzs.write(t, dz)

      _, d_h0, d_c0, dzs = tf.while_loop(
          lambda t, *_: t >= 0, backward,
          (steps - 1, d_h, d_c, tf.TensorArray(inputs.dtype, size=steps)))
      dz = dzs.stack()                                              # [T, B, 4H]
      return (tf.einsum('tbg,eg->tbe', dz, kernel), d_h0, d_c0,
              tf.einsum('tbe,tbg->eg', inputs, dz),
              tf.einsum('tbh,tbg->hg', h_prev, dz),
              tf.reduce_sum(dz, [0, 1]), tf.zeros_like(step_mask))

    return (outputs, h, c), grad

  return run(inputs, h0, c0, kernel, recurrent_kernel, bias, step_mask)


class FusedLSTM(tf.keras.layers.LSTM):
  """`tf.keras.layers.LSTM` computed by `lstm_sequence` on CPU hosts.

  Same constructor, weights and call signature. Falls back to Keras's path
  (cuDNN on GPUs) when a GPU is visible or when the configuration is one
  `lstm_sequence` does not implement: dropout inside the layer, other
  activations, no bias, unrolling, only the last output, stateful layers or
  ragged inputs.
  """

  def _fused(self, inputs) -> bool:
    return (not tf.config.list_logical_devices('GPU')
            and self._could_use_gpu_kernel and not self.dropout
            and self.return_sequences and not self.stateful
            and not isinstance(inputs, tf.RaggedTensor))

  def call(self, inputs, mask=None, training=None, initial_state=None):
    if not self._fused(inputs):
      return super().call(inputs, mask=mask, training=training,
                          initial_state=initial_state)
    inputs, initial_state, _ = self._process_inputs(inputs, initial_state,
                                                    None)
    if isinstance(mask, list):
      mask = mask[0]
    if not self.time_major:
      inputs = tf.transpose(inputs, [1, 0, 2])
      mask = None if mask is None else tf.transpose(mask)
    if self.go_backwards:
      inputs = tf.reverse(inputs, [0])
      mask = None if mask is None else tf.reverse(mask, [0])
    outputs, h, c = lstm_sequence(
        inputs, initial_state[0], initial_state[1],
        tf.convert_to_tensor(self.cell.kernel),
        tf.convert_to_tensor(self.cell.recurrent_kernel),
        tf.convert_to_tensor(self.cell.bias), mask,
        self.zero_output_for_mask)
    output = outputs if self.time_major else tf.transpose(outputs, [1, 0, 2])
    return [output, h, c] if self.return_state else output
