#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, build dir build-fuzz) and
# runs each for SECONDS (default 60), one job, one after the other.
# Seed corpora are made at run time in build-fuzz/seeds/ from tests/fixtures
# and, when ../shared/data is there, a few rows of its OAS units (never
# committed). Corpora grow in build-fuzz/corpus/TARGET. Fails on the first
# crash, leak or timeout and prints the reproducer's path; rerun it with
# build-fuzz/TARGET REPRODUCER.
# Usage: fuzz/run.sh [SECONDS [TARGET...]]
#        fuzz/run.sh --prepare   (build and write the seeds only; fuzz/long.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
prepare=0
[ "${1:-}" = "--prepare" ] && { prepare=1; shift; }
secs=${1:-60}; shift || true
scripts/ensure-deps.sh clang libclang-rt-14-dev libomp-14-dev
dir=build-fuzz
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DABLM_FUZZ=ON >/dev/null
cmake --build "$dir" -j2 -- --no-print-directory >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
targets=("$@")
all=(safetensors config tokenizer reader gzip cluster train_args pairs model_config cli_args seqstore train_state predictions
     prepare_resume mmseqs_tsv all_results)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# --- seeds ---------------------------------------------------------------
S=$dir/seeds; rm -rf "$S"; for t in "${all[@]}"; do mkdir -p "$S/$t"; done
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
    { printf '\x00'; cat "$S/oas$i.csv"; } >"$S/pairs/oas$i"
    { printf '\x1c'; cat "$S/oas$i.csv"; } >"$S/pairs/oas${i}_limits"
    rm "$S/oas$i.csv"
  done
fi
printf '%s%s' "$fa" "$sep" >"$S/cluster/ok"; printf 's1\ts1\ns1\ts2\ns3\ts3\n' >>"$S/cluster/ok"
printf '%s%s' "$fa" "$sep" >"$S/cluster/unlisted_rep"; printf 's1\ts2\ns3\ts3\n' >>"$S/cluster/unlisted_rep"
printf -- '--output_dir\0out\0--train_file=t.csv.gz\0-learning_rate\0001e-4\0--do_train\0--do_eval\0false\0--max_steps\0-1\0--lr_scheduler_type\0cosine\0--evaluation_strategy\0steps\0--eval_steps\0100\0--seed=7\0--warmup_ratio\0000.06' >"$S/train_args/hf"
printf -- '--output_dir\0o\0--train_file\0t\0--eval_strategy\0steps\0--logging_steps\00050\0--save_steps\0100\0--load_best_model_at_end' >"$S/train_args/best"
printf -- '--output_dir\0o\0--no_remove_unused_columns\0--fp16\0--report_to\0none\0--per_device_train_batch_size=8' >"$S/train_args/misc"
printf -- '--output_dir\0o\0--train_file\0l.txt\0--block_size\0256\0--line_by_line\0--config_name\0configs/light_gpt.json' >"$S/train_args/clm"
# pairs: byte 0 = file name (0 unit.csv, 1 pairs.tsv, 2 pairs.txt, 3 pairs), options (fuzz_pairs.c)
{ printf '\x01'; cat $fx/pair_eval/pairs.tsv; } >"$S/pairs/plain_tsv"
{ printf '\x02'; head -4 $fx/pair_eval/pairs.tsv | tr '\t' '|' | sed 's/|/[SEP]/'; } >"$S/pairs/sep_lines"
{ printf '\x26'; head -4 $fx/pair_eval/pairs.tsv | tr '\t' '|'; } >"$S/pairs/bar_lines"
printf '\x05id\theavy\tlight\tlocus\tfwr1\tcdr1\tfwr2\tcdr2\tfwr3\tcdr3\tfwr4\np1\tEVQLVESGG\tDIQMTQSP\tIGK\tDIQ\tQSI\tSNY\tAAS\tTLQ\tQQSY\tFGQ\np2\tQVQL.QE\tQS-VLT\tIGL\t\t\t\t\t\t\t\np3\t\tDIQ\tIGK\n' >"$S/pairs/regions"
printf '\x08sequence_id_heavy,sequence_alignment_aa_heavy,sequence_alignment_aa_light,locus_light,v_call_light\nh1,EVQLVES,DIQMTQ,IGK,IGKV1*01\nh2,QVQ*LQE,QSVLTQX,,IGLV2*01\n' >"$S/pairs/oas_names"
# model_config: byte 0 even = GPT-2 config.json, odd = encoder-decoder config.json
for f in $fx/gpt2_tiny/config.json $fx/gpt2_cross_tiny/config.json configs/light_gpt*.json configs/h2l_light_tiny.json; do
  { printf '\x00'; cat "$f"; } >"$S/model_config/g2_$(basename "$(dirname "$f")")_$(basename "$f" .json)"
done
{ printf '\x01'; cat $fx/encdec_tiny/config.json; } >"$S/model_config/encdec"
# cli_args: byte 0 even = ablm generate (vocabulary 1 + byte0 / 2), odd = ablm train-h2l; then argv split at NUL
printf -- '\x30--num_beams\05\0--num_return_sequences\03\0--length_penalty\00.8\0--early_stopping\0true\0--bad_words_ids\0[[4],[0]]' >"$S/cli_args/beams"
printf -- '\x30--do_sample\0--top_k\010\0--top_p\00.9\0--temperature\00.7\0--seed=3\0--max_new_tokens=120' >"$S/cli_args/sample"
printf -- '\x30--num_beams\04\0--num_beam_groups\02\0--diversity_penalty\01.0\0--bad_words_ids\0none' >"$S/cli_args/diverse"
printf -- '\x01--encoder\0e\0--decoder\0d\0--adapters\08\0--freeze_encoder\0true\0--max_source_length\0150\0--output_dir\0o\0--train_file\0p.tsv\0--do_train\0--max_target_length=130' >"$S/cli_args/h2l"
printf -- '\x01--model_name_or_path\0ed\0--adapters\0--output_dir\0o\0--do_eval\0--validation_file\0v.tsv' >"$S/cli_args/h2l_dir"
# seqstore: byte 0 bit 0 clear = lines SEQ\tCDR3\tID\tFILE made into a store, byte 1 = patch count, 3 bytes a patch
printf '\x00\x00EVQLVESGG\tARDY\tid1\tunit1.csv\nQVQLQ*S\t\tid2\tunit1.csv\nDIQMT\tQQY\tid3\tunit2.csv\n' >"$S/seqstore/lines"
printf '\x00\x02\x10\x00\x07\x30\x00\xffEVQLVESGG\tARDY\tid1\tunit1.csv\nQVQL\t\tid2\tu2\n' >"$S/seqstore/patched"
printf '\x00\x01\x88\x00\x40EVQ\tA\ti\tf\n' >"$S/seqstore/patched_table"
# predictions: byte 0 bit 0 = predictions name (0 .fasta, 1 .tsv); test pairs, then the predictions
pt=$'id\theavy\tlight\np1\tEVQLVESGG\tDIQMTQSP\np2\tQVQLQES\tQSVLTQP\np3\tEVQ\tDIQ\n'
printf '\x00%s%s>p1\nDIQMTQSPSS\n>p2_1\nQSVLT\n>p2_2\nQSA\n>zz\nEIV\n' "$pt" "$sep" >"$S/predictions/fasta"
printf '\x01%s%sid\tgenerated\np1\tDIQ*MT\np3_0\tQS-V.L\nq\tDIQ\n' "$pt" "$sep" >"$S/predictions/tsv"
printf '\x01%s%ssequence_id,sequence_alignment_aa_light\np2,QSVLTQ\np1,DIQ\n' "$pt" "$sep" >"$S/predictions/csv"
# train_state: byte 0 even = trainer_state.json, odd = rng_state.json
printf '\x00{"best_global_step":200,"best_metric":0.5,"best_model_checkpoint":"out/checkpoint-200","epoch":1.5,"eval_steps":100,"global_step":300,"is_hyper_param_search":false,"is_local_process_zero":true,"is_world_process_zero":true,"log_history":[{"epoch":0.5,"grad_norm":1.25,"learning_rate":5e-05,"loss":2.9,"step":100},{"epoch":1.0,"eval_loss":0.5,"eval_runtime":1.5,"eval_samples_per_second":10.0,"step":200},{"epoch":1.5,"step":300,"total_flos":1e12,"train_loss":2.1,"train_runtime":60.0}],"logging_steps":100,"max_steps":300,"num_input_tokens_seen":0,"num_train_epochs":2,"save_steps":100,"stateful_callbacks":{"TrainerControl":{"args":{"should_epoch_stop":false,"should_evaluate":false,"should_log":false,"should_save":true,"should_training_stop":true},"attributes":{}}},"total_flos":1000000000000.0,"train_batch_size":8,"trial_name":null,"trial_params":null}' >"$S/train_state/hf"
printf '\x00{"global_step":0,"log_history":[],"best_metric":null,"epoch":0}' >"$S/train_state/empty"
printf '\x01{"world_size": 2, "python": {}, "numpy": {}}' >"$S/train_state/rng"

# prepare_resume: byte 0 bit 0 = 0 read marker (bit 1 set: the split marker, bit 2: with
# leakage), 1 clustering marker + rep file (bit 1: the target sets rep_hash, bits 2..7:
# sequences); key "fuzzkey" (fuzz_prepare_resume.c)
rdr='"reader":{"rows_read":3,"records_kept":2,"malformed_rows_skipped":1,"lines_in_skipped_rows":1,"filtered":{"empty_sequence":0,"locus":0,"not_productive":0,"stop_codon":0,"non_standard_residue":0,"too_short":0,"too_long":0},"kept_with_unknown_locus":0,"messages":["u.csv:3: bad row"]}'
printf '\x00{"stage":"read","key":"fuzzkey","store":"records.store","store_hash":"0123456789abcdef","store_bytes":100,"records":2,"files":[{"file":"u.csv","rows":3}],"files_skipped":[{"file":"v.csv.gz","error":"v.csv.gz: truncated","records_kept_before_error":0}],%s,"records_without_cdr3":0}' "$rdr" >"$S/prepare_resume/read"
printf '\x00{"stage":"read","key":"fuzzkey","store_hash":"0123456789abcdef","files":[],"files_skipped":[],"reader":{"rows_read":1e300},"records_without_cdr3":-1}' >"$S/prepare_resume/read_bad"
step='"step":{"step":"sequences","min_seq_id":0.9,"coverage":0.8,"clusters":2,"member_check":{"members":2,"checked":2,"below_threshold":0}}'
printf '\x13{"stage":"cluster","key":"fuzzkey","rep":"cluster.rep","sequences":4,%s}%s\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00' "$step" "$sep" >"$S/prepare_resume/cluster4"
printf '\x0f{"stage":"cluster","key":"fuzzkey","rep_hash":"x","step":{"clusters":3}}%s\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00' "$sep" >"$S/prepare_resume/cluster3_nostep"
printf '\x03{"key":"fuzzkey","step":{"step":"s"}}%s' "$sep" >"$S/prepare_resume/cluster0"
spl='"split":{"sequences":3,"clusters":3,"singleton_clusters":3,"order":"size","fill":"fit","train":{"ratio":0.8,"target":2.4,"sequences":2,"clusters":2},"val":{"ratio":0.1,"target":0.3,"sequences":1,"clusters":1},"test":{"ratio":0.1,"target":0.3,"sequences":0,"clusters":0},"largest_cluster":1,"top10_cluster_sizes":[1,1,1],"warnings":["test has 0 sequences"]}'
printf '\x06{"files":{"train.txt":"0123456789abcdef"},"stage":"split","key":"fuzzkey",%s,"leakage":{"val":{"mode":"exact","closest":[{"id":"a","train_id":"b","identity":0.5}]}}}' "$spl" >"$S/prepare_resume/split"
printf '\x02{"files":{},"key":"fuzzkey","split":{"train":{"sequences":1.5}}}' >"$S/prepare_resume/split_bad"
# mmseqs_tsv: the ids given to mmseqs, one a line, then the TSV it writes
printf 's1\ns2\ns3\nsp|P1|X\n%ss1\ts1\ns1\ts2\ns3\ts3\nsp|P1|X\tsp|P1|X\n' "$sep" >"$S/mmseqs_tsv/ok"
printf 'a\nb\nc\n%sa\tb\nb\tb\nc\tc\r\n' "$sep" >"$S/mmseqs_tsv/rep_member"
printf 'a\nb\n%sa\ta\n' "$sep" >"$S/mmseqs_tsv/missing"
# all_results: byte 0 = which new metrics (fuzz_all_results.c), then the old all_results.json
printf '\x03{\n    "epoch": 2.0,\n    "train_loss": 2.1,\n    "train_runtime": 60.0,\n    "train_samples": 800,\n    "train_samples_per_second": 13.333,\n    "train_steps_per_second": 1.667\n}' >"$S/all_results/train"
printf '\x00{"eval_loss": NaN, "perplexity": Infinity, "epoch": 1, "epoch": 3, "note": "x", "eval_steps": 1e300}' >"$S/all_results/python"
printf '\xff{}' >"$S/all_results/empty"

[ $prepare = 0 ] || exit 0

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
