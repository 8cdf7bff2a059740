"""crosscheck_hf.py: lst's numerics against Hugging Face transformers itself.

For N random configurations (v1.0 relu/tied, v1.1 gated-gelu/untied, exact-erf gelu,
gated-relu and UL2's gated-silu; heads x d_kv of 3x16, 5x8, 4x8, 2x16 with heads x d_kv != d_model in some; 1-4
encoder and 1-3 decoder layers; ragged batches with source lengths up to 160, past the 128 of
the far relative buckets), this writes a random HF checkpoint, a batch and LST side weights (the
generators of crosscheck.py), runs `lst dump`, and compares every tensor it writes with
transformers' T5ForConditionalGeneration loaded from the same checkpoint, in float64 and float32:
  backbone  logits, taps (forward hooks on the blocks), last hidden states, loss, every gradient;
  LST       logits, loss, every side gradient, AdamW losses and parameters after the steps,
            against hf_lst.LadderSide (T5Stack side modules beside the HF model);
  LoRA      `lst dump --method lora` (rank 2-8, random A and B, random BitFit biases) against
            PEFT's LoraConfig(r, lora_alpha=32, target_modules=["q", "v"]) on the same model, the
            BitFit biases (which PEFT does not have) added to transformers' linears and block
            layer norms: logits, loss, taps, last hidden states, every A, B and bias gradient;
  prompt    `lst dump --method prompt` (1-20 random vectors) against PEFT's PromptTuningConfig:
            logits, loss, taps (the prompt's rows too), last hidden states, the prompt's gradient.
Pass/fail is against float64 transformers at the tolerances of shared/golden/README.md (in
units of the tolerance: <= 1 passes), with crosscheck.py's two rules: after{N}.* elements whose
first gradient is below 1e-5 of the tensor's largest are excused (Adam divides by it), and a
tensor outside the tolerance where a float32 reference (transformers or the spec peer in float32)
is outside it too, with lst within 1.5x of it, is reported as fp32-limit, not failed (seen for
gradients of saturated gates: a sum of many cancelling terms). The float32 column is transformers
run in float32 against the same lst output, for scale. The float64 reference runs T5LayerNorm in
float64 (transformers takes its variance in float32 whatever the dtype). Prints each case, then the
worst error per tensor kind; exits 1 on any failure.

  bench/setup-peers.sh && make -j2
  bench/.venv-peers/bin/python bench/crosscheck_hf.py [--cases 30] [--seed 19] [--lst build/lst] [-v]

Houlsby adapters have no PEFT counterpart for T5 and are not compared here.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' own deprecations, inside PEFT
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import peft  # noqa: E402

transformers.utils.logging.disable_progress_bar()

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
sys.path.insert(0, HERE)
import crosscheck as cc  # noqa: E402  (the case, checkpoint, batch and side generators)
import safetensors_np as st  # noqa: E402
import t5_lst_torch as peer  # noqa: E402
from check_golden import tol_ratio  # noqa: E402
from hf_lst import LadderSide  # noqa: E402
from transformers.models.t5 import modeling_t5  # noqa: E402

HF_LAYER_NORM = modeling_t5.T5LayerNorm.forward


def layer_norm_in_dtype(self, x):
    """T5LayerNorm without its float32 cast: transformers takes the variance in float32 whatever
    the dtype (for half precision), which would make its float64 run float32-accurate in every norm."""
    return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))


def kind(name):
    if name.startswith(("encoder_tap", "decoder_tap")):
        return "taps"
    if name.endswith("last_hidden_state"):
        return "last hidden states"
    if name.startswith("after"):
        return "params after AdamW"
    return name.split(".")[0] if not name.startswith("grad.") else "grad"


def draw_case(rng, k):
    c = cc.random_case(rng, k)
    # every fourth case of each main style: v1.0 (relu, tied) and v1.1 (gated-gelu, untied)
    style = [("relu", True), ("gated-gelu", False), (c["ffn"], c["tie"]), (c["ffn"], c["tie"])][k % 4]
    c["ffn"], c["tie"] = style
    if k % 8 == 7:  # UL2's gated-silu, in place of a drawn activation (the other draws unchanged)
        c["ffn"] = "gated-silu"
    c["Ts"] = int(rng.randint(5, 161)) if k % 3 else int(rng.randint(129, 161))  # a third past 128
    c["name"] = f"hf-{k}"
    return c


def layer_norm_with_bias(self, x):
    """layer_norm_in_dtype plus BitFit's additive bias where the norm has one (lst's BitFit)."""
    y = layer_norm_in_dtype(self, x)
    return y + self.bias if getattr(self, "bias", None) is not None else y


def add_biases(model, W, dtype):
    """BitFit's biases (lst's names: <linear>.bias, <block layer norm>.bias, lm_head.bias) as
    trainable parameters of transformers' modules; returns {lst name: parameter}."""
    out = {}
    for name, v in W.items():
        if not name.endswith(".bias"):
            continue
        mod = model.get_submodule(name[: -len(".bias")])
        mod.bias = torch.nn.Parameter(torch.tensor(v, dtype=dtype))
        out[name] = mod.bias
    return out


def attach_method(model, method, W, dtype):
    """PEFT's LoRA or prompt tuning on model with lst's tensors W; returns the PEFT model and
    {lst name: trainable parameter}."""
    if method == "lora":
        biases = add_biases(model, W, dtype)
        r = next(v.shape[0] for n, v in W.items() if n.endswith("lora_A.weight"))
        cfg = peft.LoraConfig(task_type=peft.TaskType.SEQ_2_SEQ_LM, r=r, lora_alpha=32, lora_dropout=0.0,
                              target_modules=["q", "v"])
        pm = peft.get_peft_model(model, cfg)
        named = dict(pm.named_parameters())
        params = dict(biases)
        for name, v in W.items():
            if ".lora_" in name:
                pname = "base_model.model." + name.replace(".weight", ".default.weight")
                named[pname].data.copy_(torch.tensor(v, dtype=dtype))
                params[name] = named[pname]
        for p in biases.values():
            p.requires_grad_(True)
        return pm, params
    P, d = W["prompt.weight"].shape
    cfg = peft.PromptTuningConfig(task_type=peft.TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=P,
                                  num_transformer_submodules=1)
    pm = peft.get_peft_model(model, cfg).to(dtype)
    emb = pm.prompt_encoder["default"].embedding.weight
    emb.data.copy_(torch.tensor(W["prompt.weight"], dtype=dtype))
    return pm, {"prompt.weight": emb}


def hf_backbone(d, batch_np, dtype, method=None, W=None):
    """transformers' outputs and gradients for a batch, in lst dump's names; with method (lora,
    prompt), through PEFT with lst's method tensors W, the gradients of those tensors only."""
    model = transformers.T5ForConditionalGeneration.from_pretrained(d, dtype=dtype).eval()
    base, run, params = model, model, None
    if method:
        run, params = attach_method(model, method, W, dtype)
        run.eval()
    b = {k: torch.tensor(v) for k, v in batch_np.items()}
    dec_ids = b["decoder_input_ids"] if "decoder_input_ids" in b else base._shift_right(b["labels"])
    with torch.no_grad():  # tap 0: the embedding lookup (the stacks share one module: no hook)
        e0 = base.shared(b["input_ids"])
        if method == "prompt":  # PEFT prepends the prompt to the encoder's embeddings
            e0 = torch.cat([params["prompt.weight"][None].expand(e0.shape[0], -1, -1), e0], 1)
        taps = {"encoder": [e0], "decoder": [base.shared(dec_ids)]}
    for stack in taps:
        for blk in getattr(base, stack).block:
            blk.register_forward_hook(lambda _m, _a, out, st_=stack: taps[st_].append(out[0]))
    o = run(**b, output_hidden_states=False)
    o.loss.backward()
    out = {"logits": o.logits, "loss": o.loss.reshape(1), "encoder_last_hidden_state": o.encoder_last_hidden_state,
           "decoder_last_hidden_state": None}
    for stack, ts in taps.items():
        for i, t in enumerate(ts):
            out[f"{stack}_tap.{i}"] = t
    # the decoder's final-norm output is not in Seq2SeqLMOutput: recompute it from the last tap
    out["decoder_last_hidden_state"] = base.decoder.final_layer_norm(taps["decoder"][-1])
    for n, p in (params or dict(model.named_parameters())).items():
        out["grad." + n] = p.grad
    return {k: v.detach().double().numpy() for k, v in out.items()}, model


def random_method_weights(c, names, rng):
    """Values for lst's method tensors (names: {name: shape} from a seeded lst dump): LoRA's A and
    B both non-zero (B starts at 0 in training, which would leave A without a gradient), scaled so
    that the update (alpha / r) x A^T B^T is a perturbation of about 0.3 on the base product's
    O(1) outputs, as after training (with updates several times the base product, pre-activations
    land within float32 rounding of a ReLU's kink, and a unit on the other side of it changes the
    gradients below: bench/README.md); biases and prompt vectors of the scale of the model's own
    values."""
    W = {}
    for n, shape in names.items():
        if n.endswith("lora_A.weight"):
            W[n] = rng.normal(0, c["d_model"] ** -0.5, shape)
        elif n.endswith("lora_B.weight"):
            W[n] = rng.normal(0, 0.3 * shape[1] ** 0.5 / 32, shape)  # (32 / r) x A^T B^T about 0.3
        elif n == "prompt.weight":
            W[n] = rng.normal(0, 1.0, shape)
        else:
            W[n] = rng.normal(0, 0.05, shape)
    return W


def lst_method(lst, c, d, bpath, method, rng):
    """lst dump --method: once seeded (for the tensors' names and shapes), once with random
    values for every one of them; returns lst's output and the values."""
    size = ["--lora-rank", str(c["lora_r"])] if method == "lora" else ["--prompt-len", str(c["prompt_len"])]
    seeded, wpath, out = (os.path.join(d, f"{method}_{k}.safetensors") for k in ("seeded", "weights", "dump"))
    args = ["--model", d, "--batch", bpath, "--method", method] + size
    cc.run_lst(lst, args + ["--out", seeded])
    names = {k[len("grad."):]: v.shape for k, v in st.load(seeded).items() if k.startswith("grad.")}
    W = random_method_weights(c, names, rng)
    st.save(wpath, {k: v.astype(np.float32) for k, v in W.items()})
    cc.run_lst(lst, args + ["--method-weights", wpath, "--out", out])
    return st.load(out), {k: v.astype(np.float32).astype(np.float64) for k, v in W.items()}


def hf_lst(model, S_np, sc, batch_np, dtype):
    """LadderSide beside the HF model: logits, loss, side gradients, AdamW losses and params."""
    model.zero_grad(set_to_none=True)
    model.requires_grad_(False)
    side = LadderSide(model.config, r=sc["r"], enc_keep=sc["encoder_side_layers"],
                      dec_keep=sc["decoder_side_layers"], gate_T=sc["gate_T"]).to(dtype).eval()
    side.load_lst(S_np)
    names = side.state_names()
    params = dict(side.named_parameters())
    b = {k: torch.tensor(v) for k, v in batch_np.items()}
    o = side(model, b)
    o["loss"].backward()
    out = {"logits": o["logits"], "loss": o["loss"].reshape(1)}
    for ln, n in names.items():
        if params[n].grad is not None:
            out["grad." + ln] = params[n].grad
    ad = sc["adamw"]
    side.zero_grad(set_to_none=True)
    opt = torch.optim.AdamW(side.parameters(), lr=ad["lr"], betas=tuple(ad["betas"]), eps=ad["eps"],
                            weight_decay=ad["weight_decay"])
    losses = []
    for _ in range(ad["steps"]):
        opt.zero_grad(set_to_none=True)
        loss = side(model, b)["loss"]
        losses.append(loss.item())
        loss.backward()
        opt.step()
    out["adamw_losses"] = torch.tensor(losses)
    for ln, n in names.items():
        out[f"after{ad['steps']}.{ln}"] = params[n]
    return {k: v.detach().double().numpy() for k, v in out.items()}


def zero_grad_scale(ref):
    """{name: scale} for the gradients that are zero in exact arithmetic: a key bias's (adding
    q.b to every score of a row changes no softmax), whose float64 value is rounding noise below
    1e-6 of the part's largest gradient. Their tolerance is 1e-4 of that largest gradient, as
    1e-4 x max|grad| of the noise itself would compare noise with noise."""
    top = max((np.abs(v).max() for n, v in ref.items() if n.startswith("grad.") and v.size), default=0.0)
    return {n: top for n, v in ref.items()
            if n.startswith("grad.") and n.endswith(".k.bias") and np.abs(v).max() < 1e-6 * top}


def compare(got, ref, part, worst, ref32=None, limits=None):
    """lst's tensors (got) against transformers' (ref); records the worst ratio per kind. With
    ref32 (float32 references: transformers, the spec peer), a tensor outside the tolerance where a
    float32 reference is outside it too, and lst within 1.5x of it, is an fp32 limit (crosscheck.py's
    rule), not a failure."""
    fails = []
    zero = zero_grad_scale(ref)
    for name in sorted(ref):
        if name not in got:
            fails.append(f"{name}: not written by lst")
            continue
        q = tol_ratio(name, got[name], ref[name])
        if name in zero:
            q = float(np.abs(np.asarray(got[name], np.float64) - ref[name]).max() / (1e-4 * zero[name]))
            key = (part, "grad (zero in exact arithmetic)")
            if not q <= worst.get(key, (-1.0, ""))[0]:
                worst[key] = (q, name)
            if not q <= 1.0:
                fails.append(f"{name}: {q:.3g} x the part's tolerance (a gradient zero in exact arithmetic)")
            continue
        if not q <= 1.0 and name.startswith("after"):  # crosscheck.py's Adam-noise excuse
            g0 = ref.get("grad." + name.split(".", 1)[1])
            if g0 is not None:
                ok = np.abs(g0) >= 1e-5 * np.abs(g0).max()
                q = tol_ratio(name, np.where(ok, got[name], ref[name]), ref[name])
        key = (part, kind(name))
        if not q <= worst.get(key, (-1.0, ""))[0]:
            worst[key] = (q, name)
        if not q <= 1.0:
            q32 = max((tol_ratio(name, r[name], ref[name]) for r in ref32 or () if name in r), default=None)
            if q32 is not None and q32 > 1.0 and q <= 1.5 * q32:
                limits.append(f"{name}: {q:.3g} x tol; a float32 reference: {q32:.3g} x tol (fp32 limit)")
            else:
                fails.append(f"{name}: {q:.3g} x tol" + (f" (float32 references: {q32:.3g})" if q32 else ""))
    for name in sorted(set(got) - set(ref) - cc.INPUTS):
        fails.append(f"{name}: written by lst, not by transformers")
    return fails


def run_case(c, lst, work):
    rng = np.random.RandomState(c["seed"])
    vocab = int(rng.randint(200, 400))
    d = os.path.join(work, c["name"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cc.hf_config(c, vocab), f)
    st.save(os.path.join(d, "model.safetensors"), cc.random_checkpoint(c, rng, vocab))
    batch = cc.random_batch(c, rng, vocab)
    bpath = os.path.join(d, "batch.safetensors")
    st.save(bpath, batch)
    pcfg, _ = peer.load_model(d, torch.float64)
    opts = peer.SideOpts(pcfg, c["r"], c["enc_keep"], c["dec_keep"])
    S = cc.random_side(c, pcfg, opts, rng)
    spath, scpath = os.path.join(d, "side.safetensors"), os.path.join(d, "side_config.json")
    st.save(spath, S)
    sc = {"r": c["r"], "encoder_side_layers": c["enc_keep"], "decoder_side_layers": c["dec_keep"], "gate_T": 0.1,
          "gate_init_param": c["gate"], "adamw": {"lr": c["lr"], "betas": [0.9, 0.999], "eps": 1e-8,
                                                  "weight_decay": c["wd"], "steps": c["steps"]}}
    with open(scpath, "w") as f:
        json.dump(sc, f)
    ob, ol = os.path.join(d, "lst_backbone.safetensors"), os.path.join(d, "lst_side.safetensors")
    cc.run_lst(lst, ["--model", d, "--batch", bpath, "--out", ob])
    cc.run_lst(lst, ["--model", d, "--batch", bpath, "--side", spath, "--side-config", scpath, "--out", ol])
    got_b, got_l = st.load(ob), st.load(ol)
    results = {}
    for dt in (torch.float64, torch.float32):
        # float64: a true float64 reference; float32: transformers exactly as users run it
        modeling_t5.T5LayerNorm.forward = layer_norm_in_dtype if dt == torch.float64 else HF_LAYER_NORM
        try:
            ref_b, model = hf_backbone(d, batch, dt)
            ref_l = hf_lst(model, S, sc, batch, dt)
        finally:
            modeling_t5.T5LayerNorm.forward = HF_LAYER_NORM
        results[dt] = (ref_b, ref_l)
    # LoRA and prompt tuning (drawn after everything above, so the other parts' cases stay the same)
    c["lora_r"], c["prompt_len"] = int(rng.choice([2, 4, 8])), int(rng.randint(1, 21))
    got_m = {}
    for method in ("lora", "prompt"):
        got, W = lst_method(lst, c, d, bpath, method, rng)
        ref = {}
        for dt in (torch.float64, torch.float32):
            modeling_t5.T5LayerNorm.forward = layer_norm_with_bias if dt == torch.float64 else (
                layer_norm_with_bias if method == "lora" else HF_LAYER_NORM)
            try:
                ref[dt] = hf_backbone(d, batch, dt, method, W)[0]
            finally:
                modeling_t5.T5LayerNorm.forward = HF_LAYER_NORM
        got_m[method] = (got, ref)
    # the spec peer in float32: a second float32 reference for the fp32-limit rule
    W32 = {k: v.float() for k, v in peer.load_model(d, torch.float32)[1].items()}
    b = peer.load_batch(bpath, pcfg)
    results["peer32"] = (peer.dump_backbone(pcfg, W32, b, True, np.float64),
                         peer.dump_lst(pcfg, W32, b, sc, {k: torch.tensor(v) for k, v in S.items()}, np.float64))
    return got_b, got_l, results, got_m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lst", default=os.path.join(os.path.dirname(HERE), "build", "lst"))
    ap.add_argument("--cases", type=int, default=30)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--only", help="run the cases whose name is this (e.g. hf-3)")
    ap.add_argument("--keep", help="write the cases here (kept) instead of a temporary folder")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if not os.access(a.lst, os.X_OK):
        print(f"crosscheck_hf: {a.lst} not found: run `make` first", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    rng = np.random.RandomState(a.seed)
    cases = [draw_case(rng, k) for k in range(a.cases)]
    for k, c in enumerate(cases):
        c["seed"] = a.seed * 1000 + k
    if a.only:
        cases = [c for c in cases if c["name"] == a.only]
    tmp = None if a.keep else tempfile.TemporaryDirectory(prefix="lst-crosscheck-hf-")
    work = a.keep or tmp.name
    worst64, worst32, failed, n_limit = {}, {}, 0, 0
    print(f"transformers {transformers.__version__}, torch {torch.__version__}; "
          f"worst error in units of the tolerance, lst against transformers in float64 (float32)")
    for c in cases:
        try:
            got_b, got_l, res, got_m = run_case(c, a.lst, work)
        except Exception as e:  # a crash of lst or of the reference fails the case
            print(f"{c['name']:7s} ERROR {str(e)[:300]}")
            failed += 1
            continue
        fails, limits, w32, w64 = [], [], {}, {}
        for part, got, i in (("backbone", got_b, 0), ("lst", got_l, 1)):
            fails += compare(got, res[torch.float64][i], part, w64, (res[torch.float32][i], res["peer32"][i]), limits)
            compare(got, res[torch.float32][i], part, w32)
        for part, (got, ref) in got_m.items():
            fails += compare(got, ref[torch.float64], part, w64, (ref[torch.float32],), limits)
            compare(got, ref[torch.float32], part, w32)
        for src, dst in ((w64, worst64), (w32, worst32)):
            for key, v in src.items():
                if not v[0] <= dst.get(key, (-1.0, ""))[0]:
                    dst[key] = v + (c["name"],)
        failed += bool(fails)
        n_limit += bool(limits)
        m64 = max(v[0] for v in w64.values())
        m32 = max(v[0] for v in w32.values())
        status = "FAIL" if fails else "fp32-limit" if limits else "ok"
        print(f"{c['name']:7s} {status:10s} {m64:8.4f} ({m32:8.4f})  {cc.describe(c)} lora-r{c['lora_r']} prompt{c['prompt_len']}")
        for f in (fails + limits)[:8]:
            print("    " + f)
    print(f"\n{'part':9s} {'tensor kind':19s} {'worst fp64':>10s} {'worst fp32':>10s}  where (fp64)")
    for key in sorted(worst64):
        q, name, case = worst64[key]
        q32 = worst32.get(key, (float("nan"),))[0]
        print(f"{key[0]:9s} {key[1]:19s} {q:10.4f} {q32:10.4f}  {case} {name}")
    print(f"crosscheck_hf: {len(cases)} configurations, {failed} failing, {n_limit} with a tensor at the fp32 limit")
    if tmp:
        tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
