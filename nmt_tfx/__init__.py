"""nmt_tfx: a TFX pipeline that trains, judges and ships translation models.

The project's top-level folders are installed under this package:
``pipeline/`` -> ``nmt_tfx.pipeline``, ``components/`` -> ``nmt_tfx.components``,
``schemas/`` -> ``nmt_tfx.schemas``, ``kubeflow/`` -> ``nmt_tfx.kubeflow``
(their plain names are taken by unrelated distributions on PyPI).
"""
import os

# Keras 2 (tf-keras) for every process that imports this package: TFX executors,
# Beam workers, tests. Must happen before anything touches `tf.keras`.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
# TensorFlow's BFC allocator for CPU memory: it keeps freed blocks for the
# next training step, where the default allocator gives blocks over 32 MB
# (the [N, V] logits and their gradient) back to the kernel, which faults in
# and zeroes their pages again every step (benchmarks.allocator_cost).
os.environ.setdefault('TF_CPU_ALLOCATOR_USE_BFC', 'true')

__version__ = '0.1.0'
