#!/usr/bin/env bash
# Learning parity of ablm train against a PyTorch loop with the Hugging Face
# Trainer's semantics (bench/learn_torch.py), in one invocation:
#   - data: the distinct OAS heavy chains of ../shared/data/oas-paired, seeded
#     shuffle, 2000 held out (learn_torch.py data);
#   - config: RoBERTa hidden 128, 2 layers, 4 heads, FFN 512, dropout 0.1;
#   - both sides: batch 32, lr 1e-3, linear schedule with 50 warmup steps,
#     400 steps, weight decay 0, clipping 1.0, run_mlm.py's 15% / 80-10-10
#     masking, one run per seed;
#   - ablm trains twice per seed: from its own initialisation (rb_model_init)
#     and from PyTorch's (learn_torch.py init: the very weights the PyTorch run
#     of that seed starts from), so the table separates training from the
#     initial draw;
#   - every model (ablm's and PyTorch's) is scored by ONE PyTorch evaluation
#     on the held-out chains, averaged over three masking seeds, and ablm's
#     models also by `ablm eval` (masking seeds 0, 1, 2) on the same weights.
# Prints a markdown table: per-seed eval loss of each side, mean, std over
# seeds, the ratios of the means and of the stds.
# Usage: bench/learn_vs_torch.sh [SEEDS] [OUT_DIR] [JOBS]
#   SEEDS   space-separated training seeds (default "42 7 1 2 3")
#   OUT_DIR working directory (default out/learn_vs_torch; rewritten)
#   JOBS    training runs at a time, each on one thread (default 2)
# STEPS=N in the environment shortens every run (smoke test; default 400).
# ABLM_TRAIN_FLAGS in the environment is appended to every ablm train
# command (ABLM_TRAIN_FLAGS=--bf16: bf16 mixed precision against the same
# PyTorch fp32 runs; compare the ablm columns with a run without it).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-42 7 1 2 3} out=${2:-out/learn_vs_torch} jobs=${3:-2} steps=${STEPS:-400}
py=/usr/bin/python3
[ -d ../shared/data/oas-paired ] || { echo "learn_vs_torch: ../shared/data/oas-paired not found" >&2; exit 1; }
scripts/ensure-deps.sh python3-torch >/dev/null
scripts/build.sh build >/dev/null
start=$(date +%s)
rm -rf "$out"
mkdir -p "$out"
$py bench/learn_torch.py data "$out/data"
cat > "$out/config.json" <<'EOF'
{"architectures": ["RobertaForMaskedLM"], "model_type": "roberta", "vocab_size": 25,
 "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 512,
 "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
 "max_position_embeddings": 514, "type_vocab_size": 1, "initializer_range": 0.02,
 "layer_norm_eps": 1e-05, "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3,
 "position_embedding_type": "absolute"}
EOF
# ablm's tokenizer as it saves it (vocab.txt), read by the PyTorch side
build/ablm train --config_name "$out/config.json" --train_file "$out/data/eval.txt" \
  --output_dir "$out/vocab" --max_steps 1 --save_strategy no --threads 1 >/dev/null 2>&1
vocab=$out/vocab/vocab.txt
jobfile=$out/jobs.txt
: > "$jobfile"
for s in $seeds; do
  $py bench/learn_torch.py init "$out/config.json" "$out/init-$s" --seed "$s"
  cp "$out/config.json" "$out/init-$s/config.json"
done
ablm_args="--train_file $out/data/train.txt --line_by_line --per_device_train_batch_size 32 --learning_rate 1e-3 --lr_scheduler_type linear --warmup_steps 50 --max_steps $steps --weight_decay 0 --max_grad_norm 1.0 --logging_steps 50 --save_strategy no --threads 1 ${ABLM_TRAIN_FLAGS:-}"
for s in $seeds; do
  echo "build/ablm train --config_name $out/config.json $ablm_args --output_dir $out/ablm-$s --seed $s > $out/ablm-$s.log 2>&1" >> "$jobfile"
  echo "build/ablm train --model_name_or_path $out/init-$s $ablm_args --output_dir $out/ablm-tinit-$s --seed $s > $out/ablm-tinit-$s.log 2>&1" >> "$jobfile"
  echo "OMP_NUM_THREADS=1 $py bench/learn_torch.py train $out/config.json $vocab $out/data/train.txt $out/torch-$s --seed $s --steps $steps --batch 32 --lr 1e-3 --warmup 50 --threads 1 > $out/torch-$s.log 2>&1" >> "$jobfile"
done
# PyTorch runs take longest: start them first
{ grep learn_torch "$jobfile"; grep -v learn_torch "$jobfile"; } | xargs -P "$jobs" -I{} sh -c '{}'
kinds="ablm ablm-tinit torch"
models=()
for k in $kinds; do for s in $seeds; do models+=("$out/$k-$s/model.safetensors"); done; done
OMP_NUM_THREADS=2 $py bench/learn_torch.py eval "$out/config.json" "$vocab" "$out/data/eval.txt" \
  "${models[@]}" --mask-seeds 0,1,2 --threads 2 > "$out/torch_eval.jsonl"
: > "$out/ablm_eval.jsonl"
for k in ablm ablm-tinit; do
  for s in $seeds; do
    for m in 0 1 2; do
      build/ablm eval --model "$out/$k-$s" --validation_file "$out/data/eval.txt" \
        --per_device_eval_batch_size 32 --seed $m --threads 2 |
        sed "s|^{|{\"model\": \"$out/$k-$s/model.safetensors\", \"mask_seed\": $m, |" >> "$out/ablm_eval.jsonl"
    done
  done
done
$py - "$out" "$seeds" "$(( $(date +%s) - start ))" <<'PY'
import json, os, statistics as st, sys
out, seeds, secs = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
te = {json.loads(l)["model"]: json.loads(l) for l in open(f"{out}/torch_eval.jsonl")}
ae = {}
for l in open(f"{out}/ablm_eval.jsonl"):
    r = json.loads(l)
    ae.setdefault(r["model"], []).append(r["eval_loss"])
col = lambda k: [te[f"{out}/{k}-{s}/model.safetensors"]["eval_loss"] for s in seeds]
A, AT, T = col("ablm"), col("ablm-tinit"), col("torch")
sd = lambda x: st.stdev(x) if len(x) > 1 else float("nan")
print(f"\n{len(seeds)} seeds per column, one PyTorch evaluation (masking seeds 0,1,2) of every model; "
      f"{secs // 60} min {secs % 60} s, load average {os.getloadavg()[0]:.1f}\n")
print("| seed | ablm (own init) | ablm (PyTorch's init of the seed) | PyTorch |")
print("| --- | --- | --- | --- |")
for row in zip(seeds, A, AT, T):
    print(f"| {row[0]} | " + " | ".join(f"{x:.4f}" for x in row[1:]) + " |")
print("| mean | " + " | ".join(f"{st.mean(x):.4f}" for x in (A, AT, T)) + " |")
print("| std | " + " | ".join(f"{sd(x):.4f}" for x in (A, AT, T)) + " |")
for name, x in (("ablm (own init)", A), ("ablm (PyTorch's init)", AT)):
    print(f"\n{name} / PyTorch: mean {st.mean(x) / st.mean(T):.4f} ({100 * (st.mean(x) / st.mean(T) - 1):+.2f}%), "
          f"std {sd(x) / sd(T):.2f}x", end="")
print("\n\n`ablm eval` (its own masking, seeds 0,1,2) against the PyTorch evaluation of the same weights:\n")
print("| model | ablm eval | PyTorch eval | difference | masking noise (1 s.e.) |")
print("| --- | --- | --- | --- | --- |")
for k in ("ablm", "ablm-tinit"):
    for s in seeds:
        m = f"{out}/{k}-{s}/model.safetensors"
        a, t = ae[m], te[m]["per_seed"]
        se = (st.variance(a) / len(a) + st.variance(t) / len(t)) ** 0.5
        print(f"| {k}-{s} | {st.mean(a):.4f} | {st.mean(t):.4f} | {st.mean(a) - st.mean(t):+.4f} | {se:.4f} |")
PY
