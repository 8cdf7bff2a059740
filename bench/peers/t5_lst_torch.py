#!/usr/bin/python3
"""t5_lst_torch.py: a PyTorch peer of lst, written from LST-SPEC sections 1-3.

T5 (v1.0 relu/tied with the d_model^-0.5 logits scale, v1.1/FLAN gated-gelu/untied), full
fine-tuning, and Ladder Side-Tuning (side network, ladders, gates, upsample, frozen LM head,
torch AdamW), plus the structural-pruning initialisation (magnitude, Fisher). No transformers:
the model is plain functions over a {HF name: tensor} dict, so checkpoints, side weights and
gradients keep the names of shared/golden/README.md.

Run on demand only (never by `make test`); needs Debian's /usr/bin/python3 with torch + numpy.

  /usr/bin/python3 bench/peers/t5_lst_torch.py dump --model DIR --batch FILE --out FILE \
      [--side FILE --side-config JSON] [--dtype float64|float32] [--out-dtype F32|F64] [--no-grad]

mirrors `lst dump` (same inputs, same output names).
"""
import argparse
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np as st  # noqa: E402

NEG = -1e30  # added to masked scores; exp() of it is exactly 0 in fp32 and fp64


# ---------------------------------------------------------------- config

class T5Config:
    """The fields of an HF T5 config.json that the model needs."""

    def __init__(self, d):
        self.vocab_size = int(d["vocab_size"])
        self.d_model = int(d["d_model"])
        self.d_kv = int(d["d_kv"])
        self.d_ff = int(d["d_ff"])
        self.num_layers = int(d["num_layers"])
        ndl = d.get("num_decoder_layers")
        self.num_decoder_layers = int(ndl) if ndl is not None else self.num_layers
        self.num_heads = int(d["num_heads"])
        self.num_buckets = int(d.get("relative_attention_num_buckets", 32))
        self.max_distance = int(d.get("relative_attention_max_distance", 128))
        self.dropout_rate = float(d.get("dropout_rate", 0.1))
        self.eps = float(d.get("layer_norm_epsilon", 1e-6))
        self.feed_forward_proj = d.get("feed_forward_proj", "relu")
        self.tie = bool(d.get("tie_word_embeddings", True))
        self.decoder_start_token_id = int(d.get("decoder_start_token_id", 0) or 0)
        self.pad_token_id = int(d.get("pad_token_id", 0) or 0)
        parts = self.feed_forward_proj.split("-")
        self.gated = parts[0] == "gated"
        self.act = parts[-1]
        if self.feed_forward_proj == "gated-gelu":
            self.act = "gelu_new"  # transformers maps gated-gelu to the tanh gelu

    def side(self, r):
        """The side config: d_model, d_ff, d_kv divided by r, heads unchanged."""
        s = copy.copy(self)
        s.d_model, s.d_ff, s.d_kv = self.d_model // r, self.d_ff // r, self.d_kv // r
        if min(s.d_model, s.d_ff, s.d_kv) < 1:
            raise ValueError(f"r = {r} leaves no side width")
        return s


def act_fn(name):
    if name == "relu":
        return F.relu
    if name == "gelu":
        return F.gelu  # exact (erf)
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name in ("silu", "swish"):
        return F.silu
    raise ValueError(f"unsupported activation {name}")


# ---------------------------------------------------------------- layers

def rms_norm(x, w, eps):
    # variance in fp32 at least (T5LayerNorm), in fp64 when running fp64
    h = x if x.dtype == torch.float64 else x.float()
    var = h.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def relative_position_bucket(rel, bidirectional, num_buckets, max_distance):
    """transformers' T5Attention._relative_position_bucket, line for line."""
    buckets = 0
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).to(torch.long) * num_buckets
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    large = max_exact + (
        torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, rel, large)


def position_bias(table, qlen, klen, bidirectional, cfg):
    """table: [buckets, H] -> [1, H, qlen, klen]."""
    ctx = torch.arange(qlen, dtype=torch.long)[:, None]
    mem = torch.arange(klen, dtype=torch.long)[None, :]
    b = relative_position_bucket(mem - ctx, bidirectional, cfg.num_buckets, cfg.max_distance)
    return F.embedding(b, table).permute(2, 0, 1).unsqueeze(0)


def key_mask_bias(mask, dtype):
    """mask: [B, T] of 0/1 -> [B, 1, 1, T] additive bias on keys."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * NEG


def causal_bias(D, dec_mask, dtype):
    """[1 or B, 1, D, D]: causal, plus the decoder padding mask on keys when given."""
    c = torch.triu(torch.ones(D, D, dtype=dtype), diagonal=1)[None, None] * NEG
    return c if dec_mask is None else c + key_mask_bias(dec_mask, dtype)


def attention(x, kv, W, pre, cfg, bias, p, training):
    """x: [B, Tq, d], kv: [B, Tk, d]; no 1/sqrt(d_kv) scaling."""
    B, Tq, _ = x.shape
    Tk = kv.shape[1]
    H, dk = cfg.num_heads, cfg.d_kv
    q = F.linear(x, W[pre + ".q.weight"]).view(B, Tq, H, dk).transpose(1, 2)
    k = F.linear(kv, W[pre + ".k.weight"]).view(B, Tk, H, dk).transpose(1, 2)
    v = F.linear(kv, W[pre + ".v.weight"]).view(B, Tk, H, dk).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(3, 2))
    if bias is not None:
        scores = scores + bias
    if scores.dtype == torch.float64:
        attn = F.softmax(scores, dim=-1)
    else:
        attn = F.softmax(scores.float(), dim=-1).type_as(scores)
    attn = F.dropout(attn, p, training)
    out = torch.matmul(attn, v).transpose(1, 2).reshape(B, Tq, H * dk)
    return F.linear(out, W[pre + ".o.weight"])


def feed_forward(x, W, pre, cfg, p, training):
    act = act_fn(cfg.act)
    if cfg.gated:
        h = act(F.linear(x, W[pre + ".wi_0.weight"])) * F.linear(x, W[pre + ".wi_1.weight"])
    else:
        h = act(F.linear(x, W[pre + ".wi.weight"]))
    h = F.dropout(h, p, training)
    return F.linear(h, W[pre + ".wo.weight"])


def t5_block(x, W, pre, cfg, is_dec, self_bias, enc, cross_bias, p, training):
    """Pre-norm residual sub-layers: self-attention, [cross-attention], FFN."""
    h = rms_norm(x, W[pre + ".layer.0.layer_norm.weight"], cfg.eps)
    x = x + F.dropout(attention(h, h, W, pre + ".layer.0.SelfAttention", cfg, self_bias, p, training), p, training)
    li = 1
    if is_dec:
        h = rms_norm(x, W[pre + ".layer.1.layer_norm.weight"], cfg.eps)
        x = x + F.dropout(attention(h, enc, W, pre + ".layer.1.EncDecAttention", cfg, cross_bias, p, training),
                          p, training)
        li = 2
    h = rms_norm(x, W[f"{pre}.layer.{li}.layer_norm.weight"], cfg.eps)
    return x + F.dropout(feed_forward(h, W, f"{pre}.layer.{li}.DenseReluDense", cfg, p, training), p, training)


# ---------------------------------------------------------------- backbone

def backbone_stack(W, cfg, stack, ids, self_mask, enc=None, cross_bias=None, p=0.0, training=False,
                   taps=None, n_layers=None):
    """One T5 stack. self_mask: additive [B|1, 1, T|1, T]. taps (a list) receives the embedding
    lookup and every block output (before the final norm). Returns dropout(final_norm(x))."""
    is_dec = stack == "decoder"
    L = cfg.num_decoder_layers if is_dec else cfg.num_layers
    if n_layers is not None:
        L = n_layers
    T = ids.shape[1]
    x = F.embedding(ids, W["shared.weight"])
    if taps is not None:
        taps.append(x)
    x = F.dropout(x, p, training)
    bias = position_bias(W[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                         T, T, not is_dec, cfg) + self_mask
    for i in range(L):
        x = t5_block(x, W, f"{stack}.block.{i}", cfg, is_dec, bias, enc, cross_bias, p, training)
        if taps is not None:
            taps.append(x)
    return F.dropout(rms_norm(x, W[f"{stack}.final_layer_norm.weight"], cfg.eps), p, training)


def lm_head(W, cfg, h):
    if cfg.tie:
        return F.linear(h * (cfg.d_model ** -0.5), W["shared.weight"])
    return F.linear(h, W["lm_head.weight"])


def xent(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def t5_forward(W, cfg, batch, p=0.0, training=False, want_taps=False):
    """Full model. Returns dict: logits, loss (if labels), taps, hidden states."""
    dt = W["shared.weight"].dtype
    src_bias = key_mask_bias(batch["attention_mask"], dt)
    dec_ids = batch["decoder_input_ids"]
    dec_bias = causal_bias(dec_ids.shape[1], batch.get("decoder_attention_mask"), dt)
    et, dtp = ([], []) if want_taps else (None, None)
    enc = backbone_stack(W, cfg, "encoder", batch["input_ids"], src_bias, p=p, training=training, taps=et)
    dec = backbone_stack(W, cfg, "decoder", dec_ids, dec_bias, enc, src_bias, p, training, taps=dtp)
    out = {"logits": lm_head(W, cfg, dec), "encoder_last_hidden_state": enc, "decoder_last_hidden_state": dec,
           "encoder_taps": et, "decoder_taps": dtp}
    if batch.get("labels") is not None:
        out["loss"] = xent(out["logits"], batch["labels"])
    return out


# ---------------------------------------------------------------- LST side network

class SideOpts:
    def __init__(self, cfg, r=8, enc_keep=None, dec_keep=None, gate_T=0.1):
        self.r = int(r)
        self.gate_T = float(gate_T)
        self.keep = {
            "encoder": sorted(enc_keep) if enc_keep is not None else list(range(cfg.num_layers)),
            "decoder": sorted(dec_keep) if dec_keep is not None else list(range(cfg.num_decoder_layers)),
        }
        for s, L in (("encoder", cfg.num_layers), ("decoder", cfg.num_decoder_layers)):
            k = self.keep[s]
            if not k or len(set(k)) != len(k) or k[0] < 0 or k[-1] >= L:
                raise ValueError(f"bad {s} side layers {k} for {L} layers")

    @staticmethod
    def from_json(cfg, j):
        return SideOpts(cfg, j.get("r", 8), j.get("encoder_side_layers"), j.get("decoder_side_layers"),
                        j.get("gate_T", 0.1))


def side_block_names(scfg, stack, i, first):
    """{name: shape} of side block i (the HF block names under side_<stack>.block.i)."""
    d, dff, inner = scfg.d_model, scfg.d_ff, scfg.num_heads * scfg.d_kv
    pre = f"side_{stack}.block.{i}"
    out = {}

    def attn(p):
        out[p + ".q.weight"] = (inner, d)
        out[p + ".k.weight"] = (inner, d)
        out[p + ".v.weight"] = (inner, d)
        out[p + ".o.weight"] = (d, inner)

    attn(pre + ".layer.0.SelfAttention")
    if first:
        out[pre + ".layer.0.SelfAttention.relative_attention_bias.weight"] = (scfg.num_buckets, scfg.num_heads)
    out[pre + ".layer.0.layer_norm.weight"] = (d,)
    li = 1
    if stack == "decoder":
        attn(pre + ".layer.1.EncDecAttention")
        out[pre + ".layer.1.layer_norm.weight"] = (d,)
        li = 2
    ff = f"{pre}.layer.{li}.DenseReluDense"
    if scfg.gated:
        out[ff + ".wi_0.weight"] = (dff, d)
        out[ff + ".wi_1.weight"] = (dff, d)
    else:
        out[ff + ".wi.weight"] = (dff, d)
    out[ff + ".wo.weight"] = (d, dff)
    out[f"{pre}.layer.{li}.layer_norm.weight"] = (d,)
    return out


def side_param_shapes(cfg, opts):
    """{name: shape} of every side parameter, in lst_side_init.safetensors naming."""
    scfg = cfg.side(opts.r)
    d, ds = cfg.d_model, scfg.d_model
    out = {}
    for stack, L in (("encoder", cfg.num_layers), ("decoder", cfg.num_decoder_layers)):
        sn = f"side_{stack}"
        out[sn + ".first_downsample.weight"] = (ds, d)
        out[sn + ".first_downsample.bias"] = (ds,)
        for i in range(L):
            out[f"{sn}.gates.{i}"] = (1,)
        for k, i in enumerate(opts.keep[stack]):
            out[f"{sn}.downsamples.{i}.weight"] = (ds, d)
            out[f"{sn}.downsamples.{i}.bias"] = (ds,)
            out.update(side_block_names(scfg, stack, i, k == 0))
        out[sn + ".final_layer_norm.weight"] = (ds,)
    out["upsample.weight"] = (d, ds)
    out["upsample.bias"] = (d,)
    return out


def side_init_random(cfg, opts, gen, dtype=torch.float32, gate_init=0.0, copy_bias_from=None):
    """The random ablation init: norms 1, every other weight N(0, 0.01^2), biases 0, gates
    gate_init. copy_bias_from: a backbone dict to copy block 0's relative bias from."""
    S = {}
    for name, shape in side_param_shapes(cfg, opts).items():
        if name.endswith(".bias") and ("downsample" in name or name.startswith("upsample")):
            t = torch.zeros(shape, dtype=dtype)
        elif ".gates." in name:
            t = torch.full(shape, float(gate_init), dtype=dtype)
        elif "layer_norm" in name:
            t = torch.ones(shape, dtype=dtype)
        elif "relative_attention_bias" in name and copy_bias_from is not None:
            stack = "encoder" if name.startswith("side_encoder") else "decoder"
            t = copy_bias_from[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].clone()
        else:
            t = torch.randn(shape, generator=gen, dtype=torch.float32).to(dtype) * 0.01
        S[name] = t
    return S


def side_stack(S, W, cfg, scfg, opts, stack, ids, taps, self_mask, enc_side=None, cross_bias=None,
               p=0.0, training=False):
    """One side stack. taps[i + 1] = backbone block i's output (taps[0] unused)."""
    sn = f"side_{stack}"
    is_dec = stack == "decoder"
    L = cfg.num_decoder_layers if is_dec else cfg.num_layers
    T = ids.shape[1]
    emb = F.embedding(ids, W["shared.weight"])  # the frozen backbone embedding, own dropout mask
    s = F.linear(F.dropout(emb, p, training), S[sn + ".first_downsample.weight"], S[sn + ".first_downsample.bias"])
    bias = None
    kept = set(opts.keep[stack])
    for i in range(L):
        if i not in kept:
            continue
        g = torch.sigmoid(S[f"{sn}.gates.{i}"] / opts.gate_T)
        s = g * s + (1 - g) * F.linear(taps[i + 1], S[f"{sn}.downsamples.{i}.weight"], S[f"{sn}.downsamples.{i}.bias"])
        if bias is None:  # the first kept block owns the relative bias; later ones reuse it
            tbl = S[f"{sn}.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight"]
            bias = position_bias(tbl, T, T, not is_dec, scfg) + self_mask
        s = t5_block(s, S, f"{sn}.block.{i}", scfg, is_dec, bias, enc_side, cross_bias, p, training)
    return F.dropout(rms_norm(s, S[sn + ".final_layer_norm.weight"], scfg.eps), p, training)


def lst_forward(W, S, cfg, opts, batch, p=0.0, training=False, backbone_dropout=None):
    """The LST model. The backbone runs without autograd (frozen, nothing flows back through it);
    backbone_dropout (default p) is its dropout rate in training mode."""
    scfg = cfg.side(opts.r)
    dt = W["shared.weight"].dtype
    bp = p if backbone_dropout is None else backbone_dropout
    src_bias = key_mask_bias(batch["attention_mask"], dt)
    dec_ids = batch["decoder_input_ids"]
    dec_bias = causal_bias(dec_ids.shape[1], batch.get("decoder_attention_mask"), dt)
    with torch.no_grad():
        et, dtp = [], []
        enc = backbone_stack(W, cfg, "encoder", batch["input_ids"], src_bias, p=bp, training=training, taps=et)
        backbone_stack(W, cfg, "decoder", dec_ids, dec_bias, enc, src_bias, bp, training, taps=dtp)
        del enc
    s_enc = side_stack(S, W, cfg, scfg, opts, "encoder", batch["input_ids"], et, src_bias, p=p, training=training)
    del et
    s_dec = side_stack(S, W, cfg, scfg, opts, "decoder", dec_ids, dtp, dec_bias, s_enc, src_bias, p, training)
    logits = lm_head(W, cfg, F.linear(s_dec, S["upsample.weight"], S["upsample.bias"]))
    out = {"logits": logits}
    if batch.get("labels") is not None:
        out["loss"] = xent(logits, batch["labels"])
    return out


# ---------------------------------------------------------------- pruning init (section 3)

def _round_half_even(x):
    return int(round(x))  # Python's round: half to even


def _keep_rows(score, r):
    """Indices kept (ascending) after pruning round((1-1/r)*n) lowest-scored rows; ties: the
    lower index is pruned first (stable ascending sort)."""
    n = score.shape[0]
    n_prune = _round_half_even((1 - 1 / r) * n)
    if n - n_prune != n // r:
        raise ValueError(f"pruning {n} rows by r={r} keeps {n - n_prune}, not {n // r}")
    order = np.argsort(score, kind="stable")
    return np.sort(order[n_prune:])


def prune_init(W, imp, cfg, r):
    """The chain of LST-SPEC section 3 over every backbone layer. W: backbone numpy dict (fp64),
    imp: importance per backbone name (numpy; |W| for magnitude). Returns {side name: array} for
    every layer as if all were kept (side_<stack>.block.i..., final norms), block 0 of each stack
    with the backbone's relative bias table, unpruned."""
    out = {}
    shared_imp = imp["shared.weight"]  # [V, d]: "rows" are the embedding dims -> score columns
    idx = _keep_rows(np.abs(shared_imp).sum(0), r)

    def rowscore(a):
        return np.abs(a).sum(1)

    for stack, L in (("encoder", cfg.num_layers), ("decoder", cfg.num_decoder_layers)):
        for i in range(L):
            pre, spre = f"{stack}.block.{i}", f"side_{stack}.block.{i}"
            subs = ["SelfAttention"] + (["EncDecAttention"] if stack == "decoder" else [])
            for li, sub in enumerate(subs):
                ln = f"{pre}.layer.{li}.layer_norm.weight"
                out[f"{spre}.layer.{li}.layer_norm.weight"] = W[ln][idx]
                a = f"{pre}.layer.{li}.{sub}"
                prod = imp[a + ".q.weight"][:, idx] * imp[a + ".k.weight"][:, idx] * imp[a + ".v.weight"][:, idx]
                inner = _keep_rows(rowscore(prod), r)
                for m in "qkv":
                    out[f"{spre}.layer.{li}.{sub}.{m}.weight"] = W[f"{a}.{m}.weight"][inner][:, idx]
                o_imp = imp[a + ".o.weight"][:, inner]
                nidx = _keep_rows(rowscore(o_imp), r)
                out[f"{spre}.layer.{li}.{sub}.o.weight"] = W[a + ".o.weight"][nidx][:, inner]
                idx = nidx
                if li == 0 and i == 0:
                    rb = a + ".relative_attention_bias.weight"
                    out[f"{spre}.layer.0.{sub}.relative_attention_bias.weight"] = W[rb].copy()
            li = len(subs)
            out[f"{spre}.layer.{li}.layer_norm.weight"] = W[f"{pre}.layer.{li}.layer_norm.weight"][idx]
            ff = f"{pre}.layer.{li}.DenseReluDense"
            if cfg.gated:
                prod = imp[ff + ".wi_0.weight"][:, idx] * imp[ff + ".wi_1.weight"][:, idx]
                hid = _keep_rows(rowscore(prod), r)
                for m in ("wi_0", "wi_1"):
                    out[f"{spre}.layer.{li}.DenseReluDense.{m}.weight"] = W[f"{ff}.{m}.weight"][hid][:, idx]
            else:
                hid = _keep_rows(rowscore(imp[ff + ".wi.weight"][:, idx]), r)
                out[f"{spre}.layer.{li}.DenseReluDense.wi.weight"] = W[ff + ".wi.weight"][hid][:, idx]
            nidx = _keep_rows(rowscore(imp[ff + ".wo.weight"][:, hid]), r)
            out[f"{spre}.layer.{li}.DenseReluDense.wo.weight"] = W[ff + ".wo.weight"][nidx][:, hid]
            idx = nidx
        out[f"side_{stack}.final_layer_norm.weight"] = W[f"{stack}.final_layer_norm.weight"][idx]
    return out


def fisher_importance(W, cfg, batch):
    """Empirical Fisher over the batch rows, each alone with its padding removed, dropout off:
    sum of squared gradients of each row's mean loss. Returns {name: numpy}."""
    imp = {k: torch.zeros_like(v) for k, v in W.items()}
    for b in range(batch["input_ids"].shape[0]):
        ns = int(batch["attention_mask"][b].sum())
        labels = batch["labels"][b:b + 1]
        nd = labels.shape[1]
        if batch.get("decoder_attention_mask") is not None:
            nd = int(batch["decoder_attention_mask"][b].sum())
        else:
            while nd > 0 and int(labels[0, nd - 1]) == -100:
                nd -= 1
        row = {"input_ids": batch["input_ids"][b:b + 1, :ns], "attention_mask": batch["attention_mask"][b:b + 1, :ns],
               "decoder_input_ids": batch["decoder_input_ids"][b:b + 1, :nd], "labels": labels[:, :nd]}
        Wg = {k: v.detach().clone().requires_grad_(True) for k, v in W.items()}
        loss = t5_forward(Wg, cfg, row)["loss"]
        grads = torch.autograd.grad(loss, list(Wg.values()), allow_unused=True)
        for (k, _), g in zip(Wg.items(), grads):
            if g is not None:
                imp[k] += g.detach() ** 2
    return {k: v.numpy() for k, v in imp.items()}


def pruned_side_init(W, cfg, opts, how, batch=None, gen=None, gate_init=0.0):
    """The side network initialised by pruning ('magnitude' | 'fisher'), ladders N(0, 0.01^2)
    from gen, biases 0, gates gate_init. Kept blocks take their chain slice; the first kept block
    gets the backbone's block-0 relative bias."""
    Wn = {k: v.detach().double().numpy() for k, v in W.items()}
    # tied: shared's Fisher accumulates the embedding and LM-head gradients (autograd sums them)
    imp = {k: np.abs(v) for k, v in Wn.items()} if how == "magnitude" else fisher_importance(W, cfg, batch)
    chain = prune_init(Wn, imp, cfg, opts.r)
    dt = W["shared.weight"].dtype
    S = side_init_random(cfg, opts, gen or torch.Generator().manual_seed(0), dt, gate_init)
    for stack in ("encoder", "decoder"):
        for k, i in enumerate(opts.keep[stack]):
            spre = f"side_{stack}.block.{i}."
            for name, a in chain.items():
                if name.startswith(spre) and "relative_attention_bias" not in name:
                    S[name] = torch.tensor(a, dtype=dt)
            first = opts.keep[stack][0]
            rb = f"side_{stack}.block.{first}.layer.0.SelfAttention.relative_attention_bias.weight"
            S[rb] = torch.tensor(chain[f"side_{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"],
                                 dtype=dt)
        S[f"side_{stack}.final_layer_norm.weight"] = torch.tensor(chain[f"side_{stack}.final_layer_norm.weight"],
                                                                  dtype=dt)
    return S, chain


# ---------------------------------------------------------------- files

def load_model(model_dir, dtype=torch.float64):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = T5Config(json.load(f))
    raw = st.load(os.path.join(model_dir, "model.safetensors"))
    W = {}
    for k, v in raw.items():
        if k in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
            continue  # aliases of shared
        if k == "lm_head.weight" and cfg.tie:
            continue
        W[k] = torch.tensor(v, dtype=dtype)
    if "shared.weight" not in W:
        raise ValueError(f"{model_dir}: no shared.weight")
    return cfg, W


def load_batch(path, cfg):
    raw = st.load(path)
    b = {"input_ids": torch.tensor(raw["input_ids"], dtype=torch.long)}
    b["attention_mask"] = torch.tensor(raw["attention_mask"], dtype=torch.long) if "attention_mask" in raw \
        else torch.ones_like(b["input_ids"])
    if "labels" in raw:
        b["labels"] = torch.tensor(raw["labels"], dtype=torch.long)
    if "decoder_input_ids" in raw:
        b["decoder_input_ids"] = torch.tensor(raw["decoder_input_ids"], dtype=torch.long)
    elif "labels" in b:
        lab = b["labels"]
        d = torch.full_like(lab, cfg.decoder_start_token_id)
        d[:, 1:] = lab[:, :-1]
        d[d == -100] = cfg.pad_token_id
        b["decoder_input_ids"] = d
    else:
        raise ValueError(f"{path}: needs labels or decoder_input_ids")
    if "decoder_attention_mask" in raw:
        b["decoder_attention_mask"] = torch.tensor(raw["decoder_attention_mask"], dtype=torch.long)
    return b


def _np(t, out_dtype):
    return t.detach().cpu().numpy().astype(out_dtype)


def dump_backbone(cfg, W, batch, want_grad=True, out_dtype=np.float32):
    Wg = {k: v.clone().requires_grad_(want_grad and "labels" in batch) for k, v in W.items()}
    o = t5_forward(Wg, cfg, batch, want_taps=True)
    out = {"logits": _np(o["logits"], out_dtype)}
    if "loss" in o:
        out["loss"] = _np(o["loss"].reshape(1), out_dtype)
    for i, t in enumerate(o["encoder_taps"]):
        out[f"encoder_tap.{i}"] = _np(t, out_dtype)
    for i, t in enumerate(o["decoder_taps"]):
        out[f"decoder_tap.{i}"] = _np(t, out_dtype)
    out["encoder_last_hidden_state"] = _np(o["encoder_last_hidden_state"], out_dtype)
    out["decoder_last_hidden_state"] = _np(o["decoder_last_hidden_state"], out_dtype)
    if want_grad and "loss" in o:
        o["loss"].backward()
        for k, v in Wg.items():
            out["grad." + k] = _np(v.grad if v.grad is not None else torch.zeros_like(v), out_dtype)
    return out


def dump_lst(cfg, W, batch, side_cfg, S=None, out_dtype=np.float32, seed=0):
    """LST dump: logits, loss, grad.<side param> (those that get one), and with adamw.steps N:
    adamw_losses [N] (the loss before each step) and after{N}.<every side param>. Without S,
    side_cfg['init'] builds the side network (magnitude | fisher | random) and init.* is written."""
    opts = SideOpts.from_json(cfg, side_cfg)
    dt = W["shared.weight"].dtype
    out = {}
    if S is None:
        how = side_cfg.get("init")
        gen = torch.Generator().manual_seed(seed)
        gi = side_cfg.get("gate_init_param", 0.0)
        if how == "random":
            S = side_init_random(cfg, opts, gen, dt, gi)
        elif how in ("magnitude", "fisher"):
            S, _ = pruned_side_init(W, cfg, opts, how, batch, gen, gi)
        else:
            raise ValueError("give --side FILE, or \"init\" in the side config")
        for k, v in S.items():
            out["init." + k] = _np(v, out_dtype)
    expect = side_param_shapes(cfg, opts)
    for k, shp in expect.items():
        if k not in S:
            raise ValueError(f"side weights: missing {k}")
        if tuple(S[k].shape) != tuple(shp):
            raise ValueError(f"side weights: {k} has shape {tuple(S[k].shape)}, expected {shp}")
    S = {k: S[k].detach().clone().to(dt).requires_grad_(True) for k in expect}
    has_labels = "labels" in batch
    o = lst_forward(W, S, cfg, opts, batch)
    out["logits"] = _np(o["logits"], out_dtype)
    if has_labels:
        out["loss"] = _np(o["loss"].reshape(1), out_dtype)
        o["loss"].backward()
        for k, v in S.items():
            if v.grad is not None:
                out["grad." + k] = _np(v.grad, out_dtype)
    ad = side_cfg.get("adamw") or {}
    steps = int(ad.get("steps", 0))
    if steps > 0:
        if not has_labels:
            raise ValueError("AdamW steps need labels in the batch")
        for v in S.values():
            v.grad = None
        opt = torch.optim.AdamW(list(S.values()), lr=ad.get("lr", 1e-3), betas=tuple(ad.get("betas", (0.9, 0.999))),
                                eps=ad.get("eps", 1e-8), weight_decay=ad.get("weight_decay", 0.0))
        losses = []
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = lst_forward(W, S, cfg, opts, batch)["loss"]
            losses.append(loss.item())
            loss.backward()
            opt.step()
        out["adamw_losses"] = np.array(losses, dtype=out_dtype)
        for k, v in S.items():
            out[f"after{steps}.{k}"] = _np(v, out_dtype)
    return out


def run_dump(model, batch_path, side=None, side_config=None, dtype=torch.float64, want_grad=True,
             out_dtype=np.float32, seed=0):
    """In-process `dump`: returns {name: numpy array}."""
    cfg, W = load_model(model, dtype)
    batch = load_batch(batch_path, cfg)
    if side_config is None:
        if side is not None:
            raise ValueError("--side needs --side-config")
        return dump_backbone(cfg, W, batch, want_grad, out_dtype)
    with open(side_config) as f:
        scj = json.load(f)
    S = None
    if side is not None:
        S = {k: torch.tensor(v, dtype=dtype) for k, v in st.load(side).items()}
    return dump_lst(cfg, W, batch, scj, S, out_dtype, seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="mirror of `lst dump`")
    d.add_argument("--model", required=True)
    d.add_argument("--batch", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--side")
    d.add_argument("--side-config")
    d.add_argument("--no-grad", action="store_true")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    d.add_argument("--out-dtype", choices=["F32", "F64"], default="F32")
    a = ap.parse_args(argv)
    torch.set_grad_enabled(True)
    out = run_dump(a.model, a.batch, a.side, a.side_config,
                   torch.float64 if a.dtype == "float64" else torch.float32, not a.no_grad,
                   np.float64 if a.out_dtype == "F64" else np.float32, a.seed)
    tmp = a.out + ".tmp"
    st.save(tmp, out)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
