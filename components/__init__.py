"""Code run by the pipeline's components (installed as ``nmt_tfx.components``)."""
