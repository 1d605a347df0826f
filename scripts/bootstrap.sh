#!/usr/bin/env bash
# Creates (or refreshes) the project's Python 3.10 environment in .venv from
# requirements.lock, then installs this package in editable mode.
# Idempotent and fast when nothing changed. Prints the venv's python on stdout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { echo "[setup] $*" >&2; }
# Trust the system's certificate store (corporate proxies with their own CA);
# UV_NATIVE_TLS is the older name of the same switch.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" UV_NATIVE_TLS="${UV_NATIVE_TLS:-1}"

# --- uv: the installer (plain pip backtracks for many minutes on this stack) --
find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return; fi
  if [ -x .tools/bin/uv ]; then echo "$root/.tools/bin/uv"; return; fi
  log "installing uv into .tools/"
  python3 -m venv .tools >&2
  .tools/bin/pip install --quiet 'uv==0.13.9' >&2
  echo "$root/.tools/bin/uv"
}

is_py310() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }

# --- Python 3.10: $NMT_PYTHON, PATH, pyenv, then uv's managed download --------
find_python310() {
  local c
  if [ -n "${NMT_PYTHON:-}" ]; then
    is_py310 "$NMT_PYTHON" && { echo "$NMT_PYTHON"; return; }
    log "NMT_PYTHON=$NMT_PYTHON is not a working Python 3.10"; exit 1
  fi
  for c in python3.10 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10; do
    c="$(command -v "$c" 2>/dev/null || true)"
    is_py310 "$c" && { echo "$c"; return; }
  done
  if command -v pyenv >/dev/null 2>&1; then
    for c in $(ls -d "$(pyenv root)"/versions/3.10*/bin/python3.10 2>/dev/null | sort -rV); do
      is_py310 "$c" && { echo "$c"; return; }
    done
  fi
  c="$("$UV" python find 3.10 2>/dev/null || true)"
  is_py310 "$c" && { echo "$c"; return; }
  log "no Python 3.10 found; asking uv to download one"
  "$UV" python install 3.10 >&2 || {
    log "could not get Python 3.10. Install it (pyenv install 3.10, apt, python.org) or set NMT_PYTHON=/path/to/python3.10"; exit 1; }
  "$UV" python find 3.10
}

UV="$(find_uv)"
venv_py="$root/.venv/bin/python"
stamp="$root/.venv/.nmt-stamp"
want="$(cat requirements.lock setup.py | sha256sum | cut -c1-16)"

if ! is_py310 "$venv_py"; then
  PY="$(find_python310)"
  log "creating .venv with $PY"
  rm -rf .venv
  "$UV" venv --quiet --seed -p "$PY" .venv >&2
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the locked stack (requirements.lock) with uv"
  # Bytecode compiled once here (~1 min): every later process imports
  # TensorFlow/TFX without compiling ~20k modules, even where
  # PYTHONDONTWRITEBYTECODE stops Python from caching them itself.
  "$UV" pip install --quiet --compile-bytecode -p "$venv_py" \
    -r requirements.lock >&2
  "$UV" pip install --quiet -p "$venv_py" --no-deps -e . >&2
  echo "$want" > "$stamp"
fi
echo "$venv_py"
