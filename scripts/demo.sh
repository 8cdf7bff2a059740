#!/usr/bin/env bash
# The bundled demo: a tiny random T5 checkpoint, the tokenizer, and one
# forward+backward dump checked against the golden reference.
set -euo pipefail
cd "$(dirname "$0")/.."
LST=${LST:-build/lst}
OUT=${OUT:-demo}
mkdir -p "$OUT"
$LST init --preset t5-tiny --out "$OUT/t5-tiny" --seed 0
echo "sst2 sentence: a gripping, funny and moving film" | $LST tokenize --spm data/t5/spiece.model
$LST dump --model tests/data/t5-tiny-relu --batch tests/data/t5-tiny-relu/batch.safetensors \
    --out "$OUT/dump.safetensors"
echo "demo: wrote $OUT/t5-tiny and $OUT/dump.safetensors"
