#!/usr/bin/python3
"""bench_torch.py: the PyTorch peer of `lst bench` (ANCHORS.md, CPU rows).

A T5 of a published shape with random weights (values do not change the time), random token
batches, and the training step the reference runs: train mode (dropout 0.1 in the backbone
and, for LST, in the side network), forward, backward, gradient clipping at 1.0, AdamW.
  --method lst   Ladder Side-Tuning: frozen backbone run without autograd (only the ladder
                 taps are kept), side network r (default 8), every layer kept; lr 3e-3
  --method full  full fine-tuning of every parameter; lr 3e-4
torch.set_num_threads(--threads, default 2), float32. One warm-up step, then --steps timed
steps; prints one JSON object: step_ms_median, step_ms_min, tokens_per_s (batch x (source +
target) tokens per second at the median step), peak_rss_bytes (ru_maxrss of the whole
process: Python, torch, weights, optimizer state, activations), and the settings.

  /usr/bin/python3 bench/peers/bench_torch.py --model t5-small --method lst --batch 16 \
      --src-len 128 --tgt-len 3 --steps 3
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t5_lst_torch as peer  # noqa: E402

PRESETS = {
    # name: d_model, d_ff, d_kv, heads, encoder layers, decoder layers, feed_forward_proj, tied
    "t5-tiny": (64, 256, 16, 4, 4, 4, "relu", True),
    "t5-small": (512, 2048, 64, 8, 6, 6, "relu", True),
    "t5-base": (768, 3072, 64, 12, 12, 12, "relu", True),
    "t5-large": (1024, 4096, 64, 16, 24, 24, "relu", True),
    "t5-3b": (1024, 16384, 128, 32, 24, 24, "relu", True),
}
VOCAB = 32100  # the checkpoints' 32128 rows shrunk to the tokenizer's size (LST-SPEC section 1)


def preset_config(name):
    d, dff, dkv, H, L, Ld, ffn, tie = PRESETS[name]
    return peer.T5Config({
        "vocab_size": VOCAB, "d_model": d, "d_ff": dff, "d_kv": dkv, "num_heads": H, "num_layers": L,
        "num_decoder_layers": Ld, "feed_forward_proj": ffn, "tie_word_embeddings": tie, "dropout_rate": 0.1,
        "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    })


def random_weights(cfg, gen):
    """HF names and shapes; N(0, 0.05^2), layer norms 1."""
    d, inner, dff, H = cfg.d_model, cfg.num_heads * cfg.d_kv, cfg.d_ff, cfg.num_heads
    shapes = {"shared.weight": (cfg.vocab_size, d)}
    if not cfg.tie:
        shapes["lm_head.weight"] = (cfg.vocab_size, d)
    for stack, L in (("encoder", cfg.num_layers), ("decoder", cfg.num_decoder_layers)):
        for i in range(L):
            pre = f"{stack}.block.{i}.layer"
            subs = ["SelfAttention"] + (["EncDecAttention"] if stack == "decoder" else [])
            for li, sub in enumerate(subs):
                for m in "qkv":
                    shapes[f"{pre}.{li}.{sub}.{m}.weight"] = (inner, d)
                shapes[f"{pre}.{li}.{sub}.o.weight"] = (d, inner)
                if i == 0 and li == 0:
                    shapes[f"{pre}.0.{sub}.relative_attention_bias.weight"] = (cfg.num_buckets, H)
                shapes[f"{pre}.{li}.layer_norm.weight"] = (d,)
            li = len(subs)
            for m in (("wi_0", "wi_1") if cfg.gated else ("wi",)):
                shapes[f"{pre}.{li}.DenseReluDense.{m}.weight"] = (dff, d)
            shapes[f"{pre}.{li}.DenseReluDense.wo.weight"] = (d, dff)
            shapes[f"{pre}.{li}.layer_norm.weight"] = (d,)
        shapes[f"{stack}.final_layer_norm.weight"] = (d,)
    W = {}
    for k, s in shapes.items():
        W[k] = torch.ones(s) if "layer_norm" in k else torch.randn(s, generator=gen) * 0.05
    return W


def random_batch(cfg, B, T, D, gen):
    ids = torch.randint(2, cfg.vocab_size, (B, T), generator=gen)
    labels = torch.randint(2, cfg.vocab_size, (B, D), generator=gen)
    dec = torch.zeros_like(labels)
    dec[:, 1:] = labels[:, :-1]
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels, "decoder_input_ids": dec}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="t5-small", choices=sorted(PRESETS))
    ap.add_argument("--method", default="lst", choices=["lst", "full"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--src-len", type=int, default=128)
    ap.add_argument("--tgt-len", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--side-layers", default=None,
                    help="LST: kept layers of both stacks, comma-separated (default all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    cfg = preset_config(a.model)
    W = random_weights(cfg, gen)
    B, T, D = a.batch, a.src_len, a.tgt_len
    if a.method == "lst":
        keep = [int(x) for x in a.side_layers.split(",")] if a.side_layers else None
        opts = peer.SideOpts(cfg, r=a.r, enc_keep=keep, dec_keep=keep)
        S = peer.side_init_random(cfg, opts, gen, torch.float32, 0.0, copy_bias_from=W)
        params = [v.requires_grad_(True) for v in S.values()]
        lr = 3e-3
    else:
        params = [v.requires_grad_(True) for v in W.values()]
        lr = 3e-4
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    times, losses = [], []
    for step in range(a.steps + 1):  # step 0 warms up
        batch = random_batch(cfg, B, T, D, gen)
        t0 = time.perf_counter()
        if a.method == "lst":
            loss = peer.lst_forward(W, S, cfg, opts, batch, p=a.dropout, training=True)["loss"]
        else:
            loss = peer.t5_forward(W, cfg, batch, p=a.dropout, training=True)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = (time.perf_counter() - t0) * 1e3
        losses.append(loss.item())
        del loss
        if step:
            times.append(dt)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({
        "impl": f"pytorch {torch.__version__}", "model": a.model, "method": a.method, "batch": B,
        "src_len": T, "tgt_len": D, "steps": a.steps, "threads": a.threads,
        "step_ms_median": round(med, 3), "step_ms_min": round(min(times), 3),
        "tokens_per_s": round(B * (T + D) / (med / 1e3), 1), "peak_rss_bytes": rss,
        "trainable_params": sum(p.numel() for p in params), "loss_first": losses[0], "loss_last": losses[-1],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
