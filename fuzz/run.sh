#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, build dir build-fuzz) and
# runs each for SECONDS (default 60), one job, one after the other.
# Seed corpora are made at run time in build-fuzz/seeds/ from tests/fixtures
# and, when ../shared/data is there, a few rows of its OAS units (never
# committed). Corpora grow in build-fuzz/corpus/TARGET. Fails on the first
# crash, leak or timeout and prints the reproducer's path; rerun it with
# build-fuzz/TARGET REPRODUCER.
# Usage: fuzz/run.sh [SECONDS [TARGET...]]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; shift || true
scripts/ensure-deps.sh clang libclang-rt-14-dev libomp-14-dev
dir=build-fuzz
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DABLM_FUZZ=ON >/dev/null
cmake --build "$dir" -j2 -- --no-print-directory >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors config tokenizer reader gzip cluster train_args)

# --- seeds ---------------------------------------------------------------
S=$dir/seeds; rm -rf "$S"; mkdir -p "$S"/{safetensors,config,tokenizer,reader,gzip,cluster,train_args}
sep=$'\n--8<--\n'
fx=tests/fixtures
cp $fx/roberta_tiny/model_f16.safetensors $fx/roberta_tiny/model_bf16.safetensors "$S/safetensors/"
head -c 4096 $fx/roberta_tiny/model.safetensors >"$S/safetensors/cut"
printf '\x20\x00\x00\x00\x00\x00\x00\x00{"__metadata__":{"a":"b"}}      ' >"$S/safetensors/empty"
cp $fx/roberta_tiny/config.json "$S/config/tiny.json"; cp $fx/roberta_pad1/config.json "$S/config/pad1.json"
cp configs/*.json "$S/config/"
t=$fx/ProteinTokenizer
{ cat $t/vocab.txt; printf '%s' "$sep"; cat $t/added_tokens.json; printf '%s' "$sep"; cat $t/tokenizer_config.json
  printf '%s' "$sep"; cat $t/special_tokens_map.json; } >"$S/tokenizer/protein"
v=$S/tokenizer/ablm; printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n' >"$v"; for c in A C D E F G H I K L M N P Q R S T V W Y; do echo $c >>"$v"; done
{ printf '%s{}%s{"tokenizer_class":"BertTokenizer","do_lower_case":false}%s' "$sep" "$sep" "$sep"
  printf '{"unk_token":"[UNK]","pad_token":"[PAD]","cls_token":"[CLS]","sep_token":"[SEP]","mask_token":"[MASK]"}%s{"version":"1.0"}' "$sep"; } >>"$v"
fa=$'>s1 heavy\nEVQLVESGGGLVQPGGSLRL\nSCAAS\n>s2\nQVQLQESGPGLVKPS\n>s3\nEVQLVESGGGLVQPGGSLRLSCAAS\n'
airr=$'sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\tproductive\tv_call\na1\tEVQLVESGGGLVQ\tARDY\tIGH\tT\tIGHV3-23*01\na2\tDIQMTQSPSSLSA\tQQYN\tIGK\tF\tIGKV1-39*01\n'
csv=$'sequence_id,sequence_alignment_aa,cdr3_aa,locus\nc1,EVQLVESGGGLVQ,ARDY,IGH\nc2,QVQLQESGPG,ARGG,IGH\n'
printf '\x02%s' "$fa" >"$S/reader/fasta"; printf '\x03EVQLVES\nQVQLQ*S\nE[MASK]VQ\n' >"$S/reader/plain"
printf '\x01%s' "$airr" >"$S/reader/airr"; printf '\x00%s' "$csv" >"$S/reader/csv"
printf '%s' "$fa" | gzip -c | { printf '\x05\xff'; cat; } >"$S/gzip/fasta"
printf '%s' "$airr" | gzip -c | { printf '\x03\xff'; cat; } >"$S/gzip/airr"
printf '\x04\x80%s' "$fa" >"$S/gzip/fasta_cut"
if ls ../shared/data/oas-paired/*.csv.gz >/dev/null 2>&1; then
  i=0
  for f in $(ls ../shared/data/oas-paired/*.csv.gz | head -3); do
    i=$((i + 1))
    zcat "$f" | head -4 >"$S/oas$i.csv" || true
    { printf '\x00'; cat "$S/oas$i.csv"; } >"$S/reader/oas$i"
    { printf '\x08'; cat "$S/oas$i.csv"; } >"$S/reader/oas${i}_light"
    gzip -c "$S/oas$i.csv" | { printf '\x01\xff'; cat; } >"$S/gzip/oas$i"
    { printf '\x00\xc0'; cat "$S/oas$i.csv"; } >"$S/gzip/oas${i}_cut"
    rm "$S/oas$i.csv"
  done
fi
printf '%s%s' "$fa" "$sep" >"$S/cluster/ok"; printf 's1\ts1\ns1\ts2\ns3\ts3\n' >>"$S/cluster/ok"
printf '%s%s' "$fa" "$sep" >"$S/cluster/unlisted_rep"; printf 's1\ts2\ns3\ts3\n' >>"$S/cluster/unlisted_rep"
printf -- '--output_dir\0out\0--train_file=t.csv.gz\0-learning_rate\0001e-4\0--do_train\0--do_eval\0false\0--max_steps\0-1\0--lr_scheduler_type\0cosine\0--evaluation_strategy\0steps\0--eval_steps\0100\0--seed=7\0--warmup_ratio\0000.06' >"$S/train_args/hf"
printf -- '--output_dir\0o\0--train_file\0t\0--eval_strategy\0steps\0--logging_steps\00050\0--save_steps\0100\0--load_best_model_at_end' >"$S/train_args/best"
printf -- '--output_dir\0o\0--no_remove_unused_columns\0--fp16\0--report_to\0none\0--per_device_train_batch_size=8' >"$S/train_args/misc"

# --- runs ----------------------------------------------------------------
export TMPDIR=$PWD/$dir/tmp # the targets' scratch files (left behind by a crash)
mkdir -p "$TMPDIR"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  c=$dir/corpus/$t; a=$dir/artifacts/$t/; mkdir -p "$c" "$a"
  log=$dir/fuzz_$t.log
  echo "fuzz: $t for ${secs}s" >&2
  if ! "$dir/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$a" -print_final_stats=1 "$c" "$S/$t" >"$log" 2>&1; then
    tail -60 "$log" >&2
    echo "fuzz: $t FAILED; reproducer: $(ls -t "$a"* 2>/dev/null | head -1)" >&2
    echo "fuzz: rerun with $dir/fuzz_$t REPRODUCER" >&2
    exit 1
  fi
  echo "fuzz: $t ok: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions," \
    "$(ls "$c" | wc -l) corpus files" >&2
done
