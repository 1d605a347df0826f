#!/usr/bin/env bash
# Sets up the Python 3.10 environment (first time: ~2 min) and runs the
# pipeline. Without arguments: the default job, Multi30k English->German.
# Arguments go to the pipeline CLI; see `./run.sh --help`.
set -euo pipefail
cd "$(dirname "$0")"
py="$(scripts/bootstrap.sh)"
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONWARNINGS=ignore::FutureWarning
exec "$py" -m nmt_tfx.pipeline.local_runner "$@"
