#!/usr/bin/env bash
# Re-resolves requirements.in into the pinned requirements.lock (run after changing pins).
set -euo pipefail
cd "$(dirname "$0")/.."
py="$(scripts/bootstrap.sh)"
uv_bin="$(command -v uv || echo .tools/bin/uv)"
"$uv_bin" pip compile -p "$py" requirements.in -o requirements.lock
