"""The served model's interface: signature, input and output names.

Shared by the exporter (components/model/export.py) and the client, so the
two cannot drift apart. Kept free of TensorFlow imports.

Every input has the batch first ([B]): TF Serving's batcher merges requests
along dimension 0 and refuses inputs without it.
"""
import os

TRANSLATE_SIGNATURE = 'translate'       # text [B] string -> outputs below
EXAMPLES_SIGNATURE = 'serving_default'  # examples [B] serialized tf.Example
OPTIONS_SIGNATURE = 'translate_with_options'  # text + the two inputs below
TEXT_INPUT = 'text'
BEAM_SIZE_INPUT = 'beam_size'           # [B] int32, 1 = greedy
LENGTH_PENALTY_INPUT = 'length_penalty'  # [B] float32, GNMT alpha
MAX_BEAM_SIZE = 16                      # larger requests are clamped
EXAMPLES_INPUT = 'examples'
TRANSLATION_OUTPUT = 'translation'      # [B] string
LENGTH_OUTPUT = 'length'                # [B] int32, tokens generated
SCORE_OUTPUT = 'score'                  # [B] float32, log-prob of translation
# Largest request (sentences) the server accepts: max_batch_size in
# deploy/tf_serving/batching_parameters.txt; the client never sends more.
MAX_REQUEST_SENTENCES = 1024
# Warm-up requests TF Serving replays at load (its fixed name).
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
