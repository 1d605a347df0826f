"""The curated raw-data schema (schema.pbtxt) that incoming data must match."""
import pathlib

SCHEMA_FILE = str(pathlib.Path(__file__).parent / 'schema.pbtxt')
