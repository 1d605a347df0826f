"""The model factory: HParams.model chooses the architecture."""
import tensorflow as tf

from nmt_tfx.components.model import seq2seq
from nmt_tfx.components.model import transformer
from nmt_tfx.components.model.hparams import HParams

# HParams.model -> the Keras model class; every one has the interface of
# seq2seq.AttentionSeq2Seq (call, encode, decode_step, attention_weights).
MODELS = {
    'lstm': seq2seq.AttentionSeq2Seq,
    'transformer': transformer.TransformerSeq2Seq,
}


def create(source_vocab_size: int, target_vocab_size: int, hparams: HParams,
           **kwargs) -> tf.keras.Model:
  """The model `hparams.model` names, built under the current dtype policy."""
  if hparams.model not in MODELS:
    raise ValueError(f'unknown model {hparams.model!r}: choose one of '
                     f'{", ".join(repr(name) for name in MODELS)}')
  if hparams.share_embeddings and hparams.model != 'transformer':
    raise ValueError('share_embeddings is a Transformer option; '
                     f'model {hparams.model!r} has its own embeddings')
  return MODELS[hparams.model](source_vocab_size, target_vocab_size, hparams,
                               **kwargs)
