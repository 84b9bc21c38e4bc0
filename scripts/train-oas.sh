#!/usr/bin/env bash
# The real run shown in docs/training.md: all 22 OAS paired units of
# ../shared/data through ablm prepare, then heavy_small trained for 600
# steps (batch 16) and evaluated on the test split. About 25 minutes on 2
# cores. Usage: scripts/train-oas.sh [OUT_DIR]   (default out/oas)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/oas}
data=../shared/data/oas-paired
[ -d "$data" ] || { echo "train-oas: $data not found" >&2; exit 1; }
scripts/ensure-deps.sh
scripts/build.sh build
build/ablm prepare --input "$data"/*.csv.gz --out "$out/prepared"
build/ablm train --config_name configs/heavy_small.json \
  --train_file "$out/prepared/train.txt" --validation_file "$out/prepared/val.txt" \
  --output_dir "$out/model" --overwrite_output_dir \
  --per_device_train_batch_size 16 --per_device_eval_batch_size 32 \
  --learning_rate 5e-4 --warmup_ratio 0.05 --weight_decay 0.1 --max_steps 600 \
  --logging_steps 20 --eval_strategy steps --eval_steps 100 --save_steps 100 \
  --save_total_limit 2 --load_best_model_at_end --do_eval --max_eval_samples 1000 --line_by_line \
  | tee "$out/train_log.jsonl"
build/ablm eval --model "$out/model" --validation_file "$out/prepared/test.txt" \
  --per_device_eval_batch_size 32 | tee "$out/test_results.json"
