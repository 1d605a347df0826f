"""Pipeline definition, configuration and runners (installed as ``nmt_tfx.pipeline``)."""
