#!/usr/bin/python3
"""Golden fixture for the C GPT2LMHeadModel (tests/fixtures/gpt2_tiny).

Builds GPT-2 semantics from torch primitives (transformers is not needed),
for configs/light_gpt_tiny.json with dropout off: wte + wpe (positions
0..T-1), pre-LN blocks (ln_1, Conv1D c_attn [H, 3H], causal attention with
scores / sqrt(head size), the key-padding mask added, c_proj; ln_2, Conv1D
c_fc, gelu_new (tanh form), Conv1D c_proj; residuals), ln_f, the LM head
tied to wte; the loss as GPT2LMHeadModel's: logits[:, :-1] against
labels[:, 1:], -100 ignored, mean over the counted tokens.

Weights: GPT-2's _init_weights (normal(0, 0.02), zero biases, LayerNorm 1/0,
c_proj weights normal(0, 0.02 / sqrt(2 n_layer))), then every LayerNorm
weight + 0.2 N(0,1), every bias + 0.05 N(0,1) and c_attn weights x 4, so
the golden values depend on them and attention is sharp enough for a wrong
mask to show. The batch: 3 chains of 8, 5 and 2 residues as
<bos> residues <eos>, right-padded with 0 to 10, attention mask 0 and labels
-100 on the padding. Writes:

  model.safetensors            F32 weights, lm_head.weight left out (tied,
                               as transformers saves GPT2LMHeadModel)
  model_legacy.safetensors     plus lm_head.weight and the old causal-mask
                               buffers h.N.attn.bias / attn.masked_bias
  config.json                  copy of configs/light_gpt_tiny.json
  golden.safetensors           input_ids, attention_mask, labels (I32
                               [3, 10]), logits [3, 10, 25], loss [1],
                               grad.<name> for every parameter

The forward/backward runs in float64 on the float32-stored weights.
Self-checks (printed): float32 vs float64, each row alone vs batched.

Run:  /usr/bin/python3 tests/reference/make_gpt2_golden.py   (repo root)
"""
import json
import math
import os
import shutil
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import save_safetensors, load_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "gpt2_tiny")
CONFIG = os.path.join(ROOT, "configs", "light_gpt_tiny.json")


def param_shapes(c):
    H, V, P, L = c["n_embd"], c["vocab_size"], c["n_positions"], c["n_layer"]
    Fi = c["n_inner"] or 4 * H
    shapes = [("transformer.wte.weight", (V, H)), ("transformer.wpe.weight", (P, H))]
    for i in range(L):
        p = "transformer.h.%d." % i
        shapes += [(p + "ln_1.weight", (H,)), (p + "ln_1.bias", (H,)),
                   (p + "attn.c_attn.weight", (H, 3 * H)), (p + "attn.c_attn.bias", (3 * H,)),
                   (p + "attn.c_proj.weight", (H, H)), (p + "attn.c_proj.bias", (H,))]
        if c.get("add_cross_attention"):
            shapes += [(p + "ln_cross_attn.weight", (H,)), (p + "ln_cross_attn.bias", (H,)),
                       (p + "crossattention.q_attn.weight", (H, H)),
                       (p + "crossattention.q_attn.bias", (H,)),
                       (p + "crossattention.c_attn.weight", (H, 2 * H)),
                       (p + "crossattention.c_attn.bias", (2 * H,)),
                       (p + "crossattention.c_proj.weight", (H, H)),
                       (p + "crossattention.c_proj.bias", (H,))]
        shapes += [(p + "ln_2.weight", (H,)), (p + "ln_2.bias", (H,)),
                   (p + "mlp.c_fc.weight", (H, Fi)), (p + "mlp.c_fc.bias", (Fi,)),
                   (p + "mlp.c_proj.weight", (Fi, H)), (p + "mlp.c_proj.bias", (H,))]
    shapes += [("transformer.ln_f.weight", (H,)), ("transformer.ln_f.bias", (H,))]
    return shapes


def init_weights(c, gen):
    std, L = c["initializer_range"], c["n_layer"]
    w = {}
    for name, shape in param_shapes(c):
        if name.endswith(".bias"):
            t = torch.zeros(shape)
        elif ".ln_" in name:
            t = torch.ones(shape)
        elif name.endswith("c_proj.weight"):
            t = torch.randn(shape, generator=gen) * (std / math.sqrt(2 * L))
        else:
            t = torch.randn(shape, generator=gen) * std
        w[name] = t
    for name, t in w.items():  # perturbation
        if ".ln_" in name and name.endswith(".weight"):
            t.add_(0.2 * torch.randn(t.shape, generator=gen))
        elif name.endswith(".bias"):
            t.add_(0.05 * torch.randn(t.shape, generator=gen))
        elif name.endswith("c_attn.weight") or name.endswith("q_attn.weight"):
            t.mul_(4.0)
    return {n: t.float() for n, t in w.items()}


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def attend(q, k, v, B, nh, hd, mask_add):
    """Multi-head attention: q [B, Tq, H], k, v [B, Tk, H], additive mask
    broadcast to [B, nh, Tq, Tk]; returns [B, Tq, H]."""
    Tq, Tk = q.shape[1], k.shape[1]
    q = q.reshape(B, Tq, nh, hd).transpose(1, 2)
    k = k.reshape(B, Tk, nh, hd).transpose(1, 2)
    v = v.reshape(B, Tk, nh, hd).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask_add
    return (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, Tq, nh * hd)


def adapter(w, name, x):
    """Bottleneck adapter x + up(relu(down(x))) when its weights exist."""
    d = name + ".adapters.heavy2light.adapter_down.0."
    if d + "weight" not in w:
        return x
    u = name + ".adapters.heavy2light.adapter_up."
    h = torch.relu(x @ w[d + "weight"].T + w[d + "bias"])
    return x + h @ w[u + "weight"].T + w[u + "bias"]


def forward(c, w, ids, attn, enc=None, enc_mask=None, prefix=""):
    """Logits [B, T, V] of GPT2LMHeadModel (eval mode); with enc [B, S, H]
    and enc_mask [B, S] the cross-attention of add_cross_attention (GPT2Block:
    attn, then ln_cross_attn + crossattention over enc, then mlp). prefix:
    the names' prefix ("decoder." inside an EncoderDecoderModel); adapters
    (x + up(relu(down(x))) on the attention and MLP outputs) when w has them."""
    w = {n[len(prefix):]: t for n, t in w.items() if n.startswith(prefix)}
    B, T = ids.shape
    H, nh, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
    hd = H // nh
    pos = torch.arange(T).unsqueeze(0).expand(B, T)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][pos]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    low = torch.finfo(x.dtype).min
    pad = (1.0 - attn[:, None, None, :].to(x.dtype)) * low
    for i in range(c["n_layer"]):
        p = "transformer.h.%d." % i
        h = F.layer_norm(x, (H,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(H, dim=2)
        q, k, v = (t.reshape(B, T, nh, hd).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        s = torch.where(causal, s, torch.tensor(low, dtype=s.dtype)) + pad
        a = torch.softmax(s, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, T, H)
        a = a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        x = x + adapter(w, p + "attention_adapters", a)
        if enc is not None:
            h = F.layer_norm(x, (H,), w[p + "ln_cross_attn.weight"], w[p + "ln_cross_attn.bias"], eps)
            q = h @ w[p + "crossattention.q_attn.weight"] + w[p + "crossattention.q_attn.bias"]
            kv = enc @ w[p + "crossattention.c_attn.weight"] + w[p + "crossattention.c_attn.bias"]
            k, v = kv.split(H, dim=2)
            xpad = (1.0 - enc_mask[:, None, None, :].to(x.dtype)) * low
            a = attend(q, k, v, B, nh, hd, xpad)
            x = x + a @ w[p + "crossattention.c_proj.weight"] + w[p + "crossattention.c_proj.bias"]
        h = F.layer_norm(x, (H,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        h = gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        h = h @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = x + adapter(w, p + "output_adapters", h)
    x = F.layer_norm(x, (H,), w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x @ w["transformer.wte.weight"].T


def clm_loss(logits, labels):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                           ignore_index=-100)


def make_batch(gen, T=10):
    lens = [8, 5, 2]
    ids = torch.zeros(len(lens), T, dtype=torch.int64)
    attn = torch.zeros(len(lens), T, dtype=torch.int64)
    for b, n in enumerate(lens):
        row = [2] + torch.randint(5, 25, (n,), generator=gen).tolist() + [3]
        ids[b, :len(row)] = torch.tensor(row)
        attn[b, :len(row)] = 1
    labels = ids.masked_fill(attn == 0, -100)
    return ids, attn, labels


def main():
    with open(CONFIG) as f:
        c = json.load(f)
    gen = torch.Generator().manual_seed(2026)
    w32 = init_weights(c, gen)
    ids, attn, labels = make_batch(gen)
    w64 = {n: t.double().requires_grad_(True) for n, t in w32.items()}
    logits = forward(c, w64, ids, attn)
    loss = clm_loss(logits, labels)
    loss.backward()
    grads = {n: t.grad for n, t in w64.items()}

    # self-checks
    with torch.no_grad():
        l32 = forward(c, w32, ids, attn)
        print("float32 vs float64: logits max abs %.3g, loss rel %.3g" % (
            (l32.double() - logits).abs().max().item(),
            abs(clm_loss(l32, labels).item() - loss.item()) / loss.item()))
        worst = 0.0
        for b in range(ids.shape[0]):
            n = int(attn[b].sum())
            alone = forward(c, w64, ids[b:b + 1, :n], attn[b:b + 1, :n])
            worst = max(worst, (alone[0] - logits[b, :n]).abs().max().item())
        print("each row alone vs batched: max abs %.3g" % worst)
        wrong = forward(c, w64, ids, torch.ones_like(attn))
        # right padding: real positions never see a later pad key (causal);
        # the padding queries do, so the mask shows in their logits
        real = attn.bool()
        print("without the padding mask: real positions move by %.3g, padding positions by %.3g" % (
            (wrong - logits)[real].abs().max().item(), (wrong - logits)[~real].abs().max().item()))
        print("batch %s, targets %d, loss %.6f" % (tuple(ids.shape), int((labels[:, 1:] != -100).sum()),
                                                   loss.item()))

    os.makedirs(OUT, exist_ok=True)
    meta = {"format": "pt"}
    save_safetensors(os.path.join(OUT, "model.safetensors"),
                     {n: (t, "F32") for n, t in w32.items()}, meta)
    legacy = {n: (t, "F32") for n, t in w32.items()}
    legacy["lm_head.weight"] = (w32["transformer.wte.weight"], "F32")
    T = c["n_positions"]
    for i in range(c["n_layer"]):
        legacy["transformer.h.%d.attn.bias" % i] = (torch.tril(torch.ones(T, T)).view(1, 1, T, T), "F32")
        legacy["transformer.h.%d.attn.masked_bias" % i] = (torch.tensor(-1e4), "F32")
    save_safetensors(os.path.join(OUT, "model_legacy.safetensors"), legacy, meta)
    shutil.copyfile(CONFIG, os.path.join(OUT, "config.json"))
    g = {"input_ids": (ids.to(torch.int32), "I32"), "attention_mask": (attn.to(torch.int32), "I32"),
         "labels": (labels.to(torch.int32), "I32"), "logits": (logits.detach().float(), "F32"),
         "loss": (loss.detach().float().reshape(1), "F32")}
    for n, t in grads.items():
        g["grad." + n] = (t.float(), "F32")
    save_safetensors(os.path.join(OUT, "golden.safetensors"), g)
    back = load_safetensors(os.path.join(OUT, "golden.safetensors"))
    assert torch.equal(back["logits"], logits.detach().float())
    print("wrote", OUT)


def main_cross():
    """tests/fixtures/gpt2_cross_tiny: the same model with add_cross_attention
    over random encoder states [3, 7, 24] whose rows have 7, 4 and 1 real
    positions (encoder_attention_mask 0 on the rest)."""
    out = os.path.join(ROOT, "tests", "fixtures", "gpt2_cross_tiny")
    with open(CONFIG) as f:
        c = json.load(f)
    c["add_cross_attention"] = True
    gen = torch.Generator().manual_seed(2027)
    w32 = init_weights(c, gen)
    ids, attn, labels = make_batch(gen)
    S, H = 7, c["n_embd"]
    enc = torch.randn(ids.shape[0], S, H, generator=gen).float()
    enc_mask = torch.zeros(ids.shape[0], S, dtype=torch.int64)
    for b, n in enumerate([7, 4, 1]):
        enc_mask[b, :n] = 1
    w64 = {n: t.double().requires_grad_(True) for n, t in w32.items()}
    logits = forward(c, w64, ids, attn, enc.double(), enc_mask)
    loss = clm_loss(logits, labels)
    loss.backward()
    with torch.no_grad():
        moved = (forward(c, w64, ids, attn, enc.double(), torch.ones_like(enc_mask)) - logits).abs().max()
        print("cross: without the encoder mask logits move by %.3g; loss %.6f" % (moved.item(), loss.item()))
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"),
                     {n: (t, "F32") for n, t in w32.items()}, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    g = {"input_ids": (ids.to(torch.int32), "I32"), "attention_mask": (attn.to(torch.int32), "I32"),
         "labels": (labels.to(torch.int32), "I32"), "encoder_hidden_states": (enc, "F32"),
         "encoder_attention_mask": (enc_mask.to(torch.int32), "I32"),
         "logits": (logits.detach().float(), "F32"), "loss": (loss.detach().float().reshape(1), "F32")}
    for n, t in w64.items():
        g["grad." + n] = (t.grad.float(), "F32")
    save_safetensors(os.path.join(out, "golden.safetensors"), g)
    print("wrote", out)


if __name__ == "__main__":
    main()
    main_cross()
