#!/usr/bin/env bash
# Checks that two ablm binaries train identically: the same ablm train /
# ablm eval commands (grouped and line-by-line data, gradient accumulation,
# eval and save by steps and by epoch, best model at end, resume,
# --group_by_length, a finished run, error paths) run with each binary on
# 473 real heavy chains (one OAS unit of ../shared through ablm prepare),
# then every output file is compared byte for byte: log lines, stderr,
# model.safetensors, checkpoints, results; only timing fields (*_runtime,
# *_per_second, train_peak_rss_mb) are removed from JSON and log lines
# first. One thread, so reductions are ordered alike. About 30 s.
# Usage: scripts/train-identical.sh OLD_ABLM NEW_ABLM [WORK_DIR]
# Exits 0 when identical, 1 listing the files that differ.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_ABLM NEW_ABLM [WORK_DIR]" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2")
src=$(cd "$(dirname "$0")/.." && pwd)
work=${3:-$(mktemp -d)}
unit=$src/../shared/data/oas-paired/SRR10358525_paired.csv.gz
[ -f "$unit" ] || { echo "train-identical: $unit not found" >&2; exit 1; }
mkdir -p "$work"
D=$work/data C=$src/configs/heavy_tiny.json
"$old" prepare --input "$unit" --out "$D" --min-seq-id 0.95 --split-min-seq-id 0.9 --leak-sample 0 \
  >/dev/null 2>&1 || { echo "train-identical: prepare failed" >&2; exit 1; }

# runs every command with binary $1; outputs in $work/run, then moved to $work/$2
runs() {
  local B=$1 T=$work/run
  rm -rf "$T" "$work/$2"
  mkdir -p "$T"
  local common=(--config_name "$C" --disable_tqdm --threads 1)
  local a=("${common[@]}" --train_file "$D/train.txt" --validation_file "$D/val.txt" --output_dir "$T/a"
    --per_device_train_batch_size 8 --gradient_accumulation_steps 2 --max_seq_length 64
    --learning_rate 2e-3 --warmup_steps 5 --logging_steps 5 --eval_strategy steps --eval_steps 10
    --save_steps 10 --seed 11 --do_eval)
  # grouped, accumulation 2, eval/save every 10 steps, best model at end
  "$B" train "${a[@]}" --max_steps 30 --metric_for_best_model eval_loss --load_best_model_at_end \
    --save_total_limit 2 >"$T/a.out" 2>"$T/a.err"; echo "rc $?" >>"$T/status"
  cp -r "$T/a" "$T/a30"
  # line by line, epoch strategies, held-out share of train, 2 epochs
  "$B" train "${common[@]}" --train_file "$D/train.txt" --output_dir "$T/b" --line_by_line \
    --per_device_train_batch_size 16 --max_seq_length 64 --num_train_epochs 2 --logging_strategy epoch \
    --eval_strategy epoch --save_strategy epoch --logging_first_step --seed 3 --do_eval \
    >"$T/b.out" 2>"$T/b.err"; echo "rc $?" >>"$T/status"
  # resume of the first run to 40 steps from its checkpoint-30
  "$B" train "${a[@]}" --max_steps 40 >"$T/c.out" 2>"$T/c.err"; echo "rc $?" >>"$T/status"
  "$B" eval --model "$T/a" --validation_file "$D/test.txt" --threads 1 >"$T/e.out" 2>"$T/e.err"
  echo "rc $?" >>"$T/status"
  # --group_by_length, max_*_samples, eval batch 5, the tokenizer of run a
  "$B" train "${common[@]}" --tokenizer_name "$T/a" --train_file "$D/train.txt" \
    --validation_file "$D/val.txt" --output_dir "$T/d" --line_by_line --group_by_length \
    --max_train_samples 200 --max_eval_samples 30 --per_device_train_batch_size 8 \
    --per_device_eval_batch_size 5 --max_steps 12 --logging_steps 4 --eval_strategy steps \
    --eval_steps 6 --save_steps 6 --seed 5 --do_eval >"$T/d.out" 2>"$T/d.err"; echo "rc $?" >>"$T/status"
  # a finished run again (nothing to do) and error paths
  "$B" train "${common[@]}" --train_file "$D/train.txt" --validation_file "$D/val.txt" --output_dir "$T/d" \
    --max_steps 12 --seed 5 --line_by_line --group_by_length --max_train_samples 200 \
    --per_device_train_batch_size 8 >"$T/f5.out" 2>"$T/f5.err"; echo "rc $?" >>"$T/status"
  head -1 "$D/train.txt" >"$T/one.txt"
  "$B" train "${common[@]}" --train_file "$T/one.txt" --output_dir "$T/f1" --do_eval >"$T/f1.out" 2>"$T/f1.err"
  echo "rc $?" >>"$T/status"
  "$B" train "${common[@]}" --train_file "$T/missing.txt" --output_dir "$T/f2" >"$T/f2.out" 2>"$T/f2.err"
  echo "rc $?" >>"$T/status"
  "$B" train "${common[@]}" --train_file "$D/train.txt" --output_dir "$T/d/checkpoint-6" >"$T/f3.out" 2>"$T/f3.err"
  echo "rc $?" >>"$T/status"
  "$B" train "${common[@]}" --train_file "$D/train.txt" --output_dir "$T/f4" --max_seq_length 2 >"$T/f4.out" 2>"$T/f4.err"
  echo "rc $?" >>"$T/status"
  mv "$T" "$work/$2"
}

runs "$old" old
runs "$new" new
strip() { sed -E 's/"[a-z_]*(runtime|per_second|peak_rss_mb)": [-0-9.e+]+,? ?//g' "$1"; }
bad=0 n=0
lo=$(cd "$work/old" && find . -type f | sort) ln=$(cd "$work/new" && find . -type f | sort)
[ "$lo" = "$ln" ] || { echo "the file lists differ:"; diff <(echo "$lo") <(echo "$ln"); bad=1; }
for f in $lo; do
  n=$((n + 1))
  cmp -s "$work/old/$f" "$work/new/$f" && continue
  case $f in
    *.json | *.out | *.err) diff -q <(strip "$work/old/$f") <(strip "$work/new/$f") >/dev/null && continue ;;
  esac
  echo "differs: $f"
  bad=1
done
echo "train-identical: $n files compared in $work/old and $work/new: $([ $bad = 0 ] && echo identical || echo DIFFERENT)"
exit $bad
