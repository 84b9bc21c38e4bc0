#!/usr/bin/python3
"""ablm's training loop replayed in PyTorch, step by step.

ablm draws its data order and MLM masks from counter-based hashes
(data/mlm_mask.c, graph/rng.c); this file ports those streams to Python so a
PyTorch loop with the Hugging Face Trainer's semantics (bench/learn_torch.py:
same model, loss, clipping, AdamW with decay off for biases and LayerNorm
weights, linear schedule with warmup) can consume exactly ablm's batches.
With dropout off, the two runs must then agree step by step: any difference
in masking, order, epochs, the last partial batch, the loss normalisation,
clipping, the optimizer or the schedule shows up in the first steps.

  learn_replay.py fixture     writes tests/fixtures/learn_replay/ (the
                              golden run of tests/test_learn_replay.c):
                              config.json, model.safetensors (HF init),
                              train.txt (synthetic chains), expected.json
                              (per-step loss and pre-clip gradient norm).
Run from anywhere with /usr/bin/python3; needs only torch.
"""
import json
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import learn_torch as L  # noqa: E402

np.seterr(over="ignore")
GOLDEN = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1
U = np.uint64


def mix(z):
    """graph/rng.c mix64 (splitmix64 step and finaliser) on Python ints."""
    z = (z + GOLDEN) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def mix_v(z):
    """mix64 on a numpy uint64 array (wrapping arithmetic)."""
    z = z + U(GOLDEN)
    z = (z ^ (z >> U(30))) * U(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U(27))) * U(0x94D049BB133111EB)
    return z ^ (z >> U(31))


class Rng:
    """tg_rng: tg_rng_seed / tg_rng_next."""

    def __init__(self, seed):
        self.key, self.counter = mix((seed & M64) ^ 0x5EED), 0

    def next(self):
        v = mix(self.key ^ mix(self.counter))
        self.counter += 1
        return v


def shuffle_order(seed, epoch, n):
    """mlm_shuffle_order: Fisher-Yates with Lemire's multiply."""
    r = Rng(seed ^ ((GOLDEN * (epoch + 1)) & M64))
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = (r.next() * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    return order


def hash_uniform(key, idx):
    return (mix_v(U(key) ^ mix_v(idx)) >> U(11)).astype(np.float64) / 9007199254740992.0


def mask_batch(seqs, seed, global_mb, vocab, p=0.15):
    """trainer.c train_step + mlm_make_batch + mlm_mask_batch: padded batch,
    special = PAD/CLS/SEP, one key per micro-batch, (key, 4i + k) hashes."""
    T, B = max(len(s) for s in seqs), len(seqs)
    ids = np.full((B, T), vocab.pad, dtype=np.int64)
    attn = np.zeros((B, T), dtype=np.int64)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = s
        attn[b, :len(s)] = 1
    key = Rng(seed * GOLDEN + global_mb).next()
    base = np.arange(B * T, dtype=np.uint64) * U(4)
    flat = ids.reshape(-1).copy()
    special = (flat == vocab.pad) | (flat == vocab.cls) | (flat == vocab.sep)
    sel = ~special & (hash_uniform(key, base) < p)
    labels = np.where(sel, flat, -100)
    masked = sel & (hash_uniform(key, base + U(1)) < 0.8)
    rand = sel & ~masked & (hash_uniform(key, base + U(2)) < 0.5)
    rid = np.minimum((hash_uniform(key, base + U(3)) * vocab.size).astype(np.int64), vocab.size - 1)
    flat[masked] = vocab.mask
    flat[rand] = rid[rand]
    t = lambda x: torch.from_numpy(x.reshape(B, T))
    return t(flat), t(attn), t(labels)


def replay(model, data, vocab, seed, batch, steps, lr, warmup, weight_decay, max_grad_norm=1.0):
    """HF Trainer loop over ablm's batches (dropout off). Returns per-step
    (loss, pre-clip gradient norm)."""
    named = model.hf_params()
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm" in n or "layer_norm" in n
    opt = torch.optim.AdamW([{"params": [p for n, p in named if not no_decay(n)], "weight_decay": weight_decay},
                             {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    params = [p for _, p in named]
    per_epoch = (len(data) + batch - 1) // batch
    out, step, epoch = [], 0, 0
    while step < steps:
        order = shuffle_order(seed, epoch, len(data))
        for mb in range(per_epoch):
            if step == steps:
                break
            seqs = [data[j] for j in order[mb * batch:(mb + 1) * batch]]
            ids, attn, labels = mask_batch(seqs, seed, epoch * per_epoch + mb, vocab)
            loss = L.mlm_loss(L.forward(model, ids, attn, 0.0, 0.0, False), labels)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            out.append((loss.item(), norm.item()))
            step += 1
        epoch += 1
    return out


def fixture():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "tests", "fixtures", "learn_replay")
    os.makedirs(out, exist_ok=True)
    c = json.load(open(os.path.join(root, "configs", "heavy_tiny.json")))
    c["hidden_dropout_prob"] = c["attention_probs_dropout_prob"] = 0.0
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
        f.write("\n")
    rnd = random.Random(11)
    residues = "ACDEFGHIKLMNPQRSTVWY"
    # 60 chains: 8 micro-batches of 8 per epoch, the last one of 4
    chains = ["".join(rnd.choice(residues) for _ in range(rnd.randint(12, 40))) for _ in range(60)]
    with open(os.path.join(out, "train.txt"), "w") as f:
        f.write("\n".join(chains) + "\n")
    vocab_tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(residues)
    vpath = os.path.join(out, "vocab.tmp")
    with open(vpath, "w") as f:
        f.write("\n".join(vocab_tokens) + "\n")
    vocab = L.Vocab(vpath)
    os.remove(vpath)
    data = [vocab.encode(s) for s in chains]
    torch.set_num_threads(1)
    model = L.init_model(c, 3)
    L.save_model(model, out)
    run = dict(seed=5, batch=8, steps=20, lr=2e-3, warmup=3, weight_decay=0.1)
    m64 = L.init_model(c, 3).double()
    res = replay(m64, data, vocab, **run)  # float64: the exact value for the float32 weights
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"args": run, "loss": [r[0] for r in res], "grad_norm": [r[1] for r in res]}, f, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(chains)} chains, {run['steps']} steps; losses "
          + " ".join(f"{r[0]:.4f}" for r in res))


if __name__ == "__main__":
    if sys.argv[1:] != ["fixture"]:
        sys.exit(__doc__)
    fixture()
