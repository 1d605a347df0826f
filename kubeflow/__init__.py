"""Compiling the pipeline for Kubeflow Pipelines v2 (installed as ``nmt_tfx.kubeflow``)."""
