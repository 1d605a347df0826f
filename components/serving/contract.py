"""The served model's interface: signature, input and output names.

Shared by the exporter (components/model/export.py) and the client, so the
two cannot drift apart. Kept free of TensorFlow imports.
"""
TRANSLATE_SIGNATURE = 'translate'       # text [B] string -> outputs below
EXAMPLES_SIGNATURE = 'serving_default'  # examples [B] serialized tf.Example
TEXT_INPUT = 'text'
EXAMPLES_INPUT = 'examples'
TRANSLATION_OUTPUT = 'translation'      # [B] string
LENGTH_OUTPUT = 'length'                # [B] int32, tokens generated
