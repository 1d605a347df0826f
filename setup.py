"""Installable package for the NMT pipeline.

The tested, pinned stack is in requirements.lock (made by `uv pip compile`
from requirements.in); install_requires only states what the code needs.
"""
import setuptools

# Top-level folders are installed as subpackages of `nmt_tfx`, so that their
# plain names (`pipeline`, `components`, ...) never shadow PyPI distributions.
PACKAGE_DIRS = {
    'nmt_tfx': 'nmt_tfx',
    'nmt_tfx.pipeline': 'pipeline',
    'nmt_tfx.components': 'components',
    'nmt_tfx.components.data': 'components/data',
    'nmt_tfx.components.text': 'components/text',
    'nmt_tfx.components.model': 'components/model',
    'nmt_tfx.components.evaluation': 'components/evaluation',
    'nmt_tfx.components.validation': 'components/validation',
    'nmt_tfx.components.serving': 'components/serving',
    'nmt_tfx.schemas': 'schemas',
    'nmt_tfx.kubeflow': 'kubeflow',
}

setuptools.setup(
    name='nmt-tfx',
    version='0.1.0',
    description='TFX pipeline: parallel text in, TF Serving translation model out.',
    python_requires='>=3.10,<3.11',
    packages=list(PACKAGE_DIRS),
    package_dir=PACKAGE_DIRS,
    package_data={
        'nmt_tfx.components.data': ['*.sha256'],
        'nmt_tfx.schemas': ['*.pbtxt'],
    },
    install_requires=[
        'tfx==1.16.0',
        'tensorflow==2.16.2',
        'tf-keras==2.16.0',
        'tensorflow-transform==1.16.0',
        'apache-beam==2.59.0',
        'kfp==2.5.0',
        'protobuf==3.20.3',
        'sacrebleu>=2.4,<3',
        'matplotlib>=3.5,<4',   # the evaluation report's figures
        'tensorflow-serving-api==2.16.1',
        'tensorflow-text==2.16.1',
    ],
    entry_points={
        'console_scripts': [
            'nmt-tfx=nmt_tfx.pipeline.local_runner:main',
            'nmt-serving=nmt_tfx.components.serving.admin:main',
            'nmt-translate=nmt_tfx.components.serving.client:main',
        ],
    },
)
