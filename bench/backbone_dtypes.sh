#!/bin/sh
# bench/backbone_dtypes.sh: what a bf16, int8 or 4-bit (NF4) frozen backbone does to a run
# (issue 14). The demo's tiny SST-2 setting (t5-tiny random backbone, r 4) on the first
# MAX_TRAIN training examples for EPOCHS epochs; for each seed, the float32 backbone, then each
# of DTYPES (the side network, ladders and LM head stay float32; Fisher pruning reads the
# float32 weights before the backbone is packed). Prints per run the final and mean training
# loss and the validation and test accuracy, and per dtype the mean and spread over the seeds and
# the mean difference from float32.
#
#   bench/backbone_dtypes.sh                     seeds 0 1 2, 4000 examples, 6 epochs, int8 q4
#   SEEDS="0 1" MAX_TRAIN=2000 EPOCHS=4 DTYPES="bf16 int8 q4" bench/backbone_dtypes.sh
set -eu
{
cd "$(dirname "$0")/.."
LST_BIN=${LST_BIN:-build/lst}
SEEDS=${SEEDS:-0 1 2}
MAX_TRAIN=${MAX_TRAIN:-4000}
EPOCHS=${EPOCHS:-6}
DTYPES="fp32 ${DTYPES:-int8 q4}"
WORK=${WORK:-$(mktemp -d)}
[ -f "$WORK/tiny/config.json" ] || "$LST_BIN" init --preset t5-tiny --out "$WORK/tiny" --seed 0 >/dev/null
for seed in $SEEDS; do
    for dt in $DTYPES; do
        echo "backbone_dtypes: seed $seed, $dt" >&2
        rm -rf "$WORK/run-$seed-$dt"
        "$LST_BIN" train --model "$WORK/tiny" --task sst2 --r 4 --batch 32 --epochs "$EPOCHS" \
            --max-train "$MAX_TRAIN" --warmup 100 --fisher-samples 256 --seed "$seed" \
            --backbone-dtype "$dt" --quiet --out "$WORK/run-$seed-$dt" >/dev/null
    done
done
python3 - "$WORK" "$DTYPES" $SEEDS <<'PY'
import csv, json, statistics, sys
work, dtypes, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def run(seed, dt):
    d = f"{work}/run-{seed}-{dt}"
    m = json.load(open(d + "/metrics.json"))
    loss = [float(r["loss"]) for r in csv.DictReader(open(d + "/log.csv"))]
    return {"val": m["validation"]["score"], "test": m["test"]["score"], "loss": loss,
            "step": m["step_ms_median"], "rss": m["peak_rss_mib"]}
R = {(s, dt): run(s, dt) for s in seeds for dt in dtypes}
print("seed dtype  final loss  mean loss  validation  test   step ms  peak RSS MiB")
for s in seeds:
    for dt in dtypes:
        r = R[(s, dt)]
        print(f"{s:4s} {dt:5s} {r['loss'][-1]:11.4f} {statistics.mean(r['loss']):10.4f}"
              f" {r['val']:11.2f} {r['test']:5.2f} {r['step']:9.1f} {r['rss']:13.1f}")
print("dtype  validation mean (min-max)   test mean (min-max)   test - fp32 (mean)")
for dt in dtypes:
    v = [R[(s, dt)]["val"] for s in seeds]
    t = [R[(s, dt)]["test"] for s in seeds]
    d = statistics.mean(R[(s, dt)]["test"] - R[(s, "fp32")]["test"] for s in seeds)
    print(f"{dt:5s}  {statistics.mean(v):6.2f} ({min(v):.2f}-{max(v):.2f})      "
          f"{statistics.mean(t):6.2f} ({min(t):.2f}-{max(t):.2f})      {d:+.2f}")
PY
}
