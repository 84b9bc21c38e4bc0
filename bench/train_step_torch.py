"""PyTorch peer of bench/bench_train.c: one RobertaForMaskedLM training step
(forward, backward, clip_grad_norm_, AdamW) on the same fixed batch, with
dropout 0.1 as Hugging Face's model has in training mode, built from
torch.nn primitives (transformers is not a Debian package).

usage: /usr/bin/python3 bench/train_step_torch.py CONFIG.json BATCH LENGTH STEPS WARMUP THREADS
                                                    [fp32|bf16] [BATCH_FILE]
bf16: the forward under torch.autocast("cpu", torch.bfloat16) (matrix products in bf16, fp32
weights and AdamW; torch 1.13's CPU autocast fails in LayerNorm on a bf16 input with fp32
weights, so LayerNorm runs on x.float(), as later torch versions do). BATCH_FILE: the batch
bench_train --dump wrote (B T, then ids and labels; padding = pad_token_id), else random
residues at LENGTH. Prints one JSON line like bench_train, with the model's GFLOP/s and the
GEMM rate torch reaches on the step's linear-layer shapes in the same dtype, same process."""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.LayerNorm):
    """LayerNorm in fp32 whatever the input's dtype (torch 1.13's CPU autocast)."""

    def forward(self, x):
        return super().forward(x.float())


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, I = c["hidden_size"], c["intermediate_size"]
        self.q, self.k, self.v, self.o = (nn.Linear(H, H) for _ in range(4))
        self.ln1, self.ln2 = LayerNorm(H, eps=c["layer_norm_eps"]), LayerNorm(H, eps=c["layer_norm_eps"])
        self.i, self.out = nn.Linear(H, I), nn.Linear(I, H)
        self.nh, self.p, self.pa = c["num_attention_heads"], c["hidden_dropout_prob"], c["attention_probs_dropout_prob"]

    def forward(self, x, mask):
        B, T, H = x.shape
        hd = H // self.nh
        split = lambda t: t.view(B, T, self.nh, hd).transpose(1, 2)
        s = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / math.sqrt(hd) + mask
        a = F.dropout(torch.softmax(s, -1), self.pa, self.training) @ split(self.v(x))
        x = self.ln1(F.dropout(self.o(a.transpose(1, 2).reshape(B, T, H)), self.p, self.training) + x)
        h = F.dropout(self.out(F.gelu(self.i(x))), self.p, self.training)
        return self.ln2(h + x)


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        V, H = c["vocab_size"], c["hidden_size"]
        self.pad = c["pad_token_id"]
        self.word = nn.Embedding(V, H, padding_idx=self.pad)
        self.pos = nn.Embedding(c["max_position_embeddings"], H, padding_idx=self.pad)
        self.typ = nn.Embedding(c["type_vocab_size"], H)
        self.ln = LayerNorm(H, eps=c["layer_norm_eps"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.dense, self.hln = nn.Linear(H, H), LayerNorm(H, eps=c["layer_norm_eps"])
        self.bias = nn.Parameter(torch.zeros(V))
        self.p = c["hidden_dropout_prob"]

    def encode(self, ids):
        """Last hidden states [B, T, H] (padding = pad_token_id ids)."""
        notpad = (ids != self.pad).long()
        pos = torch.cumsum(notpad, 1) * notpad + self.pad
        x = F.dropout(self.ln(self.word(ids) + self.pos(pos) + self.typ(torch.zeros_like(ids))), self.p, self.training)
        mask = (1.0 - notpad[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for l in self.layers:
            x = l(x, mask)
        return x

    def head(self, x):
        """The LM head's logits."""
        return self.hln(F.gelu(self.dense(x))) @ self.word.weight.t() + self.bias

    def forward(self, ids, labels):
        logits = self.head(self.encode(ids))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)


def gemm_rate(rows, H, I, dtype):
    """GFLOP/s of torch.matmul on the six linear-layer products of a step (forward, dX, dW of
    H->I and I->H), total FLOPs over total time, after one warm-up round."""
    shapes = [(rows, H, I), (rows, I, H), (rows, I, H), (rows, H, I), (I, rows, H), (H, rows, I)]
    mats = [(torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)) for m, k, n in shapes]
    flops, rounds, t0 = 0.0, 0, time.perf_counter()
    while True:
        for a, b in mats:
            torch.matmul(a, b)
            if rounds:
                flops += 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
        if not rounds:
            t0 = time.perf_counter()
        rounds += 1
        el = time.perf_counter() - t0
        if el >= 1.0 and rounds >= 3:
            return flops / el / 1e9


def main():
    cfg, B, T, steps, warmup, threads = sys.argv[1], *map(int, sys.argv[2:7])
    prec = sys.argv[7] if len(sys.argv) > 7 else "fp32"
    if prec not in ("fp32", "bf16"):
        sys.exit(f"train_step_torch.py: precision must be fp32 or bf16, got {prec}")
    batch_file = sys.argv[8] if len(sys.argv) > 8 else None
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    c = json.load(open(cfg))
    m = Model(c).train()
    with torch.no_grad():  # Hugging Face's RoBERTa initialisation, as ablm's
        for name, p in m.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, c["initializer_range"])
            elif "ln" in name or name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()
        m.word.weight[m.pad].zero_()
        m.pos.weight[m.pad].zero_()
    if batch_file:
        rows = open(batch_file).read().split("\n")
        B, T = map(int, rows[0].split())
        ids = torch.tensor([list(map(int, r.split())) for r in rows[1:1 + B]])
        labels = torch.tensor([list(map(int, r.split())) for r in rows[1 + B:1 + 2 * B]])
    else:
        g = torch.Generator().manual_seed(3)
        ids = torch.randint(5, 25, (B, T), generator=g)
        ids[:, 0], ids[:, -1] = 2, 3
        sel = (torch.rand(B, T, generator=g) < 0.15)
        sel[:, 0] = sel[:, -1] = False
        labels = torch.where(sel, ids, torch.full_like(ids, -100))
        ids = torch.where(sel, torch.full_like(ids, 4), ids)
    opt = torch.optim.AdamW(m.parameters(), lr=5e-5)  # the Trainer's default optimizer
    tf = tb = to = 0.0
    for s in range(warmup + steps):
        if s == warmup:
            t0, tf, tb, to = time.perf_counter(), 0.0, 0.0, 0.0
        a = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16"):
            loss = m(ids, labels)
        b = time.perf_counter()
        loss.backward()
        cc = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        d = time.perf_counter()
        tf, tb, to = tf + b - a, tb + cc - b, to + d - cc
    el = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the GEMM-rate buffers
    H, I, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    per_tok = L * (4 * H * H + 2 * H * I + 2 * T * H) + H * H + H * V  # as bench_train.c
    gflops = 6.0 * per_tok * B * T * steps / el / 1e9
    rate = gemm_rate(B * T, H, I, torch.bfloat16 if prec == "bf16" else torch.float32)
    print(json.dumps({"impl": "pytorch " + torch.__version__, "precision": prec, "config": cfg,
                      "batch": B, "length": T,
                      "threads": threads, "ms_per_step": round(1e3 * el / steps, 1),
                      "forward_ms": round(1e3 * tf / steps, 1), "backward_ms": round(1e3 * tb / steps, 1),
                      "optimizer_ms": round(1e3 * to / steps, 1),
                      "tokens_per_s": round(B * T * steps / el), "gflops": round(gflops, 1),
                      "gemm_gflops": round(rate, 1), "gemm_share": round(gflops / rate, 2),
                      "loss": round(loss.item(), 4), "peak_rss_mb": round(peak_mb)}))


if __name__ == "__main__":
    main()
