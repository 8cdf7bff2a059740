"""hf_lst.py: Ladder Side-Tuning built from Hugging Face transformers' T5 modules, the way the
authors' code does it: the side network is PyTorch modules (two `T5Stack`s of width d/r beside
the backbone, ladders, gates, an upsample) next to an unmodified `T5ForConditionalGeneration`
whose forward runs under `torch.no_grad()` and hands its block outputs (the taps) over through
forward hooks. Used by bench_hf.py (the realistic LST peer) and crosscheck_hf.py (lst's LST
against transformers' modules). Needs the environment of bench/setup-peers.sh.

Parameter names (`state_names`) are those of lst's side files (`lst_side_init.safetensors`):
side_<stack>.first_downsample, .downsamples.{i}, .gates.{i}, .block.{i}.layer..., .final_layer_norm,
upsample; block i of the file is the k-th block of the side T5Stack (k = i's place among kept).
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.t5.modeling_t5 import T5Stack


class SideStack(nn.Module):
    def __init__(self, bcfg, r, keep, decoder):
        super().__init__()
        c = copy.deepcopy(bcfg)
        c.d_model, c.d_ff, c.d_kv = bcfg.d_model // r, bcfg.d_ff // r, bcfg.d_kv // r
        c.num_layers, c.is_decoder, c.use_cache = len(keep), decoder, False
        L = bcfg.num_decoder_layers if decoder else bcfg.num_layers
        self.keep = list(keep)
        self.first_downsample = nn.Linear(bcfg.d_model, c.d_model)
        self.downsamples = nn.ModuleDict({str(i): nn.Linear(bcfg.d_model, c.d_model) for i in keep})
        self.gates = nn.ParameterDict({str(i): nn.Parameter(torch.zeros(1)) for i in range(L)})
        self.stack = T5Stack(c)
        self.stack.embed_tokens = None  # the side stack takes inputs_embeds only (no d/r vocabulary)
        self.taps = None  # set by LadderSide.forward for the duration of a call
        for k, i in enumerate(keep):
            self.stack.block[k].register_forward_pre_hook(self._ladder(i))

    def _ladder(self, i):
        def hook(_module, args):
            # the ladder: the side state mixed with the downsampled backbone tap of layer i
            g = torch.sigmoid(self.gates[str(i)] / self.gate_T)
            mixed = g * args[0] + (1 - g) * self.downsamples[str(i)](self.taps[i])
            return (mixed,) + tuple(args[1:])
        return hook

    def forward(self, emb, taps, mask, enc=None, enc_mask=None):
        self.taps = taps
        try:
            # T5Stack drops out its inputs_embeds: here after the downsample (LST-SPEC: before it)
            x = self.first_downsample(emb)
            kw = dict(encoder_hidden_states=enc, encoder_attention_mask=enc_mask) if enc is not None else {}
            return self.stack(inputs_embeds=x, attention_mask=mask, use_cache=False, **kw).last_hidden_state
        finally:
            self.taps = None


class LadderSide(nn.Module):
    """The side network; forward(model, batch) runs the frozen backbone and returns logits, loss."""

    def __init__(self, bcfg, r=8, enc_keep=None, dec_keep=None, gate_T=0.1):
        super().__init__()
        enc_keep = list(range(bcfg.num_layers)) if enc_keep is None else list(enc_keep)
        dec_keep = list(range(bcfg.num_decoder_layers)) if dec_keep is None else list(dec_keep)
        self.side_encoder = SideStack(bcfg, r, enc_keep, False)
        self.side_decoder = SideStack(bcfg, r, dec_keep, True)
        for s in (self.side_encoder, self.side_decoder):
            s.gate_T = gate_T
        self.upsample = nn.Linear(bcfg.d_model // r, bcfg.d_model)
        self.scale = bcfg.d_model ** -0.5 if getattr(bcfg, "scale_decoder_outputs", bcfg.tie_word_embeddings) else None

    # lst's side-file names <-> this module's parameter names
    def state_names(self):
        out = {}
        for sn in ("side_encoder", "side_decoder"):
            s = getattr(self, sn)
            for k, i in enumerate(s.keep):
                for name, _ in s.stack.block[k].named_parameters():
                    out[f"{sn}.block.{i}.{name}"] = f"{sn}.stack.block.{k}.{name}"
                out[f"{sn}.downsamples.{i}.weight"] = f"{sn}.downsamples.{i}.weight"
                out[f"{sn}.downsamples.{i}.bias"] = f"{sn}.downsamples.{i}.bias"
            for i in s.gates:
                out[f"{sn}.gates.{i}"] = f"{sn}.gates.{i}"
            for n in ("first_downsample.weight", "first_downsample.bias"):
                out[f"{sn}.{n}"] = f"{sn}.{n}"
            out[f"{sn}.final_layer_norm.weight"] = f"{sn}.stack.final_layer_norm.weight"
        out["upsample.weight"], out["upsample.bias"] = "upsample.weight", "upsample.bias"
        return out

    def load_lst(self, tensors):
        """Side weights in lst's naming (a dict of tensors) into this module."""
        own = dict(self.named_parameters())
        with torch.no_grad():
            for lst_name, name in self.state_names().items():
                own[name].copy_(torch.as_tensor(tensors[lst_name]))

    def forward(self, model, batch):
        ids, mask = batch["input_ids"], batch["attention_mask"]
        labels = batch.get("labels")
        dec_ids = batch.get("decoder_input_ids")
        if dec_ids is None:
            dec_ids = model._shift_right(labels)
        dec_mask = batch.get("decoder_attention_mask")
        taps = {"encoder": {}, "decoder": {}}
        hooks = []
        for stack in ("encoder", "decoder"):
            for i, blk in enumerate(getattr(model, stack).block):
                def keep(_m, _a, out, st=stack, i=i):
                    taps[st][i] = out[0]
                hooks.append(blk.register_forward_hook(keep))
        try:
            with torch.no_grad():  # the frozen backbone: nothing of it is kept for backward
                enc = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
                model.decoder(input_ids=dec_ids, attention_mask=dec_mask, encoder_hidden_states=enc,
                              encoder_attention_mask=mask, use_cache=False)
                del enc
                emb_e, emb_d = model.shared(ids), model.shared(dec_ids)
        finally:
            for h in hooks:
                h.remove()
        s_enc = self.side_encoder(emb_e, taps["encoder"], mask)
        s_dec = self.side_decoder(emb_d, taps["decoder"], dec_mask, s_enc, mask)
        h = self.upsample(s_dec)
        if self.scale is not None:
            h = h * self.scale
        logits = model.lm_head(h)  # frozen weights; the gradient flows through to upsample
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return out
