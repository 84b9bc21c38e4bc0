#!/usr/bin/python3
"""PyTorch peer of bench_generate: GPT-2 (pre-LN, gelu_new, tied head) from
torch primitives with a KV cache (preallocated [B, heads, T, hd] tensors
written in place per step), greedy decoding from bos without eos, random
weights; prints the same columns as bench_generate (wall and process CPU
seconds, tokens/s, CPU ms per step). --num_beams B > 1: beam search as
transformers runs it without eos (log-softmax + beam scores, top 2B of
B x V per source, the first B continue, the cache reordered with
index_select as _reorder_cache does); tokens/s counts one sequence per
source, as bench_generate.

usage: /usr/bin/python3 bench/generate_torch.py [--config configs/light_gpt_small.json]
       [--batches 1,32] [--lengths 128,512] [--threads 2] [--num_beams 1]
"""
import argparse, json, math, time

import torch
import torch.nn.functional as F


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Model:
    def __init__(self, c, n_positions):
        g = torch.Generator().manual_seed(1)
        H, V, L = c["n_embd"], c["vocab_size"], c["n_layer"]
        F_ = c.get("n_inner") or 4 * H
        sd = c.get("initializer_range", 0.02)
        r = lambda *s: torch.randn(*s, generator=g) * sd
        self.H, self.nh, self.eps = H, c["n_head"], c.get("layer_norm_epsilon", 1e-5)
        self.wte, self.wpe = r(V, H), r(n_positions, H)
        self.layers = [dict(ln1=(torch.ones(H), torch.zeros(H)), attn=(r(H, 3 * H), torch.zeros(3 * H)),
                            proj=(r(H, H), torch.zeros(H)), ln2=(torch.ones(H), torch.zeros(H)),
                            fc=(r(H, F_), torch.zeros(F_)), mproj=(r(F_, H), torch.zeros(H)))
                       for _ in range(L)]
        self.lnf = (torch.ones(H), torch.zeros(H))

    def step(self, ids, pos, cache):
        """ids [B, 1] at position pos; cache: per layer (k, v) [B, nh, T, hd]."""
        B, H, nh = ids.shape[0], self.H, self.nh
        hd = H // nh
        x = self.wte[ids] + self.wpe[pos]
        for L, (kc, vc) in zip(self.layers, cache):
            h = F.layer_norm(x, (H,), *L["ln1"], self.eps)
            qkv = torch.addmm(L["attn"][1], h.view(B, H), L["attn"][0]).view(B, 3, nh, hd)
            q = qkv[:, 0].unsqueeze(2)                      # [B, nh, 1, hd]
            kc[:, :, pos] = qkv[:, 1]
            vc[:, :, pos] = qkv[:, 2]
            k, v = kc[:, :, : pos + 1], vc[:, :, : pos + 1]
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v
            a = a.reshape(B, 1, H)
            x = x + torch.addmm(L["proj"][1], a.view(B, H), L["proj"][0]).view(B, 1, H)
            h = F.layer_norm(x, (H,), *L["ln2"], self.eps)
            h = gelu_new(torch.addmm(L["fc"][1], h.view(B, H), L["fc"][0]))
            x = x + torch.addmm(L["mproj"][1], h, L["mproj"][0]).view(B, 1, H)
        x = F.layer_norm(x, (H,), *self.lnf, self.eps)
        return x.view(B, H) @ self.wte.t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/light_gpt_small.json")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--num_beams", type=int, default=1)
    a = ap.parse_args()
    nb = a.num_beams
    torch.set_num_threads(a.threads)
    c = json.load(open(a.config))
    lengths = [int(x) for x in a.lengths.split(",")]
    n_pos = max(c["n_positions"], max(lengths) + 1)
    m = Model(c, n_pos)
    nh, hd = c["n_head"], c["n_embd"] // c["n_head"]
    bos = c.get("bos_token_id") or 0
    print(f"torch {torch.__version__}, {a.config} (n_positions {n_pos}), {torch.get_num_threads()} threads, num_beams {nb}")
    print(f"{'batch':>6} {'tokens':>7} {'wall s':>10} {'cpu s':>10} {'tokens/s':>12} {'cpu ms/step':>14}")
    with torch.no_grad():
        for B in [int(x) for x in a.batches.split(",")]:
            for T in lengths:
                R = B * nb
                cache = [(torch.zeros(R, nh, T, hd), torch.zeros(R, nh, T, hd)) for _ in m.layers]
                ids = torch.full((R, 1), bos, dtype=torch.long)
                for pos in range(4):  # warm-up (thread pool, allocator), not timed
                    m.step(ids, pos, cache)
                w0, c0 = time.perf_counter(), time.process_time()
                if nb == 1:
                    for pos in range(T):
                        ids = m.step(ids, pos, cache).argmax(-1, keepdim=True)
                else:
                    scores = torch.full((B, nb), -1e9)
                    scores[:, 0] = 0
                    base = (torch.arange(B) * nb).unsqueeze(1)
                    for pos in range(T):
                        lp = torch.log_softmax(m.step(ids, pos, cache), dim=-1)
                        lp[:, 4] = -float("inf")  # bad word [4], as bench_generate
                        V = lp.shape[-1]
                        s, flat = (lp + scores.view(R, 1)).view(B, nb * V).topk(2 * nb, dim=1)
                        scores, flat = s[:, :nb].contiguous(), flat[:, :nb]  # no eos: the first nb continue
                        beam = (base + flat // V).reshape(R)
                        ids = (flat % V).reshape(R, 1)
                        for kc, vc in cache:
                            kc.copy_(kc.index_select(0, beam))
                            vc.copy_(vc.index_select(0, beam))
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                print(f"{B:>6} {T:>7} {wall:>10.2f} {cpu:>10.2f} {B * T / wall:>12.0f} {cpu * 1e3 / T:>14.3f}")


if __name__ == "__main__":
    main()
