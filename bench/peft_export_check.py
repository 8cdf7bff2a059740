"""peft_export_check.py: a run's LoRA and prompt-tuning results load in PEFT, and its LST side
network in PyTorch from side.safetensors alone, and compute what lst computes.

For each of lora, prompt and lst this trains a few steps with lst on a random t5-tiny checkpoint
(`lst init --preset t5-tiny`, a small JSONL task), then, on the Hugging Face side, loads the run
directory the way a PEFT user would (docs/peft.md):

    model = T5ForConditionalGeneration.from_pretrained(MODEL_DIR)
    model = PeftModel.from_pretrained(model, RUN_DIR)      # adapter_config.json + adapter_model.safetensors

adds the BitFit biases of lst's LoRA from bitfit_biases.safetensors (PEFT has no place for them:
docs/peft.md), and compares the logits, in float32, with `lst dump --method M --method-weights
RUN_DIR/tuned.safetensors` on the same batch. It also checks that PEFT reports no missing or
unexpected adapter tensors. For lst, `hf_lst.LadderSide` is built from side.safetensors'
metadata alone (r, kept layers, gate_T) and compared with `lst dump --side`. Exit 1 on any
difference above 1e-4 x max(1, max|logit|).

  bench/setup-peers.sh && make -j2
  bench/.venv-peers/bin/python bench/peft_export_check.py [--lst build/lst] [--keep DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore", category=FutureWarning)
import numpy as np  # noqa: E402
import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))
import safetensors_np as st  # noqa: E402
from hf_lst import LadderSide  # noqa: E402
from safetensors import safe_open  # noqa: E402

VOCAB = 32100  # lst trains with the T5 tokenizer's pieces (the checkpoint has 32128 rows)


def lst(binary, *args):
    r = subprocess.run([binary, *args], cwd=ROOT, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"lst {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r.stdout


def write_task(d):
    words = [("good", "great", "fine", "nice"), ("bad", "awful", "poor", "sad")]
    for name, n in (("train.jsonl", 48), ("valid.jsonl", 16)):
        with open(os.path.join(d, name), "w") as f:
            for i in range(n):
                y = (i * 7) % 2
                f.write(json.dumps({"source": f"review: the film was {words[y][(i // 2) % 4]} today",
                                    "target": "no" if y else "yes"}) + "\n")


def batch(d):
    rng = np.random.RandomState(4)
    ids = rng.randint(5, 3000, (3, 17)).astype(np.int64)
    ids[:, -1] = 1
    mask = np.ones_like(ids)
    mask[1, 12:] = 0
    labels = np.array([[1176, 1], [150, 1], [1176, 1]], dtype=np.int64)
    b = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    path = os.path.join(d, "batch.safetensors")
    st.save(path, b)
    return path, b


def peft_logits(model_dir, run, method, b):
    model = transformers.T5ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
    if method == "lora":  # lst's LoRA trains BitFit biases too: add them where PEFT cannot
        for name, v in st.load(os.path.join(run, "bitfit_biases.safetensors")).items():
            mod = model.get_submodule(name[: -len(".bias")])
            if name == "lm_head.bias":  # the 32100 trained rows of a 32128-row head
                v = np.concatenate([v, np.zeros(mod.weight.shape[0] - v.shape[0], v.dtype)])
            mod.bias = torch.nn.Parameter(torch.tensor(v, dtype=torch.float32))
        base_norm = transformers.models.t5.modeling_t5.T5LayerNorm.forward

        def norm_with_bias(self, x):
            y = base_norm(self, x)
            return y + self.bias if getattr(self, "bias", None) is not None else y

        transformers.models.t5.modeling_t5.T5LayerNorm.forward = norm_with_bias
    pm = peft.PeftModel.from_pretrained(model, run).eval()
    with torch.no_grad():
        out = pm(**{k: torch.tensor(v) for k, v in b.items()}).logits[..., :VOCAB]
    return pm, out.numpy().astype(np.float64)


def check_lst(binary, work):
    """LST: the side network rebuilt in PyTorch from side.safetensors' metadata."""
    model_dir, run = os.path.join(work, "tiny"), os.path.join(work, "run_lst")
    lst(binary, "train", "--model", model_dir, "--task", "custom", "--train", os.path.join(work, "train.jsonl"),
        "--valid", os.path.join(work, "valid.jsonl"), "--method", "lst", "--r", "4", "--side-layers", "1,2",
        "--max-steps", "6", "--batch", "8", "--warmup", "2", "--quiet", "--out", run)
    side_path = os.path.join(run, "side.safetensors")
    with safe_open(side_path, "pt") as f:
        meta = f.metadata()
    sc = {"r": int(meta["r"]), "encoder_side_layers": json.loads(meta["encoder_side_layers"]),
          "decoder_side_layers": json.loads(meta["decoder_side_layers"]), "gate_T": float(meta["gate_T"])}
    scpath = os.path.join(work, "side_config.json")
    with open(scpath, "w") as f:
        json.dump(sc, f)
    bpath, b = batch(work)
    dump = os.path.join(work, "dump_lst.safetensors")
    lst(binary, "dump", "--model", model_dir, "--vocab", str(VOCAB), "--batch", bpath, "--side", side_path,
        "--side-config", scpath, "--out", dump)
    got = st.load(dump)["logits"].astype(np.float64)
    model = transformers.T5ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    side = LadderSide(model.config, r=sc["r"], enc_keep=sc["encoder_side_layers"],
                      dec_keep=sc["decoder_side_layers"], gate_T=sc["gate_T"]).eval()
    side.load_lst(st.load(side_path))
    with torch.no_grad():
        ref = side(model, {k: torch.tensor(v) for k, v in b.items()})["logits"][..., :VOCAB].numpy().astype(np.float64)
    err = np.abs(got - ref).max() / (1e-4 * max(1.0, np.abs(ref).max()))
    ok = err <= 1.0 and meta.get("lst_method") == "lst" and "backbone_weights_xxh3" in meta
    print(f"lst    {'ok' if ok else 'FAIL':4s} LadderSide from side.safetensors' metadata (r {sc['r']}, layers "
          f"{sc['encoder_side_layers']}/{sc['decoder_side_layers']}, gate_T {sc['gate_T']}); logits vs lst dump: "
          f"{err:.4f} x tol (max|logit| {np.abs(ref).max():.3g})")
    return ok


def check(binary, work, method):
    model_dir, run = os.path.join(work, "tiny"), os.path.join(work, f"run_{method}")
    size = ["--lora-rank", "4"] if method == "lora" else ["--prompt-len", "5"]
    # LoRA at 100x its paper rate, so that 6 steps move A, B and the biases well past rounding
    lr = ["--lr", "3e-2"] if method == "lora" else []
    lst(binary, "train", "--model", model_dir, "--task", "custom", "--train", os.path.join(work, "train.jsonl"),
        "--valid", os.path.join(work, "valid.jsonl"), "--method", method, *size, *lr, "--max-steps", "6", "--batch", "8",
        "--warmup", "2", "--quiet", "--out", run)
    bpath, b = batch(work)
    dump = os.path.join(work, f"dump_{method}.safetensors")
    lst(binary, "dump", "--model", model_dir, "--vocab", str(VOCAB), "--batch", bpath, "--method", method, *size,
        "--method-weights", os.path.join(run, "tuned.safetensors"), "--no-grad", "--out", dump)
    got = st.load(dump)["logits"].astype(np.float64)
    pm, ref = peft_logits(model_dir, run, method, b)
    cfg = pm.peft_config["default"]
    tol = 1e-4 * max(1.0, np.abs(ref).max())
    err = np.abs(got - ref).max() / tol
    # every trained tensor arrived in PEFT's model with lst's values
    tuned = st.load(os.path.join(run, "tuned.safetensors"))
    named = {n.replace(".default", "").replace("base_model.model.", ""): p for n, p in pm.named_parameters()}
    if method == "prompt":
        named["prompt.weight"] = pm.prompt_encoder["default"].embedding.weight
    missing = [n for n in tuned if n not in named and not (method == "lora" and n.endswith(".bias"))]
    differ = [n for n in tuned if n in named and not np.array_equal(
        named[n].detach().numpy()[: tuned[n].shape[0]], tuned[n])]
    # and the adapter matters: without it the logits are elsewhere
    with torch.no_grad(), pm.disable_adapter():
        base = pm(**{k: torch.tensor(v) for k, v in b.items()}).logits[..., :VOCAB].numpy()
    effect = np.abs(base - ref).max() / tol
    ok = err <= 1.0 and not missing and not differ and effect > 100
    print(f"{method:6s} {'ok' if ok else 'FAIL':4s} PEFT {cfg.peft_type.value} loaded from {os.path.basename(run)}: "
          f"{len(tuned) - len(missing)} trained tensors equal to lst's ({len(missing)} missing, {len(differ)} "
          f"different); logits vs lst dump {err:.4f} x tol; without the adapter {effect:.0f} x tol away")
    for n in (missing + differ)[:5]:
        print("    " + n)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lst", default=os.path.join(ROOT, "build", "lst"))
    ap.add_argument("--keep", help="work here (kept) instead of a temporary folder")
    a = ap.parse_args()
    binary = os.path.abspath(a.lst)
    tmp = None if a.keep else tempfile.TemporaryDirectory(prefix="lst-peft-export-")
    work = os.path.abspath(a.keep or tmp.name)
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(2)
    lst(binary, "init", "--preset", "t5-tiny", "--out", os.path.join(work, "tiny"), "--seed", "3")
    write_task(work)
    print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")
    ok = all([check(binary, work, m) for m in ("lora", "prompt")] + [check_lst(binary, work)])
    if tmp:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
