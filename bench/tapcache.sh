#!/bin/sh
# bench/tapcache.sh: the tap cache (issue 15) on a whole run of the paper's protocol: the same
# `lst train` with the backbone in eval mode, without and then with --tap-cache (one after the
# other, same machine), their wall times and ratio, the time of each epoch after the first, the
# cache's size; and the PyTorch spec peer's estimated wall time for the same run (its measured
# step time at the run's batch x the run's steps, plus lst's own evaluation time as a stand-in
# for the peer's, which favours the peer).
#
#   bench/tapcache.sh                          RTE, t5-small preset, 20 epochs, batch 100
#   TASK=sst2 MODEL=t5-base MAX_TRAIN=8000 EPOCHS=5 bench/tapcache.sh
#   DTYPE=bf16 bench/tapcache.sh               the cache in bf16
#   CACHED_ONLY=1 bench/tapcache.sh            only the run with the cache (size, epoch times)
#   PEER=0 bench/tapcache.sh                   no peer measurement
#   ANALYZE_ONLY=1 WORK=DIR bench/tapcache.sh  the table again from the runs in DIR
#   EXTRA="--init magnitude" bench/tapcache.sh  more lst train options for both runs
#   PLAIN_EPOCHS=3 bench/tapcache.sh           the run without the cache stops after 3 epochs
#                                              (every epoch of it costs the same: its wall time
#                                              for EPOCHS is extrapolated, and said to be)
#
# MODEL is a preset (random weights of that shape: the times do not depend on the values, the
# generation lengths do a little) or a checkpoint directory.
set -eu
{
cd "$(dirname "$0")/.."
LST_BIN=${LST_BIN:-build/lst}
PYTHON=${PYTHON:-/usr/bin/python3}
TASK=${TASK:-rte}
MODEL=${MODEL:-t5-small}
EPOCHS=${EPOCHS:-20}
BATCH=${BATCH:-100}
DTYPE=${DTYPE:-f32}
MAX_TRAIN=${MAX_TRAIN:-0}
THREADS=${THREADS:-2}
WORK=${WORK:-$(mktemp -d)}
echo "tapcache: $TASK, $MODEL, $EPOCHS epochs, batch $BATCH, cache $DTYPE, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), in $WORK" >&2

model=$MODEL
if [ ! -d "$MODEL" ]; then
    model=$WORK/model
    [ -f "$model/config.json" ] || "$LST_BIN" init --preset "$MODEL" --out "$model" --seed 1 >/dev/null
fi
common="--model $model --task $TASK --batch $BATCH --no-backbone-dropout --quiet"
[ "$MAX_TRAIN" != 0 ] && common="$common --max-train $MAX_TRAIN"
common="$common ${EXTRA:-}"

PLAIN_EPOCHS=${PLAIN_EPOCHS:-$EPOCHS}
run() { # name, extra options
    rm -rf "$WORK/$1"
    start=$(date +%s.%N)
    OMP_NUM_THREADS=$THREADS "$LST_BIN" train $common $2 --out "$WORK/$1" >/dev/null
    end=$(date +%s.%N)
    echo "$start $end" > "$WORK/$1.time"
}
if [ "${ANALYZE_ONLY:-0}" = 1 ]; then
    : # the runs in $WORK are already there
elif [ "${CACHED_ONLY:-0}" != 1 ]; then
    echo "tapcache: without the cache..." >&2
    run plain "--epochs $PLAIN_EPOCHS"
fi
if [ "${ANALYZE_ONLY:-0}" != 1 ]; then
    echo "tapcache: with --tap-cache $WORK/cache --tap-cache-dtype $DTYPE..." >&2
    rm -rf "$WORK/cache"
    run cached "--epochs $EPOCHS --tap-cache $WORK/cache --tap-cache-dtype $DTYPE"
fi

peer_ms=""
if [ "${PEER:-1}" = 1 ] && "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "tapcache: the peer's step at batch $BATCH, source 128, target 3..." >&2
    peer_ms=$(OMP_NUM_THREADS=$THREADS "$PYTHON" bench/peers/bench_torch.py --model "$MODEL" \
        --method lst --batch "$BATCH" --src-len 128 --tgt-len 3 --steps 2 2>/dev/null |
        tail -n 1 | "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)['step_ms_median'])" || true)
fi

"$PYTHON" - "$WORK" "$peer_ms" "$EPOCHS" "$PLAIN_EPOCHS" <<'PY'
import csv, json, os, statistics, sys
work, peer_ms, epochs, plain_epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def load(name):
    d = os.path.join(work, name)
    if not os.path.exists(d + ".time"):
        return None
    t0, t1 = map(float, open(d + ".time").read().split())
    m = json.load(open(os.path.join(d, "metrics.json")))
    rows = list(csv.DictReader(open(os.path.join(d, "log.csv"))))
    ends = {}
    for r in rows:
        ends[int(r["epoch"])] = float(r["elapsed_s"])
    ep = [ends[e] - ends[e - 1] for e in sorted(ends) if e - 1 in ends]
    last = ends[max(ends)] if ends else 0.0
    return {"wall": t1 - t0, "run_wall": float(m["wall_s"]), "last_step_wall": last, "steps": int(m["steps"]), "step_ms": m.get("step_ms_median"),
            "first_epoch": ends.get(1), "later_epoch": statistics.median(ep) if ep else None,
            "rss": m.get("peak_rss_mib"), "val": m["validation"].get("score"), "test": (m.get("test") or {}).get("score")}
p, c = load("plain"), load("cached")
if p and plain_epochs < epochs:  # every epoch of the uncached run costs the same
    setup = p["wall"] - p["run_wall"]          # loading, Fisher
    final = p["run_wall"] - p["last_step_wall"]  # the last validation and the final evaluation
    per = p["last_step_wall"] / plain_epochs      # an epoch's steps and (but the last) validation
    est = setup + per * epochs + final
    print(f"(the run without the cache ran {plain_epochs} of {epochs} epochs in {p['wall']:.1f} s; its "
          f"{epochs}-epoch wall time is extrapolated: {setup:.0f} s setup + {epochs} x {per:.1f} s + "
          f"{final:.0f} s final evaluation = {est:.0f} s)")
    p["wall"] = est
    p["steps"] = p["steps"] * epochs // plain_epochs
size = 0
for f in ("train.taps", "validation.taps", "test.taps"):
    q = os.path.join(work, "cache", f)
    if os.path.exists(q):
        size += os.path.getsize(q)
print("run          wall s   steps  step ms (median)  epoch 1 s  later epochs s (median)  peak RSS MiB  val  test")
for name, r in (("no cache", p), ("tap cache", c)):
    if r:
        print(f"{name:10s} {r['wall']:8.1f} {r['steps']:7d} {r['step_ms'] or 0:17.1f} {r['first_epoch'] or 0:10.1f}"
              f" {r['later_epoch'] or 0:24.1f} {r['rss'] or 0:13.0f} {r['val']:5.1f} {r['test'] if r['test'] is not None else float('nan'):5.1f}")
print(f"cache on disk: {size / 2**20:.1f} MiB")
if p and c:
    print(f"wall time, cache / no cache: {c['wall'] / p['wall']:.3f}")
if peer_ms and c:
    try:
        ms = float(peer_ms)
        ref = p or c
        evals = ref["wall"] - ref["steps"] * (ref["step_ms"] or 0) / 1e3
        est = c["steps"] * ms / 1e3 + max(evals, 0)
        print(f"peer: {ms:.0f} ms a step x {c['steps']} steps + lst's evaluation {max(evals, 0):.0f} s "
              f"= {est:.0f} s estimated; lst with the cache / peer: {c['wall'] / est:.3f}")
    except ValueError:
        pass
PY
}
