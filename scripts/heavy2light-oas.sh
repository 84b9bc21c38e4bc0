#!/usr/bin/env bash
# heavy2light on the OAS paired units of ../shared/data, end to end with
# small step counts (docs/heavy2light.md shows a run):
#   1. ablm prepare --pairs: the pairs split by their heavy chains'
#      clustering into train/val/test_pairs.tsv (no near-identical heavy
#      chain on both sides);
#   2. the light decoder: ablm train-clm on the training pairs' light chains
#      (validated on the validation pairs' light chains);
#   3. the heavy model: ablm train on the training pairs' heavy chains;
#   4. ablm train-h2l from both (--adapters when ADAPTERS=1) on the
#      training pairs, validated on the validation pairs;
#   5. ablm eval-h2l on the test pairs: perplexity, greedy generation scored
#      by BLOSUM62 / identity beside the baselines from the training pairs
#      (EVAL_PAIRS test pairs, default 1000; 0: all).
# Sizes: SIZE=tiny (configs/h2l_*_tiny.json, the default) or SIZE=small
# (configs/heavy_small.json + configs/light_gpt_small.json). Steps:
# HEAVY_STEPS, LIGHT_STEPS, H2L_STEPS (defaults 300, 300, 600).
# Usage: scripts/heavy2light-oas.sh [OUT_DIR]   (default out/h2l)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/h2l}
data=../shared/data/oas-paired
[ -d "$data" ] || { echo "heavy2light-oas: $data not found" >&2; exit 1; }
size=${SIZE:-tiny}
case "$size" in
  tiny) heavy_cfg=configs/h2l_heavy_tiny.json light_cfg=configs/h2l_light_tiny.json ;;
  small) heavy_cfg=configs/heavy_small.json light_cfg=configs/light_gpt_small.json ;;
  *) echo "heavy2light-oas: SIZE must be tiny or small" >&2; exit 2 ;;
esac
heavy_steps=${HEAVY_STEPS:-300} light_steps=${LIGHT_STEPS:-300} h2l_steps=${H2L_STEPS:-600}
eval_pairs=${EVAL_PAIRS:-1000}
adapters=()
[ "${ADAPTERS:-0}" = 1 ] && adapters=(--adapters)
scripts/ensure-deps.sh
scripts/build.sh build
mkdir -p "$out"
build/ablm prepare --pairs --input "$data"/*.csv.gz --out "$out/pairs"
# one chain per line from a pairs TSV (column by header name)
column() { awk -F'\t' -v want="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == want) c = i; next } { print $c }' "$1"; }
for split in train val; do
  column "$out/pairs/${split}_pairs.tsv" light > "$out/pairs/${split}_light.txt"
  column "$out/pairs/${split}_pairs.tsv" heavy > "$out/pairs/${split}_heavy.txt"
done
common=(--per_device_train_batch_size 16 --per_device_eval_batch_size 32 --weight_decay 0.1
        --logging_steps 50 --save_strategy no --do_train --do_eval --max_eval_samples 1000
        --overwrite_output_dir)

build/ablm train-clm --config_name "$light_cfg" --train_file "$out/pairs/train_light.txt" \
  --validation_file "$out/pairs/val_light.txt" --output_dir "$out/light" --line_by_line \
  --learning_rate 1e-3 --warmup_ratio 0.05 --max_steps "$light_steps" "${common[@]}" \
  | tee "$out/light_log.jsonl"

build/ablm train --config_name "$heavy_cfg" --train_file "$out/pairs/train_heavy.txt" \
  --validation_file "$out/pairs/val_heavy.txt" --output_dir "$out/heavy" --line_by_line \
  --learning_rate 1e-3 --warmup_ratio 0.05 --max_steps "$heavy_steps" "${common[@]}" \
  | tee "$out/heavy_log.jsonl"

build/ablm train-h2l --encoder "$out/heavy" --decoder "$out/light" "${adapters[@]}" \
  --train_file "$out/pairs/train_pairs.tsv" --validation_file "$out/pairs/val_pairs.tsv" \
  --output_dir "$out/h2l" --learning_rate 1e-3 --warmup_ratio 0.05 --max_steps "$h2l_steps" \
  --eval_strategy steps --eval_steps 200 "${common[@]}" | tee "$out/h2l_log.jsonl"

build/ablm eval-h2l --model "$out/h2l" --test_file "$out/pairs/test_pairs.tsv" \
  --train_file "$out/pairs/train_pairs.tsv" --max_pairs "$eval_pairs" --max_new_tokens 130 \
  --output "$out/eval" | tee "$out/eval_table.txt"
