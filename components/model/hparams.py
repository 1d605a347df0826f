"""Model and training hyperparameters, read from the Trainer's custom_config."""
import dataclasses
from typing import Any, Dict, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class HParams:
  seed: int = 1                 # weights, dropout and shuffling.
  embedding_dim: int = 128
  encoder_units: int = 128      # per direction; the encoder output is 2x this.
  decoder_units: int = 256
  attention_units: int = 128
  # The architecture: 'lstm' (BiLSTM encoder + attention LSTM decoder, the
  # four sizes above) or 'transformer' (the transformer_* sizes below).
  model: str = 'lstm'
  transformer_layers: int = 3     # in the encoder, and in the decoder unless:
  # Decoder layers, if not as many as the encoder's (0): a deep encoder
  # under a shallow decoder decodes faster at about equal quality (Kasai et
  # al., 2021), since decoding runs the decoder once per token.
  transformer_decoder_layers: int = 0
  transformer_heads: int = 4      # must divide transformer_dim.
  transformer_dim: int = 256      # embeddings and every sublayer's output.
  transformer_ff_dim: int = 1024  # the feed-forward sublayers' hidden size.
  # Layer normalization before each sublayer ('pre', Xiong et al. 2020:
  # stable at high learning rates) or after each residual sum ('post', the
  # original Transformer's and fairseq's default).
  transformer_norm: str = 'pre'
  tie_target_embeddings: bool = True  # output projection = target embedding^T.
  # One embedding matrix for source and target (and, tied, the output
  # projection): needs one joint vocabulary (wordpiece, joint_vocabulary).
  share_embeddings: bool = False
  dropout: float = 0.2
  # Keras dtype policy: 'float32', 'mixed_bfloat16' (CPUs with AVX512-BF16,
  # TPUs) or 'mixed_float16' (GPUs; Keras adds loss scaling).
  precision: str = 'float32'
  # The dtype of the Transformer's tied output projection in training (its
  # matmul and both gradient matmuls; the [N, V] logits and the loss stay
  # float32): 'float32', 'bfloat16', or 'auto' (bfloat16 where the training
  # devices multiply it natively: CPUs with AMX or AVX512-BF16, GPUs of
  # compute capability 8.0 or more; else float32). Validation loss,
  # decoding and the exported model use the policy's dtype.
  output_matmul_dtype: str = 'float32'
  # Tokens per batch and replica (sentences x their padded max(source,
  # target) length); the global budget scales with replicas. Each length
  # bucket batches budget // its longest length sentences. On Multi30k
  # 1060 gives about 64 sentences and 857 real target tokens a batch.
  batch_tokens: int = 1060
  learning_rate: float = 1e-3   # the peak, after warm-up
  lr_schedule: str = 'constant'  # 'constant', 'rsqrt' or 'cosine' (schedules.py)
  warmup_steps: int = 0
  # cosine: the rate at the last step, as a fraction of the peak.
  lr_final_fraction: float = 0.01
  label_smoothing: float = 0.0
  clip_norm: float = 5.0
  # Adam's decay of its squared-gradient average: Keras's 0.999, or the
  # 0.98 of the Transformer recipes (Vaswani et al., 2017; fairseq's).
  adam_beta2: float = 0.999
  steps_per_epoch: int = 250    # how often to log, validate and checkpoint.
  # Weights are chosen by greedy-decoded validation BLEU (model_selection.py).
  validation_bleu: bool = True
  average_last_checkpoints: int = 0   # average the last N epochs' weights (>1)
  early_stopping_patience: int = 0    # epochs without a better BLEU (0: off)
  # Validation BLEU decodes the first N eval examples (0: all of them): a
  # bounded cost on large dev sets; 1000 of Multi30k's 1,014 (98.6%).
  validation_sentences: int = 1000
  # The input pipeline (components/model/inputs.py).
  length_buckets: tuple = ()      # boundaries; () derives them from the data:
  length_bucket_count: int = 8    # buckets of equal token mass in a sample
  length_sample: int = 20000      # of this many pairs (the first ones read).
  shuffle_buffer: int = 30000     # records
  interleave_files: int = 16      # files read at once
  cache_dataset: bool = False     # keep the parsed corpus in memory (small data)
  max_decode_length: int = 50   # hard cap on generated tokens.
  decode_length_ratio: float = 2.0  # cap relative to the longest source...
  decode_length_offset: int = 10    # ... plus this.
  beam_size: int = 5            # what the served `translate` uses; 1 = greedy.
  length_penalty: float = 0.6   # GNMT alpha for ranking hypotheses.

  @classmethod
  def from_dict(cls, values: Optional[Dict[str, Any]]) -> 'HParams':
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values or {}) - set(known)
    if unknown:
      raise ValueError(f'unknown hyperparameters: {sorted(unknown)}')
    return cls(**{k: tuple(v) if isinstance(v, list) else v
                  for k, v in (values or {}).items()})

  def epochs(self, train_steps: int) -> Tuple[int, int]:
    """(epochs, steps an epoch) that make exactly `train_steps` updates:
    epochs of steps_per_epoch, or one of train_steps if that is fewer.
    ValueError if whole epochs cannot: training would stop short of
    train_steps, before its learning-rate schedule ends."""
    if train_steps < 1:
      raise ValueError(f'train_steps must be at least 1; got {train_steps}')
    per_epoch = max(1, min(self.steps_per_epoch, train_steps))
    if train_steps % per_epoch:
      below = train_steps // per_epoch * per_epoch
      raise ValueError(
          f'train_steps {train_steps} is not a whole number of epochs of '
          f'steps_per_epoch {per_epoch}: set train_steps to '
          f'{below} or {below + per_epoch}, or change '
          'steps_per_epoch')
    return train_steps // per_epoch, per_epoch

  @property
  def decoder_layers(self) -> int:
    """The Transformer decoder's depth."""
    return self.transformer_decoder_layers or self.transformer_layers

  def to_dict(self) -> Dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self).items()}
