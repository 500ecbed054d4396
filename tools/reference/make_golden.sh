#!/usr/bin/env bash
# Regenerate the golden logits files under tests/LongLM.Tests/golden/ with the
# independent NumPy references (tools/reference/llama_ref.py for the Llama family,
# tools/reference/alibi_ref.py for the ALiBi families MPT and BLOOM,
# tools/reference/clex_ref.py for CLEX on a Llama model).
#
#   tools/reference/make_golden.sh            # regenerate all golden files below
#
# Needs Debian's python with NumPy (apt-get install -y python3-numpy); override
# with PYTHON=... . Model folders default to /work/shared/models; override with
# MODELS=... .
#
# To add a golden file for another model folder (e.g. a random-weight fixture
# with biases and untied embeddings), add one `gen` line:
#   gen <model folder> <comma-separated ids> <output name> [all|last|ROWS]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
MODELS="${MODELS:-/work/shared/models}"
GOLDEN="$ROOT/tests/LongLM.Tests/golden"

gen() {
  local model="$1" ids="$2" name="$3" positions="${4:-all}"
  echo "+ $PYTHON tools/reference/llama_ref.py --model $model --ids $ids --out $GOLDEN/$name --positions $positions"
  "$PYTHON" "$ROOT/tools/reference/llama_ref.py" \
    --model "$model" --ids "$ids" --out "$GOLDEN/$name" --positions "$positions"
}

gen_alibi() {
  local model="$1" ids="$2" name="$3"; shift 3
  echo "+ $PYTHON tools/reference/alibi_ref.py --model $model --ids $ids --out $GOLDEN/$name $*"
  "$PYTHON" "$ROOT/tools/reference/alibi_ref.py" --model "$model" --ids "$ids" --out "$GOLDEN/$name" "$@"
}

gen_clex() {
  local model="$1" name="$2"; shift 2
  echo "+ $PYTHON tools/reference/clex_ref.py --model $model --out $GOLDEN/$name $*"
  "$PYTHON" "$ROOT/tools/reference/clex_ref.py" --model "$model" --out "$GOLDEN/$name" "$@"
}

mkdir -p "$GOLDEN"

# stories260K (llama2.c, HF Llama, F32, tied embeddings): BOS followed by the
# first 15 greedy ids of expected_greedy_200.json, logits at all 16 positions.
gen "$MODELS/stories260K" \
    1,403,407,261,378,432,383,286,261,376,298,315,421,395,317,426 \
    stories260K_logits.json all

# rope_scaling table (no model needed): inv_freq + attention factor per config.
echo "+ $PYTHON tools/reference/rope_scaling_ref.py --out $GOLDEN/rope_scaling.json"
"$PYTHON" "$ROOT/tools/reference/rope_scaling_ref.py" --out "$GOLDEN/rope_scaling.json"

# Random-weight fixtures written by `longlm make-fixture` (the tests rebuild them from the same seeds):
# tiny = q/k/v/o biases, untied lm_head, GQA 2:1, F32; tiny-tied = tied, GQA 2:1, BF16 storage.
LONGLM="${LONGLM:-$ROOT/tools/LongLM.Cli/bin/Release/net10.0/longlm}"
FIXTURES="$(mktemp -d)"
trap 'rm -rf "$FIXTURES"' EXIT
"$LONGLM" make-fixture --family llama --shape tiny --dtype f32 --seed 7 --out "$FIXTURES/tiny"
"$LONGLM" make-fixture --family llama --shape tiny-tied --dtype bf16 --seed 11 --out "$FIXTURES/tiny-tied"
gen "$FIXTURES/tiny" 5,100,257,300,12,42,318,7,99,150,200,250 fixture_tiny_f32_seed7_logits.json all
gen "$FIXTURES/tiny-tied" 5,100,257,299,12,42,280,7,99,150 fixture_tiny-tied_bf16_seed11_logits.json all

# ALiBi fixtures (6 heads, so the interleaved slope rule matters; trained length 64):
# mpt tiny = no_bias (as mpt-7b), F32; mpt tiny-bias = no_bias false (biases on every Linear
# and LayerNorm), F32; bloom tiny = per-head interleaved query_key_value, BF16 storage.
# 30 tokens, more than 3x the window L = 8, vanilla and LM-Infinite (L = D = 8, G = 2).
"$LONGLM" make-fixture --family mpt --shape tiny --dtype f32 --seed 5 --out "$FIXTURES/mpt-tiny"
"$LONGLM" make-fixture --family mpt --shape tiny-bias --dtype f32 --seed 6 --out "$FIXTURES/mpt-tiny-bias"
"$LONGLM" make-fixture --family bloom --shape tiny --dtype bf16 --seed 9 --out "$FIXTURES/bloom-tiny"
ALIBI_IDS=5,100,257,299,12,42,280,7,99,150,201,33,64,128,255,256,17,299,88,190,3,77,240,131,9,270,45,160,222,61
gen_alibi "$FIXTURES/mpt-tiny" "$ALIBI_IDS" fixture_mpt-tiny_f32_seed5_logits.json
gen_alibi "$FIXTURES/mpt-tiny" "$ALIBI_IDS" fixture_mpt-tiny_f32_seed5_lambda8-2-8_logits.json --lambda 8,2,8
gen_alibi "$FIXTURES/bloom-tiny" "$ALIBI_IDS" fixture_bloom-tiny_bf16_seed9_logits.json
gen_alibi "$FIXTURES/bloom-tiny" "$ALIBI_IDS" fixture_bloom-tiny_bf16_seed9_lambda8-2-8_logits.json --lambda 8,2,8
gen_alibi "$FIXTURES/mpt-tiny-bias" 5,100,257,299,12,42,280,7,99,150,201,33 fixture_mpt-tiny-bias_f32_seed6_logits.json

# stories260K with rope_scaling written into config.json (linear factor 4; llama3 factor 8, low 1, high 4,
# original 128), 40 ids past the trained length's quarter: checks the scaling table inside the model forward.
SCALED="$(mktemp -d)"
trap 'rm -rf "$FIXTURES" "$SCALED"' EXIT
for kind in linear llama3; do
  mkdir -p "$SCALED/$kind"
  cp "$MODELS/stories260K/model.safetensors" "$MODELS/stories260K/tokenizer.model" "$SCALED/$kind/"
  "$PYTHON" - "$MODELS/stories260K/config.json" "$SCALED/$kind/config.json" "$kind" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["rope_scaling"] = {"type": "linear", "factor": 4.0} if sys.argv[3] == "linear" else \
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 128}
json.dump(cfg, open(sys.argv[2], "w"), indent=2)
PY
  gen "$SCALED/$kind" 1,403,407,261,378,432,383,286,261,376,298,315,421,395,317,426,338,401,396,267,337,410,408,419,292,411,322,265,282,295,433,426,385,328,432,358,394,261,370,432 "stories260K_rope-${kind}_logits.json" all
done

# CLEX: stories260K (d = 8, L_tr = 512) with a seeded CLEX layer (max_factor 8, tanh, time_dt 0.01, log_scale
# false), ids 1 then SplitMix64(20240) ids in [3, 512). One-shot prefills at S = 512, 513, 1025 (t = 1, 2, 3),
# and a decode run crossing t = 1 -> 2 (prefill 508, then 8 one-token calls), without and with log scaling.
"$LONGLM" make-fixture --family llama-clex --base "$MODELS/stories260K" --seed 3 --out "$FIXTURES/clex"
CLEX_FIXTURE="longlm make-fixture --family llama-clex --base stories260K --seed 3"
gen_clex "$FIXTURES/clex" clex_stories260K_seed3_single.json --single 512,513,1025 --fixture "$CLEX_FIXTURE"
gen_clex "$FIXTURES/clex" clex_stories260K_seed3_decode.json --decode 508,8 --log-scale both --fixture "$CLEX_FIXTURE"

# CLEX one-call semantics (HF model(input_ids)): one forward of S = 513 / 1025 ids, every row at t(S) and, with
# log scaling, the factor of K = S; rows 0, 1, 255, 256, 510, 511, 512, 768, 1023, 1024 (those < S) with the full
# vocab, and the next-token NLL of every row. Log scale off (the fixture's config) and forced on.
CLEX_ROWS=0,1,255,256,510,511,512,768,1023,1024
gen_clex "$FIXTURES/clex" clex_stories260K_seed3_onecall.json --single 513,1025 --rows "$CLEX_ROWS" --nll \
    --log-scale off --fixture "$CLEX_FIXTURE"
gen_clex "$FIXTURES/clex" clex_stories260K_seed3_onecall_logscale.json --single 513,1025 --rows "$CLEX_ROWS" --nll \
    --log-scale on --fixture "$CLEX_FIXTURE"

# CLEX on real text for the CLI's ppl and generate: the ids are the fixture tokenizer's (longlm tokenize), the
# numbers the reference's. ppl: the corpus ids (BOS + the whole file) as one call of 1025, calls of 512 over 1025
# and 2000 (algorithms.md 3.7), calls of 1024 over 4100 with --extend (t = 8 past 4096, LongLM's --clex-extend). generate: the first 3000 characters of the corpus as the prompt (1518 ids, t = 3),
# prefilled in one call, then 24 greedy one-token calls (t 3 -> 4 at S = 1537). Both log scale off and on.
CORPUS="${CORPUS:-$MODELS/../corpus/tinystories-sample.txt}"
"$LONGLM" tokenize --model "$FIXTURES/clex" --file "$CORPUS" --json > "$FIXTURES/corpus_ids.json"
head -c 3000 "$CORPUS" > "$FIXTURES/prompt3000.txt"
"$LONGLM" tokenize --model "$FIXTURES/clex" --file "$FIXTURES/prompt3000.txt" --json > "$FIXTURES/prompt_ids.json"
gen_clex "$FIXTURES/clex" clex_stories260K_seed3_ppl.json --ppl 1025:1025,1025:512,2000:512,4100:1024 --log-scale both --extend \
    --ids-file "$FIXTURES/corpus_ids.json" --fixture "$CLEX_FIXTURE" \
    --ids-note "longlm tokenize --model FIXTURE --file corpus/tinystories-sample.txt --json (BOS + the whole file)"
gen_clex "$FIXTURES/clex" clex_stories260K_seed3_greedy.json --greedy 24 --log-scale both \
    --ids-file "$FIXTURES/prompt_ids.json" --fixture "$CLEX_FIXTURE" \
    --ids-note "longlm tokenize --model FIXTURE --file P --json, P = the first 3000 characters of corpus/tinystories-sample.txt"

# Dynamic NTK (HF rope_scaling dynamic, factor 4) on stories260K past its trained length: ONE call of the first 600
# corpus ids, so every row uses base' = base * ((4*600/512) - 3)^(8/6); rows 0, 1, 255, 256, 511, 512, 599.
mkdir -p "$SCALED/dynamic"
cp "$MODELS/stories260K/model.safetensors" "$MODELS/stories260K/tokenizer.model" "$SCALED/dynamic/"
"$PYTHON" - "$MODELS/stories260K/config.json" "$SCALED/dynamic/config.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["rope_scaling"] = {"type": "dynamic", "factor": 4.0}
json.dump(cfg, open(sys.argv[2], "w"), indent=2)
PY
DYNAMIC_IDS="$("$PYTHON" -c 'import json, sys; print(",".join(map(str, json.load(open(sys.argv[1]))["ids"][:600])))' "$FIXTURES/corpus_ids.json")"
gen "$SCALED/dynamic" "$DYNAMIC_IDS" stories260K_rope-dynamic4_S600_logits.json 0,1,255,256,511,512,599

# Embeddings (LongLMEmbeddingGenerator): mean over the tokens of the final RMSNorm output, from the same reference.
echo "+ $PYTHON tools/reference/llama_ref.py --model $MODELS/stories260K --ids 1,403,407,261,378,432 --mean-hidden --out $GOLDEN/stories260K_mean_hidden.json"
"$PYTHON" "$ROOT/tools/reference/llama_ref.py" --model "$MODELS/stories260K" --ids 1,403,407,261,378,432 --mean-hidden --out "$GOLDEN/stories260K_mean_hidden.json"

# ---- GPT-J (tools/reference/gptj_ref.py, attention from rope_attention_ref.py) ----
# gptj tiny: n_embd 64, 4 heads (head_dim 16), rotary_dim 8 (partial, interleaved), 2 layers, n_inner null (256),
# vocab 300, n_positions 64, untied lm_head with bias; F32 seed 13 and BF16 seed 14. The 30 ALiBi ids (more than
# 3x L = 8): vanilla and Lambda (8,2,8) one shot; top-k (k = 2, insert_at 4, from layer 1) over a prefill of 20
# then 10 one-token calls (top-k changes each call's last row, so the golden is incremental).
gen_gptj() {
  local model="$1" name="$2"; shift 2
  echo "+ $PYTHON tools/reference/gptj_ref.py --model $model --ids $ALIBI_IDS --out $GOLDEN/$name $*"
  "$PYTHON" "$ROOT/tools/reference/gptj_ref.py" --model "$model" --ids "$ALIBI_IDS" --out "$GOLDEN/$name" "$@"
}
"$LONGLM" make-fixture --family gptj --shape tiny --dtype f32 --seed 13 --out "$FIXTURES/gptj-tiny"
"$LONGLM" make-fixture --family gptj --shape tiny --dtype bf16 --seed 14 --out "$FIXTURES/gptj-tiny-bf16"
gen_gptj "$FIXTURES/gptj-tiny" fixture_gptj-tiny_f32_seed13_logits.json --fixture "longlm make-fixture --family gptj --shape tiny --dtype f32 --seed 13"
gen_gptj "$FIXTURES/gptj-tiny" fixture_gptj-tiny_f32_seed13_lambda8-2-8_logits.json --lambda 8,2,8 \
    --fixture "longlm make-fixture --family gptj --shape tiny --dtype f32 --seed 13"
gen_gptj "$FIXTURES/gptj-tiny" fixture_gptj-tiny_f32_seed13_lambda8-2-8_topk2-4-1_logits.json --lambda 8,2,8 --topk 2,4,1 \
    --calls 20,1,1,1,1,1,1,1,1,1,1 --fixture "longlm make-fixture --family gptj --shape tiny --dtype f32 --seed 13"
gen_gptj "$FIXTURES/gptj-tiny-bf16" fixture_gptj-tiny_bf16_seed14_logits.json --fixture "longlm make-fixture --family gptj --shape tiny --dtype bf16 --seed 14"
gen_gptj "$FIXTURES/gptj-tiny-bf16" fixture_gptj-tiny_bf16_seed14_lambda8-2-8_logits.json --lambda 8,2,8 \
    --fixture "longlm make-fixture --family gptj --shape tiny --dtype bf16 --seed 14"

# ---- GPT-NeoX (fam-neox): tools/reference/gpt_neox_ref.py on `make-fixture --family gpt-neox` ----
# tiny = parallel residual (use_parallel_residual true), F32, seed 13; tiny-seq = sequential residual, BF16, seed 14.
# Both: head size 16, rotary_pct 0.25 -> 4 half-split rotary dims, untied embed_out. 30 ids (> 3x L = 8): vanilla
# and Lambda (L = 8, G = 2, D = 8) as one call; top-k (k = 2, insert_at 4, layers >= 1) as a prefill of 20 ids then
# 10 one-token calls (top-k changes the last row of each call, so the golden carries its call schedule).
gen_neox() {
  local model="$1" name="$2"; shift 2
  echo "+ $PYTHON tools/reference/gpt_neox_ref.py --model $model --ids $NEOX_IDS --out $GOLDEN/$name $*"
  "$PYTHON" "$ROOT/tools/reference/gpt_neox_ref.py" --model "$model" --ids "$NEOX_IDS" --out "$GOLDEN/$name" "$@"
}
NEOX_IDS=5,100,257,299,12,42,280,7,99,150,201,33,64,128,255,256,17,299,88,190,3,77,240,131,9,270,45,160,222,61
NEOX_TOPK_SCHEDULE=20,1,1,1,1,1,1,1,1,1,1
"$LONGLM" make-fixture --family gpt-neox --shape tiny --dtype f32 --seed 13 --out "$FIXTURES/neox-tiny"
"$LONGLM" make-fixture --family gpt-neox --shape tiny-seq --dtype bf16 --seed 14 --out "$FIXTURES/neox-tiny-seq"
for fixture in "neox-tiny:fixture_gpt-neox-tiny_f32_seed13" "neox-tiny-seq:fixture_gpt-neox-tiny-seq_bf16_seed14"; do
  dir="$FIXTURES/${fixture%%:*}" base="${fixture#*:}"
  gen_neox "$dir" "${base}_logits.json"
  gen_neox "$dir" "${base}_lambda8-2-8_logits.json" --lambda 8,2,8
  gen_neox "$dir" "${base}_lambda8-2-8_topk2-4-1_logits.json" --lambda 8,2,8 --topk 2,4,1 --schedule "$NEOX_TOPK_SCHEDULE"
done
# GPT-NeoX tokenizer ids (node, not run here: needs `npm ci` in tools/reference/chat-ids):
#   (cd tools/reference/chat-ids && npm ci && node tokenize_ref.mjs "$MODELS/gpt-neox-tokenizer" \
#      ../../../tests/LongLM.Tests/data/tokenize/gpt_neox_texts.json ../../../tests/LongLM.Tests/golden/gpt_neox_tokenizer_ids.json)
# ---- Phi (PhiForCausalLM) and CLEX-Phi-2: tools/reference/phi_ref.py ----
# phi tiny: hidden 64, 4 heads (head_dim 16), GQA 2:1, partial_rotary_factor 0.5 (8 of 16 dims rotated, half-split),
# biases everywhere (lm_head too), F32, trained length 64. 30 tokens, more than 3x the window L = 8: vanilla,
# LM-Infinite (L = D = 8, G = 2), and top-k (k = 2 middle tokens at distance 4 from layer 1) as incremental calls
# (a prefill of 20, then 10 one-token calls). phi-clex: the same model plus a seeded CLEX layer (d = rotary_dim 8,
# max_factor 8, tanh, time_dt 0.01); one call of S = 64, 100, 150 ids (t = 1, 2, 3), rows r % 16 == 0 and the last.
gen_phi() {
  local model="$1" name="$2"; shift 2
  echo "+ $PYTHON tools/reference/phi_ref.py --model $model --out $GOLDEN/$name $*"
  "$PYTHON" "$ROOT/tools/reference/phi_ref.py" --model "$model" --out "$GOLDEN/$name" "$@"
}
"$LONGLM" make-fixture --family phi --shape tiny --dtype f32 --seed 13 --out "$FIXTURES/phi-tiny"
"$LONGLM" make-fixture --family phi-clex --base "$FIXTURES/phi-tiny" --seed 3 --out "$FIXTURES/phi-clex"
gen_phi "$FIXTURES/phi-tiny" fixture_phi-tiny_f32_seed13_logits.json --ids "$ALIBI_IDS"
gen_phi "$FIXTURES/phi-tiny" fixture_phi-tiny_f32_seed13_lambda8-2-8_logits.json --ids "$ALIBI_IDS" --lambda 8,2,8
gen_phi "$FIXTURES/phi-tiny" fixture_phi-tiny_f32_seed13_lambda8-2-8_topk2-4-1_logits.json --ids "$ALIBI_IDS" \
    --lambda 8,2,8 --topk 2,4,1 --calls 20,1,1,1,1,1,1,1,1,1,1
gen_phi "$FIXTURES/phi-clex" fixture_phi-clex-tiny_seed13-3_onecall.json --clex-single 64,100,150 --ids-seed 5

# ---- Mixtral (MixtralForCausalLM, sparse MoE: 8 experts, top-2; tools/reference/mixtral_ref.py) ----
# mixtral tiny = hidden 64, 4 heads, 2 kv heads, intermediate 96, 2 layers, vocab 300, trained length 64, F32, seed 15
# (seed chosen so no golden row sits near a routing tie: the files record min_routing_gap); tiny-window = the same
# with sliding_window 16. The 30 ALiBi ids (more than 3x the window L = 8): vanilla, sliding window, LM-Infinite
# (L = D = 8, G = 2), and LM-Infinite with top-k (k = 2 from layer 1, insert_at 4) as a prefill of 12 then one-token
# calls. CLEX-Mixtral (make-fixture --family mixtral-clex: param_factor 2, seed 3) one call of S = 64, 65, 129 ids
# (t = 1, 2, 3), rows 0, 1, 31, 63, 64, 127, 128 (those < S).
gen_mixtral() {
  local model="$1" name="$2"; shift 2
  echo "+ $PYTHON tools/reference/mixtral_ref.py --model $model --out $GOLDEN/$name $*"
  "$PYTHON" "$ROOT/tools/reference/mixtral_ref.py" --model "$model" --out "$GOLDEN/$name" "$@"
}
"$LONGLM" make-fixture --family mixtral --shape tiny --dtype f32 --seed 15 --out "$FIXTURES/mixtral-tiny"
"$LONGLM" make-fixture --family mixtral --shape tiny-window --dtype f32 --seed 15 --out "$FIXTURES/mixtral-tiny-window"
"$LONGLM" make-fixture --family mixtral-clex --base "$FIXTURES/mixtral-tiny" --seed 3 --out "$FIXTURES/mixtral-clex"
MIXTRAL_FIXTURE="longlm make-fixture --family mixtral --shape tiny --dtype f32 --seed 15"
gen_mixtral "$FIXTURES/mixtral-tiny" fixture_mixtral-tiny_f32_seed15_logits.json --ids "$ALIBI_IDS" --fixture "$MIXTRAL_FIXTURE"
gen_mixtral "$FIXTURES/mixtral-tiny-window" fixture_mixtral-tiny-window_f32_seed15_logits.json --ids "$ALIBI_IDS" \
    --fixture "longlm make-fixture --family mixtral --shape tiny-window --dtype f32 --seed 15"
gen_mixtral "$FIXTURES/mixtral-tiny" fixture_mixtral-tiny_f32_seed15_lambda8-2-8_logits.json --ids "$ALIBI_IDS" --lambda 8,2,8 \
    --fixture "$MIXTRAL_FIXTURE"
gen_mixtral "$FIXTURES/mixtral-tiny" fixture_mixtral-tiny_f32_seed15_lambda8-2-8_topk2-4-1_prefill12_logits.json --ids "$ALIBI_IDS" \
    --lambda 8,2,8 --topk 2,4,1 --schedule 12 --fixture "$MIXTRAL_FIXTURE"
MIXTRAL_CLEX_IDS="$("$PYTHON" -c 'print(",".join(str((i * 37 + 11) % 299) for i in range(129)))')"
gen_mixtral "$FIXTURES/mixtral-clex" clex_mixtral-tiny_seed15_clex3_onecall.json --ids "$MIXTRAL_CLEX_IDS" \
    --clex-single 64,65,129 --rows 0,1,31,63,64,127,-1 \
    --fixture "$MIXTRAL_FIXTURE, then longlm make-fixture --family mixtral-clex --base THAT --seed 3"
