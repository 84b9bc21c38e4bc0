"""PyTorch peer of bench/bench_infer.c's embed, logits and score: the eval forward (no_grad,
eval mode) of the RobertaForMaskedLM of bench/train_step_torch.py on the same heavy chains,
sorted by length and batched as ablm does, in fp32 or under torch.autocast("cpu", bfloat16).

usage: /usr/bin/python3 bench/infer_torch.py CONFIG.json FASTA SCORE_N BATCH THREADS fp32|bf16

embed: hidden states mean-pooled over residues; logits: the LM head on every position;
score: pseudo-log-likelihood of the first SCORE_N chains (each residue masked in turn, the
masked copies packed BATCH rows per forward, log-softmax at the masked position). Residues map
to ids 5..24 (the speed does not depend on which). Prints one line per command like
bench_infer: label, sequences, seconds, sequences/s."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step_torch import Model  # noqa: E402

AA = "ACDEFGHIKLMNPQRSTVWY"


def read_fasta(path):
    seqs, cur = [], None
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            if cur is not None:
                seqs.append(cur)
            cur = ""
        elif cur is not None:
            cur += line
    if cur:
        seqs.append(cur)
    return seqs


def batches(rows, bs, pad):
    """rows: lists of ids; yields padded [B, T] tensors of consecutive rows."""
    for s in range(0, len(rows), bs):
        chunk = rows[s:s + bs]
        T = max(len(r) for r in chunk)
        yield torch.tensor([r + [pad] * (T - len(r)) for r in chunk])


def main():
    cfg, fasta, score_n, bs, threads, prec = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]), sys.argv[6]
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    c = json.load(open(cfg))
    m = Model(c).eval()
    pad, cls, sep, mask = c["pad_token_id"], 2, 3, 4
    seqs = sorted(read_fasta(fasta), key=len)
    rows = [[cls] + [5 + AA.index(a) if a in AA else 1 for a in s] + [sep] for s in seqs]
    auto = dict(device_type="cpu", dtype=torch.bfloat16, enabled=prec == "bf16")
    out = []
    with torch.no_grad(), torch.autocast(**auto):
        t0 = time.perf_counter()
        for ids in batches(rows, bs, pad):
            h = m.encode(ids).float()
            keep = ((ids != pad) & (ids != cls) & (ids != sep)).unsqueeze(-1).float()
            out.append((h * keep).sum(1) / keep.sum(1))
        out.append(("embed", len(rows), time.perf_counter() - t0))
        t0 = time.perf_counter()
        for ids in batches(rows, bs, pad):
            m.head(m.encode(ids)).float()
        out.append(("logits", len(rows), time.perf_counter() - t0))
        t0 = time.perf_counter()
        copies = []  # (ids with position i masked, i, true id)
        for r in rows[:score_n]:
            for i in range(1, len(r) - 1):
                copies.append((r[:i] + [mask] + r[i + 1:], i, r[i]))
        pll = 0.0
        for s in range(0, len(copies), bs):
            chunk = copies[s:s + bs]
            ids = next(batches([x[0] for x in chunk], bs, pad))
            lp = torch.log_softmax(m.head(m.encode(ids)).float(), -1)
            for b, (_, i, t) in enumerate(chunk):
                pll += lp[b, i, t].item()
        out.append(("score", min(score_n, len(rows)), time.perf_counter() - t0))
    name = f"pytorch {prec}{' autocast' if prec == 'bf16' else ''}, {threads} thread{'s' if threads > 1 else ''}"
    for label, n, el in (x for x in out if isinstance(x, tuple)):
        print(f"{label:<22} {n:6d} sequences {el:8.2f} s {n / el:8.1f} sequences/s  [{name}]")


if __name__ == "__main__":
    main()
