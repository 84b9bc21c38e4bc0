#!/usr/bin/python3
"""Golden fixtures for the C RobertaForMaskedLM (tests/fixtures/roberta_tiny).

Builds RobertaForMaskedLM semantics from torch.nn primitives (transformers is
not needed), for configs/heavy_tiny.json with dropout off, initialises it the
way transformers initialises RoBERTa and then perturbs every LayerNorm and
bias so a test is sensitive to them, runs a fixed padded batch, and writes:

  model.safetensors              F32 weights under Hugging Face names
  model_f16.safetensors          the same weights as F16
  model_bf16.safetensors         the same weights as BF16
  model_with_decoder.safetensors + lm_head.decoder.weight (= word embeddings)
  model_with_pooler.safetensors  + roberta.pooler.dense.{weight,bias}
  config.json                    copy of configs/heavy_tiny.json
  golden.safetensors             input_ids, attention_mask, labels (I32),
                                 logits [B,T,V], loss [1], grad.<param> for
                                 every parameter

The golden forward/backward runs in float64 on the float32-stored weights,
so it is exact for what model.safetensors holds. Self-checks (printed):
float32 vs float64 outputs, central finite differences against autograd for
a sample of parameters, and a re-read of every file written.

Run:  /usr/bin/python3 tests/reference/make_golden.py   (from the repo root)
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "roberta_tiny")
CONFIG = os.path.join(ROOT, "configs", "heavy_tiny.json")

# ---- minimal safetensors writer/reader (same layout as the Python library) --

# Reference library dtype order (ascending alignment); files are written in
# descending order of this rank, then by name.
DTYPE_RANK = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
              "I32", "U32", "F32", "F64", "I64", "U64"]
TORCH_DTYPE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
               "I32": torch.int32, "I64": torch.int64, "F64": torch.float64}
DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8, "F64": 8}


def tensor_bytes(t, dtype):
    t = t.detach().to(TORCH_DTYPE[dtype]).contiguous().cpu()
    if dtype == "BF16":  # numpy has no bfloat16: reinterpret as int16
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def save_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> (torch tensor, dtype string)."""
    items = sorted(tensors.items(), key=lambda kv: (-DTYPE_RANK.index(kv[1][1]), kv[0]))
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (t, dt) in items:
        b = tensor_bytes(t, dt)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out, body = {}, data[8 + n:]
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = info["dtype"]
        raw = body[b:e]
        if dt == "BF16":
            t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(bytearray(raw), dtype=TORCH_DTYPE[dt])
        out[name] = t.reshape(info["shape"]) if info["shape"] else t.reshape(())
    return out


# ---- the model ---------------------------------------------------------------


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, I = c["hidden_size"], c["intermediate_size"]
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        self.attn_out = nn.Linear(H, H)
        self.attn_ln = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.inter = nn.Linear(H, I)
        self.out = nn.Linear(I, H)
        self.out_ln = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.heads = c["num_attention_heads"]

    def forward(self, x, add_mask):
        B, T, H = x.shape
        nh, hd = self.heads, H // self.heads

        def split(t):
            return t.view(B, T, nh, hd).transpose(1, 2)  # [B, nh, T, hd]

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + add_mask
        probs = torch.softmax(scores, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, H)
        x = self.attn_ln(self.attn_out(ctx) + x)
        h = F.gelu(self.inter(x))  # exact erf GELU
        return self.out_ln(self.out(h) + x)


class RobertaMLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        V, H, P = c["vocab_size"], c["hidden_size"], c["max_position_embeddings"]
        self.pad = c["pad_token_id"]
        self.word = nn.Embedding(V, H, padding_idx=self.pad)
        self.pos = nn.Embedding(P, H, padding_idx=self.pad)
        self.tok_type = nn.Embedding(c["type_vocab_size"], H)
        self.emb_ln = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.head_dense = nn.Linear(H, H)
        self.head_ln = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.head_bias = nn.Parameter(torch.zeros(V))

    def position_ids(self, ids):
        """create_position_ids_from_input_ids(ids, padding_idx=pad_token_id):
        a token equal to pad_token_id gets position pad_token_id and does not
        advance the count; every other token does, whatever the attention
        mask says."""
        notpad = (ids != self.pad).long()
        return torch.cumsum(notpad, dim=1) * notpad + self.pad

    def forward(self, ids, attn_mask, hidden=False):
        x = self.word(ids) + self.pos(self.position_ids(ids)) + self.tok_type(torch.zeros_like(ids))
        x = self.emb_ln(x)
        dt = x.dtype
        add_mask = (1.0 - attn_mask[:, None, None, :].to(dt)) * torch.finfo(dt).min
        for layer in self.layers:
            x = layer(x, add_mask)
        h = self.head_ln(F.gelu(self.head_dense(x)))
        logits = h @ self.word.weight.t() + self.head_bias  # decoder tied to word embeddings
        return (logits, x) if hidden else logits

    def hf_params(self):
        """(HF name, parameter) for every parameter, tied decoder once."""
        out = [("roberta.embeddings.word_embeddings.weight", self.word.weight),
               ("roberta.embeddings.position_embeddings.weight", self.pos.weight),
               ("roberta.embeddings.token_type_embeddings.weight", self.tok_type.weight),
               ("roberta.embeddings.LayerNorm.weight", self.emb_ln.weight),
               ("roberta.embeddings.LayerNorm.bias", self.emb_ln.bias)]
        for i, l in enumerate(self.layers):
            p = f"roberta.encoder.layer.{i}."
            for sub, mod in [("attention.self.query", l.query), ("attention.self.key", l.key),
                             ("attention.self.value", l.value),
                             ("attention.output.dense", l.attn_out),
                             ("attention.output.LayerNorm", l.attn_ln),
                             ("intermediate.dense", l.inter), ("output.dense", l.out),
                             ("output.LayerNorm", l.out_ln)]:
                out += [(p + sub + ".weight", mod.weight), (p + sub + ".bias", mod.bias)]
        out += [("lm_head.dense.weight", self.head_dense.weight),
                ("lm_head.dense.bias", self.head_dense.bias),
                ("lm_head.layer_norm.weight", self.head_ln.weight),
                ("lm_head.layer_norm.bias", self.head_ln.bias),
                ("lm_head.bias", self.head_bias)]
        return out


def init_like_hf(model, c, gen):
    """RobertaPreTrainedModel._init_weights, then perturb LN and biases."""
    std = c["initializer_range"]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, std, generator=gen)
                m.bias.zero_()
            elif isinstance(m, nn.Embedding):
                m.weight.normal_(0.0, std, generator=gen)
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
        model.head_bias.zero_()
        # Perturbation so the golden values depend on every LN and bias.
        for name, p in model.hf_params():
            if name.endswith("LayerNorm.weight") or name.endswith("layer_norm.weight"):
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.add_(0.05 * torch.randn(p.shape, generator=gen))


def make_batch(c, gen):
    """3 sequences of different lengths, padded to T=11; ~30% of residues
    are prediction targets (mostly replaced by [MASK], one kept, one random)."""
    PAD, CLS, SEP, MASK = 0, 2, 3, 4
    lens = [9, 6, 3]  # residues; +[CLS]+[SEP] -> 11, 8, 5 tokens
    T = max(lens) + 2
    ids = torch.full((3, T), PAD, dtype=torch.long)
    labels = torch.full((3, T), -100, dtype=torch.long)
    attn = torch.zeros((3, T), dtype=torch.long)
    for b, n in enumerate(lens):
        res = torch.randint(5, 25, (n,), generator=gen)
        if b == 1:
            res[2] = 1  # an [UNK] residue in the input
        ids[b, 0], ids[b, 1:n + 1], ids[b, n + 1] = CLS, res, SEP
        attn[b, :n + 2] = 1
        pick = torch.randperm(n, generator=gen)[:max(1, (3 * n) // 10 + 1)] + 1
        for j, t in enumerate(pick.tolist()):
            labels[b, t] = ids[b, t]
            if j == 0 or b == 2:
                ids[b, t] = MASK
            elif b == 0 and j == 1:
                pass  # target kept unchanged
            else:
                ids[b, t] = int(torch.randint(5, 25, (1,), generator=gen))
    return ids, attn, labels


def loss_fn(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=-100, reduction="mean")


def golden(model, c, ids, attn, labels):
    """float64 forward/backward on the float32 weights of model, with the
    self-checks 1 (float32 agrees) and 2 (central differences). Returns
    (float64 model, logits, loss, {HF name: gradient})."""
    m64 = RobertaMLM(c).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    logits = m64(ids, attn)
    loss = loss_fn(logits, labels)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in m64.hf_params()}

    # Self-check 1: float32 forward/backward agrees with float64.
    l32 = model(ids, attn)
    loss32 = loss_fn(l32, labels)
    loss32.backward()
    d_logits = (l32.double() - logits).abs().max().item()
    d_loss = abs(loss32.item() - loss.item()) / abs(loss.item())
    # Relative to each tensor's largest gradient; tensors whose gradient is
    # zero in exact arithmetic (attention key biases: softmax ignores a
    # per-query constant; padding_idx rows) are compared against the largest
    # gradient overall.
    gmax = max(g.abs().max().item() for g in grads.values())
    d_grad = 0.0
    for n, p in model.hf_params():
        scale = grads[n].abs().max().item()
        if scale < 1e-9 * gmax:
            print(f"  {n}: gradient is zero up to rounding (max {scale:.1e})")
            scale = gmax
        d_grad = max(d_grad, (p.grad.double() - grads[n]).abs().max().item() / scale)
    print(f"float32 vs float64: logits max abs {d_logits:.2e}, loss rel {d_loss:.2e}, "
          f"grad max rel (to tensor max) {d_grad:.2e}")
    assert d_logits < 1e-5 and d_loss < 1e-6 and d_grad < 1e-4

    # Self-check 2: central differences in float64 for sampled entries.
    worst = 0.0
    gcheck = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in m64.hf_params():
            flat = p.view(-1)
            for idx in torch.randint(0, flat.numel(), (3,), generator=gcheck).tolist():
                old = flat[idx].item()
                h = 1e-6
                flat[idx] = old + h
                lp = loss_fn(m64(ids, attn), labels).item()
                flat[idx] = old - h
                lm = loss_fn(m64(ids, attn), labels).item()
                flat[idx] = old
                fd = (lp - lm) / (2 * h)
                an = grads[name].view(-1)[idx].item()
                # FD rounding noise is ~1e-9 absolute: floor the scale.
                worst = max(worst, abs(fd - an) / (abs(an) + 1e-4))
    print(f"finite differences vs autograd: worst |fd - grad| / (|grad| + 1e-4) = {worst:.2e}")
    assert worst < 1e-5
    return m64, logits, loss, grads


def golden_tensors(ids, attn, labels, logits, loss, grads):
    out = {"input_ids": (ids.to(torch.int32), "I32"),
           "attention_mask": (attn.to(torch.int32), "I32"),
           "labels": (labels.to(torch.int32), "I32"),
           "logits": (logits.detach().float(), "F32"),
           "loss": (loss.detach().float().reshape(1), "F32")}
    for n, g in grads.items():
        out["grad." + n] = (g.float(), "F32")
    return out


def tiny_case():
    """tests/fixtures/roberta_tiny: configs/heavy_tiny.json (pad_token_id 0)."""
    torch.manual_seed(0)
    with open(CONFIG) as f:
        c = json.load(f)
    gen = torch.Generator().manual_seed(1234)
    model = RobertaMLM(c)
    init_like_hf(model, c, gen)
    model.eval()  # dropout off (there is none in this module anyway)
    ids, attn, labels = make_batch(c, gen)
    m64, logits, loss, grads = golden(model, c, ids, attn, labels)

    # Self-check 3: padding is the tokenizer's [PAD] (0) everywhere the
    # attention mask is 0.
    ids2 = ids.clone()
    ids2[attn == 0] = 0
    assert torch.equal(ids2, ids)

    os.makedirs(OUT, exist_ok=True)
    params = {n: (p.detach(), "F32") for n, p in model.hf_params()}
    meta = {"format": "pt"}
    save_safetensors(os.path.join(OUT, "model.safetensors"), params, meta)
    save_safetensors(os.path.join(OUT, "model_f16.safetensors"),
                     {n: (t, "F16") for n, (t, _) in params.items()}, meta)
    save_safetensors(os.path.join(OUT, "model_bf16.safetensors"),
                     {n: (t, "BF16") for n, (t, _) in params.items()}, meta)
    dec = dict(params)
    dec["lm_head.decoder.weight"] = (model.word.weight.detach(), "F32")
    save_safetensors(os.path.join(OUT, "model_with_decoder.safetensors"), dec, meta)
    pool = dict(params)
    H = c["hidden_size"]
    pool["roberta.pooler.dense.weight"] = (0.02 * torch.randn((H, H), generator=gen), "F32")
    pool["roberta.pooler.dense.bias"] = (torch.zeros(H), "F32")
    save_safetensors(os.path.join(OUT, "model_with_pooler.safetensors"), pool, meta)
    shutil.copyfile(CONFIG, os.path.join(OUT, "config.json"))

    gold = golden_tensors(ids, attn, labels, logits, loss, grads)
    save_safetensors(os.path.join(OUT, "golden.safetensors"), gold, meta)

    # Re-read everything written.
    back = load_safetensors(os.path.join(OUT, "model.safetensors"))
    assert set(back) == set(params) and all(torch.equal(back[n], t) for n, (t, _) in params.items())
    b16 = load_safetensors(os.path.join(OUT, "model_bf16.safetensors"))
    assert all(torch.equal(b16[n], t.bfloat16()) for n, (t, _) in params.items())
    g = load_safetensors(os.path.join(OUT, "golden.safetensors"))
    assert torch.equal(g["labels"].long(), labels) and torch.equal(g["input_ids"].long(), ids)

    n_targets = int((labels != -100).sum())
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"params {sum(p.numel() for _, p in model.hf_params())}, batch {tuple(ids.shape)}, "
          f"targets {n_targets}, loss {loss.item():.6f}, fixtures {total} bytes in {OUT}")
    print("input_ids:\n" + str(ids.tolist()) + "\nlabels:\n" + str(labels.tolist()))


# ---- pad_token_id 1: the reference pipeline's config4.json ---------------------

OUT_PAD1 = os.path.join(ROOT, "tests", "fixtures", "roberta_pad1")

# Shaped like the reference's published config4.json (RobertaConfig, hidden
# 512, 4 layers, 4 heads, FFN 2048, 514 positions, type_vocab_size 1, eps
# 1e-5, gelu, dropout 0.1, extra keys max_seq_length and max_length, and
# pad_token_id 1, bos 0, eos 2) with tiny sizes: 66 positions leave 64
# tokens after padding_idx 1, so both extra keys say 64.
CONFIG_PAD1 = {
    "model_type": "roberta",
    "vocab_size": 25,
    "hidden_size": 24,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 40,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 66,
    "type_vocab_size": 1,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-05,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "max_seq_length": 64,
    "max_length": 64,
}

# The tokenizer that goes with it: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3,
# [MASK] 4, residues ACDEFGHIKLMNPQRSTVWY as 5..24.
TPAD, TUNK, TCLS, TSEP, TMASK = 0, 1, 2, 3, 4


def pad1_batch(gen):
    """4 sequences of 10, 6, 3 and 8 residues, padded with the tokenizer's
    [PAD] (0) to T=12; attention_mask 1 on each sequence's tokens (the
    collator's, from the lengths). [UNK] (1 = pad_token_id) residues: row 0
    residue 4, row 1 residues 1 and 2 (adjacent), row 3 residue 0 (first).
    Returns (plain ids, attention mask, masked ids, labels): the masked batch
    has MLM targets as the collator makes them, among them an [UNK] target
    replaced by [MASK] (row 0), a residue randomly replaced by [UNK] (row 1,
    so it loses its position) and one randomly replaced by [PAD] (row 2: a
    real, attended token that is not padding_idx and advances the count)."""
    lens = [10, 6, 3, 8]
    T = max(lens) + 2
    plain = torch.full((4, T), TPAD, dtype=torch.long)
    attn = torch.zeros((4, T), dtype=torch.long)
    unk = {0: [4], 1: [1, 2], 3: [0]}
    for b, n in enumerate(lens):
        res = torch.randint(5, 25, (n,), generator=gen)
        for r in unk.get(b, []):
            res[r] = TUNK
        plain[b, 0], plain[b, 1:n + 1], plain[b, n + 1] = TCLS, res, TSEP
        attn[b, :n + 2] = 1
    ids = plain.clone()
    labels = torch.full((4, T), -100, dtype=torch.long)
    # (row, token position, replacement; None = kept unchanged)
    targets = [(0, 2, TMASK), (0, 5, TMASK), (0, 8, None), (1, 1, TUNK), (1, 4, TMASK),
               (2, 2, TPAD), (3, 3, TMASK), (3, 6, 17)]
    for b, t, new in targets:
        labels[b, t] = plain[b, t]
        if new is not None:
            ids[b, t] = new
    assert labels[0, 5] == TUNK
    return plain, attn, ids, labels


def pad1_case():
    """tests/fixtures/roberta_pad1: pad_token_id 1 ([UNK]) with a tokenizer
    whose [PAD] is 0, as transformers runs the reference's config4.json."""
    c = CONFIG_PAD1
    gen = torch.Generator().manual_seed(4321)
    model = RobertaMLM(c)
    init_like_hf(model, c, gen)
    with torch.no_grad():
        # A checkpoint from elsewhere may hold non-zero padding_idx rows: the
        # lookup still reads them (nn.Embedding), only their gradient is 0.
        model.word.weight[c["pad_token_id"]] += 0.02 * torch.randn(c["hidden_size"], generator=gen)
        model.pos.weight[c["pad_token_id"]] += 0.02 * torch.randn(c["hidden_size"], generator=gen)
        # Sharper attention than a fresh init (scores ~ 1, not ~ 0.01), as in
        # a trained model, so that attending to padding shows in the logits.
        for layer in model.layers:
            for lin in (layer.query, layer.key, layer.value, layer.attn_out):
                lin.weight.mul_(8.0)
    model.eval()
    plain, attn, ids, labels = pad1_batch(gen)
    m64, logits, loss, grads = golden(model, c, ids, attn, labels)
    pos = m64.position_ids(ids)
    with torch.no_grad():
        plain_logits, plain_hidden = m64(plain, attn, hidden=True)

    # Self-check 3: the position ids are transformers' (hand-computed).
    assert pos[1].tolist() == [2, 1, 1, 1, 3, 4, 5, 6, 7, 8, 9, 10], pos[1].tolist()
    assert pos[2].tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], pos[2].tolist()
    assert pos[3, :3].tolist() == [2, 1, 3] and pos[0, 4:7].tolist() == [6, 7, 8]  # [UNK] masked
    assert m64.position_ids(plain)[0, 4:7].tolist() == [6, 1, 7]
    # padding_idx rows get no gradient; the [PAD] row (0) does (row 2).
    assert grads["roberta.embeddings.word_embeddings.weight"][TUNK].abs().max() > 0  # tied decoder
    assert grads["roberta.embeddings.position_embeddings.weight"][1].abs().max() == 0
    # Self-check 4: each row alone (no padding, no mask) gives the batch's
    # logits: the attention mask, not pad_token_id, removes the padding.
    worst = 0.0
    with torch.no_grad():
        for b in range(4):
            n = int(attn[b].sum())
            alone = m64(plain[b:b + 1, :n], torch.ones((1, n), dtype=torch.long))
            worst = max(worst, (alone[0] - plain_logits[b, :n]).abs().max().item())
    print(f"pad1: each row alone vs batched: max abs {worst:.2e}")
    assert worst < 1e-10
    # Self-check 5: the golden tells apart the two ways of getting this
    # wrong: positions counted from the tokenizer's [PAD] (0), and the
    # attention mask taken from ids != pad_token_id (1).
    with torch.no_grad():
        wrong_pos = RobertaMLM(dict(c, pad_token_id=0)).double()
        wrong_pos.load_state_dict(m64.state_dict())
        d_pos = (wrong_pos(plain, attn) - plain_logits)[attn.bool()].abs().max().item()
        d_mask = (m64(plain, (plain != 1).long()) - plain_logits)[attn.bool()].abs().max().item()
    print(f"pad1: positions from [PAD] 0 would change logits by {d_pos:.3f}, "
          f"attention mask from ids != 1 by {d_mask:.3f}")
    assert d_pos > 1e-2 and d_mask > 1e-2

    os.makedirs(OUT_PAD1, exist_ok=True)
    meta = {"format": "pt"}
    params = {n: (p.detach(), "F32") for n, p in model.hf_params()}
    save_safetensors(os.path.join(OUT_PAD1, "model.safetensors"), params, meta)
    with open(os.path.join(OUT_PAD1, "config.json") + ".tmp", "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
    os.replace(os.path.join(OUT_PAD1, "config.json") + ".tmp", os.path.join(OUT_PAD1, "config.json"))
    gold = golden_tensors(ids, attn, labels, logits, loss, grads)
    gold["position_ids"] = (pos.to(torch.int32), "I32")
    gold["plain_ids"] = (plain.to(torch.int32), "I32")
    gold["plain_logits"] = (plain_logits.float(), "F32")
    gold["plain_hidden"] = (plain_hidden.float(), "F32")
    save_safetensors(os.path.join(OUT_PAD1, "golden.safetensors"), gold, meta)
    g = load_safetensors(os.path.join(OUT_PAD1, "golden.safetensors"))
    assert torch.equal(g["input_ids"].long(), ids) and torch.equal(g["plain_ids"].long(), plain)
    total = sum(os.path.getsize(os.path.join(OUT_PAD1, f)) for f in os.listdir(OUT_PAD1))
    print(f"pad1: batch {tuple(ids.shape)}, targets {int((labels != -100).sum())}, "
          f"loss {loss.item():.6f}, fixtures {total} bytes in {OUT_PAD1}")
    print("plain_ids:\n" + str(plain.tolist()) + "\ninput_ids:\n" + str(ids.tolist()) +
          "\nposition_ids:\n" + str(pos.tolist()))


def main():
    tiny_case()
    pad1_case()
    return 0


if __name__ == "__main__":
    sys.exit(main())
