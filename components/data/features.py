"""Names of the raw features ExampleGen emits, as schemas/schema.pbtxt lists
them; Transform, the exported model and the Evaluator read them by these."""
SOURCE = 'source'
TARGET = 'target'

# What Transform makes of them (ragged int64 ids and their lengths), which
# training, evaluation and the served graph read.
SOURCE_IDS = 'source_ids'        # source pieces + EOS
SOURCE_LENGTH = 'source_length'
TARGET_IN = 'target_in'          # BOS + target pieces (decoder input)
TARGET_OUT = 'target_out'        # target pieces + EOS (labels)
TARGET_LENGTH = 'target_length'
TARGET_TEXT = 'target_text'      # the raw target (validation BLEU)
