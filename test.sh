#!/usr/bin/env bash
# Sets up the Python 3.10 environment (first time: ~2 min) and runs the test
# suite, the slow end-to-end pipeline tests included (15 min on 2 cores; up to
# 52 min on slow hours of the same machine).
# Tests read Multi30k from $NMT_MULTI30K_DIR, ../shared/data/multi30k or
# data/multi30k, and download it (SHA256-verified) to data/multi30k if none has
# it; $NMT_MULTI30K_URL names a mirror.
# Arguments go to pytest, e.g. `./test.sh -m "not slow"` for the quick part.
set -euo pipefail
cd "$(dirname "$0")"
py="$(scripts/bootstrap.sh)"
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONWARNINGS=ignore::FutureWarning
exec "$py" -m pytest "$@"
