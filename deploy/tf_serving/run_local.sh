#!/usr/bin/env bash
# Serves the local pipeline's pushed models with the TF Serving container
# (needs a Docker engine; these build machines have none).
# The container sees the serving directory at its own path, so the
# models.config the Pusher keeps there (base_path: that path) works as it
# is; the server re-reads it every 30 s and so follows pushes and rollbacks.
# Push once before starting it: the server needs models.config to start.
#   deploy/tf_serving/run_local.sh [runs/nmt-en-de/serving/nmt-en-de]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
serving_dir="$(cd "${1:-runs/nmt-en-de/serving/nmt-en-de}" && pwd)"
exec docker run --rm -p 8500:8500 -p 8501:8501 \
    -v "$serving_dir:$serving_dir:ro" \
    -v "$here/batching_parameters.txt:/config/batching_parameters.txt:ro" \
    tensorflow/serving:2.16.1 \
    --model_config_file="$serving_dir/models.config" \
    --model_config_file_poll_wait_seconds=30 \
    --allow_version_labels_for_unavailable_models=true \
    --enable_batching=true \
    --batching_parameters_file=/config/batching_parameters.txt \
    --enable_model_warmup=true
