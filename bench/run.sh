#!/bin/sh
# bench/run.sh: lst against the PyTorch peer on the same machine, same shapes, one after the
# other (never concurrently): training step time, tokens/s and peak memory, with their ratios
# and the targets of the CPU performance issue. `make bench` runs it.
#
#   bench/run.sh                 the three configurations below, STEPS timed steps each (default 3)
#   STEPS=5 bench/run.sh         more steps
#   ROUNDS=3 bench/run.sh        each configuration measured 3 times, lst and peer alternating;
#                                each side's median over the rounds, and the per-round ratio range
#                                (the machine's other tenants move single runs by 10-15%)
#   QUICK=1 bench/run.sh         t5-tiny shapes only: a smoke test of the harness (seconds)
#   CONFIGS="t5-base:lst:8:128:3" bench/run.sh   chosen configurations (model:method:B:T:D;
#                                method lst-bf16 = lst with --backbone-dtype bf16)
#   LST_BIN=build/lst PYTHON=/usr/bin/python3 THREADS=2 OUT=results.jsonl bench/run.sh
#
# lst side:  $LST_BIN bench --model PRESET --method lst|full --batch B --src-len T --tgt-len D
#            --steps N --json
# peer side: $PYTHON bench/peers/bench_torch.py (same options; PyTorch, float32, THREADS threads)
set -eu
cd "$(dirname "$0")/.."
LST_BIN=${LST_BIN:-build/lst}
PYTHON=${PYTHON:-/usr/bin/python3}
STEPS=${STEPS:-3}
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-2}
OUT=${OUT:-}

if [ -n "${CONFIGS:-}" ]; then
    : # given: model:method:batch:source:target ..., e.g. CONFIGS="t5-base:lst:8:128:3"
elif [ "${QUICK:-0}" = 1 ]; then
    CONFIGS="t5-tiny:lst:8:64:3 t5-tiny:full:8:64:3"
else
    # model:method:batch:source:target
    # lst-bf16: LST with the optional bf16 frozen backbone (lst bench --backbone-dtype bf16)
    # against the same float32 peer
    CONFIGS="t5-small:lst:16:128:3 t5-small:lst-bf16:16:128:3 t5-small:full:16:128:3 t5-base:lst:8:128:3 t5-base:lst-bf16:8:128:3"
fi

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "bench: $PYTHON cannot import torch (Debian: apt-get install python3-torch)" >&2
    exit 1
fi
have_lst=1
if ! "$LST_BIN" bench --help >/dev/null 2>&1; then
    echo "bench: '$LST_BIN bench' is not available: measuring the peer only" >&2
    have_lst=0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "bench: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), load $(cut -d' ' -f1-3 /proc/loadavg), $STEPS timed steps after 1 warm-up, peer threads $THREADS" >&2
for c in $CONFIGS; do
    IFS=: read -r model method B T D <<EOF
$c
EOF
    extra=""
    if [ "$method" = lst-bf16 ]; then method=lst; extra="--backbone-dtype bf16"; fi
    args="--model $model --method $method --batch $B --src-len $T --tgt-len $D --steps $STEPS"
    i=1
    while [ $i -le "$ROUNDS" ]; do
        if [ $have_lst = 1 ]; then
            echo "bench: lst  $args $extra (round $i)" >&2
            OMP_NUM_THREADS=$THREADS "$LST_BIN" bench $args $extra --json | tail -n 1 > "$tmp/$c.lst.$i" || echo '{"error": "lst bench failed"}' > "$tmp/$c.lst.$i"
        else
            echo '{}' > "$tmp/$c.lst.$i"
        fi
        echo "bench: peer $args (round $i)" >&2
        "$PYTHON" bench/peers/bench_torch.py $args --threads "$THREADS" | tail -n 1 > "$tmp/$c.peer.$i" \
            || echo '{"error": "peer failed"}' > "$tmp/$c.peer.$i"
        i=$((i + 1))
    done
done

"$PYTHON" - "$tmp" "$OUT" "$ROUNDS" $CONFIGS <<'PY'
import json, statistics, sys
tmp, out, rounds, configs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
# targets from the CPU performance issue: ratio lst / peer must be at most this
TARGETS = {("lst", "step"): 0.25, ("lst", "rss"): 0.5, ("full", "step"): 0.5,
           ("lst-bf16", "step"): 0.25, ("lst-bf16", "rss"): 0.5}

def load(p):
    try:
        with open(p) as f:
            return json.loads(f.read() or "{}")
    except ValueError:
        return {"error": "unparsable output"}

def fmt(v, scale=1.0, digits=0):
    return "-" if v is None else f"{v / scale:,.{digits}f}"

def combine(runs):
    """One side's rounds: the median of each number (the first error, if any)."""
    for r in runs:
        if "error" in r:
            return r
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and all(isinstance(r.get(k), (int, float)) for r in runs):
            out[k] = statistics.median(r[k] for r in runs)
    return out

rows, records = [], []
for c in configs:
    model, method, B, T, D = c.split(":")
    ls = [load(f"{tmp}/{c}.lst.{i}") for i in range(1, rounds + 1)]
    ps = [load(f"{tmp}/{c}.peer.{i}") for i in range(1, rounds + 1)]
    l, p = combine(ls), combine(ps)
    per_round = [a["step_ms_median"] / b["step_ms_median"] for a, b in zip(ls, ps)
                 if a.get("step_ms_median") and b.get("step_ms_median")]
    rng = f"{min(per_round):.2f}-{max(per_round):.2f}" if len(per_round) > 1 else "-"
    rec = {"config": {"model": model, "method": method, "batch": int(B), "src_len": int(T), "tgt_len": int(D)},
           "rounds": rounds, "lst": l, "peer": p, "lst_rounds": ls, "peer_rounds": ps}
    records.append(rec)
    def ratio(key):
        a, b = l.get(key), p.get(key)
        return a / b if a is not None and b else None
    rs, rr = ratio("step_ms_median"), ratio("peak_rss_bytes")
    def verdict(r, kind):
        t = TARGETS.get((method, kind))
        if t is None or r is None:
            return "", ""
        return f"<= {t}", "met" if r <= t else "MISSED"
    ts, vs = verdict(rs, "step")
    tr, vr = verdict(rr, "rss")
    rows.append([f"{model} {method} B{B} T{T} D{D}",
                 fmt(l.get("step_ms_median"), 1, 1), fmt(p.get("step_ms_median"), 1, 1),
                 fmt(rs, 1, 3), rng, ts, vs,
                 fmt(l.get("peak_rss_bytes"), 2**20, 1), fmt(p.get("peak_rss_bytes"), 2**20, 1),
                 fmt(rr, 1, 3), tr, vr,
                 fmt(l.get("tokens_per_s")), fmt(p.get("tokens_per_s")),
                 fmt(l.get("peak_bytes"), 2**20, 1)])
    for who, d in (("lst", l), ("peer", p)):
        if "error" in d:
            print(f"bench: {c}: {who}: {d['error']}", file=sys.stderr)

head = ["configuration", "lst ms", "peer ms", "ratio", "rounds", "target", "met?",
        "lst RSS MiB", "peer RSS MiB", "ratio", "target", "met?",
        "lst tok/s", "peer tok/s", "lst planned MiB"]
w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
line = lambda r: "  ".join(str(x).rjust(w[i]) if i else str(x).ljust(w[i]) for i, x in enumerate(r))
print(line(head))
print("  ".join("-" * x for x in w))
for r in rows:
    print(line(r))
print("step = forward + backward + clip + AdamW, median of the timed steps; RSS = whole-process peak"
      " (ru_maxrss); tokens/s = batch x (source + target) / median step; ratio = lst / peer")
print(f"{rounds} round(s), lst and peer alternating: figures are each side's median over the rounds;"
      " 'rounds' is the range of the per-round step ratios")
if out:
    with open(out, "a") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
PY
