#!/usr/bin/env bash
# The paper's comparison in miniature: every method (LST, its two ablations
# and the five baselines) on SST-2 from the vendored GLUE files, with the
# tiny random T5 of `make demo`, under one protocol. Writes Table 1
# (compare.md, compare.csv) and Figure 6 (compare.svg) to $OUT/compare.
# About half an hour on 2 cores; interrupted, it resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
LST=${LST:-build/lst}
OUT=${OUT:-demo}
SEEDS=${SEEDS:-0}
mkdir -p "$OUT"
[ -f "$OUT/t5-tiny/model.safetensors" ] || $LST init --preset t5-tiny --out "$OUT/t5-tiny" --seed 0
$LST compare --model "$OUT/t5-tiny" --task sst2 --data data/glue \
    --methods lst,full,lora,adapters,bitfit,prompt,side-tuning,compression --seeds "$SEEDS" \
    --out "$OUT/compare" --epochs 1 --max-steps 600 --batch 32 --warmup 50 --r 4 \
    --fisher-samples 64 --eval-batch 250 --gen-validation 3
echo "compare: $OUT/compare/compare.md, compare.csv, compare.svg"
