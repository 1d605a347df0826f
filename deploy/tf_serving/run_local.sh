#!/usr/bin/env bash
# Serves the local pipeline's pushed models with the TF Serving container
# (needs a Docker engine; these build machines have none).
#   deploy/tf_serving/run_local.sh [runs/nmt-en-de/serving/nmt-en-de] [nmt-en-de]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
serving_dir="$(cd "${1:-runs/nmt-en-de/serving/nmt-en-de}" && pwd)"
name="${2:-nmt-en-de}"
config="$(mktemp -d)"
"$here/../../.venv/bin/nmt-serving" models-config --serving-dir "$serving_dir" \
    --model-name "$name" --base-path "/models/$name" > "$config/models.config"
cp "$here/batching_parameters.txt" "$config/"
exec docker run --rm -p 8500:8500 -p 8501:8501 \
    -v "$serving_dir:/models/$name:ro" -v "$config:/config:ro" \
    tensorflow/serving:2.16.1 \
    --model_config_file=/config/models.config --enable_batching=true \
    --batching_parameters_file=/config/batching_parameters.txt \
    --enable_model_warmup=true
