#!/usr/bin/python3
"""Golden fixture for the C encoder-decoder (tests/fixtures/encdec_tiny).

EncoderDecoderModel semantics from torch primitives (transformers is not
needed): a RoBERTa encoder (RobertaModel: embeddings with RoBERTa position
ids, post-LN layers, no MLM head) of hidden size 32, enc_to_dec_proj
(Linear 32 -> 24, since the sizes differ), and the GPT-2 decoder of
configs/light_gpt_tiny.json with add_cross_attention (GPT2Block: attn,
ln_cross_attn + crossattention over the projected encoder states with the
encoder's padding mask, mlp; make_gpt2_golden.forward), LM head tied to
decoder.transformer.wte. Bottleneck adapters, reduction factor 8, ReLU:
x + up(relu(down(x))) on the attention output and on the feed-forward output
of every encoder layer (before the residual add and LayerNorm) and every
decoder layer (before the residual add).

The loss as EncoderDecoderModel's: decoder_input_ids = labels shifted right
with decoder_start_token_id 2 first and -100 replaced by pad 0 (no decoder
attention mask), cross-entropy of logits[:, t] against labels[:, t], -100
ignored, mean over the counted tokens.

Weights: normal(0, 0.02) matrices (attention projections x 4 so attention is
sharp), LayerNorm weights 1 + 0.2 N(0,1), biases 0.05 N(0,1), adapter
up-projections normal(0, 0.3) (not zero, so the adapters change the output
and every adapter tensor gets a gradient). The batch: 3 heavy chains of 9, 5
and 3 tokens ([CLS] residues [SEP]) right-padded with 0 to 11 (attention
mask 0 there), light labels of 7, 4 and 2 tokens (residues [SEP]) padded
with -100 to 8. Writes:

  config.json         the EncoderDecoderConfig
  model.safetensors   F32 weights with EncoderDecoderModel names
  golden.safetensors  input_ids, attention_mask, labels (I32),
                      decoder_input_ids (I32), logits [3, 8, 25], loss [1],
                      grad.<name> for every parameter

float64 forward/backward on the float32 weights. Self-checks (printed):
each row alone vs batched, the encoder mask's and the adapters' effect.

Run:  /usr/bin/python3 tests/reference/make_encdec_golden.py   (repo root)
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import save_safetensors  # noqa: E402
import make_gpt2_golden as g2  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "encdec_tiny")
R = 8  # adapter reduction factor
AD = ".adapters.heavy2light."


def configs():
    with open(os.path.join(ROOT, "configs", "heavy_tiny.json")) as f:
        enc = json.load(f)
    enc["hidden_size"] = 32
    with open(os.path.join(ROOT, "configs", "light_gpt_tiny.json")) as f:
        dec = json.load(f)
    dec["add_cross_attention"] = True
    dec["is_decoder"] = True
    return enc, dec


def adapter_shapes(where, H):
    return [(where + AD + "adapter_down.0.weight", (H // R, H)), (where + AD + "adapter_down.0.bias", (H // R,)),
            (where + AD + "adapter_up.weight", (H, H // R)), (where + AD + "adapter_up.bias", (H,))]


def param_shapes(enc, dec):
    H, V, P, Fi = enc["hidden_size"], enc["vocab_size"], enc["max_position_embeddings"], enc["intermediate_size"]
    s = [("encoder.embeddings.word_embeddings.weight", (V, H)),
         ("encoder.embeddings.position_embeddings.weight", (P, H)),
         ("encoder.embeddings.token_type_embeddings.weight", (enc["type_vocab_size"], H)),
         ("encoder.embeddings.LayerNorm.weight", (H,)), ("encoder.embeddings.LayerNorm.bias", (H,))]
    for i in range(enc["num_hidden_layers"]):
        p = "encoder.encoder.layer.%d." % i
        for sub, shape in [("attention.self.query", (H, H)), ("attention.self.key", (H, H)),
                           ("attention.self.value", (H, H)), ("attention.output.dense", (H, H)),
                           ("attention.output.LayerNorm", (H,)), ("intermediate.dense", (Fi, H)),
                           ("output.dense", (H, Fi)), ("output.LayerNorm", (H,))]:
            s += [(p + sub + ".weight", shape), (p + sub + ".bias", (shape[0],))]
        s += adapter_shapes(p + "attention.output", H) + adapter_shapes(p + "output", H)
    Hd = dec["n_embd"]
    s += [("decoder." + n, shape) for n, shape in g2.param_shapes(dec)]
    for i in range(dec["n_layer"]):
        p = "decoder.transformer.h.%d." % i
        s += adapter_shapes(p + "attention_adapters", Hd) + adapter_shapes(p + "output_adapters", Hd)
    s += [("enc_to_dec_proj.weight", (Hd, H)), ("enc_to_dec_proj.bias", (Hd,))]
    return s


def init_weights(enc, dec, gen):
    w = {}
    for name, shape in param_shapes(enc, dec):
        if name.endswith(".bias"):
            t = 0.05 * torch.randn(shape, generator=gen)
        elif "LayerNorm" in name or ".ln_" in name:
            t = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        elif "adapter_up" in name:
            t = 0.3 * torch.randn(shape, generator=gen)
        else:
            t = 0.02 * torch.randn(shape, generator=gen)
            if any(k in name for k in ("query", "key", "c_attn", "q_attn")):
                t.mul_(4.0)
        w[name] = t.float()
    return w


def encode(c, w, ids, mask):
    """RobertaModel's last hidden states, with the adapters."""
    B, S = ids.shape
    H, nh, eps, pad = c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"], c["pad_token_id"]
    notpad = (ids != pad).long()
    pos = torch.cumsum(notpad, dim=1) * notpad + pad
    e = "encoder.embeddings."
    x = (w[e + "word_embeddings.weight"][ids] + w[e + "position_embeddings.weight"][pos]
         + w[e + "token_type_embeddings.weight"][torch.zeros_like(ids)])
    x = F.layer_norm(x, (H,), w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"], eps)
    add = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min

    def lin(name, t):
        return t @ w[name + ".weight"].T + w[name + ".bias"]

    for i in range(c["num_hidden_layers"]):
        p = "encoder.encoder.layer.%d." % i
        a = g2.attend(lin(p + "attention.self.query", x), lin(p + "attention.self.key", x),
                      lin(p + "attention.self.value", x), B, nh, H // nh, add)
        a = g2.adapter(w, p + "attention.output", lin(p + "attention.output.dense", a))
        x = F.layer_norm(a + x, (H,), w[p + "attention.output.LayerNorm.weight"],
                         w[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(p + "output.dense", F.gelu(lin(p + "intermediate.dense", x)))
        h = g2.adapter(w, p + "output", h)
        x = F.layer_norm(h + x, (H,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    return x


def forward(enc, dec, w, ids, mask, dec_ids):
    h = encode(enc, w, ids, mask)
    h = h @ w["enc_to_dec_proj.weight"].T + w["enc_to_dec_proj.bias"]
    return g2.forward(dec, w, dec_ids, torch.ones_like(dec_ids), h, mask, prefix="decoder.")


def shift_right(labels, start=2, pad=0):
    d = torch.full_like(labels, pad)
    d[:, 1:] = labels[:, :-1]
    d[:, 0] = start
    return d.masked_fill(d == -100, pad)


def make_batch(gen, S=11, T=8):
    ids = torch.zeros(3, S, dtype=torch.int64)
    mask = torch.zeros(3, S, dtype=torch.int64)
    labels = torch.full((3, T), -100, dtype=torch.int64)
    for b, (n, m) in enumerate([(7, 6), (3, 3), (1, 1)]):
        row = [2] + torch.randint(5, 25, (n,), generator=gen).tolist() + [3]
        ids[b, :len(row)] = torch.tensor(row)
        mask[b, :len(row)] = 1
        lab = torch.randint(5, 25, (m,), generator=gen).tolist() + [3]
        labels[b, :len(lab)] = torch.tensor(lab)
    return ids, mask, labels


def loss_fn(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def main():
    enc, dec = configs()
    gen = torch.Generator().manual_seed(2028)
    w32 = init_weights(enc, dec, gen)
    ids, mask, labels = make_batch(gen)
    dec_ids = shift_right(labels)
    w64 = {n: t.double().requires_grad_(True) for n, t in w32.items()}
    logits = forward(enc, dec, w64, ids, mask, dec_ids)
    loss = loss_fn(logits, labels)
    loss.backward()
    with torch.no_grad():
        worst = 0.0
        for b in range(3):
            n, m = int(mask[b].sum()), int((labels[b] != -100).sum())
            alone = forward(enc, dec, w64, ids[b:b + 1, :n], mask[b:b + 1, :n], dec_ids[b:b + 1, :m])
            worst = max(worst, (alone[0] - logits[b, :m]).abs().max().item())
        print("each row alone vs batched: max abs %.3g" % worst)
        moved = (forward(enc, dec, w64, ids, torch.ones_like(mask), dec_ids) - logits).abs().max().item()
        print("without the encoder mask: logits move by %.3g" % moved)
        bare = {n: t for n, t in w64.items() if AD not in n}
        print("without the adapters: logits move by %.3g" % (forward(enc, dec, bare, ids, mask, dec_ids) - logits).abs().max().item())
        print("targets %d, loss %.6f" % (int((labels != -100).sum()), loss.item()))
    os.makedirs(OUT, exist_ok=True)
    cfg = {"adapters": {"config": "double_seq_bn", "name": "heavy2light", "non_linearity": "relu",
                        "reduction_factor": R},
           "architectures": ["EncoderDecoderModel"], "decoder": dec, "decoder_start_token_id": 2,
           "encoder": enc, "eos_token_id": 3, "is_encoder_decoder": True, "model_type": "encoder-decoder",
           "pad_token_id": 0, "tie_encoder_decoder": False}
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_safetensors(os.path.join(OUT, "model.safetensors"), {n: (t, "F32") for n, t in w32.items()},
                     {"format": "pt"})
    g = {"input_ids": (ids.to(torch.int32), "I32"), "attention_mask": (mask.to(torch.int32), "I32"),
         "labels": (labels.to(torch.int32), "I32"), "decoder_input_ids": (dec_ids.to(torch.int32), "I32"),
         "logits": (logits.detach().float(), "F32"), "loss": (loss.detach().float().reshape(1), "F32")}
    for n, t in w64.items():
        g["grad." + n] = (t.grad.float(), "F32")
    save_safetensors(os.path.join(OUT, "golden.safetensors"), g)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
