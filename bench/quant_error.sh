#!/bin/sh
# bench/quant_error.sh: bench/quant_error.c on the two golden models (their batch, r 4) and on
# the t5-base preset (random weights, the t5-tiny-relu batch, r 8): what a bf16, int8 or q4
# frozen backbone changes in the taps, the logits, the LST logits and the side gradients.
set -eu
cd "$(dirname "$0")/.."
LST_BIN=${LST_BIN:-build/lst}
QUANT_ERROR=${QUANT_ERROR:-build/quant_error}
WORK=${WORK:-$(mktemp -d)}
for m in t5-tiny-relu t5-tiny-gated; do
    "$QUANT_ERROR" tests/data/$m tests/data/$m/batch.safetensors 4
done
[ -f "$WORK/t5-base/config.json" ] || "$LST_BIN" init --preset t5-base --out "$WORK/t5-base" --seed 1 >/dev/null
"$QUANT_ERROR" "$WORK/t5-base" tests/data/t5-tiny-relu/batch.safetensors 8
