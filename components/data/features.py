"""Names of the raw features ExampleGen emits, as schemas/schema.pbtxt lists
them; Transform, the exported model and the Evaluator read them by these."""
SOURCE = 'source'
TARGET = 'target'
