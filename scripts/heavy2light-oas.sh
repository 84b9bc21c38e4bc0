#!/usr/bin/env bash
# heavy2light on the OAS paired units of ../shared/data, end to end with
# small step counts (docs/heavy2light.md shows a run):
#   1. split by unit: the last two units (sorted by name) are the
#      validation and test pairs, the others the training units;
#   2. the light decoder: ablm prepare --chain light on the training units,
#      ablm train-clm on its train/val light chains;
#   3. the heavy model: ablm prepare --chain heavy on the training units,
#      ablm train on its train/val heavy chains;
#   4. ablm train-h2l from both (--adapters when ADAPTERS=1) on the
#      training units' pairs, validated on the validation unit;
#   5. ablm generate (greedy) on the test unit's heavy chains.
# Sizes: SIZE=tiny (configs/h2l_*_tiny.json, the default) or SIZE=small
# (configs/heavy_small.json + configs/light_gpt_small.json). Steps:
# HEAVY_STEPS, LIGHT_STEPS, H2L_STEPS (defaults 300, 300, 300).
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
heavy_steps=${HEAVY_STEPS:-300} light_steps=${LIGHT_STEPS:-300} h2l_steps=${H2L_STEPS:-300}
adapters=()
[ "${ADAPTERS:-0}" = 1 ] && adapters=(--adapters)
scripts/ensure-deps.sh
scripts/build.sh build
mkdir -p "$out"
mapfile -t units < <(ls "$data"/*.csv.gz | sort)
n=${#units[@]}
train_units=("${units[@]:0:n-2}")
val_unit=${units[n-2]} test_unit=${units[n-1]}
train_list=$(IFS=,; echo "${train_units[*]}")
printf '%s\n' "${train_units[@]}" > "$out/train_units.txt"
printf 'validation %s\ntest %s\n' "$val_unit" "$test_unit" > "$out/heldout_units.txt"
common=(--per_device_train_batch_size 16 --per_device_eval_batch_size 32 --weight_decay 0.1
        --logging_steps 50 --save_strategy no --do_train --do_eval --max_eval_samples 1000
        --overwrite_output_dir --line_by_line)

build/ablm prepare --input "${train_units[@]}" --chain light --out "$out/light_data"
build/ablm train-clm --config_name "$light_cfg" --train_file "$out/light_data/train.txt" \
  --validation_file "$out/light_data/val.txt" --output_dir "$out/light" \
  --learning_rate 1e-3 --warmup_ratio 0.05 --max_steps "$light_steps" "${common[@]}" \
  | tee "$out/light_log.jsonl"

build/ablm prepare --input "${train_units[@]}" --chain heavy --out "$out/heavy_data"
build/ablm train --config_name "$heavy_cfg" --train_file "$out/heavy_data/train.txt" \
  --validation_file "$out/heavy_data/val.txt" --output_dir "$out/heavy" \
  --learning_rate 1e-3 --warmup_ratio 0.05 --max_steps "$heavy_steps" "${common[@]}" \
  | tee "$out/heavy_log.jsonl"

build/ablm train-h2l --encoder "$out/heavy" --decoder "$out/light" "${adapters[@]}" \
  --train_file "$train_list" --validation_file "$val_unit" --output_dir "$out/h2l" \
  --learning_rate 1e-3 --warmup_ratio 0.05 --max_steps "$h2l_steps" \
  --eval_strategy steps --eval_steps 100 "${common[@]}" | tee "$out/h2l_log.jsonl"

build/ablm generate --model "$out/h2l" --input "$test_unit" --output "$out/test_generated.tsv" \
  --max_new_tokens 130
