#!/usr/bin/env bash
# The main job, end to end:
#   data (default: Immcantation's example repertoire from Debian's
#   r-cran-alakazam; or --data FILES...) -> ablm prepare (CDRH3 100%,
#   de-dup, 70% pool, 50% whole-cluster 80/10/10 split) -> ablm train (the
#   reference "small" heavy-chain RoBERTa, configs/heavy_small.json, for a
#   few minutes) -> ablm eval on the test split.
# Usage: ./run.sh [--data FILE...] [--out DIR] [--max_steps N] [--config FILE] [--threads N]
set -euo pipefail
cd "$(dirname "$0")"

data=() out=out/run max_steps=150 config=configs/heavy_small.json threads=0
while [ $# -gt 0 ]; do
  case "$1" in
    --data) shift; while [ $# -gt 0 ] && [[ "$1" != --* ]]; do data+=("$1"); shift; done ;;
    --out) out=$2; shift 2 ;;
    --max_steps) max_steps=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see ./run.sh --help)" >&2; exit 2 ;;
  esac
done

scripts/ensure-deps.sh
scripts/build.sh build
if [ ${#data[@]} -eq 0 ]; then
  data=("$(scripts/fetch-alakazam.sh build/data)")
  echo "run.sh: default data: ${data[0]} (Immcantation example repertoire, r-cran-alakazam)" >&2
fi
for f in "${data[@]}"; do [ -r "$f" ] || { echo "run.sh: cannot read $f" >&2; exit 1; }; done
mkdir -p "$out"

echo "== 1/3 ablm prepare" >&2
build/ablm prepare --input "${data[@]}" --out "$out/prepared" --productive-only --drop-stop \
  --threads "$threads"

echo "== 2/3 ablm train ($config, $max_steps steps)" >&2
eval_steps=$(( max_steps / 5 > 0 ? max_steps / 5 : 1 ))
build/ablm train --config_name "$config" \
  --train_file "$out/prepared/train.txt" --validation_file "$out/prepared/val.txt" \
  --output_dir "$out/model" --overwrite_output_dir \
  --per_device_train_batch_size 16 --per_device_eval_batch_size 16 \
  --learning_rate 5e-4 --warmup_ratio 0.1 --weight_decay 0.1 --lr_scheduler_type linear \
  --max_steps "$max_steps" --logging_steps 10 \
  --eval_strategy steps --eval_steps "$eval_steps" --save_steps "$eval_steps" --save_total_limit 2 \
  --load_best_model_at_end --do_eval --line_by_line --seed 42 --threads "$threads" | tee "$out/train_log.jsonl"

echo "== 3/3 ablm eval on the test split" >&2
build/ablm eval --model "$out/model" --validation_file "$out/prepared/test.txt" \
  --per_device_eval_batch_size 16 --threads "$threads" | tee "$out/test_results.json"

cat <<MSG

Done.
  test metrics:        $out/test_results.json
  Hugging Face model:  $out/model  (config.json, model.safetensors, tokenizer files;
                       RobertaForMaskedLM.from_pretrained("$out/model"))
  loss curve:          $out/model/loss_curve.svg
  data report:         $out/prepared/prepare_report.json
MSG
